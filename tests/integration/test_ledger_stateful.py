"""The ledger against a model of it: random sequences of money operations on the real database.

A Hypothesis state machine plays deposits, tournaments (create, register, spin, hop off, start,
end, complete, cancel), agent-style wallet bets and rollbacks, two-phase holds, and replays of any
earlier request, against the real `Ledger` on the test database. A Python model predicts every
answer (status, and what the response says) and every balance from the operations alone, never
by reading the database; after every step the books must audit clean, no balance may be
negative, and every cash, held, chips and prize-pool balance must equal the model's. A replayed
request must get `REPLAY` and the stored response byte for byte, or the refusal the model
predicts.

The suite's event loop belongs to pytest-asyncio, so the machine is synchronous: its ledger runs
on a private event loop in a thread of its own, with its own asyncpg pool. Every example has ids
of its own (players, tournaments, wallet agent), so examples never see each other's money.
Shrinking is off (each attempt replays a sequence on the database, and the shrinker would outlast
the test's timeout): a failure prints its steps, draws and the model's expectations as they were.

The last tests reach what the machine's ids (no `:`) do not: ledger idempotency keys built from
ids that contain `:` must still be distinct for requests of different players.
"""

import asyncio
import contextlib
import hashlib
import itertools
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any, ClassVar, Final, Literal, TypeVar

import asyncpg
import msgspec
import pytest
from hypothesis import HealthCheck, Phase, note, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from protocol.ids import Scoring, TournamentStatus
from protocol.messages import (
    FairnessPayload,
    SpinOutcomePayload,
    SpinResultPayload,
)
from roomserver.domain import fairness, slot_game
from roomserver.domain.fingerprint import fingerprint, spin_fingerprint
from roomserver.domain.tournament import Prize, TournamentConfig, TournamentKind
from roomserver.gateway import session
from roomserver.gateway.tokens import PlayerClaims
from roomserver.store.ledger import Ledger
from roomserver.store.players import RgSettings
from roomserver.store.pool import LedgerReply, create_pool
from roomserver.store.spins import SpinRecord, SpinRequest
from roomserver.store.wallet import BetHold, WalletBet
from tests.support.node import create_tournament, unique

T = TypeVar("T")

CURRENCY: Final = "EUR"
CALL_TIMEOUT_S: Final = 30.0
MAX_PLAYERS_PER_EXAMPLE: Final = 5
MAX_TOURNAMENTS_PER_EXAMPLE: Final = 6
MAX_LIVE_TOURNAMENTS: Final = 2
CLIENT_SEEDS: Final = ("alpha", "beta", "gamma")
ROUND_IDS: Final = ("r0", "r1", "r2")
MIN_STAKE: Final = 10
# The model's expectation that the statement fails because the spin's nonce is taken.
NONCE_TAKEN: Final = "NONCE_TAKEN"

_encoder: Final = msgspec.json.Encoder()
_spin_result: Final = msgspec.json.Decoder(SpinResultPayload)


# ---------------------------------------------------------------- a ledger on a private loop


class PrivateLedger:
    """A `Ledger` whose pool lives on an event loop running in a thread of its own."""

    def __init__(self, dsn: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="stateful-ledger", daemon=True
        )
        self._thread.start()
        self._pool = self.run(create_pool(dsn, min_size=1, max_size=4, timeout_s=CALL_TIMEOUT_S))
        self.ledger = Ledger(self._pool)

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the private loop and wait for its result."""
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result(timeout=CALL_TIMEOUT_S)

    def close(self) -> None:
        """Close the pool, stop the loop and its thread, close the loop."""
        try:
            self.run(self._pool.close())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=CALL_TIMEOUT_S)
            self._loop.close()


@contextlib.contextmanager
def private_ledger(dsn: str) -> Iterator[PrivateLedger]:
    """A `PrivateLedger` on the database, closed afterwards."""
    private = PrivateLedger(dsn)
    try:
        yield private
    finally:
        private.close()


# ---------------------------------------------------------------- the model


@dataclass
class PlayerModel:
    """A player's cash and held balances, and the state of their spins and RG session."""

    player_id: str
    self_excluded: bool
    loss_limit: int | None  # the token's claim
    connected_at_s: float
    cash: int = 0
    held: int = 0
    net_loss: int = 0  # of the RG session, counted only under a loss limit
    # idempotency key -> (request hash, stored response) of the player's accepted spins
    spins: dict[str, tuple[bytes, str]] = field(default_factory=dict)


@dataclass
class StandingModel:
    """A registered player's standing; `reached_at` is a logical clock."""

    reached_at: int
    score: int = 0
    total_bet: int = 0
    total_win: int = 0
    best_multiplier_x100: int = 0


@dataclass
class TournamentModel:
    """A tournament's status, prize pool, chip balances and registrations."""

    config: TournamentConfig
    status: TournamentStatus
    server_seed: bytes
    server_seed_hash: str
    pool: int = 0
    chips: dict[str, int] = field(default_factory=dict)  # every chip account, by player
    standings: dict[str, StandingModel] = field(default_factory=dict)  # registered players
    hop_offs: dict[str, list[str]] = field(default_factory=dict)  # responses, by generation
    used_nonces: dict[str, set[int]] = field(default_factory=dict)
    closing: str | None = None

    def next_nonce(self, player_id: str) -> int:
        """The nonce the next fresh spin of the player uses."""
        return max(self.used_nonces.get(player_id, {-1})) + 1

    def score(self, standing: StandingModel) -> int:
        """The player's score per the tournament's scoring rule (see tournament_score)."""
        match self.config.scoring:
            case "total_win":
                return standing.total_win
            case "biggest_multiplier":
                return standing.best_multiplier_x100
            case _:
                if standing.total_bet == 0:
                    return 0
                return standing.total_win * 10_000 // standing.total_bet

    def prize_for(self, rank: int) -> int:
        """The prize of a rank: the largest of the prizes whose range holds it."""
        amounts = [p.amount for p in self.config.prizes if p.rank_from <= rank <= p.rank_to]
        return max(amounts, default=0)


