"""Tournament administration for the side API: create, register, hop off, game-server results.

The money moves in the ledger's SQL functions (the ones the hub's join and spin use); this
module decides nothing about money, it applies the results to the live room of this node.
"""

from dataclasses import dataclass

from roomserver.domain import slot_game
from roomserver.domain.fingerprint import fingerprint
from roomserver.domain.refusal import Refusal, Refused
from roomserver.domain.tournament import Tournament, TournamentConfig
from roomserver.services.live_rooms import LiveRooms
from roomserver.services.registration import Registration, Registrations
from roomserver.services.scheduler import TournamentScheduler
from roomserver.store.ledger import Ledger
from roomserver.store.reports import RankedPlayer, TournamentActivity
from roomserver.store.results import GameResult

KNOWN_GAMES = frozenset({slot_game.GAME_ID})


@dataclass(frozen=True, slots=True)
class AppliedResult:
    """A game-server result as stored, with the player's rank in this node's room."""

    response_json: str
    rank: int | None
    replayed: bool


@dataclass(frozen=True, slots=True)
class TournamentOverview:
    """What the Tournament System polls."""

    tournament: Tournament
    activity: TournamentActivity
    players_online: int
    owner_node: str | None


class TournamentService:
    """Side-API operations on tournaments; the live room hears of every change."""

    def __init__(
        self,
        ledger: Ledger,
        rooms: LiveRooms,
        registrations: Registrations,
        scheduler: TournamentScheduler,
    ) -> None:
        """Operations against `ledger`, told to this node's `rooms`."""
        self._ledger = ledger
        self._rooms = rooms
        self._registrations = registrations
        self._scheduler = scheduler

    async def create(self, config: TournamentConfig) -> Tournament:
        """Create a tournament; one whose start has come (or that has none) starts now.

        Raises:
            Refused: UNKNOWN_GAME, or DUPLICATE when the id is taken.
        """
        if config.game_id not in KNOWN_GAMES:
            raise Refused(Refusal.UNKNOWN_GAME, f"no game {config.game_id!r} on this server")
        created = await self._ledger.create_tournament(config, status="scheduled")
        if not created:
            raise Refused(Refusal.DUPLICATE, f"tournament {config.tournament_id!r} exists")
        # The scheduler starts it (the started event and frame come from there).
        await self._scheduler.advance(config.tournament_id)
        tournament = await self._ledger.load_tournament(config.tournament_id)
        assert tournament is not None
        return tournament

    async def cancel(self, tournament_id: str) -> str:
        """Cancel with every buy-in refunded, once; returns the (stored) record.

        Raises:
            Refused: NOT_FOUND, or TOURNAMENT_FINISHED once completing or completed.
        """
        return (await self._scheduler.cancel(tournament_id)).accepted()

    async def closing(self, tournament_id: str) -> str | None:
        """How the tournament ended (standings, prizes or refunds, the revealed seed), or None."""
        return await self._ledger.tournament_closing(tournament_id)

    async def tournament(self, tournament_id: str) -> Tournament:
        """The tournament.

        Raises:
            Refused: NOT_FOUND.
        """
        tournament = await self._ledger.load_tournament(tournament_id)
        if tournament is None:
            raise Refused(Refusal.NOT_FOUND, f"no tournament {tournament_id!r}")
        return tournament

    async def register(
        self, tournament_id: str, player_id: str, name: str | None, currency: str | None
    ) -> Registration:
        """Register a player (buy-in debited, starting chips credited); idempotent.

        A player connected to the room here is pushed a `balance` frame with the new chips (a
        repeat moves nothing and pushes nothing).

        Raises:
            Refused: the ledger's refusal code.
        """
        tournament = await self.tournament(tournament_id)
        registration = await self._registrations.register(
            tournament_id,
            player_id,
            name or player_id,
            currency or tournament.config.currency,
            rg_self_excluded=False,
        )
        await self._registrations.announce(tournament_id, player_id, registration)
        return registration

    async def hop_off(self, tournament_id: str, player_id: str) -> str:
        """Unregister with the refund the rules give; returns the (stored) response.

        A player connected to the room here is pushed a `balance` frame with their cash after
        the refund (a repeat moves nothing and pushes nothing).

        Raises:
            Refused: the ledger's refusal code.
        """
        reply = await self._ledger.hop_off(tournament_id, player_id)
        response = reply.accepted()
        room = self._rooms.get(tournament_id)
        if room is not None:
            await room.unregister(player_id)
        if reply.status is Refusal.OK:
            await self._rooms.push_cash(tournament_id, [player_id])
        return response

    async def apply_result(
        self,
        tournament_id: str,
        result_id: str,
        player_id: str,
        *,
        score_delta: int | None,
        score: int | None,
    ) -> AppliedResult:
        """Apply a game server's result once per `result_id`; the room's leaderboard moves.

        Raises:
            Refused: the ledger's refusal code.
        """
        digest = fingerprint((player_id, score_delta, score))
        record = await self._ledger.record_result(
            GameResult(tournament_id, result_id, player_id, digest, score_delta, score)
        )
        if record.status is Refusal.REPLAY:
            assert record.response_json is not None
            room = self._rooms.get(tournament_id)
            rank = None if room is None else room.rank_of(player_id)
            return AppliedResult(record.response_json, rank, replayed=True)
        if record.status is not Refusal.OK:
            raise Refused(record.status)
        assert record.response_json is not None and record.score_reached_at is not None
        assert record.version is not None and record.score is not None
        assert record.name is not None
        room = await self._rooms.open(tournament_id)
        rank = None
        if room is not None:
            rank = await room.record_score(
                player_id,
                record.name,
                record.score,
                record.score_reached_at.timestamp(),
                record.version,
            )
        return AppliedResult(record.response_json, rank, replayed=False)

    async def ranked_page(
        self, tournament_id: str, limit: int, offset: int
    ) -> tuple[int, list[RankedPlayer]]:
        """(players registered, one page of them in rank order).

        Raises:
            Refused: NOT_FOUND.
        """
        await self.tournament(tournament_id)
        activity = await self._ledger.tournament_activity(tournament_id)
        return activity.registered, await self._ledger.ranked_players(tournament_id, limit, offset)

    async def status(self, tournament_id: str) -> TournamentOverview:
        """Status, totals, players online on every node, and the node publishing the leaderboard.

        Raises:
            Refused: NOT_FOUND.
        """
        tournament = await self.tournament(tournament_id)
        activity = await self._ledger.tournament_activity(tournament_id)
        return TournamentOverview(
            tournament,
            activity,
            players_online=await self._rooms.players_online(tournament_id),
            owner_node=await self._rooms.ticker_node(tournament_id),
        )

    def online(self, tournament_id: str, player_id: str) -> bool:
        """Whether the player is connected to the room on this node."""
        room = self._rooms.get(tournament_id)
        return room is not None and room.is_member(player_id)
