"""Every v1 message as a msgspec Struct; client and server messages are tagged unions on `type`.

Frames carry `type`, then the optional `rid` (echoed correlation id), `room`, `seq` (room stream
offset, broadcast frames only), `ts` (server time) and `payload`. Every string and list is bounded.
"""

from typing import Annotated, Literal

from msgspec import Meta, Raw, Struct

from protocol.codes import ErrorCode
from protocol.ids import IdempotencyKey, PlayerId, RoomId, Scoring, TournamentStatus

Rid = Annotated[str, Meta(max_length=64)]
ClientSeed = Annotated[str, Meta(min_length=1, max_length=64)]
Stake = Annotated[int, Meta(ge=1, le=10**12)]
Seq = Annotated[int, Meta(ge=0)]
Epoch = Annotated[str, Meta(min_length=1, max_length=64)]
MinorUnits = int
Currency = Annotated[str, Meta(min_length=3, max_length=3)]
Timestamp = Annotated[str, Meta(max_length=32)]
ShortText = Annotated[str, Meta(max_length=256)]


# ---------------------------------------------------------------- client -> server


class ClientMessage(Struct, tag_field="type", kw_only=True, omit_defaults=True):
    """Base of every client message: `rid` is echoed in the direct reply."""

    rid: Rid | None = None


class RoomJoin(ClientMessage, tag="room.join"):
    """Join a tournament room; `since_seq` (of stream `since_epoch`) asks to resume after it."""

    room: RoomId
    since_seq: Seq | None = None
    since_epoch: Epoch | None = None


class RoomLeave(ClientMessage, tag="room.leave"):
    """Leave a room."""

    room: RoomId


class Spin(ClientMessage, tag="spin"):
    """Place one spin; `idempotency_key` makes retries safe."""

    room: RoomId
    stake: Stake
    idempotency_key: IdempotencyKey
    client_seed: ClientSeed | None = None


class BalanceGet(ClientMessage, tag="balance.get"):
    """Ask for the player's chip balance in a room."""

    room: RoomId


class Ping(ClientMessage, tag="ping"):
    """Latency probe; `t` (client clock) is echoed as sent."""

    t: int | float | None = None


class BenchPublish(ClientMessage, tag="bench.publish"):
    """Benchmarks only, off unless `server.bench_publish`: broadcast `payload` as `bench.update`.

    The payload is any JSON, kept as the client wrote it.
    """

    room: RoomId
    payload: Raw


AnyClientMessage = RoomJoin | RoomLeave | Spin | BalanceGet | Ping | BenchPublish
CLIENT_TYPES: frozenset[str] = frozenset(
    str(cls.__struct_config__.tag)
    for cls in (RoomJoin, RoomLeave, Spin, BalanceGet, Ping, BenchPublish)
)


# ---------------------------------------------------------------- payloads


class LeaderboardEntry(Struct, array_like=True):
    """One leaderboard row, on the wire as `[player_id, name, score, rank]`."""

    player_id: PlayerId
    name: ShortText
    score: int
    rank: int


class RankChange(Struct, array_like=True):
    """A rank that moved since the previous push: `[player_id, previous_rank|null, rank]`."""

    player_id: PlayerId
    previous_rank: int | None
    rank: int


class You(Struct, kw_only=True):
    """The receiving player's own standing in the room."""

    player_id: PlayerId
    balance: MinorUnits
    score: int
    rank: int | None


class RoomConfig(Struct, kw_only=True, omit_defaults=True):
    """The tournament configuration a player needs to play."""

    name: ShortText
    kind: Literal["scheduled", "hop_on_off"]
    game_id: ShortText
    currency: Currency
    buy_in: MinorUnits
    starting_chips: MinorUnits
    min_stake: MinorUnits
    max_stake: MinorUnits
    scoring: Scoring
    leaderboard_size: int
    starts_at: Timestamp | None = None
    ends_at: Timestamp | None = None


class RoomSnapshotPayload(Struct, kw_only=True, omit_defaults=True):
    """Everything a member needs to render the room; `seq` is the offset in stream `epoch`."""

    status: TournamentStatus
    config: RoomConfig
    server_seed_hash: str
    you: You
    leaderboard: Annotated[list[LeaderboardEntry], Meta(max_length=1000)]
    players_online: int
    seq: Seq
    recovered: bool | None = None
    epoch: Epoch | None = None


class RoomResumedPayload(Struct, kw_only=True, omit_defaults=True):
    """Resume succeeded: `replayed` missed room frames follow this one, in order."""

    status: TournamentStatus
    config: RoomConfig
    server_seed_hash: str
    you: You
    leaderboard: Annotated[list[LeaderboardEntry], Meta(max_length=1000)]
    players_online: int
    seq: Seq
    replayed: int
    epoch: Epoch | None = None


class SpinOutcomePayload(Struct, kw_only=True):
    """What the reels showed."""

    symbols: Annotated[list[str], Meta(max_length=16)]
    stops: Annotated[list[int], Meta(max_length=16)]
    multiplier: int
    rule: str | None
    features: Annotated[list[str], Meta(max_length=16)]


class FairnessPayload(Struct, kw_only=True):
    """What a player needs to verify the spin once the server seed is revealed."""

    server_seed_hash: str
    client_seed: ClientSeed
    nonce: int
    math_version: str


