// A Pulumi program of your own that dark-launches v2 of your service with
// this project's components. v1 already runs in the namespace (its pods carry
// app=billing, track=stable; this program does not touch them); v2 is new.
// The mirror proxy serves every request from v1 and copies the GETs of beta
// users to v2, without their credentials.
import * as pulumi from "@pulumi/pulumi";
import { defineApp } from "../../components/config";
import { DarkLaunch } from "../../components/darkLaunch";
import { MirrorProxy } from "../../components/mirrorProxy";
import { inClusterUpstreams, renderMirrorProxyYaml } from "../../components/proxyConfig";

const config = new pulumi.Config();
const namespace = config.get("namespace") ?? "payments";

// The same keys as an `apps.<name>` entry of the stack config, checked the same way.
const billing = defineApp("billing", {
  port: 8080,
  hosts: ["billing.example.com"],
  v1: { selector: { app: "billing", track: "stable" } },
  v2: { image: "ghcr.io/acme/billing:1.5.0" },
  mirror: {
    match: { headers: { "x-beta-user": { exact: "yes" } } },
    copyHeaders: { set: { "x-dark-launch": "true" }, remove: ["authorization"] },
  },
});

// The ingress: our mirror proxy, fed the app's routing (the VirtualService Istio would get).
const proxy = new MirrorProxy("mirror-proxy", {
  namespace,
  image: config.get("proxyImage") ?? "ghcr.io/acme/mirror-proxy:0.1.0",
  routingYaml: renderMirrorProxyYaml({ config: { namespace, apps: { billing } }, upstreams: inClusterUpstreams(namespace) }),
});
const ingressUrl = pulumi.interpolate`http://${config.require("nodeIp")}:${proxy.nodePort}`;

// v2's Deployment and the Services billing-v1 (selecting v1's pods) and billing-v2.
const launch = new DarkLaunch("billing", { app: billing, namespace, mesh: "proxy", ingressUrl });

export const url = ingressUrl;
export const curl = launch.curl;