@dataclass
class WalletBetModel:
    """An accepted makeBet."""

    bet: WalletBet
    response_json: str


@dataclass
class HoldModel:
    """An accepted authorize, and its resolution once there is one."""

    hold: BetHold
    response_json: str
    resolution: Literal["settle", "rollback"] | None = None
    resolution_hash: bytes = b""
    resolution_json: str = ""


@dataclass(frozen=True)
class SpinCall:
    """A spin request as the hub builds it, with the RG claims its `rg_json` carries."""

    request: SpinRequest
    rg_self_excluded: bool
    loss_limit: int | None


@dataclass(frozen=True)
class Call:
    """A request made earlier, to make again."""

    name: str
    again: Callable[[], None]
    accepted: bool  # the first answer was OK, REPLAY or ALREADY

    def __repr__(self) -> str:
        return repr(self.name)


def decode(response_json: str | None) -> dict[str, Any]:
    """A response as a JSON object."""
    assert response_json is not None
    value = msgspec.json.decode(response_json)
    assert isinstance(value, dict)
    return value


def seed_for(index: int) -> bytes:
    """A server seed known in advance (and the same in every run, so shrinking is stable)."""
    return hashlib.sha256(f"stateful-ledger-seed-{index}".encode()).digest()


def player_claims(player_id: str, self_excluded: bool, loss_limit: int | None) -> PlayerClaims:
    """A player's token claims (one token: one RG session)."""
    return PlayerClaims(
        player_id=player_id,
        name=player_id,
        currency=CURRENCY,
        geo=None,
        self_excluded=self_excluded,
        loss_limit=loss_limit,
        session_limit_min=None,
        expires_at=time.time() + 3600,
        token_id=f"{player_id}-token",
    )


def spin_request(
    room: str,
    server_seed: bytes,
    claims: PlayerClaims,
    connected_at_s: float,
    *,
    stake: int,
    key: str,
    client_seed: str,
    nonce: int,
) -> SpinRequest:
    """The request `SpinService.spin` builds: outcome and win from the seeds and the nonce."""
    outcome = slot_game.play(server_seed, client_seed, nonce)
    win = slot_game.win_for(stake, outcome)
    spin_id = str(uuid.uuid4())
    draft = SpinResultPayload(
        spin_id=spin_id,
        round_id=spin_id,
        stake=stake,
        win=win,
        balance=0,  # balance and score are filled in by the transaction
        currency=CURRENCY,
        score=0,
        outcome=SpinOutcomePayload(
            symbols=list(outcome.symbols),
            stops=list(outcome.stops),
            multiplier=outcome.multiplier,
            rule=outcome.rule,
            features=[],
        ),
        fairness=FairnessPayload(
            server_seed_hash=fairness.server_seed_hash(server_seed),
            client_seed=client_seed,
            nonce=nonce,
            math_version=slot_game.MATH_VERSION,
        ),
    )
    return SpinRequest(
        tournament_id=room,
        player_id=claims.player_id,
        idempotency_key=key,
        request_hash=spin_fingerprint(room, stake, client_seed),
        rg_json=session.rg_session_json(claims, connected_at_s),
        spin_id=spin_id,
        round_id=spin_id,
        stake=stake,
        win=win,
        client_seed=client_seed,
        nonce=nonce,
        math_version=slot_game.MATH_VERSION,
        response_json=_encoder.encode(draft).decode(),
    )


# ---------------------------------------------------------------- the state machine


@dataclass(frozen=True)
class TournamentParams:
    """What the machine chooses about a new tournament."""

    kind: TournamentKind
    buy_in: int
    starting_chips: int
    max_stake: int
    max_players: int
    scoring: Scoring
    prizes: tuple[Prize, ...]


tournament_params = st.builds(
    TournamentParams,
    kind=st.sampled_from(["hop_on_off", "hop_on_off", "scheduled"]),
    buy_in=st.sampled_from([100, 500, 100, 0]),
    starting_chips=st.sampled_from([1000, 5000, 1000, 0]),
    max_stake=st.sampled_from([1000, 100]),
    max_players=st.sampled_from([4, 1, 2, 3]),
    scoring=st.sampled_from(["total_win", "biggest_multiplier", "win_to_bet_ratio"]),
    prizes=st.lists(
        st.builds(
            lambda start, length, amount: Prize(start, start + length, amount),
            st.integers(1, 3),
            st.integers(0, 1),
            st.integers(1, 800),
        ),
        min_size=1,
        max_size=3,
    ).map(tuple)
    | st.just(()),
)
# Hypothesis often makes every choice of an example its simplest (the first of a sampled_from):
# those examples should be busy ones (a running tournament, its players, fresh ids, retries).
mostly = st.sampled_from([True, True, True, False])
rarely = st.sampled_from([False, False, False, False, True])
retried = st.sampled_from([True, False, False, False])
created_statuses: st.SearchStrategy[TournamentStatus] = st.sampled_from(
    ["running", "running", "scheduled"]
)
loss_limits = st.none() | st.integers(100, 3000)


