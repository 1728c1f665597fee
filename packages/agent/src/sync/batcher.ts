/**
 * Cuts a pass into sync.batch messages (at most `batchSize` users and 10,000 deleted anchors each,
 * seq 0, 1, 2…, the last one `final`) and keeps up to `window` of them unacknowledged, so reading the
 * directory overlaps with the server storing the previous batches. `finish()` resolves once every
 * batch was acknowledged; the first failure fails the pass.
 */
import type { SyncedUser } from "@latchkey/protocol";
import type { SyncAck, SyncSink } from "./sink.js";

export const MAX_DELETED_PER_BATCH = 10_000;

type Settled = { ok: true; ack: SyncAck } | { ok: false; error: unknown };

export interface BatcherOptions {
  directoryId: string;
  syncId: string;
  full: boolean;
  batchSize: number;
  window: number;
}

export class Batcher {
  private users: SyncedUser[] = [];
  private deleted: string[] = [];
  private seq = 0;
  private readonly inflight: Promise<Settled>[] = [];
  private finished = false;
  upserted = 0;
  removed = 0;
  /** Users the server refused to store, and why. */
  readonly rejected: { anchor: string; reason: string }[] = [];
  batches = 0;

  constructor(
    private readonly sink: SyncSink,
    private readonly opts: BatcherOptions,
  ) {}

  async addUser(u: SyncedUser): Promise<void> {
    this.users.push(u);
    if (this.users.length >= this.opts.batchSize) await this.flush(false);
  }

  async addDeleted(anchor: string): Promise<void> {
    this.deleted.push(anchor);
    if (this.deleted.length >= MAX_DELETED_PER_BATCH) await this.flush(false);
  }

  private record(s: Settled): void {
    if (!s.ok) throw s.error;
    this.upserted += s.ack.upserted;
    this.removed += s.ack.removed;
    this.rejected.push(...s.ack.rejected);
  }

  private async flush(final: boolean): Promise<void> {
    if (this.finished) throw new Error("batcher already finished");
    const batch = {
      directoryId: this.opts.directoryId,
      syncId: this.opts.syncId,
      full: this.opts.full,
      seq: this.seq++,
      final,
      users: this.users,
      deleted: this.deleted,
    };
    this.users = [];
    this.deleted = [];
    this.batches++;
    // Settle at once so a rejection is never "unhandled" while earlier batches are awaited.
    this.inflight.push(
      this.sink.send(batch).then(
        (ack): Settled => ({ ok: true, ack }),
        (error: unknown): Settled => ({ ok: false, error }),
      ),
    );
    while (this.inflight.length >= this.opts.window)
      this.record(await (this.inflight.shift() as Promise<Settled>));
  }

  /** Sends the final batch (possibly empty) and waits for every acknowledgement. */
  async finish(): Promise<void> {
    await this.flush(true);
    this.finished = true;
    while (this.inflight.length > 0) this.record(await (this.inflight.shift() as Promise<Settled>));
  }
}
