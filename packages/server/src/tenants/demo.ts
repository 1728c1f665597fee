/**
 * The demo seed: the demo tenant and a few cloud users, then every hook in demo-hooks.ts (where the
 * verification methods add what each user needs to try a reset: an email address, a phone, a TOTP
 * secret, answers). Passwords are random: the demo is about forgetting them.
 */
import { randomBytes } from "node:crypto";
import type { Kysely } from "kysely";
import type { AuditSink } from "../audit/emitter.js";
import type { Clock } from "../core/clock.js";
import type { ServerSecrets } from "../core/secrets.js";
import type { Database, Tenant, User } from "../store/schema.js";
import { demoSeedHooks } from "./demo-hooks.js";
import { type SeedUser, seedTenant, type TenantSpec } from "./seed.js";

export interface DemoUser {
  username: string;
  displayName: string;
  email: string;
  mobile: string;
  isAdmin: boolean;
}

export const DEMO_USERS: readonly DemoUser[] = [
  {
    username: "alice",
    displayName: "Alice Example",
    email: "alice@demo.example",
    mobile: "+15005550101",
    isAdmin: false,
  },
  {
    username: "bob",
    displayName: "Bob Example",
    email: "bob@demo.example",
    mobile: "+15005550102",
    isAdmin: false,
  },
  {
    username: "carol",
    displayName: "Carol Admin",
    email: "carol@demo.example",
    mobile: "+15005550103",
    isAdmin: true,
  },
];

/** What a hook receives: the store, the keys (to seal a TOTP secret) and the users just seeded. */
export interface DemoSeedContext {
  db: Kysely<Database>;
  clock: Clock;
  secrets: ServerSecrets;
  audit: AuditSink;
  tenant: Tenant;
  /** The demo users as stored (existing ones included, so hooks can be idempotent). */
  users: User[];
}

/** A hook runs on every `latchkey demo` start and must be idempotent. */
export type DemoSeedHook = (ctx: DemoSeedContext) => Promise<void>;

export interface DemoSeedResult {
  tenant: Tenant;
  users: User[];
  /** Users created by this run (the others existed). */
  createdUsers: string[];
  /** The passwords of the users created by this run, to print: demo accounts that protect nothing. */
  passwords: Record<string, string>;
}

export async function seedDemo(
  deps: { db: Kysely<Database>; clock: Clock; secrets: ServerSecrets; audit: AuditSink },
  spec: TenantSpec,
  hooks: readonly DemoSeedHook[] = demoSeedHooks,
): Promise<DemoSeedResult> {
  const users: SeedUser[] = DEMO_USERS.map((u) => ({
    username: u.username,
    password: randomBytes(18).toString("base64url"),
    email: u.email,
    upn: u.email,
    displayName: u.displayName,
    givenName: u.displayName.split(" ")[0] ?? null,
    surname: u.displayName.split(" ")[1] ?? null,
    mobile: u.mobile,
    isAdmin: u.isAdmin,
  }));
  const seeded = await seedTenant(deps, spec, users);
  for (const hook of hooks) {
    await hook({ ...deps, tenant: seeded.tenant, users: seeded.users });
  }
  const passwords: Record<string, string> = {};
  for (const u of users) if (seeded.createdUsers.includes(u.username)) passwords[u.username] = u.password;
  return { tenant: seeded.tenant, users: seeded.users, createdUsers: seeded.createdUsers, passwords };
}
