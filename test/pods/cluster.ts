// A one-node "cluster" on podman: what the program renders is played with
// `podman kube play` as it is; what a Kubernetes cluster adds and podman lacks is
// done here, each in one named place:
//
//   deploymentController  a Deployment becomes `replicas` Pods of its template
//   kubeletDns            each pod's resolv.conf points at the cluster DNS (dnsConfig)
//   endpoints             a Service's endpoints: the ready pods its selector matches
//   clusterDns            Service names resolve to those endpoints (clusterDns.ts)
//   readinessProber       the kubelet's readinessProbe (httpGet) decides "ready"
//   kubeProxyNodePort     the NodePort: a host port forwarding each connection to an endpoint
//   kubeletConfigMap      a ConfigMap update written into the volume as the kubelet's atomic writer does
//   deletePod             termination: out of the endpoints, preStop, SIGTERM, grace, SIGKILL
//   portForward           `kubectl port-forward`: a 127.0.0.1 port whose connections reach the
//                         pod's own loopback (through `podman exec ... nc`, as the CRI's socat)
//
// And one thing podman does that Kubernetes does not, undone in one place:
//   unpublishedPorts      podman 4.3 publishes every containerPort on the host at the same
//                         number (Kubernetes publishes none), so two pods with port 8080
//                         collide: each gets a free host port on 127.0.0.1 instead, unused.
//
// Images keep the names the program renders (podman resolves `traffic-mirroring/x:tag`
// to the `localhost/` image `podman build -t` made).
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, readlinkSync, renameSync, rmSync, symlinkSync, writeFileSync, lstatSync } from "node:fs";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { request } from "node:http";
import * as path from "node:path";
import { stringify } from "yaml";
import { CLUSTER_DOMAIN, startClusterDns } from "./clusterDns";
import { podman, podmanQuiet } from "./podman";

type Obj = Record<string, any>;

export interface PlayedPod {
  name: string;
  labels: Record<string, string>;
  spec: Obj;
  ip: string;
  ready: boolean;
  terminating: boolean;
  /** When deletePod sent SIGTERM (ms since the epoch). */
  sigtermAt?: number;
  /** Named container ports of the pod, e.g. http -> 8080. */
  ports: Map<string, number>;
}

/** A port nothing listens on, on 127.0.0.1. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** unpublishedPorts: containers whose ports podman publishes on free 127.0.0.1 ports, not on their own number. */
async function unpublishedPorts(containers: Obj[]): Promise<Obj[]> {
  return Promise.all(
    containers.map(async (c) => ({
      ...c,
      ...(c.ports ? { ports: await Promise.all(c.ports.map(async (p: Obj) => ({ ...p, hostIP: "127.0.0.1", hostPort: await freePort() }))) } : {}),
    })),
  );
}

const matches = (selector: Record<string, string>, labels: Record<string, string>) =>
  Object.entries(selector).every(([key, value]) => labels[key] === value);

export class PodCluster {
  readonly runId = randomBytes(3).toString("hex");
  readonly network = `tm-pods-${this.runId}`;
  readonly pods = new Map<string, PlayedPod>();
  private services = new Map<string, Obj>();
  private configMaps = new Map<string, Obj>();
  private gateway = "";
  private dns?: { close(): Promise<void>; queries: number };
  private servers: Server[] = [];
  private sockets = new Set<Socket>();
  private timers: NodeJS.Timeout[] = [];
  private volumes = new Set<string>();

  private readonly namespace: string;
  private readonly workDir: string;

  constructor(namespace: string, workDir: string) {
    this.namespace = namespace;
    this.workDir = workDir;
    mkdirSync(workDir, { recursive: true });
  }

  /** The network, a pod holding it up (the bridge gets its gateway address), and the DNS on the gateway. */
  async start(): Promise<void> {
    await podman(["network", "create", this.network]);
    const holder = `${this.network}-net`;
    await podman(["pod", "create", "--name", holder, "--network", this.network]);
    await podman(["pod", "start", holder]);
    const inspected = JSON.parse((await podman(["network", "inspect", this.network])).stdout)[0];
    this.gateway = inspected.subnets[0].gateway;
    this.dns = await startClusterDns(this.gateway, (name) => this.clusterDns(name));
  }

