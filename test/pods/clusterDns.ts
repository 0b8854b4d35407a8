// The cluster's DNS (CoreDNS's kubernetes plugin, reduced to what our pods ask):
// `<service>.<namespace>.svc.cluster.local` answers A records of the Service's
// endpoints. A headless Service (clusterIP: None) answers every ready pod; a
// ClusterIP Service stands for its virtual IP, which kube-proxy maps to one pod
// per connection: here one ready pod, picked at random per query. Anything else
// is NXDOMAIN. UDP only, one question per message, as glibc's stub resolver asks.
import { createSocket, type Socket } from "node:dgram";

export const CLUSTER_DOMAIN = "cluster.local";
/** CoreDNS's default TTL for Service records. */
const TTL_SECONDS = 5;
const TYPE_A = 1;
const CLASS_IN = 1;

/** The addresses a name stands for, or undefined when the name is not a Service. */
export type Resolve = (name: string) => string[] | undefined;

/** The question of a DNS query: id, name (lower case, no trailing dot), type, and where the question ends. */
function parseQuery(msg: Buffer): { id: number; name: string; type: number; end: number } | undefined {
  if (msg.length < 12 || msg.readUInt16BE(4) !== 1) return undefined;
  const labels: string[] = [];
  let at = 12;
  while (at < msg.length) {
    const len = msg[at];
    if (len === 0) break;
    if (len > 63 || at + 1 + len > msg.length) return undefined;
    labels.push(msg.toString("latin1", at + 1, at + 1 + len));
    at += 1 + len;
  }
  if (at + 5 > msg.length) return undefined;
  return { id: msg.readUInt16BE(0), name: labels.join(".").toLowerCase(), type: msg.readUInt16BE(at + 1), end: at + 5 };
}

/** The answer: the question echoed, then one A record per address (for an A question). */
function answer(msg: Buffer, q: { id: number; type: number; end: number }, addresses: string[] | undefined): Buffer {
  const a = q.type === TYPE_A && addresses ? addresses : [];
  const header = Buffer.alloc(12);
  header.writeUInt16BE(q.id, 0);
  // QR, AA, RD copied, RA; rcode 3 (NXDOMAIN) for a name that is no Service.
  header.writeUInt16BE(0x8480 | (msg[2] & 0x01) << 8 | (addresses ? 0 : 3), 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(a.length, 6);
  const records = a.map((ip) => {
    const rr = Buffer.alloc(16);
    rr.writeUInt16BE(0xc00c, 0); // the question's name
    rr.writeUInt16BE(TYPE_A, 2);
    rr.writeUInt16BE(CLASS_IN, 4);
    rr.writeUInt32BE(TTL_SECONDS, 6);
    rr.writeUInt16BE(4, 10);
    ip.split(".").forEach((octet, i) => rr.writeUInt8(Number(octet), 12 + i));
    return rr;
  });
  return Buffer.concat([header, msg.subarray(12, q.end), ...records]);
}

/** Serves DNS on `address`:53 until closed. */
export async function startClusterDns(address: string, resolve: Resolve): Promise<{ close(): Promise<void>; queries: number }> {
  const socket: Socket = createSocket("udp4");
  const state = { queries: 0 };
  socket.on("message", (msg, from) => {
    const q = parseQuery(msg);
    if (!q) return;
    state.queries++;
    socket.send(answer(msg, q, resolve(q.name)), from.port, from.address);
  });
  await new Promise<void>((ok, fail) => {
    socket.once("error", fail);
    socket.bind(53, address, () => {
      socket.off("error", fail);
      ok();
    });
  });
  return {
    get queries() {
      return state.queries;
    },
    close: () => new Promise<void>((ok) => socket.close(() => ok())),
  };
}
