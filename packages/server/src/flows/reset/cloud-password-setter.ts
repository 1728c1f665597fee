/**
 * Sets the password of a cloud account: Latchkey holds an argon2id hash (OWASP: 19 MiB, t=2).
 * The previous hash moves to the history, which keeps only what the policy can look at.
 */
import type { Kysely } from "kysely";
import type { Clock } from "../../core/clock.js";
import { hashPassword, verifyPassword } from "../../core/password-hash.js";
import { newId } from "../../core/random.js";
import type { Database, User } from "../../store/schema.js";
import type { PasswordSetter, SetPasswordResult } from "./password-setter.js";

/** History rows kept per user, whatever the policy (the policy allows at most 24). */
const HISTORY_KEEP = 24;

export class CloudPasswordSetter implements PasswordSetter {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly clock: Clock,
  ) {}

  serves(user: User): boolean {
    return user.kind === "cloud";
  }

  async setPassword(user: User, newPassword: string, opts: { unlock: boolean }): Promise<SetPasswordResult> {
    const hash = await hashPassword(newPassword);
    const now = this.clock.now();
    await this.db.transaction().execute(async (tx) => {
      const current = await tx
        .selectFrom("users")
        .select("password_hash")
        .where("id", "=", user.id)
        .executeTakeFirst();
      if (current?.password_hash) {
        await tx
          .insertInto("password_history")
          .values({
            id: newId(),
            tenant_id: user.tenant_id,
            user_id: user.id,
            password_hash: current.password_hash,
            created_at: now,
          })
          .execute();
      }
      await tx
        .updateTable("users")
        .set({
          password_hash: hash,
          password_changed_at: now,
          updated_at: now,
          ...(opts.unlock ? { locked: 0 } : {}),
        })
        .where("id", "=", user.id)
        .execute();
      const stale = await tx
        .selectFrom("password_history")
        .select("id")
        .where("user_id", "=", user.id)
        .orderBy("created_at", "desc")
        .offset(HISTORY_KEEP)
        .limit(1000)
        .execute();
      if (stale.length > 0) {
        await tx
          .deleteFrom("password_history")
          .where(
            "id",
            "in",
            stale.map((s) => s.id),
          )
          .execute();
      }
    });
    return { ok: true };
  }

  /** A cloud account's lock is the flag itself (set by an administrator, or by sign-in lockout). */
  async unlock(user: User): Promise<SetPasswordResult> {
    await this.db
      .updateTable("users")
      .set({ locked: 0, updated_at: this.clock.now() })
      .where("id", "=", user.id)
      .where("tenant_id", "=", user.tenant_id)
      .execute();
    return { ok: true };
  }
}

/**
 * Is `password` the current one or among the last `depth` ones? Every candidate hash is verified
 * (no early exit), so the time does not tell how recent a match was.
 */
export async function inCloudHistory(
  db: Kysely<Database>,
  user: User,
  password: string,
  depth: number,
): Promise<boolean> {
  const rows = await db
    .selectFrom("password_history")
    .select("password_hash")
    .where("user_id", "=", user.id)
    .orderBy("created_at", "desc")
    .limit(Math.max(0, depth - 1))
    .execute();
  const hashes = [
    ...(user.password_hash ? [user.password_hash] : []),
    ...rows.map((r) => r.password_hash),
  ].slice(0, depth);
  const results = await Promise.all(hashes.map((h) => verifyPassword(h, password)));
  return results.some(Boolean);
}

/** Revokes every live session of the user (a reset signs them out everywhere). */
export async function revokeAllSessions(db: Kysely<Database>, clock: Clock, user: User): Promise<number> {
  const res = await db
    .updateTable("sessions")
    .set({ revoked_at: clock.now() })
    .where("user_id", "=", user.id)
    .where("revoked_at", "is", null)
    .executeTakeFirst();
  return Number(res.numUpdatedRows);
}
