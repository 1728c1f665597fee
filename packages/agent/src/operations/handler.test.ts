// The handler around the directory: an unreachable directory, an unknown directory, and what it logs.
import { createServer } from "node:net";
import { expect, it } from "vitest";
import { createOpenLdapUser, getTestEnv } from "../../../../test-env/env.js";
import type { AgentLogger } from "../log.js";
import { adDirectory, openLdapDirectory } from "../testing/directories.js";
import { agentKeys, anchorOf, sealedRequest } from "../testing/operations.js";
import { DirectoryOperator } from "./directory.js";
import { OperationHandler } from "./handler.js";

const env = getTestEnv();

async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function recordingLogger(lines: string[]): AgentLogger {
  const rec = (obj: Record<string, unknown>, msg?: string) => lines.push(JSON.stringify({ ...obj, msg }));
  return { debug: rec, info: rec, warn: rec, error: rec };
}

it("a directory that refuses connections: failed DIRECTORY_UNREACHABLE, nothing applied", async () => {
  const keys = agentKeys();
  const port = await closedPort();
  const directory = openLdapDirectory(env, { url: `ldap://127.0.0.1:${port}`, timeoutMs: 2000 });
  const handler = new OperationHandler({
    sealingKey: keys.privateKey,
    directories: new Map([
      [
        "corp-ol",
        new DirectoryOperator({ directory, password: env.openldap.servicePassword, caPem: env.caPem }),
      ],
    ]),
  });
  const req = await sealedRequest(keys.publicRaw, {
    directoryId: "corp-ol",
    kind: "reset",
    anchor: "6b1c7e0e-1f2a-4c7b-9e51-0d1c2b3a4f5e",
    secrets: { newPassword: "Unreachable-Pass-1!" },
  });
  const r = await handler.handleOperation(req);
  expect(r).toMatchObject({ outcome: "failed", applied: false, code: "DIRECTORY_UNREACHABLE" });
  expect(r.diagnostic).toMatch(/ECONNREFUSED/);
  const other = await handler.handleOperation({ ...req, opId: "another", directoryId: "not-served" });
  expect(other).toMatchObject({ outcome: "failed", code: "DIRECTORY_ERROR" });
  await handler.close();
});

it("logs each answer (opId, kind, outcome, code) and never a password", async () => {
  const keys = agentKeys();
  const lines: string[] = [];
  const handler = new OperationHandler({
    sealingKey: keys.privateKey,
    directories: new Map([
      [
        "corp-ol",
        new DirectoryOperator({
          directory: openLdapDirectory(env),
          password: env.openldap.servicePassword,
          caPem: env.caPem,
        }),
      ],
    ]),
    logger: recordingLogger(lines),
  });
  const u = await createOpenLdapUser();
  const anchor = await anchorOf(env, "openldap", u.dn);
  const secrets = ["Logged-Never-Pass-2!", "x1!", u.password];
  await handler.handleOperation(
    await sealedRequest(keys.publicRaw, {
      directoryId: "corp-ol",
      kind: "reset",
      anchor,
      secrets: { newPassword: "Logged-Never-Pass-2!" },
    }),
  );
  await handler.handleOperation(
    await sealedRequest(keys.publicRaw, {
      directoryId: "corp-ol",
      kind: "change",
      anchor,
      secrets: { oldPassword: "Logged-Never-Pass-2!", newPassword: "x1!" },
    }),
  );
  await handler.handleOperation(
    await sealedRequest(keys.publicRaw, {
      directoryId: "corp-ol",
      kind: "verify-password",
      anchor,
      secrets: { password: u.password },
    }),
  );
  expect(lines.length).toBe(3);
  expect(lines[1]).toContain("PASSWORD_TOO_SHORT");
  for (const line of lines) for (const s of secrets) expect(line).not.toContain(s);
  await handler.close();
});

it("only users under baseDn that match the user filter: the Administrator (outside OU=People) and a group are NO_SUCH_OBJECT", async () => {
  const keys = agentKeys();
  const handler = new OperationHandler({
    sealingKey: keys.privateKey,
    directories: new Map([
      [
        "corp-ad",
        new DirectoryOperator({
          directory: adDirectory(env),
          password: env.ad.servicePassword,
          caPem: env.caPem,
        }),
      ],
      [
        "corp-ol",
        new DirectoryOperator({
          // The whole naming context: the groups are under it, but they are not users.
          directory: openLdapDirectory(env, { baseDn: env.openldap.baseDn }),
          password: env.openldap.servicePassword,
          caPem: env.caPem,
        }),
      ],
    ]),
  });
  const admin = await anchorOf(env, "ad", env.ad.adminDn);
  const group = await anchorOf(env, "openldap", env.openldap.scopeGroupDn);
  for (const [directoryId, anchor] of [
    ["corp-ad", admin],
    ["corp-ol", group],
  ] as const) {
    const r = await handler.handleOperation(
      await sealedRequest(keys.publicRaw, { directoryId, kind: "unlock", anchor }),
    );
    expect(r).toMatchObject({ outcome: "refused", applied: false, code: "NO_SUCH_OBJECT" });
  }
  await handler.close();
});

it("an answer carries the agent's timings (open, lookup, directory); the same opId answered from memory carries none", async () => {
  const keys = agentKeys();
  const handler = new OperationHandler({
    sealingKey: keys.privateKey,
    directories: new Map([
      [
        "corp-ol",
        new DirectoryOperator({
          directory: openLdapDirectory(env),
          password: env.openldap.servicePassword,
          caPem: env.caPem,
        }),
      ],
    ]),
  });
  const u = await createOpenLdapUser();
  const anchor = await anchorOf(env, "openldap", u.dn);
  const req = await sealedRequest(keys.publicRaw, {
    directoryId: "corp-ol",
    kind: "reset",
    anchor,
    secrets: { newPassword: "Timed-Reset-Pass-3!" },
  });
  const r = await handler.handleOperation(req);
  expect(r).toMatchObject({ outcome: "applied", fromCache: false });
  const t = r.timings;
  expect(t).toBeDefined();
  // Each phase really ran: opening a seal, a search and a write each take measurable time.
  expect(t?.openMs).toBeGreaterThan(0);
  expect(t?.lookupMs).toBeGreaterThan(0);
  expect(t?.directoryMs).toBeGreaterThan(0);
  const again = await handler.handleOperation(req);
  expect(again).toMatchObject({ outcome: "applied", fromCache: true });
  expect(again.timings).toBeUndefined();
  await handler.close();
});
