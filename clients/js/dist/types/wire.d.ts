/** Join a tournament room; `since_seq` (of stream `since_epoch`) asks to resume after it. */
export interface RoomJoin {
    type: "room.join";
    room: string;
    since_seq?: number | null;
    since_epoch?: string | null;
    rid?: string | null;
}
/** Leave a room. */
export interface RoomLeave {
    type: "room.leave";
    room: string;
    rid?: string | null;
}
/** Place one spin; `idempotency_key` makes retries safe. */
export interface Spin {
    type: "spin";
    room: string;
    stake: number;
    idempotency_key: string;
    client_seed?: string | null;
    rid?: string | null;
}
/** Ask for the player's chip balance in a room. */
export interface BalanceGet {
    type: "balance.get";
    room: string;
    rid?: string | null;
}
/** Latency probe; `t` (client clock) is echoed as sent. */
export interface Ping {
    type: "ping";
    t?: number | null;
    rid?: string | null;
}
/**
 * Benchmarks only, off unless `server.bench_publish`: broadcast `payload` as `bench.update`.
 *
 * The payload is any JSON, kept as the client wrote it.
 */
export interface BenchPublish {
    type: "bench.publish";
    room: string;
    payload: unknown;
    rid?: string | null;
}
/** Reply to `room.join`. */
export interface RoomSnapshot {
    type: "room.snapshot";
    payload: RoomSnapshotPayload;
    rid?: string | null;
    room?: string | null;
    seq?: number | null;
    ts: string;
}
/** Everything a member needs to render the room; `seq` is the offset in stream `epoch`. */
export interface RoomSnapshotPayload {
    status: "cancelled" | "completed" | "completing" | "running" | "scheduled";
    config: RoomConfig;
    server_seed_hash: string;
    you: You;
    leaderboard: LeaderboardEntry[];
    players_online: number;
    seq: number;
    recovered?: boolean | null;
    epoch?: string | null;
}
/** The tournament configuration a player needs to play. */
export interface RoomConfig {
    name: string;
    kind: "hop_on_off" | "scheduled";
    game_id: string;
    currency: string;
    buy_in: number;
    starting_chips: number;
    min_stake: number;
    max_stake: number;
    scoring: "biggest_multiplier" | "total_win" | "win_to_bet_ratio";
    leaderboard_size: number;
    starts_at?: string | null;
    ends_at?: string | null;
}
/** The receiving player's own standing in the room. */
export interface You {
    player_id: string;
    balance: number;
    score: number;
    rank: number | null;
}
/** One leaderboard row, on the wire as `[player_id, name, score, rank]`. */
export type LeaderboardEntry = [string, string, number, number];
/** Reply to `room.join` with `since_seq` when every missed frame is still held. */
export interface RoomResumed {
    type: "room.resumed";
    payload: RoomResumedPayload;
    rid?: string | null;
    room?: string | null;
    seq?: number | null;
    ts: string;
}
/** Resume succeeded: `replayed` missed room frames follow this one, in order. */
export interface RoomResumedPayload {
    status: "cancelled" | "completed" | "completing" | "running" | "scheduled";
    config: RoomConfig;
    server_seed_hash: string;
    you: You;
    leaderboard: LeaderboardEntry[];
    players_online: number;
    seq: number;
    replayed: number;
    epoch?: string | null;
}
/** Reply to `room.leave`. */
export interface RoomLeft {
    type: "room.left";
    rid?: string | null;
    room?: string | null;
    seq?: number | null;
    ts: string;
}
/** Reply to `spin`, sent after the money committed. */
export interface SpinResult {
    type: "spin.result";
    payload: SpinResultPayload;
    rid?: string | null;
    room?: string | null;
    seq?: number | null;
    ts: string;
}
/** The committed result of a spin; `balance` is the chip balance after it. */
export interface SpinResultPayload {
    spin_id: string;
    round_id: string;
    stake: number;
    win: number;
    balance: number;
    currency: string;
    score: number;
    outcome: SpinOutcomePayload;
    fairness: FairnessPayload;
    rank?: number | null;
}
/** What the reels showed. */
export interface SpinOutcomePayload {
    symbols: string[];
    stops: number[];
    multiplier: number;
    rule: string | null;
    features: string[];
}
/** What a player needs to verify the spin once the server seed is revealed. */
export interface FairnessPayload {
    server_seed_hash: string;
    client_seed: string;
    nonce: number;
    math_version: string;
}
/** Room broadcast, coalesced to at most `leaderboard_hz` per second. */
export interface LeaderboardUpdated {
    type: "leaderboard.updated";
    payload: LeaderboardUpdatedPayload;
    rid?: string | null;
    room?: string | null;
    seq?: number | null;
    ts: string;
}
/** Top N of the room and the ranks that moved since the previous push. */
export interface LeaderboardUpdatedPayload {
    entries: LeaderboardEntry[];
    changed: RankChange[];
}
/** A rank that moved since the previous push: `[player_id, previous_rank|null, rank]`. */
export type RankChange = [string, number | null, number];
/** Pushed to one player when their score changed other than by their own spin. */
export interface PlayerScoreUpdated {
    type: "player.score.updated";
    payload: ScorePayload;
    rid?: string | null;
    room?: string | null;
    seq?: number | null;
    ts: string;
}
/** The player's own score and rank. */
export interface ScorePayload {
    score: number;
    rank: number | null;
}
/** Room broadcast: a member joined. */
export interface PlayerConnected {
    type: "room.player.connected";
    payload: PresencePayload;
    rid?: string | null;
    room?: string | null;
    seq?: number | null;
    ts: string;
}
/** Who came or went; big rooms send the count only. */
export interface PresencePayload {
    players_online: number;
    player_id?: string | null;
}
/** Room broadcast: a member left. */
export interface PlayerDisconnected {
    type: "room.player.disconnected";
    payload: PresencePayload;
    rid?: string | null;
    room?: string | null;
    seq?: number | null;
    ts: string;
}
/** Room broadcast: the tournament started. */
export interface TournamentStarted {
    type: "room.tournament.started";
    payload: TournamentStartedPayload;
    rid?: string | null;
    room?: string | null;
    seq?: number | null;
    ts: string;
}
/** The tournament is running. */
export interface TournamentStartedPayload {
    status: "cancelled" | "completed" | "completing" | "running" | "scheduled";
    server_seed_hash: string;
    ends_at?: string | null;
}
/** Room broadcast: the tournament completed. */
export interface TournamentCompleted {
    type: "room.tournament.completed";
    payload: TournamentCompletedPayload;
    rid?: string | null;
    room?: string | null;
    seq?: number | null;
    ts: string;
}
/** Final standings and prizes; the server seed is revealed. */
export interface TournamentCompletedPayload {
    status: "cancelled" | "completed" | "completing" | "running" | "scheduled";
    standings: LeaderboardEntry[];
    prizes: PrizePayload[];
    server_seed: string;
}
/** A prize paid at completion. */
export interface PrizePayload {
    player_id: string;
    rank: number;
    amount: number;
    currency: string;
}
/** Reply to `balance.get`. */
export interface Balance {
    type: "balance";
    payload: BalancePayload;
    rid?: string | null;
    room?: string | null;
    seq?: number | null;
    ts: string;
}
/** A chip balance in the room's currency. */
export interface BalancePayload {
    balance: number;
    currency: string;
}
/** Responsible-gaming reminder. */
export interface RealityCheck {
    type: "rg.reality_check";
    payload: RealityCheckPayload;
    rid?: string | null;
    room?: string | null;
    seq?: number | null;
    ts: string;
}
/** Responsible-gaming reminder. */
export interface RealityCheckPayload {
    session_s: number;
    net_result: number;
    currency: string;
}
/** The node is shutting down. */
export interface ServerDraining {
    type: "server.draining";
    payload: DrainingPayload;
    rid?: string | null;
    room?: string | null;
    seq?: number | null;
    ts: string;
}
/** The node is shutting down: reconnect (to any node) after this delay. */
export interface DrainingPayload {
    reconnect_after_ms: number;
}
/** Reply to `ping`; no payload when there is no `t` to echo. */
export interface Pong {
    type: "pong";
    payload?: PongPayload | null;
    rid?: string | null;
    room?: string | null;
    seq?: number | null;
    ts: string;
}
/** Reply to `ping`: the client's `t` echoed. */
export interface PongPayload {
    t?: number | null;
}
/** A request failed; the connection stays open. */
export interface ErrorFrame {
    type: "error";
    payload: ErrorPayload;
    rid?: string | null;
    room?: string | null;
    seq?: number | null;
    ts: string;
}
/** Why a request failed; `path` is the JSON path of a schema violation. */
export interface ErrorPayload {
    code: ErrorCode;
    message: string;
    retryable: boolean;
    path?: string | null;
}
/** Why a request failed; sent in an `error` frame, the connection stays open. */
export type ErrorCode = "BAD_MESSAGE" | "DRAINING" | "IDEMPOTENCY_MISMATCH" | "INSUFFICIENT_FUNDS" | "INTERNAL" | "NOT_FOUND" | "NOT_IN_ROOM" | "RATE_LIMITED" | "RG_BLOCKED" | "ROOM_FULL" | "STAKE_OUT_OF_RANGE" | "TOKEN_EXPIRED" | "TOURNAMENT_NOT_RUNNING" | "UNKNOWN_TYPE";
/** Room broadcast of a `bench.publish` (benchmarks only): its payload, byte for byte. */
export interface BenchUpdate {
    type: "bench.update";
    payload: unknown;
    rid?: string | null;
    room?: string | null;
    seq?: number | null;
    ts: string;
}
/** Any message a client sends. */
export type ClientMessage = RoomJoin | RoomLeave | Spin | BalanceGet | Ping | BenchPublish;
/** ClientMessage by its `type`. */
export interface ClientMessageMap {
    "room.join": RoomJoin;
    "room.leave": RoomLeave;
    "spin": Spin;
    "balance.get": BalanceGet;
    "ping": Ping;
    "bench.publish": BenchPublish;
}
/** Every `type` of ClientMessage. */
export type ClientMessageType = keyof ClientMessageMap;
/** Any frame the server sends. */
export type ServerFrame = RoomSnapshot | RoomResumed | RoomLeft | SpinResult | LeaderboardUpdated | PlayerScoreUpdated | PlayerConnected | PlayerDisconnected | TournamentStarted | TournamentCompleted | Balance | RealityCheck | ServerDraining | Pong | ErrorFrame | BenchUpdate;
/** ServerFrame by its `type`. */
export interface ServerFrameMap {
    "room.snapshot": RoomSnapshot;
    "room.resumed": RoomResumed;
    "room.left": RoomLeft;
    "spin.result": SpinResult;
    "leaderboard.updated": LeaderboardUpdated;
    "player.score.updated": PlayerScoreUpdated;
    "room.player.connected": PlayerConnected;
    "room.player.disconnected": PlayerDisconnected;
    "room.tournament.started": TournamentStarted;
    "room.tournament.completed": TournamentCompleted;
    "balance": Balance;
    "rg.reality_check": RealityCheck;
    "server.draining": ServerDraining;
    "pong": Pong;
    "error": ErrorFrame;
    "bench.update": BenchUpdate;
}
/** Every `type` of ServerFrame. */
export type ServerFrameType = keyof ServerFrameMap;
