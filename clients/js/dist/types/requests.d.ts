/** Requests awaiting their reply: matched by `rid`, timed out, queued while there is no connection. */
import type { Clock, SocketLike } from "./env.js";
import type { ClientMessage, ClientMessageType, ServerFrame, ServerFrameType } from "./wire.js";
/** The frame types that answer each request type (besides `error`). */
export declare const REPLY_TYPES: Record<ClientMessageType, readonly ServerFrameType[]>;
export interface PendingRequest {
    /** Creation order: queued requests are sent in this order. */
    readonly order: number;
    readonly rid: string;
    /** The message as sent, `rid` included (a resend sends it unchanged). */
    readonly message: ClientMessage & {
        rid: string;
    };
    /** A rejoin after a reconnect: sent before the queue, never resent. */
    readonly internal: boolean;
    /** The socket it was last sent on, or null while it waits in the queue. */
    socket: SocketLike | null;
    everSent: boolean;
    resends: number;
    timer: unknown;
    resolve(frame: ServerFrame | null): void;
    reject(error: unknown): void;
}
export interface RequestTableOptions {
    requestTimeoutMs: number;
    queueTimeoutMs: number;
    maxResends: number;
}
export declare class RequestTable {
    private readonly clock;
    private readonly options;
    private readonly pending;
    private counter;
    constructor(clock: Clock, options: RequestTableOptions);
    /** A new request; `promise` settles with its reply frame (or null for a leave ended by a drop). */
    create(message: ClientMessage, internal: boolean): {
        request: PendingRequest;
        promise: Promise<ServerFrame | null>;
    };
    get(rid: string): PendingRequest | undefined;
    get size(): number;
    /** True when `frame` answers `request` (a reply of the expected type, or an `error`). */
    static answers(request: PendingRequest, frame: ServerFrame): boolean;
    /** The request went out on `socket`: wait `requestTimeoutMs` for its reply. */
    sent(request: PendingRequest, socket: SocketLike): void;
    /** The request waits for a connection: at most `queueTimeoutMs`. */
    queue(request: PendingRequest): void;
    /** The requests waiting for a connection, oldest first. */
    queued(): PendingRequest[];
    settle(request: PendingRequest, frame: ServerFrame | null): void;
    /** The server answered `request` with an error: its outcome is known, reject with it as is. */
    refuse(request: PendingRequest, error: unknown): void;
    /** Reject `request` unanswered; a spin that may have reached the server becomes SpinOutcomeUnknownError. */
    fail(request: PendingRequest, cause: unknown): void;
    /**
     * `socket` dropped: requests sent on it are queued for a resend (a leave is over: the
     * connection's memberships went with it), or fail once `maxResends` resends were used.
     */
    dropped(socket: SocketLike, onLeave: (room: string) => void): void;
    /** Reject every request (the client stopped). */
    failAll(cause: unknown): void;
    private remove;
}
