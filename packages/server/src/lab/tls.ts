// Development and demo facility (not used by `latchkey serve`): a throwaway CA and one server
// certificate (SANs localhost, 127.0.0.1, ::1) for the demo's or a test run's directories, via the
// openssl CLI. EC P-256 keys: instant to generate, and Samba (GnuTLS), slapd (GnuTLS), Node and
// Chromium accept them. Valid 7 days: nothing made here outlives a run.
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { run } from "./proc.js";

export interface TlsFiles {
  caFile: string;
  caPem: string;
  certFile: string;
  keyFile: string;
}

/** `label` names the certificates' organisation (default "Latchkey tests"), so a certificate found on
 * disk says which facility made it. */
export async function makeTls(dir: string, label = "Latchkey tests"): Promise<TlsFiles> {
  mkdirSync(dir, { recursive: true });
  const caKey = join(dir, "ca.key");
  const caFile = join(dir, "ca.pem");
  const keyFile = join(dir, "server.key");
  const csr = join(dir, "server.csr");
  const certFile = join(dir, "server.pem");
  const ext = join(dir, "server.ext");
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  await run("openssl", [
    "req",
    "-x509",
    ...ec,
    "-keyout",
    caKey,
    "-out",
    caFile,
    "-days",
    "7",
    "-subj",
    `/O=${label}/CN=${label} CA (throwaway)`,
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  await run("openssl", ["req", ...ec, "-keyout", keyFile, "-out", csr, "-subj", `/O=${label}/CN=localhost`]);
  writeFileSync(
    ext,
    [
      "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1",
      "basicConstraints=critical,CA:FALSE",
      "keyUsage=critical,digitalSignature,keyEncipherment",
      "extendedKeyUsage=serverAuth",
      "",
    ].join("\n"),
  );
  await run("openssl", [
    "x509",
    "-req",
    "-in",
    csr,
    "-CA",
    caFile,
    "-CAkey",
    caKey,
    "-CAcreateserial",
    "-out",
    certFile,
    "-days",
    "7",
    "-extfile",
    ext,
  ]);
  // Samba refuses a key file that others can read.
  chmodSync(keyFile, 0o600);
  chmodSync(caKey, 0o600);
  return { caFile, caPem: readFileSync(caFile, "utf8"), certFile, keyFile };
}