class SpinResultPayload(Struct, kw_only=True, omit_defaults=True):
    """The committed result of a spin; `balance` is the chip balance after it."""

    spin_id: str
    round_id: str
    stake: MinorUnits
    win: MinorUnits
    balance: MinorUnits
    currency: Currency
    score: int
    outcome: SpinOutcomePayload
    fairness: FairnessPayload
    rank: int | None = None


class LeaderboardUpdatedPayload(Struct, kw_only=True):
    """Top N of the room and the ranks that moved since the previous push."""

    entries: Annotated[list[LeaderboardEntry], Meta(max_length=1000)]
    changed: Annotated[list[RankChange], Meta(max_length=1000)]


class ScorePayload(Struct, kw_only=True):
    """The player's own score and rank."""

    score: int
    rank: int | None


class PresencePayload(Struct, kw_only=True, omit_defaults=True):
    """Who came or went; big rooms send the count only."""

    players_online: int
    player_id: PlayerId | None = None


class PrizePayload(Struct, kw_only=True):
    """A prize paid at completion."""

    player_id: PlayerId
    rank: int
    amount: MinorUnits
    currency: Currency


class TournamentStartedPayload(Struct, kw_only=True, omit_defaults=True):
    """The tournament is running."""

    status: TournamentStatus
    server_seed_hash: str
    ends_at: Timestamp | None = None


class TournamentCompletedPayload(Struct, kw_only=True):
    """Final standings and prizes; the server seed is revealed."""

    status: TournamentStatus
    standings: Annotated[list[LeaderboardEntry], Meta(max_length=10000)]
    prizes: Annotated[list[PrizePayload], Meta(max_length=10000)]
    server_seed: str


class BalancePayload(Struct, kw_only=True):
    """A chip balance in the room's currency."""

    balance: MinorUnits
    currency: Currency


class RealityCheckPayload(Struct, kw_only=True):
    """Responsible-gaming reminder."""

    session_s: int
    net_result: MinorUnits
    currency: Currency


class DrainingPayload(Struct, kw_only=True):
    """The node is shutting down: reconnect (to any node) after this delay."""

    reconnect_after_ms: int


class PongPayload(Struct, kw_only=True, omit_defaults=True):
    """Reply to `ping`: the client's `t` echoed."""

    t: int | float | None = None


class ErrorPayload(Struct, kw_only=True, omit_defaults=True):
    """Why a request failed; `path` is the JSON path of a schema violation."""

    code: ErrorCode
    message: ShortText
    retryable: bool
    path: str | None = None


# ---------------------------------------------------------------- server -> client


class ServerMessage(Struct, tag_field="type", kw_only=True, omit_defaults=True):
    """Base of every server frame."""

    rid: Rid | None = None
    room: RoomId | None = None
    seq: Seq | None = None
    ts: Timestamp


class RoomSnapshot(ServerMessage, tag="room.snapshot"):
    """Reply to `room.join`."""

    payload: RoomSnapshotPayload


class RoomResumed(ServerMessage, tag="room.resumed"):
    """Reply to `room.join` with `since_seq` when every missed frame is still held."""

    payload: RoomResumedPayload


class RoomLeft(ServerMessage, tag="room.left"):
    """Reply to `room.leave`."""


class SpinResult(ServerMessage, tag="spin.result"):
    """Reply to `spin`, sent after the money committed."""

    payload: SpinResultPayload


class LeaderboardUpdated(ServerMessage, tag="leaderboard.updated"):
    """Room broadcast, coalesced to at most `leaderboard_hz` per second."""

    payload: LeaderboardUpdatedPayload


class PlayerScoreUpdated(ServerMessage, tag="player.score.updated"):
    """Pushed to one player when their score changed other than by their own spin."""

    payload: ScorePayload


class PlayerConnected(ServerMessage, tag="room.player.connected"):
    """Room broadcast: a member joined."""

    payload: PresencePayload


class PlayerDisconnected(ServerMessage, tag="room.player.disconnected"):
    """Room broadcast: a member left."""

    payload: PresencePayload


class TournamentStarted(ServerMessage, tag="room.tournament.started"):
    """Room broadcast: the tournament started."""

    payload: TournamentStartedPayload


class TournamentCompleted(ServerMessage, tag="room.tournament.completed"):
    """Room broadcast: the tournament completed."""

    payload: TournamentCompletedPayload


class Balance(ServerMessage, tag="balance"):
    """Reply to `balance.get`."""

    payload: BalancePayload


class RealityCheck(ServerMessage, tag="rg.reality_check"):
    """Responsible-gaming reminder."""

    payload: RealityCheckPayload


class ServerDraining(ServerMessage, tag="server.draining"):
    """The node is shutting down."""

    payload: DrainingPayload


class Pong(ServerMessage, tag="pong"):
    """Reply to `ping`; no payload when there is no `t` to echo."""

    payload: PongPayload | None = None


class Error(ServerMessage, tag="error"):
    """A request failed; the connection stays open."""

    payload: ErrorPayload


class BenchUpdate(ServerMessage, tag="bench.update"):
    """Room broadcast of a `bench.publish` (benchmarks only): its payload, byte for byte."""

    payload: Raw


AnyServerMessage = (
    RoomSnapshot
    | RoomResumed
    | RoomLeft
    | SpinResult
    | LeaderboardUpdated
    | PlayerScoreUpdated
    | PlayerConnected
    | PlayerDisconnected
    | TournamentStarted
    | TournamentCompleted
    | Balance
    | RealityCheck
    | ServerDraining
    | Pong
    | Error
    | BenchUpdate
)
