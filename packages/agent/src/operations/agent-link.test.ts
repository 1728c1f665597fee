// op.request over the agent's real link (a protocol test server with TLS): the Agent answers each
// with an op.result of the same opId; a resent opId is answered from memory. Against slapd.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type OpResult, parseAgentMessage } from "@latchkey/protocol";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createOpenLdapUser, getTestEnv } from "../../../../test-env/env.js";
import { Agent } from "../agent.js";
import { enrollAgent } from "../keys/enroll.js";
import { readKeyFile } from "../keys/key-file.js";
import { silentLogger } from "../log.js";
import { until } from "../testing/clock.js";
import { agentConfig, directoryPasswords, openLdapDirectory } from "../testing/directories.js";
import { anchorOf, sealedRequest, tryBind } from "../testing/operations.js";
import { ProtocolServer } from "../testing/protocol-server.js";

const env = getTestEnv();
let server: ProtocolServer;
let agent: Agent;
let dir: string;
let publicRaw: Uint8Array;

beforeAll(async () => {
  server = new ProtocolServer({
    tls: { cert: readFileSync(env.certFile, "utf8"), key: readFileSync(env.keyFile, "utf8") },
  });
  await server.listen();
  dir = mkdtempSync(join(tmpdir(), "latchkey-agent-ops-"));
  const keyFile = join(dir, "agent.key");
  await enrollAgent({ server: server.url, token: server.issueToken(), keyFile, ca: env.caPem, env: {} });
  const identity = readKeyFile(keyFile);
  publicRaw = Buffer.from(identity.content.x25519.public, "base64url");
  agent = new Agent({
    config: agentConfig({ server: server.url, keyFile, directories: [openLdapDirectory(env)] }),
    identity,
    logger: silentLogger,
    env: directoryPasswords(env),
    autoSync: false,
    serverCa: env.caPem,
    directoryCaPem: env.caPem,
  });
  await agent.start();
  await agent.waitOnline(10_000);
});

afterAll(async () => {
  await agent?.stop();
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The op.results for opId once there are at least `n` (else undefined, for until()). */
function resultsAtLeast(opId: string, n: number): OpResult[] | undefined {
  const r = results(opId);
  return r.length >= n ? r : undefined;
}

function results(opId: string): OpResult[] {
  const out: OpResult[] = [];
  for (const f of server.frames) {
    const parsed = parseAgentMessage(f);
    if (parsed.ok && parsed.message.type === "op.result" && parsed.message.opId === opId)
      out.push(parsed.message);
  }
  return out;
}

it("answers op.request with op.result (same opId), and a resent opId from memory", async () => {
  const u = await createOpenLdapUser();
  const anchor = await anchorOf(env, "openldap", u.dn);
  const req = await sealedRequest(publicRaw, {
    directoryId: "corp-ol",
    kind: "reset",
    anchor,
    secrets: { newPassword: "Over-The-Link-Pass-1!" },
  });
  server.broadcast(req);
  const [first] = (await until("an op.result", () => resultsAtLeast(req.opId, 1))) as OpResult[];
  expect(first).toMatchObject({
    opId: req.opId,
    outcome: "applied",
    applied: true,
    code: null,
    fromCache: false,
  });
  expect(await tryBind(env, "openldap", u.dn, "Over-The-Link-Pass-1!")).toBe("ok");
  server.broadcast({ ...req, id: `${req.id}-again` });
  const all = (await until("a second op.result", () => resultsAtLeast(req.opId, 2))) as OpResult[];
  expect(all[1]).toMatchObject({ opId: req.opId, outcome: "applied", applied: true, fromCache: true });
  // No frame the agent sent holds the password.
  expect(server.frames.some((f) => f.includes("Over-The-Link-Pass-1!"))).toBe(false);
});