  /** Services and ConfigMaps are remembered; Deployments are played as their Pods. */
  async apply(objects: Obj[]): Promise<void> {
    for (const o of objects.filter((o) => o.kind === "Service")) this.services.set(o.metadata.name, o);
    for (const o of objects.filter((o) => o.kind === "ConfigMap")) this.configMaps.set(o.metadata.name, o);
    await Promise.all(objects.filter((o) => o.kind === "Deployment").map((d) => this.deploymentController(d)));
  }

  /** deploymentController: `replicas` Pods named `<deployment>-<run>-<i>` from the template, unchanged. */
  private async deploymentController(deployment: Obj): Promise<void> {
    const replicas = deployment.spec.replicas ?? 1;
    const template = deployment.spec.template;
    await Promise.all(
      Array.from({ length: replicas }, (_, i) =>
        this.playPod({
          apiVersion: "v1",
          kind: "Pod",
          metadata: { name: `${deployment.metadata.name}-${this.runId}-${i}`, labels: template.metadata.labels, annotations: template.metadata.annotations },
          spec: template.spec,
        }),
      ),
    );
  }

  /** kubeletDns: the resolv.conf a ClusterFirst pod gets, pointing at our cluster DNS. */
  private kubeletDns(): Obj {
    return {
      nameservers: [this.gateway],
      searches: [`${this.namespace}.svc.${CLUSTER_DOMAIN}`, `svc.${CLUSTER_DOMAIN}`, CLUSTER_DOMAIN],
      options: [{ name: "ndots", value: "5" }],
    };
  }

  /** Plays one Pod with the ConfigMaps its volumes name. */
  async playPod(pod: Obj): Promise<PlayedPod> {
    const name: string = pod.metadata.name;
    const played = { ...pod, spec: { ...pod.spec, dnsConfig: this.kubeletDns(), containers: await unpublishedPorts(pod.spec.containers) } };
    const file = path.join(this.workDir, `${name}.yaml`);
    writeFileSync(file, stringify(played));
    const args = ["kube", "play", "--network", this.network, "--quiet"];
    for (const volume of pod.spec.volumes ?? []) {
      if (!volume.configMap) continue;
      const cm = this.configMaps.get(volume.configMap.name);
      if (!cm) throw new Error(`pod ${name}: no ConfigMap ${volume.configMap.name}`);
      const cmFile = path.join(this.workDir, `configmap-${cm.metadata.name}.yaml`);
      writeFileSync(cmFile, stringify(cm));
      args.push("--configmap", cmFile);
      this.volumes.add(cm.metadata.name);
    }
    await podman([...args, file], { timeoutMs: 120_000 });
    const infra = JSON.parse((await podman(["pod", "inspect", name])).stdout);
    const infraId = (Array.isArray(infra) ? infra[0] : infra).InfraContainerID;
    const ip = (await podman(["inspect", infraId, "--format", `{{ (index .NetworkSettings.Networks "${this.network}").IPAddress }}`])).stdout.trim();
    const ports = new Map<string, number>();
    for (const c of pod.spec.containers) for (const p of c.ports ?? []) if (p.name) ports.set(p.name, p.containerPort);
    const state: PlayedPod = { name, labels: pod.metadata.labels ?? {}, spec: pod.spec, ip, ready: false, terminating: false, ports };
    this.pods.set(name, state);
    this.readinessProber(state);
    return state;
  }

  /** readinessProber: the container's httpGet readinessProbe, every second (the kubelet: every periodSeconds). */
  private readinessProber(pod: PlayedPod): void {
    const probe = pod.spec.containers[0].readinessProbe?.httpGet;
    if (!probe) {
      pod.ready = true;
      return;
    }
    const port = typeof probe.port === "number" ? probe.port : pod.ports.get(probe.port);
    const timer = setInterval(() => {
      const req = request({ host: pod.ip, port, path: probe.path, timeout: 1000, agent: false }, (res) => {
        res.resume();
        pod.ready = res.statusCode! >= 200 && res.statusCode! < 400;
      });
      req.on("error", () => (pod.ready = false));
      req.on("timeout", () => req.destroy());
      req.end();
    }, 1000);
    timer.unref();
    this.timers.push(timer);
  }

  /** endpoints: the ready, not terminating pods the Service's selector matches. */
  endpoints(serviceName: string): PlayedPod[] {
    const service = this.services.get(serviceName);
    if (!service) return [];
    return [...this.pods.values()].filter((p) => p.ready && !p.terminating && matches(service.spec.selector, p.labels));
  }