class LedgerMachine(RuleBasedStateMachine):
    """Operations on the real ledger against a model that predicts every balance."""

    private: ClassVar[PrivateLedger]

    def __init__(self) -> None:
        super().__init__()
        self.prefix = unique("sm")  # every id of this example starts with it
        self.agent_id = f"{self.prefix}-agent"
        self.players: dict[str, PlayerModel] = {}
        self.tournaments: dict[str, TournamentModel] = {}
        self.wallet_bets: dict[str, WalletBetModel] = {}
        self.wallet_rollbacks: dict[str, str] = {}  # transaction id -> stored response
        self.holds: dict[str, HoldModel] = {}
        self.deposit_keys: set[str] = set()
        self.calls: list[Call] = []
        self.clock = 0
        self.last_status = ""
        self.ids = itertools.count()

    # ------------------------------------------------------------ plumbing

    @property
    def ledger(self) -> Ledger:
        return self.private.ledger

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.private.run(coroutine)

    def tick(self) -> int:
        """The logical time of a database write that stamps clock_timestamp()."""
        self.clock += 1
        return self.clock

    def pick_id(self, data: st.DataObject, fresh: bool, used: Iterable[str], prefix: str) -> str:
        """A new id if `fresh` (or none was used), else one of `used`.

        An id used before makes a repeat, a mismatch, or a late bet after a tombstone.
        """
        earlier = sorted(set(used))
        if fresh or not earlier:
            return f"{prefix}{next(self.ids)}"
        return data.draw(st.sampled_from(earlier), label=f"{prefix} again")

    def expect(
        self,
        operation: str,
        reply: LedgerReply | SpinRecord,
        status: str,
        stored: str | None = None,
    ) -> None:
        """The reply has the status; a replay returns the stored response byte for byte."""
        self.last_status = status
        assert reply.status == status, f"{operation}: expected {status}, got {reply.status}"
        if status == "REPLAY":
            assert stored is not None
            assert reply.response_json == stored, "a replay must return the stored response"
        elif status != "OK":
            assert reply.response_json is None

    def remember(self, name: str, again: Callable[[], None]) -> None:
        """Keep the request just made, to make it again later."""
        accepted = self.last_status in ("OK", "REPLAY", "ALREADY")
        self.calls.append(Call(name, again, accepted))

    def live_tournaments(self) -> list[TournamentModel]:
        """Tournaments that have not ended."""
        return [t for t in self.tournaments.values() if t.status in ("scheduled", "running")]

    def pick_tournament(
        self, data: st.DataObject, statuses: tuple[TournamentStatus, ...], prefer: bool
    ) -> TournamentModel:
        """One in one of `statuses` if `prefer` and there is one, else any tournament.

        Among those in `statuses`, one with players is preferred when there is one.
        """
        tournaments = list(self.tournaments.values())
        preferred = [t for t in tournaments if t.status in statuses]
        preferred = [t for t in preferred if t.standings] or preferred
        ids = [t.config.tournament_id for t in (preferred if prefer and preferred else tournaments)]
        return self.tournaments[data.draw(st.sampled_from(ids), label="tournament")]

    def pick_player(self, data: st.DataObject, among: Iterable[str], prefer: bool) -> PlayerModel:
        """One of `among` if `prefer` and there is one, else any player."""
        preferred = [self.players[p] for p in among]
        players = preferred if prefer and preferred else list(self.players.values())
        ids = [p.player_id for p in players]
        return self.players[data.draw(st.sampled_from(ids), label="player")]

    def add_player(self, self_excluded: bool, loss_limit: int | None) -> PlayerModel:
        player_id = f"{self.prefix}-p{len(self.players)}"
        self.run(self.ledger.ensure_player(player_id, player_id, CURRENCY))
        if self_excluded:  # the per-player flag of the side API, not the token's claim
            assert self.run(self.ledger.set_rg_settings(RgSettings(player_id, True, None, None)))
        player = PlayerModel(player_id, self_excluded, loss_limit, connected_at_s=time.time())
        self.players[player_id] = player
        return player

    def add_tournament(self, params: TournamentParams, status: TournamentStatus) -> TournamentModel:
        tournament_id = f"{self.prefix}-t{len(self.tournaments)}"
        seed = seed_for(len(self.tournaments))
        config = TournamentConfig(
            tournament_id=tournament_id,
            kind=params.kind,
            name=tournament_id,
            game_id=slot_game.GAME_ID,
            currency=CURRENCY,
            buy_in=params.buy_in,
            starting_chips=params.starting_chips,
            min_stake=MIN_STAKE,
            max_stake=params.max_stake,
            max_players=params.max_players,
            scoring=params.scoring,
            prizes=params.prizes,
        )
        seed_hash = fairness.server_seed_hash(seed)
        created = self.run(self.ledger.create_tournament(config, status=status, server_seed=seed))
        assert created
        tournament = TournamentModel(config, status, seed, seed_hash)
        self.tournaments[tournament_id] = tournament
        return tournament

    # ------------------------------------------------------------ players, cash, tournaments

    @initialize(
        data=st.data(),
        count=st.integers(2, 3),
        params=tournament_params,
        status=created_statuses,
        register_all=mostly,
    )
    def start(
        self,
        data: st.DataObject,
        count: int,
        params: TournamentParams,
        status: TournamentStatus,
        register_all: bool,
    ) -> None:
        """A few players with some cash, and a tournament they mostly joined and played in.

        (Hypothesis disables a random subset of the rules in each example, never this one: the
        later rules find players with chips won and lost, not only fresh registrations.)
        """
        for _ in range(count):
            player = self.add_player(
                data.draw(rarely, label="self_excluded"), data.draw(loss_limits, label="loss_limit")
            )
            cash = data.draw(
                st.sampled_from([5000, 20_000, 0]) | st.integers(0, 10_000), label="cash"
            )
            if cash > 0:
                self.do_deposit(player, cash, f"{self.prefix}-dep{len(self.deposit_keys)}")
        tournament = self.add_tournament(params, status)
        if not register_all:
            return
        for player in self.players.values():
            self.do_register(tournament, player, rg_self_excluded=False)
            for _ in range(data.draw(st.sampled_from([2, 3, 1, 0]), label="spins")):
                stake = data.draw(st.sampled_from([10, 100]) | st.integers(10, 100), label="stake")
                seed = data.draw(st.sampled_from(CLIENT_SEEDS), label="client_seed")
                key = self.pick_id(data, True, (), "k")
                self.spin_once(self.spin_call(tournament, player, stake, key, seed, False))

    @precondition(lambda self: len(self.players) < MAX_PLAYERS_PER_EXAMPLE)
    @rule(self_excluded=rarely, loss_limit=loss_limits)
    def another_player(self, self_excluded: bool, loss_limit: int | None) -> None:
        self.add_player(self_excluded, loss_limit)

    @rule(data=st.data(), amount=st.integers(1, 5000))
    def deposit(self, data: st.DataObject, amount: int) -> None:
        player = self.pick_player(data, (), prefer=False)
        key = f"{self.prefix}-dep{len(self.deposit_keys)}"
        self.do_deposit(player, amount, key)
        self.remember(f"deposit {key}", lambda: self.do_deposit(player, amount, key))

    def do_deposit(self, player: PlayerModel, amount: int, key: str) -> None:
        balance = self.run(self.ledger.deposit(player.player_id, CURRENCY, amount, key))
        self.last_status = "REPLAY" if key in self.deposit_keys else "OK"
        if key not in self.deposit_keys:
            self.deposit_keys.add(key)
            player.cash += amount
        assert balance == player.cash

    @precondition(
        lambda self: (
            len(self.tournaments) < MAX_TOURNAMENTS_PER_EXAMPLE
            and len(self.live_tournaments()) < MAX_LIVE_TOURNAMENTS
        )
    )
    @rule(params=tournament_params, status=created_statuses)
    def create(self, params: TournamentParams, status: TournamentStatus) -> None:
        self.add_tournament(params, status)

    @precondition(lambda self: self.tournaments)
    @rule(data=st.data(), applies=mostly)
    def move(self, data: st.DataObject, applies: bool) -> None:
        """Start or end a tournament: mostly the edge from its status, else a stale one."""
        tournament = self.pick_tournament(data, ("scheduled", "running"), applies)
        edges: list[tuple[TournamentStatus, TournamentStatus]] = [
            ("scheduled", "running"),
            ("running", "completing"),
        ]
        edge = next((e for e in edges if e[0] == tournament.status), None)
        if edge is None or not applies:
            edge = data.draw(st.sampled_from(edges), label="edge")
        from_status, to_status = edge
        moved = self.run(
            self.ledger.move_tournament(tournament.config.tournament_id, from_status, to_status)
        )
        assert moved == (tournament.status == from_status)
        if moved:
            tournament.status = to_status

    @precondition(lambda self: self.tournaments)
    @rule(data=st.data(), live=mostly, rg_self_excluded=rarely)
    def register(self, data: st.DataObject, live: bool, rg_self_excluded: bool) -> None:
        tournament = self.pick_tournament(data, ("scheduled", "running"), live)
        player = self.pick_player(data, (), prefer=False)
        self.do_register(tournament, player, rg_self_excluded)
        self.remember(
            f"register {player.player_id} in {tournament.config.tournament_id}",
            lambda: self.do_register(tournament, player, rg_self_excluded),
        )

    def do_register(
        self, tournament: TournamentModel, player: PlayerModel, rg_self_excluded: bool
    ) -> None:
        config, player_id = tournament.config, player.player_id
        status, chips = self.run(
            self.ledger.register_player(
                config.tournament_id, player_id, rg_self_excluded=rg_self_excluded
            )
        )
        if player_id in tournament.standings:
            self.last_status = "ALREADY"
            assert (status, chips) == ("ALREADY", tournament.chips[player_id])
            return
        if tournament.status not in ("scheduled", "running"):
            expected = "TOURNAMENT_NOT_RUNNING"
        elif len(tournament.standings) >= config.max_players:
            expected = "ROOM_FULL"
        elif config.buy_in > 0 and (rg_self_excluded or player.self_excluded):
            expected = "RG_BLOCKED"
        elif player.cash < config.buy_in:
            expected = "INSUFFICIENT_FUNDS"
        else:
            expected = "OK"
        self.last_status = expected
        assert status == expected, f"register: expected {expected}, got {status}"
        if expected != "OK":
            assert chips is None
            return
        player.cash -= config.buy_in
        tournament.pool += config.buy_in
        tournament.chips[player_id] = tournament.chips.get(player_id, 0) + config.starting_chips
        tournament.standings[player_id] = StandingModel(reached_at=self.tick())
        assert chips == tournament.chips[player_id]

    # ------------------------------------------------------------ spins

    # Hypothesis tries the rules with fewer arguments first (and, among those, in name order),
    # and favours the first: the spin, the busiest path, is the one rule of one argument.
    @precondition(lambda self: self.tournaments)
    @rule(data=st.data())
    def spin(self, data: st.DataObject) -> None:
        """Mostly a registered player in a running tournament; stakes in and out of range."""
        tournament = self.pick_tournament(data, ("running",), data.draw(mostly, label="running"))
        player = self.pick_player(data, tournament.standings, data.draw(mostly, label="registered"))
        stake = data.draw(
            st.sampled_from([10, 100, 1000, 9, 101, 1001]) | st.integers(1, 1200), label="stake"
        )
        key = self.pick_id(data, data.draw(mostly, label="fresh key"), player.spins, "k")
        client_seed = data.draw(st.sampled_from(CLIENT_SEEDS), label="client_seed")
        rg_self_excluded = data.draw(rarely, label="claims self_excluded")
        call = self.spin_call(tournament, player, stake, key, client_seed, rg_self_excluded)
        self.spin_once(call)
        if data.draw(
            retried, label="retried"
        ):  # the client did not get the answer and sends the request again
            self.do_spin(call)

    def spin_once(self, call: SpinCall) -> None:
        request = call.request
        self.do_spin(call)
        self.remember(
            f"spin {request.idempotency_key} of {request.player_id}", partial(self.do_spin, call)
        )

    def spin_call(
        self,
        tournament: TournamentModel,
        player: PlayerModel,
        stake: int,
        key: str,
        client_seed: str,
        rg_self_excluded: bool,
    ) -> SpinCall:
        """A fresh spin of the player, with the next nonce."""
        request = spin_request(
            tournament.config.tournament_id,
            tournament.server_seed,
            player_claims(player.player_id, rg_self_excluded, player.loss_limit),
            player.connected_at_s,
            stake=stake,
            key=key,
            client_seed=client_seed,
            nonce=tournament.next_nonce(player.player_id),
        )
        return SpinCall(request, rg_self_excluded, player.loss_limit)

    def do_spin(self, call: SpinCall) -> None:
        request = call.request
        player = self.players[request.player_id]
        tournament = self.tournaments[request.tournament_id]
        config = tournament.config
        stored = player.spins.get(request.idempotency_key)
        standing = tournament.standings.get(player.player_id)
        chips = tournament.chips.get(player.player_id, 0)
        if stored is not None:
            expected = "REPLAY" if stored[0] == request.request_hash else "IDEMPOTENCY_MISMATCH"
        elif tournament.status != "running":
            expected = "TOURNAMENT_NOT_RUNNING"
        elif not config.min_stake <= request.stake <= config.max_stake:
            expected = "STAKE_OUT_OF_RANGE"
        elif call.rg_self_excluded or player.self_excluded:
            expected = "RG_BLOCKED"
        elif standing is None:
            expected = "NOT_IN_ROOM"
        elif chips < request.stake:
            expected = "INSUFFICIENT_FUNDS"
        elif call.loss_limit is not None and player.net_loss + request.stake > call.loss_limit:
            expected = "RG_BLOCKED"
        elif request.nonce in tournament.used_nonces.get(player.player_id, set()):
            expected = NONCE_TAKEN  # an old request made again after its nonce was used
        else:
            expected = "OK"
        note(f"spin {request.idempotency_key}: expecting {expected}")
        if expected == NONCE_TAKEN:
            self.last_status = expected
            with pytest.raises(asyncpg.UniqueViolationError) as raised:
                self.run(self.ledger.place_spin(request))
            assert raised.value.constraint_name == "spins_nonce_unique"
            return
        record = self.run(self.ledger.place_spin(request))
        self.expect("spin", record, expected, stored[1] if stored is not None else None)
        if expected != "OK":
            return
        assert standing is not None and record.response_json is not None
        tournament.chips[player.player_id] = chips - request.stake + request.win
        tournament.used_nonces.setdefault(player.player_id, set()).add(request.nonce)
        if call.loss_limit is not None:
            player.net_loss += request.stake - request.win
        standing.total_bet += request.stake
        standing.total_win += request.win
        standing.best_multiplier_x100 = max(
            standing.best_multiplier_x100, request.win * 100 // request.stake
        )
        score = tournament.score(standing)
        if score != standing.score:
            standing.score, standing.reached_at = score, self.tick()
        player.spins[request.idempotency_key] = (request.request_hash, record.response_json)
        result = _spin_result.decode(record.response_json)
        assert result.spin_id == request.spin_id
        assert (result.stake, result.win) == (request.stake, request.win)
        assert result.balance == tournament.chips[player.player_id]
        assert result.score == standing.score

    # ------------------------------------------------------------ hop off

    @precondition(lambda self: self.tournaments)
    @rule(data=st.data(), registered=mostly)
    def hop_off(self, data: st.DataObject, registered: bool) -> None:
        """Mostly a registered player of a tournament not ended; else anyone from anywhere.

        Those who played come first: their refund depends on their chips.
        """
        registrations = [(t, self.players[p]) for t in self.live_tournaments() for p in t.standings]
        registrations.sort(key=lambda r: r[0].chips[r[1].player_id] == r[0].config.starting_chips)
        if registered and registrations:
            index = data.draw(st.sampled_from(range(len(registrations))), label="registration")
            tournament, player = registrations[index]
        else:
            tournament = self.pick_tournament(data, (), prefer=False)
            player = self.pick_player(data, (), prefer=False)
        self.do_hop_off(tournament, player)
        self.remember(
            f"hop off {player.player_id} from {tournament.config.tournament_id}",
            lambda: self.do_hop_off(tournament, player),
        )

    def do_hop_off(self, tournament: TournamentModel, player: PlayerModel) -> None:
        config, player_id = tournament.config, player.player_id
        chips = tournament.chips.get(player_id, 0)
        earlier = tournament.hop_offs.get(player_id, [])
        stored: str | None = None
        refund = 0
        if player_id not in tournament.standings:
            expected = "REPLAY" if earlier else "NOT_REGISTERED"
            stored = earlier[-1] if earlier else None
        elif tournament.status == "scheduled":
            expected, refund = "OK", config.buy_in
        elif tournament.status == "running" and config.kind == "hop_on_off":
            expected = "OK"
            refund = (
                config.buy_in
                if config.starting_chips == 0
                else min(config.buy_in, config.buy_in * chips // config.starting_chips)
            )
        elif tournament.status == "running":
            expected = "TOURNAMENT_RUNNING"
        else:
            expected = "TOURNAMENT_NOT_RUNNING"
        reply = self.run(self.ledger.hop_off(config.tournament_id, player_id))
        self.expect("hop off", reply, expected, stored)
        if expected != "OK":
            return
        response = decode(reply.response_json)
        assert response["status"] == "unregistered"
        assert (response["chips_returned"], response["refund"]) == (chips, refund)
        tournament.pool -= refund
        player.cash += refund
        tournament.chips[player_id] = 0
        del tournament.standings[player_id]
        assert reply.response_json is not None
        tournament.hop_offs.setdefault(player_id, []).append(reply.response_json)

    # ------------------------------------------------------------ the end of a tournament

    @precondition(lambda self: self.tournaments)
    @rule(data=st.data(), ending=mostly)
    def complete(self, data: st.DataObject, ending: bool) -> None:
        tournament = self.pick_tournament(data, ("completing",), ending)
        self.do_complete(tournament)
        self.remember(
            f"complete {tournament.config.tournament_id}", lambda: self.do_complete(tournament)
        )

    def do_complete(self, tournament: TournamentModel) -> None:
        if tournament.status in ("completed", "cancelled"):
            expected = "REPLAY"
        elif tournament.status != "completing":
            expected = "TOURNAMENT_NOT_ENDED"
        else:
            expected = "OK"
        reply = self.run(self.ledger.complete_tournament(tournament.config.tournament_id))
        self.expect("complete", reply, expected, tournament.closing)
        if expected != "OK":
            return
        ranked = sorted(
            tournament.standings.items(),
            key=lambda item: (-item[1].score, item[1].reached_at, item[0]),
        )
        standings = [
            (rank, player_id, standing.score, tournament.prize_for(rank))
            for rank, (player_id, standing) in enumerate(ranked, start=1)
        ]
        response = decode(reply.response_json)
        assert response["status"] == "completed"
        assert response["prize_pool"] == tournament.pool
        assert response["prizes_paid"] == sum(prize for *_, prize in standings)
        assert response["server_seed"] == tournament.server_seed.hex()
        assert [
            (s["rank"], s["player_id"], s["score"], s["prize"]) for s in response["standings"]
        ] == standings
        for _, player_id, _, prize in standings:
            self.players[player_id].cash += prize
        tournament.pool = 0
        tournament.status = "completed"
        tournament.closing = reply.response_json

    @precondition(lambda self: self.tournaments)
    @rule(data=st.data(), live=mostly)
    def cancel(self, data: st.DataObject, live: bool) -> None:
        tournament = self.pick_tournament(data, ("scheduled", "running"), live)
        self.do_cancel(tournament)
        self.remember(
            f"cancel {tournament.config.tournament_id}", lambda: self.do_cancel(tournament)
        )

    def do_cancel(self, tournament: TournamentModel) -> None:
        if tournament.status == "cancelled":
            expected = "REPLAY"
        elif tournament.status not in ("scheduled", "running"):
            expected = "TOURNAMENT_FINISHED"
        else:
            expected = "OK"
        reply = self.run(self.ledger.cancel_tournament(tournament.config.tournament_id))
        self.expect("cancel", reply, expected, tournament.closing)
        if expected != "OK":
            return
        buy_in = tournament.config.buy_in
        response = decode(reply.response_json)
        assert response["status"] == "cancelled"
        assert response["refunds_paid"] == buy_in * len(tournament.standings)
        assert {r["player_id"]: r["amount"] for r in response["refunds"]} == dict.fromkeys(
            tournament.standings, buy_in
        )
        for player_id in tournament.standings:
            self.players[player_id].cash += buy_in
        tournament.pool = 0
        tournament.status = "cancelled"
        tournament.closing = reply.response_json

    # ------------------------------------------------------------ wallet: makeBet, rollback

    @rule(
        data=st.data(),
        fresh=mostly,
        round_id=st.sampled_from(ROUND_IDS),
        bet=st.sampled_from([100, 0, 5000]) | st.integers(0, 3000),
        win=st.sampled_from([0, 0, 250]) | st.integers(0, 3000),
        currency=st.sampled_from([CURRENCY, CURRENCY, CURRENCY, "USD"]),
        unknown_player=rarely,
    )
    def make_bet(
        self,
        data: st.DataObject,
        fresh: bool,
        round_id: str,
        bet: int,
        win: int,
        currency: str,
        unknown_player: bool,
    ) -> None:
        player_id = (
            f"{self.prefix}-nobody"
            if unknown_player
            else self.pick_player(data, (), False).player_id
        )
        transaction_id = self.pick_id(
            data, fresh, [*self.wallet_bets, *self.wallet_rollbacks], "tx"
        )
        game_id, session_id = slot_game.GAME_ID, f"{player_id}-session"
        request = WalletBet(
            self.agent_id,
            transaction_id,
            round_id,
            player_id,
            currency,
            bet,
            win,
            game_id,
            session_id,
            fingerprint((round_id, player_id, currency, bet, win, game_id, session_id)),
        )
        self.do_make_bet(request)
        self.remember(f"makeBet {transaction_id}", lambda: self.do_make_bet(request))

    def do_make_bet(self, request: WalletBet) -> None:
        player = self.players.get(request.player_id)
        stored = self.wallet_bets.get(request.transaction_id)
        if request.transaction_id in self.wallet_rollbacks:
            expected = "TRANSACTION_ROLLED_BACK"
        elif stored is not None:
            same = stored.bet.request_hash == request.request_hash
            expected = "REPLAY" if same else "IDEMPOTENCY_MISMATCH"
        elif player is None:
            expected = "PLAYER_NOT_FOUND"
        elif request.currency != CURRENCY:
            expected = "CURRENCY_MISMATCH"
        elif request.bet > 0 and player.self_excluded:
            expected = "RG_BLOCKED"
        elif player.cash < request.bet:
            expected = "INSUFFICIENT_FUNDS"
        else:
            expected = "OK"
        reply = self.run(self.ledger.wallet_make_bet(request))
        self.expect(
            "makeBet", reply, expected, stored.response_json if stored is not None else None
        )
        if expected != "OK":
            return
        assert player is not None and reply.response_json is not None
        player.cash += request.win - request.bet
        assert decode(reply.response_json) == {
            "transaction_id": request.transaction_id,
            "balance": player.cash,
            "currency": CURRENCY,
        }
        self.wallet_bets[request.transaction_id] = WalletBetModel(request, reply.response_json)

    @rule(data=st.data(), known=mostly)
    def wallet_rollback(self, data: st.DataObject, known: bool) -> None:
        """Mostly a bet taken; else a new id, which leaves a tombstone."""
        transaction_id = self.pick_id(data, not known, self.wallet_bets, "tx")
        rollback_id = f"rb{next(self.ids)}"
        self.do_wallet_rollback(transaction_id, rollback_id)
        self.remember(
            f"rollback {transaction_id}",
            lambda: self.do_wallet_rollback(transaction_id, rollback_id),
        )

    def do_wallet_rollback(self, transaction_id: str, rollback_id: str) -> None:
        stored = self.wallet_rollbacks.get(transaction_id)
        taken = self.wallet_bets.get(transaction_id)
        if stored is not None:
            expected = "REPLAY"
        elif taken is None:
            expected = "OK"  # a tombstone
        elif any(
            b.bet.round_id == taken.bet.round_id and b.bet.win > 0
            for b in self.wallet_bets.values()
        ):
            expected = "ROUND_SETTLED"
        else:
            expected = "OK"
        reply = self.run(self.ledger.wallet_rollback(self.agent_id, transaction_id, rollback_id))
        self.expect("wallet rollback", reply, expected, stored)
        if expected != "OK":
            return
        assert reply.response_json is not None
        response = decode(reply.response_json)
        assert response["rollback_transaction_id"] == rollback_id
        if taken is None:
            assert (response["status"], response["balance"]) == ("tombstoned", None)
        else:
            player = self.players[taken.bet.player_id]
            player.cash += taken.bet.bet
            assert (response["status"], response["balance"]) == ("rolled_back", player.cash)
        self.wallet_rollbacks[transaction_id] = reply.response_json

    # ------------------------------------------------------------ wallet: two-phase holds

    @rule(
        data=st.data(),
        fresh=mostly,
        round_id=st.sampled_from(ROUND_IDS),
        amount=st.sampled_from([100, 5000]) | st.integers(1, 3000),
        unknown_player=rarely,
    )
    def authorize(
        self, data: st.DataObject, fresh: bool, round_id: str, amount: int, unknown_player: bool
    ) -> None:
        player_id = (
            f"{self.prefix}-nobody"
            if unknown_player
            else self.pick_player(data, (), False).player_id
        )
        bet_id = self.pick_id(data, fresh, self.holds, "bet")
        session_id = f"{player_id}-session"
        hold = BetHold(
            self.agent_id,
            bet_id,
            round_id,
            player_id,
            session_id,
            amount,
            fingerprint((round_id, player_id, session_id, amount)),
        )
        self.do_authorize(hold)
        self.remember(f"authorize {bet_id}", lambda: self.do_authorize(hold))

    def do_authorize(self, hold: BetHold) -> None:
        player = self.players.get(hold.player_id)
        stored = self.holds.get(hold.bet_id)
        if stored is not None:
            same = stored.hold.request_hash == hold.request_hash
            expected = "REPLAY" if same else "IDEMPOTENCY_MISMATCH"
        elif player is None:
            expected = "PLAYER_NOT_FOUND"
        elif player.self_excluded:
            expected = "RG_BLOCKED"
        elif player.cash < hold.amount:
            expected = "INSUFFICIENT_FUNDS"
        else:
            expected = "OK"
        reply = self.run(self.ledger.bet_authorize(hold))
        self.expect(
            "authorize", reply, expected, stored.response_json if stored is not None else None
        )
        if expected != "OK":
            return
        assert player is not None and reply.response_json is not None
        player.cash -= hold.amount
        player.held += hold.amount
        response = decode(reply.response_json)
        assert response["status"] == "authorized"
        assert (response["amount"], response["balance"]) == (hold.amount, player.cash)
        self.holds[hold.bet_id] = HoldModel(hold, reply.response_json)

    @rule(
        data=st.data(),
        known=mostly,
        kind=st.sampled_from(["settle", "rollback"]),
        same_round=mostly,
        win=st.sampled_from([0, 300]) | st.integers(0, 3000),
    )
    def resolve(
        self,
        data: st.DataObject,
        known: bool,
        kind: Literal["settle", "rollback"],
        same_round: bool,
        win: int,
    ) -> None:
        """Settle or release mostly a hold taken, else an unknown bet id."""
        bet_id = self.pick_id(data, not known, self.holds, "bet")
        round_id: str | None = None
        if kind == "rollback":  # as the route calls it
            win = 0
        elif bet_id in self.holds and same_round:
            round_id = data.draw(
                st.sampled_from([None, self.holds[bet_id].hold.round_id]), label="round_id"
            )
        else:
            round_id = data.draw(st.sampled_from(ROUND_IDS), label="round_id")
        self.do_resolve(bet_id, kind, round_id, win)
        self.remember(f"{kind} {bet_id}", lambda: self.do_resolve(bet_id, kind, round_id, win))

    def do_resolve(
        self, bet_id: str, kind: Literal["settle", "rollback"], round_id: str | None, win: int
    ) -> None:
        digest = fingerprint((kind, round_id, win))
        held = self.holds.get(bet_id)
        stored: str | None = None
        if held is None:
            expected = "BET_NOT_FOUND"
        elif held.resolution is not None:
            if held.resolution != kind:
                expected = (
                    "ALREADY_SETTLED" if held.resolution == "settle" else "ALREADY_ROLLED_BACK"
                )
            elif held.resolution_hash == digest:
                expected, stored = "REPLAY", held.resolution_json
            else:
                expected = "IDEMPOTENCY_MISMATCH"
        elif round_id is not None and round_id != held.hold.round_id:
            expected = "ROUND_MISMATCH"
        else:
            expected = "OK"
        reply = self.run(
            self.ledger.bet_resolve(
                self.agent_id, bet_id, kind, round_id=round_id, win=win, request_hash=digest
            )
        )
        self.expect(f"hold {kind}", reply, expected, stored)
        if expected != "OK":
            return
        assert held is not None and reply.response_json is not None
        player = self.players[held.hold.player_id]
        player.held -= held.hold.amount
        player.cash += win if kind == "settle" else held.hold.amount
        response = decode(reply.response_json)
        assert response["status"] == ("settled" if kind == "settle" else "rolled_back")
        assert (response["amount"], response["balance"]) == (held.hold.amount, player.cash)
        held.resolution, held.resolution_hash = kind, digest
        held.resolution_json = reply.response_json

    # ------------------------------------------------------------ replays

    @precondition(lambda self: self.calls)
    @rule(data=st.data(), accepted=mostly, times=st.integers(1, 2))
    def replay(self, data: st.DataObject, accepted: bool, times: int) -> None:
        """Make an earlier request again, with the same key, transaction id or bet id.

        Mostly one that was accepted: its replay must be byte for byte the stored response.
        """
        calls = [c for c in self.calls if c.accepted or not accepted] or self.calls
        call = data.draw(st.sampled_from(calls[::-1]), label="call")  # the latest most likely
        note(f"again: {call.name}")
        for _ in range(times):
            call.again()

    # ------------------------------------------------------------ invariants

    @invariant()
    def books_balance_and_match_the_model(self) -> None:
        books = self.run(read_books(self.ledger, list(self.players), list(self.tournaments)))
        assert books.problems == []
        for player_id, player in self.players.items():
            assert player.cash >= 0 and player.held >= 0
            assert books.cash[player_id] == player.cash, player_id
            assert books.held[player_id] == player.held, player_id
        for tournament_id, tournament in self.tournaments.items():
            assert tournament.pool >= 0
            assert all(balance >= 0 for balance in tournament.chips.values())
            for player_id in self.players:
                chips = books.chips[tournament_id, player_id]
                assert chips == tournament.chips.get(player_id), (tournament_id, player_id)
            assert books.pools[tournament_id] == tournament.pool, tournament_id
            assert books.statuses[tournament_id] == tournament.status, tournament_id


@dataclass(frozen=True)
class Books:
    """What the database says: audit problems, balances, tournament statuses."""

    problems: list[str]
    cash: dict[str, int]
    held: dict[str, int]
    chips: dict[tuple[str, str], int | None]  # by (tournament, player); None: no account
    pools: dict[str, int]
    statuses: dict[str, TournamentStatus]


async def read_books(ledger: Ledger, players: list[str], tournaments: list[str]) -> Books:
    """The books of these players and tournaments, read concurrently."""

    async def pool_balance(tournament_id: str) -> int:
        balance: int = await ledger.pool.fetchval(
            """SELECT balance FROM accounts
                WHERE kind = 'prize_pool' AND owner_id = $1 AND scope = $1""",
            tournament_id,
        )
        return balance

    async def status(tournament_id: str) -> TournamentStatus:
        tournament = await ledger.load_tournament(tournament_id)
        assert tournament is not None
        return tournament.status

    pairs = [(t, p) for t in tournaments for p in players]
    problems, cash, held, chips, pools, statuses = await asyncio.gather(
        ledger.audit(),
        asyncio.gather(*(ledger.cash_balance(p, CURRENCY) for p in players)),
        asyncio.gather(*(ledger.held_balance(p, CURRENCY) for p in players)),
        asyncio.gather(*(ledger.chips_balance(t, p) for t, p in pairs)),
        asyncio.gather(*(pool_balance(t) for t in tournaments)),
        asyncio.gather(*(status(t) for t in tournaments)),
    )
    return Books(
        problems,
        dict(zip(players, cash, strict=True)),
        dict(zip(players, held, strict=True)),
        dict(zip(pairs, chips, strict=True)),
        dict(zip(tournaments, pools, strict=True)),
        dict(zip(tournaments, statuses, strict=True)),
    )


@pytest.fixture(scope="module", autouse=True)
def hypothesis_storage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Hypothesis's own caches go to a temporary directory, not `.hypothesis` in the tree."""
    set_hypothesis_home_dir(tmp_path_factory.mktemp("hypothesis"))
    try:
        yield
    finally:
        set_hypothesis_home_dir(None)


def test_ledger_matches_its_model(database_dsn: str, ledger: Ledger) -> None:
    """Sequences of money operations keep the books sound and equal to the model's.

    `ledger` (unused here) has migrated the database, and the autouse audit runs afterwards.
    """
    with private_ledger(database_dsn) as private:

        class Machine(LedgerMachine):
            pass

        Machine.private = private
        run_state_machine_as_test(
            Machine,
            settings=settings(
                max_examples=80,
                stateful_step_count=20,
                deadline=None,
                database=None,
                # No shrinking: every attempt replays a sequence on the database, and the
                # shrinker would outlast the test's timeout. A failure prints its steps.
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            ),
        )


# ---------------------------------------------------------------- ledger keys of different requests


async def test_spin_keys_of_different_players_never_collide(ledger: Ledger) -> None:
    """Player `a` spinning with key `x:k` must not take player `a:x`'s key `k`."""
    tournament = await create_tournament(ledger)
    room = tournament.config.tournament_id
    first = unique("p")
    second = f"{first}:x"
    statuses = []
    for player_id, key in [(first, "x:k"), (second, "k")]:
        await ledger.ensure_player(player_id, player_id, CURRENCY)
        assert (await ledger.register_player(room, player_id, rg_self_excluded=False))[0] == "OK"
        request = spin_request(
            room,
            tournament.server_seed,
            player_claims(player_id, False, None),
            time.time(),
            stake=100,
            key=key,
            client_seed="seed",
            nonce=0,
        )
        statuses.append((await ledger.place_spin(request)).status)
    assert statuses == ["OK", "OK"]


async def test_registration_after_hop_off_never_collides_with_another_player(
    ledger: Ledger,
) -> None:
    """Player `p` registering again after a hop-off must not collide with player `p:1`."""
    tournament = await create_tournament(ledger, starting_chips=1000)
    room = tournament.config.tournament_id
    player = unique("p")
    other = f"{player}:1"
    for player_id in (player, other):
        await ledger.ensure_player(player_id, player_id, CURRENCY)
    assert (await ledger.register_player(room, other, rg_self_excluded=False))[0] == "OK"
    assert (await ledger.register_player(room, player, rg_self_excluded=False))[0] == "OK"
    assert (await ledger.hop_off(room, player)).status == "OK"
    assert await ledger.register_player(room, player, rg_self_excluded=False) == ("OK", 1000)
