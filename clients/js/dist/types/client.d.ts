/** RoomClient: one player's connection to the room server, with reconnect and resume. */
import { type Handler } from "./emitter.js";
import type { ConnectionState, RoomClientEvents, RoomClientOptions, RoomInfo, SpinOptions } from "./types.js";
import type { BalancePayload, RoomSnapshotPayload, SpinResultPayload } from "./wire.js";
export declare const SUBPROTOCOL = "roomserver.v1";
export declare class RoomClient {
    private readonly connection;
    private readonly clock;
    private readonly random;
    private readonly requests;
    private readonly tracker;
    private readonly events;
    /** The open socket once every joined room was rejoined (requests go out only then). */
    private ready;
    /** A `server.draining` (or DRAINING reply) was seen: new requests wait for the reconnect. */
    private holding;
    private spinning;
    private waiters;
    constructor(options: RoomClientOptions);
    get state(): ConnectionState;
    /** Spins started and not settled yet. */
    get spinsInFlight(): number;
    on<K extends keyof RoomClientEvents>(event: K, handler: Handler<RoomClientEvents[K]>): () => void;
    off<K extends keyof RoomClientEvents>(event: K, handler: Handler<RoomClientEvents[K]>): void;
    /** Open the connection; resolves once open, rejects if the client stops for good first. */
    connect(): Promise<void>;
    /** Join a room; resolves with its snapshot. */
    join(room: string): Promise<RoomSnapshotPayload>;
    leave(room: string): Promise<void>;
    balance(room: string): Promise<BalancePayload>;
    /** Round-trip time in milliseconds (by the client's clock). */
    ping(): Promise<number>;
    /**
     * Place a spin. Its idempotency key is made once and reused on every resend, so a spin is
     * never placed twice; when its outcome cannot be known it rejects with SpinOutcomeUnknownError.
     */
    spin(room: string, options: SpinOptions): Promise<SpinResultPayload>;
    /** The stream record of a room (last seq, epoch, last snapshot), while joined. */
    room(room: string): RoomInfo | undefined;
    /** The rooms joined (with a snapshot), in join order. */
    rooms(): string[];
    /** Close for good: pending requests reject, no reconnect. connect() may be called again. */
    close(): void;
    private request;
    private send;
    private flush;
    private spinDone;
    private onOpened;
    /** Rejoin every joined room with `since_seq`/`since_epoch`, then send the queued requests. */
    private rejoin;
    private onDropped;
    private onStopped;
    private onMessage;
    /** Update the room's stream record from a snapshot, resume or leave reply. */
    private track;
    private dispatch;
    private answer;
    private emitError;
}
