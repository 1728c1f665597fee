/**
 * Enrollment against a server that speaks the protocol over real TLS (the test run's certificate):
 * the key file appears only after the server accepted the keys, with mode 0600 and keys that work;
 * a used, unknown or expired token, an unreachable or untrusted server, an insecure URL and an
 * existing key file each leave nothing behind.
 */
import { createPublicKey, sign, verify } from "node:crypto";
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getTestEnv } from "../../../../test-env/env.js";
import { ProtocolServer } from "../testing/protocol-server.js";
import { enrollAgent } from "./enroll.js";
import { KeyFileError, readKeyFile } from "./key-file.js";

const env = getTestEnv();
let server: ProtocolServer;
const dirs: string[] = [];

beforeAll(async () => {
  server = new ProtocolServer({
    tls: { cert: readFileSync(env.certFile, "utf8"), key: readFileSync(env.keyFile, "utf8") },
  });
  await server.listen();
});
afterAll(async () => {
  await server.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "latchkey-agent-keys-"));
  dirs.push(d);
  return d;
}

describe("enrollAgent", () => {
  it("registers the public keys and writes the key file (0600) after the server accepted them", async () => {
    const dir = tempDir();
    const keyFile = join(dir, "agent.key");
    const token = server.issueToken();
    const r = await enrollAgent({
      server: server.url,
      token,
      name: "dc-site-1",
      keyFile,
      ca: env.caPem,
      env: {},
    });
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir)).toEqual(["agent.key"]); // no temporary file left
    const id = readKeyFile(keyFile);
    expect(id.content).toMatchObject({
      agentId: r.agentId,
      tenantId: "t1",
      name: "dc-site-1",
      server: server.url,
    });
    const registered = server.agents.get(r.agentId);
    expect(registered?.ed25519Public).toBe(id.content.ed25519.public);
    expect(registered?.x25519Public).toBe(id.content.x25519.public);
    // The private key signs what the registered public key verifies.
    const pub = createPublicKey({
      key: { kty: "OKP", crv: "Ed25519", x: registered?.ed25519Public ?? "" },
      format: "jwk",
    });
    expect(verify(null, Buffer.from("m"), pub, sign(null, Buffer.from("m"), id.signingKey))).toBe(true);
    expect(readFileSync(keyFile, "utf8")).not.toContain(token);

    // The same token again: refused, and the existing key file is not touched.
    const before = readFileSync(keyFile, "utf8");
    const again = join(dir, "second.key");
    await expect(
      enrollAgent({ server: server.url, token, keyFile: again, ca: env.caPem, env: {} }),
    ).rejects.toMatchObject({
      failure: "token",
    });
    expect(existsSync(again)).toBe(false);
    expect(readFileSync(keyFile, "utf8")).toBe(before);
    expect(readdirSync(dir)).toEqual(["agent.key"]);
  });

  it("refuses to overwrite an enrolled key file unless forced", async () => {
    const dir = tempDir();
    const keyFile = join(dir, "agent.key");
    await enrollAgent({ server: server.url, token: server.issueToken(), keyFile, ca: env.caPem, env: {} });
    const token = server.issueToken();
    await expect(
      enrollAgent({ server: server.url, token, keyFile, ca: env.caPem, env: {} }),
    ).rejects.toMatchObject({
      failure: "usage",
      message: expect.stringContaining("--force"),
    });
    const r = await enrollAgent({ server: server.url, token, keyFile, ca: env.caPem, env: {}, force: true });
    expect(readKeyFile(keyFile).content.agentId).toBe(r.agentId);
  });

  it("an expired or malformed token, an untrusted certificate, a dead server, plain http: clear failures, no file", async () => {
    const dir = tempDir();
    const keyFile = join(dir, "agent.key");
    const expired = server.issueToken(-1000);
    await expect(
      enrollAgent({ server: server.url, token: expired, keyFile, ca: env.caPem, env: {} }),
    ).rejects.toMatchObject({
      failure: "token",
      message: expect.stringContaining("latchkey admin agent-token"),
    });
    await expect(
      enrollAgent({ server: server.url, token: "short", keyFile, ca: env.caPem, env: {} }),
    ).rejects.toMatchObject({
      failure: "token",
    });
    const untrusted = enrollAgent({ server: server.url, token: server.issueToken(), keyFile, env: {} });
    await expect(untrusted).rejects.toMatchObject({
      failure: "unreachable",
      message: expect.stringContaining("not trusted"),
    });
    await expect(
      enrollAgent({
        server: "https://127.0.0.1:1",
        token: server.issueToken(),
        keyFile,
        ca: env.caPem,
        env: {},
      }),
    ).rejects.toMatchObject({
      failure: "unreachable",
      message: expect.stringContaining("connection refused"),
    });
    await expect(
      enrollAgent({ server: "http://reset.example.com", token: server.issueToken(), keyFile, env: {} }),
    ).rejects.toMatchObject({ failure: "usage", message: expect.stringContaining("refusing plain http:") });
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe("readKeyFile", () => {
  it("refuses a key file readable by others, a corrupted one, and a missing one", async () => {
    const dir = tempDir();
    const keyFile = join(dir, "agent.key");
    expect(() => readKeyFile(keyFile)).toThrow(/enroll first/);
    await enrollAgent({ server: server.url, token: server.issueToken(), keyFile, ca: env.caPem, env: {} });
    chmodSync(keyFile, 0o640);
    expect(() => readKeyFile(keyFile)).toThrow(KeyFileError);
    expect(() => readKeyFile(keyFile)).toThrow(/chmod 600/);
    chmodSync(keyFile, 0o600);
    const content = JSON.parse(readFileSync(keyFile, "utf8")) as {
      ed25519: { public: string };
      x25519: { public: string };
    };
    // Swap the public halves: the private keys no longer match them.
    const tampered = { ...content, ed25519: { ...content.ed25519, public: content.x25519.public } };
    writeFileSync(keyFile, JSON.stringify(tampered));
    expect(() => readKeyFile(keyFile)).toThrow(/do not match/);
    writeFileSync(keyFile, "{not json");
    expect(() => readKeyFile(keyFile)).toThrow(/not valid JSON/);
  });
});