  /** clusterDns: `<svc>.<ns>.svc.cluster.local` -> its endpoints (all of them when headless). */
  private clusterDns(name: string): string[] | undefined {
    const suffix = `.${this.namespace}.svc.${CLUSTER_DOMAIN}`;
    if (!name.endsWith(suffix)) return undefined;
    const service = this.services.get(name.slice(0, -suffix.length));
    if (!service) return undefined;
    const ips = this.endpoints(service.metadata.name).map((p) => p.ip);
    if (service.spec.clusterIP === "None") return ips;
    // No virtual IP here, so no port mapping: a ClusterIP Service resolves to a pod only when
    // its ports reach the pods unmapped; else NXDOMAIN, so a client relying on it fails loudly.
    // (Proxy mode connects to the headless per-version Services only.)
    const unmapped = service.spec.ports.every((p: Obj) => p.targetPort === undefined || p.targetPort === p.port);
    if (!unmapped) return undefined;
    return ips.length === 0 ? [] : [ips[Math.floor(Math.random() * ips.length)]];
  }

  /** kubeProxyNodePort: a port on 127.0.0.1 forwarding each connection to one endpoint's targetPort. */
  async kubeProxyNodePort(serviceName: string): Promise<number> {
    const service = this.services.get(serviceName);
    if (!service) throw new Error(`no Service ${serviceName}`);
    const target = service.spec.ports[0].targetPort;
    const server = createServer((client) => {
      this.sockets.add(client);
      client.on("close", () => this.sockets.delete(client));
      const ready = this.endpoints(serviceName);
      if (ready.length === 0) {
        client.destroy();
        return;
      }
      const pod = ready[Math.floor(Math.random() * ready.length)];
      const upstream = createConnection({ host: pod.ip, port: typeof target === "number" ? target : pod.ports.get(target)! });
      this.sockets.add(upstream);
      upstream.on("close", () => this.sockets.delete(upstream));
      client.pipe(upstream).pipe(client);
      client.on("error", () => upstream.destroy());
      upstream.on("error", () => client.destroy());
    });
    this.servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return (server.address() as { port: number }).port;
  }

  /** portForward: like `kubectl port-forward <pod> <port>`: connections reach 127.0.0.1:<port> inside the pod. */
  async portForward(podName: string, port: number): Promise<number> {
    const server = createServer((client) => {
      this.sockets.add(client);
      const relay = spawn("podman", ["exec", "-i", this.containerOf(podName), "nc", "127.0.0.1", String(port)], { stdio: ["pipe", "pipe", "ignore"] });
      client.pipe(relay.stdin);
      relay.stdout.pipe(client);
      const end = () => {
        client.destroy();
        relay.kill();
      };
      client.on("close", () => {
        this.sockets.delete(client);
        relay.kill();
      });
      client.on("error", end);
      relay.on("exit", () => client.end());
      relay.on("error", end);
    });
    this.servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return (server.address() as { port: number }).port;
  }

