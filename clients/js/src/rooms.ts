/** Per-room stream tracking: the last `seq` seen, the stream's `epoch`, the last snapshot. */

import type { RoomResumedPayload, RoomSnapshotPayload } from "./wire.js";

export interface RoomRecord {
  readonly room: string;
  /** The last room-stream `seq` seen (the baseline for duplicates and gaps). */
  lastSeq: number | null;
  /** The stream's epoch; seqs of different epochs are not comparable. */
  epoch: string | null;
  /** The payload of the last `room.snapshot` or `room.resumed`. */
  snapshot: RoomSnapshotPayload | RoomResumedPayload | null;
  /** A `room.leave` was sent: do not rejoin this room after a reconnect. */
  leaving: boolean;
}

/** What to do with a broadcast frame, by its `seq`. */
export type SeqVerdict =
  | { kind: "deliver" }
  | { kind: "duplicate"; lastSeq: number }
  | { kind: "gap"; expected: number; got: number };

export interface Gap {
  room: string;
  /** The seq that should have come next (last seen + 1). */
  expected: number;
  /** The seq that came. */
  got: number;
  epoch: string | null;
}

export class RoomTracker {
  private readonly records = new Map<string, RoomRecord>();

  get(room: string): RoomRecord | undefined {
    return this.records.get(room);
  }

  /** Every room with a snapshot that is not being left: the rooms to rejoin after a reconnect. */
  joined(): RoomRecord[] {
    return [...this.records.values()].filter((record) => record.snapshot !== null && !record.leaving);
  }

  all(): RoomRecord[] {
    return [...this.records.values()];
  }

  private ensure(room: string): RoomRecord {
    let record = this.records.get(room);
    if (!record) {
      record = { room, lastSeq: null, epoch: null, snapshot: null, leaving: false };
      this.records.set(room, record);
    }
    return record;
  }

  /**
   * A `room.snapshot`: the fresh state. Its `seq` is the stream's current offset (the next
   * broadcast has `seq + 1`) and becomes the baseline, also after `recovered: false`.
   */
  snapshot(room: string, payload: RoomSnapshotPayload): RoomRecord {
    const record = this.ensure(room);
    record.lastSeq = payload.seq;
    record.epoch = payload.epoch ?? null;
    record.snapshot = payload;
    record.leaving = false;
    return record;
  }

  /**
   * A `room.resumed`: the missed frames (`replayed` of them, up to `payload.seq`) follow, so the
   * baseline stays at the last seq seen and those frames advance it.
   */
  resumed(room: string, payload: RoomResumedPayload): RoomRecord {
    const record = this.ensure(room);
    if (record.lastSeq === null) record.lastSeq = payload.seq - payload.replayed;
    record.epoch = payload.epoch ?? record.epoch;
    record.snapshot = payload;
    record.leaving = false;
    return record;
  }

  /** Classify a broadcast frame with `seq` for `room`, and advance the baseline when delivered. */
  accept(room: string, seq: number): SeqVerdict {
    const record = this.records.get(room);
    if (!record || record.lastSeq === null) return { kind: "deliver" };
    const last = record.lastSeq;
    if (seq <= last) return { kind: "duplicate", lastSeq: last };
    record.lastSeq = seq;
    if (seq > last + 1) return { kind: "gap", expected: last + 1, got: seq };
    return { kind: "deliver" };
  }

  /** The `since_seq` / `since_epoch` of a rejoin. */
  resumeFrom(room: string): { since_seq?: number; since_epoch?: string } {
    const record = this.records.get(room);
    const from: { since_seq?: number; since_epoch?: string } = {};
    if (record?.lastSeq != null) from.since_seq = record.lastSeq;
    if (record?.epoch != null) from.since_epoch = record.epoch;
    return from;
  }

  markLeaving(room: string): void {
    const record = this.records.get(room);
    if (record) record.leaving = true;
  }

  remove(room: string): void {
    this.records.delete(room);
  }

  clear(): void {
    this.records.clear();
  }
}
