/**
 * A TLS upstream for the TLS-origination cases: a throwaway CA and a server certificate for
 * the given names, made with openssl, and an https server answering `tls sni=<name> <method> <url>`.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TLSSocket } from "node:tls";

export interface TlsUpstream {
  url: string;
  caFile: string;
  ca: string;
  close(): Promise<void>;
}

export function haveOpenssl(): boolean {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

export async function startTlsUpstream(label: string, names: string[]): Promise<TlsUpstream> {
  const dir = mkdtempSync(join(tmpdir(), "fidelity-tls-"));
  const f = (n: string) => join(dir, n);
  const ssl = (...args: string[]) => execFileSync("openssl", args, { stdio: "ignore" });
  ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f("ca.key"), "-out", f("ca.pem"), "-days", "1", "-subj", "/CN=fidelity test CA");
  ssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f("srv.key"), "-out", f("srv.csr"), "-subj", `/CN=${names[0]}`);
  writeFileSync(f("ext.cnf"), `subjectAltName=${names.map((n) => `DNS:${n}`).join(",")}\n`);
  ssl("x509", "-req", "-in", f("srv.csr"), "-CA", f("ca.pem"), "-CAkey", f("ca.key"), "-CAcreateserial", "-out", f("srv.pem"), "-days", "1", "-extfile", f("ext.cnf"));
  const server = https.createServer({ key: readFileSync(f("srv.key")), cert: readFileSync(f("srv.pem")) }, (req, res) => {
    req.resume();
    const sni = (req.socket as TLSSocket).servername;
    res.writeHead(200, { "content-type": "text/plain", "x-upstream": label });
    res.end(`tls sni=${sni} ${req.method} ${req.url}`);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    caFile: f("ca.pem"),
    ca: readFileSync(f("ca.pem"), "utf8"),
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
