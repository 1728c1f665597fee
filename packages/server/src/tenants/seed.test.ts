import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { StoreAudit } from "../audit/emitter.js";
import { ManualClock } from "../core/clock.js";
import { verifyPassword } from "../core/password-hash.js";
import { randomSecrets } from "../core/secrets.js";
import { openStore, type Store } from "../store/db.js";
import { DEMO_USERS, type DemoSeedContext, seedDemo } from "./demo.js";
import { ensureTenant, listTenants, seedTenant } from "./seed.js";

let store: Store;
const clock = new ManualClock();
beforeEach(async () => {
  store = openStore({ url: "sqlite::memory:" });
  await store.migrate();
});
afterEach(async () => {
  await store.close();
});

function deps() {
  return { db: store.db, clock, audit: new StoreAudit(store.db, clock) };
}

async function events(): Promise<string[]> {
  const rows = await store.db.selectFrom("audit_events").select("event").orderBy("occurred_at").execute();
  return rows.map((r) => r.event);
}

describe("ensureTenant", () => {
  it("creates the configured tenant when the store has none, with validated default settings", async () => {
    const { tenant, created } = await ensureTenant(deps(), {
      slug: "acme",
      name: "Acme",
      settings: { reset: { gates: 2 } },
    });
    expect(created).toBe(true);
    expect(tenant).toMatchObject({ slug: "acme", name: "Acme", created_at: clock.now() });
    const settings = JSON.parse(tenant.settings_json);
    expect(settings.reset.gates).toBe(2);
    expect(settings.password.minLength).toBe(8);
    expect(await events()).toEqual(["tenant.created"]);
  });

  it("changes nothing when a tenant exists, even under another slug", async () => {
    const first = await ensureTenant(deps(), { slug: "acme", name: "Acme" });
    const again = await ensureTenant(deps(), { slug: "acme", name: "Renamed" });
    expect(again).toEqual({ tenant: first.tenant, created: false });
    const other = await ensureTenant(deps(), { slug: "other", name: "Other" });
    expect(other.tenant.id).toBe(first.tenant.id);
    expect((await listTenants(store.db)).map((t) => t.slug)).toEqual(["acme"]);
  });

  it("refuses invalid initial settings", async () => {
    await expect(
      ensureTenant(deps(), { slug: "x", name: "X", settings: { reset: { gates: 5 } } }),
    ).rejects.toThrow();
    expect(await listTenants(store.db)).toEqual([]);
  });
});

describe("seedTenant", () => {
  it("creates cloud users with argon2id hashes, once", async () => {
    const users = [
      { username: "Alice", password: "first-Secret-1", email: "alice@acme.test", isAdmin: true },
      { username: "bob", password: "second-Secret-2" },
    ];
    const first = await seedTenant(deps(), { slug: "acme", name: "Acme" }, users);
    expect(first.created).toBe(true);
    expect(first.createdUsers).toEqual(["alice", "bob"]);
    const alice = first.users.find((u) => u.username === "alice");
    expect(alice).toMatchObject({
      kind: "cloud",
      email: "alice@acme.test",
      is_admin: 1,
      enabled: 1,
      in_scope: 1,
    });
    expect(alice?.password_hash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    expect(await verifyPassword(alice?.password_hash ?? "", "first-Secret-1")).toBe(true);
    const stored = JSON.stringify(await store.db.selectFrom("users").selectAll().execute());
    expect(stored).not.toContain("first-Secret-1");

    const second = await seedTenant(deps(), { slug: "acme", name: "Acme" }, [
      { username: "alice", password: "changed-Secret-3" },
    ]);
    expect(second.created).toBe(false);
    expect(second.createdUsers).toEqual([]);
    expect(second.users[0]?.password_hash).toBe(alice?.password_hash);
    expect(await events()).toEqual(["tenant.created", "user.created", "user.created"]);
    const details = await store.db.selectFrom("audit_events").select("details_json").execute();
    expect(JSON.stringify(details)).not.toMatch(/Secret/);
  });
});

describe("seedDemo", () => {
  it("seeds the demo users and runs every hook with them, idempotently", async () => {
    const seen: DemoSeedContext[] = [];
    const hook = async (ctx: DemoSeedContext) => {
      seen.push(ctx);
    };
    const d = { ...deps(), secrets: randomSecrets() };
    const first = await seedDemo(d, { slug: "demo", name: "Demo" }, [hook]);
    expect(first.createdUsers).toEqual(DEMO_USERS.map((u) => u.username));
    const again = await seedDemo(d, { slug: "demo", name: "Demo" }, [hook]);
    expect(again.createdUsers).toEqual([]);
    expect(seen).toHaveLength(2);
    expect(seen[1]?.users.map((u) => u.username)).toEqual(["alice", "bob", "carol"]);
    expect(seen[1]?.tenant.slug).toBe("demo");
  });
});
