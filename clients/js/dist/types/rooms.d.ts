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
export type SeqVerdict = {
    kind: "deliver";
} | {
    kind: "duplicate";
    lastSeq: number;
} | {
    kind: "gap";
    expected: number;
    got: number;
};
export interface Gap {
    room: string;
    /** The seq that should have come next (last seen + 1). */
    expected: number;
    /** The seq that came. */
    got: number;
    epoch: string | null;
}
export declare class RoomTracker {
    private readonly records;
    get(room: string): RoomRecord | undefined;
    /** Every room with a snapshot that is not being left: the rooms to rejoin after a reconnect. */
    joined(): RoomRecord[];
    all(): RoomRecord[];
    private ensure;
    /**
     * A `room.snapshot`: the fresh state. Its `seq` is the stream's current offset (the next
     * broadcast has `seq + 1`) and becomes the baseline, also after `recovered: false`.
     */
    snapshot(room: string, payload: RoomSnapshotPayload): RoomRecord;
    /**
     * A `room.resumed`: the missed frames (`replayed` of them, up to `payload.seq`) follow, so the
     * baseline stays at the last seq seen and those frames advance it.
     */
    resumed(room: string, payload: RoomResumedPayload): RoomRecord;
    /** Classify a broadcast frame with `seq` for `room`, and advance the baseline when delivered. */
    accept(room: string, seq: number): SeqVerdict;
    /** The `since_seq` / `since_epoch` of a rejoin. */
    resumeFrom(room: string): {
        since_seq?: number;
        since_epoch?: string;
    };
    markLeaving(room: string): void;
    remove(room: string): void;
    clear(): void;
}
