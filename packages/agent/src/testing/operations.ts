/**
 * TEST SUPPORT ONLY: a handler wired to the test environment's directories, requests sealed the way
 * the server seals them, and small directory probes (anchor of a DN, can this password bind?).
 */
import { generateKeyPairSync, randomUUID } from "node:crypto";
import { type OpRequest, operationAad, PROTOCOL_VERSION, seal, x25519PublicKeyRaw } from "@latchkey/protocol";
import { Client } from "ldapts";
import type { TestEnv } from "../../../../test-env/types.js";
import { guidToUuid } from "../directory/ad/mapping.js";
import { firstBuffer, values } from "../directory/values.js";
import { DirectoryOperator } from "../operations/directory.js";
import { OperationHandler, type OperationHandlerOptions } from "../operations/handler.js";
import { adDirectory, openLdapDirectory } from "./directories.js";

export function agentKeys() {
  const { privateKey } = generateKeyPairSync("x25519");
  return { privateKey, publicRaw: x25519PublicKeyRaw(privateKey) };
}

export function testOperators(env: TestEnv): Map<string, DirectoryOperator> {
  return new Map([
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
        directory: openLdapDirectory(env),
        password: env.openldap.servicePassword,
        caPem: env.caPem,
      }),
    ],
  ]);
}

export function testHandler(env: TestEnv, extra: Partial<OperationHandlerOptions> = {}) {
  const keys = agentKeys();
  const handler = new OperationHandler({
    sealingKey: keys.privateKey,
    directories: testOperators(env),
    ...extra,
  });
  return { handler, keys };
}

export interface RequestInput {
  kind: OpRequest["kind"];
  directoryId: "corp-ad" | "corp-ol";
  anchor: string;
  secrets?: Record<string, string>;
  options?: { unlock?: boolean; mustChange?: boolean };
  opId?: string;
  tenantId?: string;
  deadline?: number;
}

/** An op.request as the server makes it: secrets sealed to `publicRaw` with the operation's aad. */
export async function sealedRequest(publicRaw: Uint8Array, r: RequestInput): Promise<OpRequest> {
  const opId = r.opId ?? randomUUID();
  const tenantId = r.tenantId ?? "default";
  const sealed = r.secrets
    ? await seal(
        publicRaw,
        new TextEncoder().encode(JSON.stringify(r.secrets)),
        operationAad({ opId, kind: r.kind, tenantId, anchor: r.anchor }),
      )
    : null;
  return {
    v: PROTOCOL_VERSION,
    id: randomUUID(),
    type: "op.request",
    opId,
    kind: r.kind,
    tenantId,
    directoryId: r.directoryId,
    anchor: r.anchor,
    dn: null,
    options: { unlock: r.options?.unlock ?? false, mustChange: r.options?.mustChange ?? false },
    sealed,
    deadline: r.deadline ?? Date.now() + 15_000,
  };
}

function tls(env: TestEnv) {
  return { ca: [env.caPem], rejectUnauthorized: true };
}

/** Reads attributes of one entry as a directory administrator. */
export async function readEntry(
  env: TestEnv,
  dialect: "ad" | "openldap",
  dn: string,
  attributes: string[],
): Promise<Record<string, string[]>> {
  const ad = dialect === "ad";
  const c = new Client({
    url: ad ? env.ad.url : env.openldap.url,
    timeout: 15_000,
    ...(ad ? { tlsOptions: tls(env) } : {}),
  });
  try {
    if (ad) await c.bind(env.ad.adminDn, env.ad.adminPassword);
    else await c.bind(env.openldap.rootDn, env.openldap.rootPassword);
    const { searchEntries } = await c.search(dn, {
      scope: "base",
      filter: "(objectClass=*)",
      attributes,
      explicitBufferAttributes: ad ? ["objectGUID"] : [],
    });
    const e = searchEntries[0];
    if (!e) throw new Error(`no entry ${dn}`);
    const out: Record<string, string[]> = {};
    for (const a of attributes)
      out[a] = a === "objectGUID" ? [guidToUuid(firstBuffer(e, a) as Buffer)] : values(e, a);
    return out;
  } finally {
    await c.unbind().catch(() => {});
  }
}

export async function anchorOf(env: TestEnv, dialect: "ad" | "openldap", dn: string): Promise<string> {
  const attr = dialect === "ad" ? "objectGUID" : "entryUUID";
  const v = (await readEntry(env, dialect, dn, [attr]))[attr]?.[0];
  if (!v) throw new Error(`no ${attr} for ${dn}`);
  return v.toLowerCase();
}

/** "ok", or the error text of a simple bind as `dn` (over LDAPS / StartTLS). */
export async function tryBind(
  env: TestEnv,
  dialect: "ad" | "openldap",
  dn: string,
  password: string,
): Promise<string> {
  const ad = dialect === "ad";
  const c = new Client({
    url: ad ? env.ad.url : env.openldap.ldapsUrl,
    timeout: 15_000,
    tlsOptions: tls(env),
  });
  try {
    await c.bind(dn, password);
    return "ok";
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  } finally {
    await c.unbind().catch(() => {});
  }
}
