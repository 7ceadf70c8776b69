// Throwaway PKI for the TLS scenarios, made with the `openssl` CLI at test time:
// a CA and one server certificate valid for 127.0.0.1, localhost and
// aiomsg-interop.test (the last one exercises --tls-server-name).
import { execa } from "execa";
import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

export const TLS_SERVER_NAME = "aiomsg-interop.test";

/**
 * @param {string} [dir] directory to write into (a fresh temp dir by default)
 * @returns {Promise<{dir: string, ca: string, cert: string, key: string, serverName: string}>}
 */
export async function makeTestPki(dir) {
  if (dir) await mkdir(dir, { recursive: true });
  else dir = await mkdtemp(path.join(os.tmpdir(), "aiomsg-interop-pki-"));
  const f = (name) => path.join(dir, name);
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await execa("openssl", [
    "req", "-x509", ...ec, "-keyout", f("ca.key"), "-out", f("ca.pem"), "-days", "7",
    "-subj", "/CN=aiomsg-interop throwaway CA",
    "-addext", "basicConstraints=critical,CA:TRUE",
    "-addext", "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  await execa("openssl", [
    "req", "-new", ...ec, "-keyout", f("server.key"), "-out", f("server.csr"),
    "-subj", "/CN=aiomsg-interop server",
  ]);
  // Python 3.13+ verifies strictly (VERIFY_X509_STRICT): keep the key identifiers.
  await writeFile(
    f("server.ext"),
    [
      `subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:${TLS_SERVER_NAME}`,
      "basicConstraints=critical,CA:FALSE",
      "keyUsage=critical,digitalSignature,keyEncipherment",
      "extendedKeyUsage=serverAuth",
      "subjectKeyIdentifier=hash",
      "authorityKeyIdentifier=keyid,issuer",
      "",
    ].join("\n"),
  );
  await execa("openssl", [
    "x509", "-req", "-in", f("server.csr"), "-CA", f("ca.pem"), "-CAkey", f("ca.key"),
    "-CAcreateserial", "-out", f("server.pem"), "-days", "7", "-extfile", f("server.ext"),
  ]);
  return { dir, ca: f("ca.pem"), cert: f("server.pem"), key: f("server.key"), serverName: TLS_SERVER_NAME };
}
