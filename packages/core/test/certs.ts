/** Throwaway CA and server certificate made with the openssl CLI, for TLS tests. */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TestCerts {
  dir: string;
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

export function makeCerts(commonName = "localhost"): TestCerts {
  const dir = mkdtempSync(join(tmpdir(), "aiomsg-tls-"));
  const run = (...args: string[]): void => {
    execFileSync("openssl", args, { cwd: dir, stdio: "ignore" });
  };
  run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=aiomsg-test-ca");
  run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", `/CN=${commonName}`);
  const ext = join(dir, "ext.cnf");
  execFileSync("sh", ["-c", `printf 'subjectAltName=DNS:${commonName},IP:127.0.0.1\\n' > ${ext}`]);
  run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", ext);
  return {
    dir,
    ca: readFileSync(join(dir, "ca.pem")),
    cert: readFileSync(join(dir, "server.pem")),
    key: readFileSync(join(dir, "server.key")),
  };
}
