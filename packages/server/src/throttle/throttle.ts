/**
 * Fixed-window counters with a lockout, held in the store so every instance sees the same limits.
 *
 * A key counts hits in a window that starts at its first hit and lasts `windowMs`. The hit that
 * takes the count past `limit` locks the key for `lockMs`; while locked, every hit is refused and
 * counted, but the lock does not move (so a stream of refused tries cannot extend someone else's
 * lockout forever). When the lock or the window has run out, the next hit starts a fresh window.
 *
 * `hit` is one upsert statement (INSERT … ON CONFLICT DO UPDATE … RETURNING) whose SET expressions
 * all read the old row, so concurrent hits serialise on the row in both SQLite and PostgreSQL:
 * with limit 10, 20 parallel hits allow exactly 10.
 */
import { type Kysely, sql } from "kysely";
import type { AuditSink } from "../audit/emitter.js";
import type { Clock } from "../core/clock.js";
import { LatchkeyError } from "../core/errors.js";
import type { Database } from "../store/schema.js";

export interface ThrottleLimits {
  /** Hits allowed per window. */
  limit: number;
  windowMs: number;
  /** How long the key stays locked once the limit is passed. */
  lockMs: number;
}

export interface ThrottleResult {
  allowed: boolean;
  /** Hits left in the current window (0 when locked). */
  remaining: number;
  /** Epoch ms until which the key is locked, or null. */
  lockedUntil: number | null;
}

export interface HitResult extends ThrottleResult {
  /** True for the one hit that caused the lock. */
  justLocked: boolean;
}

export interface ThrottleState extends ThrottleResult {
  count: number;
  windowStart: number;
}

function checkLimits(l: ThrottleLimits): void {
  const ok =
    Number.isSafeInteger(l.limit) &&
    l.limit >= 1 &&
    Number.isSafeInteger(l.windowMs) &&
    l.windowMs >= 1 &&
    Number.isSafeInteger(l.lockMs) &&
    l.lockMs >= 0;
  if (!ok) throw new LatchkeyError("CONFIG_INVALID", "throttle limits must be positive integers");
}

export class Throttle {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly clock: Clock,
    /** When given, the hit that locks a key records `throttle.locked`. */
    private readonly audit?: AuditSink,
  ) {}

  async hit(tenantId: string, key: string, limits: ThrottleLimits): Promise<HitResult> {
    checkLimits(limits);
    const now = this.clock.now();
    const { limit, windowMs, lockMs } = limits;
    const lockEnd = now + lockMs;
    // lockMs 0 means "refuse until the window ends" without a lock.
    const lockValue = lockMs > 0 ? lockEnd : null;
    // Integers are cast so PostgreSQL types the parameters as bigint; SQLite accepts the same SQL.
    const nowP = sql`cast(${now} as bigint)`;
    const limitP = sql`cast(${limit} as bigint)`;
    const windowP = sql`cast(${windowMs} as bigint)`;
    const lockEndP = sql`cast(${lockValue} as bigint)`;
    const locked = sql`(t.locked_until is not null and t.locked_until > ${nowP})`;
    const fresh = sql`(t.locked_until is not null or t.window_start + ${windowP} <= ${nowP})`;
    const res = await sql<{ window_start: number; count: number; locked_until: number | null }>`
      insert into throttle_counters as t (tenant_id, "key", window_start, count, locked_until)
      values (${tenantId}, ${key}, ${nowP}, 1, null)
      on conflict (tenant_id, "key") do update set
        window_start = case when ${locked} then t.window_start when ${fresh} then ${nowP} else t.window_start end,
        count        = case when ${fresh} and not ${locked} then 1 else t.count + 1 end,
        locked_until = case
                         when ${locked} then t.locked_until
                         when ${fresh} then null
                         when t.count + 1 > ${limitP} then ${lockEndP}
                         else null
                       end
      returning window_start, count, locked_until`.execute(this.db);
    const row = res.rows[0];
    if (!row) throw new LatchkeyError("STORE_UNAVAILABLE", "throttle upsert returned no row");
    const count = Number(row.count);
    const lockedUntil = row.locked_until === null ? null : Number(row.locked_until);
    const isLocked = lockedUntil !== null && lockedUntil > now;
    const justLocked = isLocked && count === limit + 1;
    if (justLocked && this.audit) {
      try {
        await this.audit.emit({
          tenantId,
          event: "throttle.locked",
          result: "info",
          reason: "throttled",
          target: key,
          details: { limit, windowMs, lockMs, lockedUntil },
        });
      } catch {
        // The lock holds whether or not the audit row was written.
      }
    }
    return {
      allowed: !isLocked && count <= limit,
      remaining: isLocked ? 0 : Math.max(0, limit - count),
      lockedUntil: isLocked ? lockedUntil : null,
      justLocked,
    };
  }

  /**
   * The key's state now, without counting a hit ("why can't this user reset?"). Null when the key
   * has no live counter. Pass the limits to get an exact `remaining` and to treat an elapsed window
   * as empty; without them only the lock is judged and `remaining` is the safe-integer maximum.
   */
  async peek(
    tenantId: string,
    key: string,
    limits?: Omit<ThrottleLimits, "lockMs">,
  ): Promise<ThrottleState | null> {
    const row = await this.db
      .selectFrom("throttle_counters")
      .select(["window_start", "count", "locked_until"])
      .where("tenant_id", "=", tenantId)
      .where("key", "=", key)
      .executeTakeFirst();
    if (!row) return null;
    const now = this.clock.now();
    const lockedUntil = row.locked_until === null ? null : Number(row.locked_until);
    const windowStart = Number(row.window_start);
    const count = Number(row.count);
    if (lockedUntil !== null && lockedUntil > now) {
      return { allowed: false, remaining: 0, lockedUntil, count, windowStart };
    }
    if (!limits) {
      return { allowed: true, remaining: Number.MAX_SAFE_INTEGER, lockedUntil: null, count, windowStart };
    }
    if (lockedUntil !== null || windowStart + limits.windowMs <= now) return null;
    return {
      allowed: count < limits.limit,
      remaining: Math.max(0, limits.limit - count),
      lockedUntil: null,
      count,
      windowStart,
    };
  }

  /** Forgets one key (e.g. after a successful reset, or an admin's unlock). */
  async reset(tenantId: string, key: string): Promise<void> {
    await this.db
      .deleteFrom("throttle_counters")
      .where("tenant_id", "=", tenantId)
      .where("key", "=", key)
      .execute();
  }

  /** Forgets every key that starts with `prefix` (e.g. all `verify:<user>:` counters). */
  async resetPrefix(tenantId: string, prefix: string): Promise<number> {
    if (prefix.length === 0) throw new LatchkeyError("VALIDATION_FAILED", "empty throttle prefix");
    const res = await this.db
      .deleteFrom("throttle_counters")
      .where("tenant_id", "=", tenantId)
      .where(sql<boolean>`substr("key", 1, ${prefix.length}) = ${prefix}`)
      .executeTakeFirst();
    return Number(res.numDeletedRows);
  }
}