  /** Waits until every pod is ready (or throws with their logs). */
  async waitReady(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if ([...this.pods.values()].every((p) => p.ready || p.terminating)) return;
      await new Promise((r) => setTimeout(r, 250));
    }
    const notReady = [...this.pods.values()].filter((p) => !p.ready && !p.terminating);
    const lastLines = (text: string) => text.trim().split("\n").slice(-3).join("\n");
    const details = await Promise.all(notReady.map(async (p) => `--- ${p.name} (${await this.containerState(p.name)}), last log lines:\n${lastLines(await this.logs(p.name).catch((e) => String(e)))}`));
    throw new Error(`pods not ready after ${timeoutMs / 1000} s:\n${details.join("\n")}`);
  }

  /** The container's name in podman: `<pod>-<container>`. */
  containerOf(podName: string): string {
    const pod = this.pods.get(podName);
    return `${podName}-${pod?.spec.containers[0].name}`;
  }

  async containerState(podName: string): Promise<string> {
    const out = await podman(["inspect", this.containerOf(podName), "--format", "{{.State.Status}} exit={{.State.ExitCode}} restarts={{.RestartCount}}"]).catch((e) => ({ stdout: String(e) }));
    return out.stdout.trim();
  }

  /** `podman logs` of the pod's container (stdout and stderr). */
  async logs(podName: string): Promise<string> {
    const { stdout, stderr } = await podman(["logs", this.containerOf(podName)]);
    return stdout + stderr;
  }

  /** Pods whose labels match. */
  podsWith(selector: Record<string, string>): PlayedPod[] {
    return [...this.pods.values()].filter((p) => matches(selector, p.labels));
  }

  /**
   * kubeletConfigMap: the new data of a ConfigMap written into its volume as the kubelet's
   * atomic writer does: a new `..<timestamp>` folder, the `..data` symlink swapped to it by a
   * rename, each key a symlink `<key> -> ..data/<key>`, the old folder removed.
   */
  async kubeletConfigMap(name: string, data: Record<string, string>): Promise<void> {
    const mountpoint = (await podman(["volume", "inspect", name, "--format", "{{.Mountpoint}}"])).stdout.trim();
    const stamp = `..${new Date().toISOString().replace(/[-:.TZ]/g, "_")}${randomBytes(2).toString("hex")}`;
    mkdirSync(path.join(mountpoint, stamp));
    for (const [key, value] of Object.entries(data)) writeFileSync(path.join(mountpoint, stamp, key), value, { mode: 0o644 });
    let previous: string | undefined;
    try {
      previous = readlinkSync(path.join(mountpoint, "..data"));
    } catch {
      previous = undefined;
    }
    symlinkSync(stamp, path.join(mountpoint, "..data_tmp"));
    renameSync(path.join(mountpoint, "..data_tmp"), path.join(mountpoint, "..data"));
    for (const key of Object.keys(data)) {
      const visible = path.join(mountpoint, key);
      const isLink = (() => {
        try {
          return lstatSync(visible).isSymbolicLink();
        } catch {
          return false;
        }
      })();
      if (isLink) continue;
      // podman wrote the first version as a plain file: replace it by the kubelet's symlink, atomically.
      symlinkSync(path.join("..data", key), `${visible}.tmp`);
      renameSync(`${visible}.tmp`, visible);
    }
    if (previous) rmSync(path.join(mountpoint, previous), { recursive: true, force: true });
    for (const entry of readdirSync(mountpoint)) if (entry.startsWith("..") && entry !== "..data" && entry !== stamp) rmSync(path.join(mountpoint, entry), { recursive: true, force: true });
    this.configMaps.set(name, { ...this.configMaps.get(name), data });
  }

  /**
   * deletePod: what `kubectl delete pod` makes the cluster do: the pod leaves the endpoints
   * (no new connections reach it), the preStop hook runs, then SIGTERM, and SIGKILL once
   * terminationGracePeriodSeconds (counted from the start) have passed.
   */
  async deletePod(podName: string): Promise<{ exitCode: number; seconds: number }> {
    const pod = this.pods.get(podName)!;
    const started = Date.now();
    pod.terminating = true;
    const grace = pod.spec.terminationGracePeriodSeconds ?? 30;
    const container = pod.spec.containers[0];
    const preStop = container.lifecycle?.preStop?.exec?.command as string[] | undefined;
    if (preStop) await podman(["exec", this.containerOf(podName), ...preStop], { timeoutMs: grace * 1000 }).catch(() => undefined);
    const left = Math.max(1, Math.round(grace - (Date.now() - started) / 1000));
    pod.sigtermAt = Date.now();
    await podman(["stop", "--time", String(left), this.containerOf(podName)], { timeoutMs: (left + 30) * 1000 });
    const exitCode = Number((await podman(["inspect", this.containerOf(podName), "--format", "{{.State.ExitCode}}"])).stdout.trim());
    return { exitCode, seconds: (Date.now() - started) / 1000 };
  }

  /** Removes every pod, volume, network and server this run made; never throws. */
  async teardown(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    for (const s of this.sockets) s.destroy();
    await Promise.all(this.servers.map((s) => new Promise((r) => s.close(r))));
    await this.dns?.close().catch(() => undefined);
    await Promise.all([...this.pods.keys()].map((name) => podmanQuiet(["pod", "rm", "--force", "--time", "0", name])));
    await podmanQuiet(["pod", "rm", "--force", "--time", "0", `${this.network}-net`]);
    await Promise.all([...this.volumes].map((v) => podmanQuiet(["volume", "rm", "--force", v])));
    await podmanQuiet(["network", "rm", "--force", this.network]);
  }

  get dnsQueries(): number {
    return this.dns?.queries ?? 0;
  }
}
