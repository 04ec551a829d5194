"""Responsible gaming end to end.

Self-exclusion (token claim and per-player flag), loss and session-time limits checked in the
spin transaction, reality checks, wallet bets around a block, and registration of an excluded
player. A refused debit writes nothing at all.
"""

import contextlib
import datetime as dt
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Final

import httpx
import msgspec

from clients.python.room_client import RoomClient
from protocol.codes import CloseCode, ErrorCode
from protocol.messages import Error, Ping, Pong, RealityCheck, RoomJoin, Spin, SpinResult
from roomserver.config import Config, RgConfig
from roomserver.domain import slot_game
from roomserver.node import Node
from roomserver.store.ledger import Ledger
from roomserver.store.players import RgSettings
from tests.integration.conftest import NodeStarter
from tests.support.api import (
    AGENT_ID,
    READER_KEY,
    admin_headers,
    api_config,
    api_url,
    funded_player,
    signed_post,
)
from tests.support.node import create_tournament, fetch_spins, join, token, unique, ws_url

CURRENCY: Final = "EUR"
ERROR_FIELDS: Final = {"code", "message", "retryable", "trace_id"}


# ---------------------------------------------------------------- helpers


@dataclass(frozen=True, slots=True)
class Footprint:
    """Everything a debit of the player could have written."""

    spins: int
    ledger_transactions: int
    entries: int
    accounts: int
    outbox: int
    tournament_spins: int
    wallet_bets: int
    bet_holds: int
    rg_sessions: tuple[tuple[str, dt.datetime, int], ...]


async def footprint(ledger: Ledger, player_id: str) -> Footprint:
    """Count the player's rows in every table a spin, bet or registration writes."""
    row = await ledger.pool.fetchrow(
        """SELECT
             (SELECT count(*) FROM spins s WHERE s.player_id = $1) AS spins,
             (SELECT count(*) FROM ledger_transactions t
               WHERE strpos(t.idempotency_key, $1) > 0
                  OR EXISTS (SELECT 1 FROM entries e JOIN accounts a USING (account_id)
                              WHERE e.tx_id = t.tx_id AND a.owner_id = $1)) AS ledger_transactions,
             (SELECT count(*) FROM entries e JOIN accounts a USING (account_id)
               WHERE a.owner_id = $1) AS entries,
             (SELECT count(*) FROM accounts a WHERE a.owner_id = $1) AS accounts,
             (SELECT count(*) FROM outbox o WHERE o.player_id = $1) AS outbox,
             (SELECT coalesce(sum(tp.spins), 0) FROM tournament_players tp
               WHERE tp.player_id = $1) AS tournament_spins,
             (SELECT count(*) FROM wallet_bets b WHERE b.player_id = $1) AS wallet_bets,
             (SELECT count(*) FROM bet_holds h WHERE h.player_id = $1) AS bet_holds""",
        player_id,
    )
    assert row is not None
    sessions = await ledger.pool.fetch(
        """SELECT session_key, started_at, net_loss FROM rg_sessions
            WHERE player_id = $1 ORDER BY session_key""",
        player_id,
    )
    return Footprint(
        spins=row["spins"],
        ledger_transactions=row["ledger_transactions"],
        entries=row["entries"],
        accounts=row["accounts"],
        outbox=row["outbox"],
        tournament_spins=row["tournament_spins"],
        wallet_bets=row["wallet_bets"],
        bet_holds=row["bet_holds"],
        rg_sessions=tuple((s["session_key"], s["started_at"], s["net_loss"]) for s in sessions),
    )


async def net_loss(ledger: Ledger, player_id: str) -> int | None:
    """The running loss of the player's one RG session (None: no session row)."""
    rows = await ledger.pool.fetch(
        "SELECT net_loss FROM rg_sessions WHERE player_id = $1", player_id
    )
    assert len(rows) <= 1, rows
    return None if not rows else int(rows[0]["net_loss"])


def seed_with(server_seed: bytes, nonce: int, multiplier: int) -> str:
    """A client seed whose spin at `nonce` pays `multiplier` (0: a loss)."""
    for n in range(100_000):
        seed = f"x{multiplier}-{nonce}-{n}"
        if slot_game.play(server_seed, seed, nonce).multiplier == multiplier:
            return seed
    raise AssertionError(f"no seed paying x{multiplier} at nonce {nonce}")


async def settled(client: RoomClient) -> None:
    """Wait until the connection's earlier requests (joins) are fully handled.

    The hub reads one message at a time, so the pong comes after the previous handler finished.
    """
    rid = unique("ping")
    await client.send(Ping(rid=rid))
    await client.recv_type(Pong, rid=rid)


async def spin(
    client: RoomClient,
    room: str,
    stake: int,
    *,
    seed: str | None = None,
    key: str | None = None,
) -> SpinResult | Error:
    """Send one spin and return its direct reply."""
    rid = unique("s")
    await client.send(
        Spin(
            room=room,
            stake=stake,
            idempotency_key=key or unique("k"),
            client_seed=seed,
            rid=rid,
        )
    )
    reply = (await client.replies([rid]))[rid]
    assert isinstance(reply, SpinResult | Error), reply
    return reply


def admitted(reply: SpinResult | Error, *, nonce: int | None = None) -> SpinResult:
    """The reply is a spin result (at the expected nonce, when given)."""
    assert isinstance(reply, SpinResult), reply
    if nonce is not None:
        assert reply.payload.fairness.nonce == nonce
    return reply


def assert_blocked(reply: SpinResult | Error, room: str) -> None:
    """The reply is RG_BLOCKED, not retryable, for this room."""
    assert isinstance(reply, Error), reply
    assert reply.payload.code == ErrorCode.RG_BLOCKED, reply
    assert reply.payload.retryable is False
    assert reply.room == room


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The response is the side API's error body with this status and code."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == ERROR_FIELDS, body
    assert body["code"] == code, body
    assert body["retryable"] is False
    assert isinstance(body["message"], str) and body["message"]
    return body


def rg_path(player_id: str) -> str:
    return f"/internal/players/{player_id}/rg"


async def put_rg(
    client: httpx.AsyncClient,
    player_id: str,
    *,
    self_excluded: bool = False,
    loss_limit: int | None = None,
    session_limit_min: int | None = None,
) -> dict[str, Any]:
    """Set the player's RG settings with the admin key; returns the view."""
    body = {
        "self_excluded": self_excluded,
        "loss_limit": loss_limit,
        "session_limit_min": session_limit_min,
    }
    response = await client.put(rg_path(player_id), json=body, headers=admin_headers())
    assert response.status_code == 200, response.text
    view: dict[str, Any] = response.json()
    assert view == {"player_id": player_id, **body}
    return view


@contextlib.asynccontextmanager
async def api_node(
    start_node: NodeStarter, base_config: Config
) -> AsyncIterator[tuple[Node, httpx.AsyncClient]]:
    """A node with the side API and a client of it (no default headers)."""
    async with (
        start_node(api_config(base_config)) as node,
        httpx.AsyncClient(base_url=api_url(node), timeout=30.0) as client,
    ):
        yield node, client


def with_reality_checks(base: Config, interval_s: float) -> Config:
    return msgspec.structs.replace(base, rg=RgConfig(reality_check_interval_s=interval_s))


# ---------------------------------------------------------------- 1. self-exclusion by claim


async def test_a_self_excluded_token_spins_nothing_and_writes_nothing(
    start_node: NodeStarter, ledger: Ledger
) -> None:
    tournament = await create_tournament(ledger)
    room, player = tournament.config.tournament_id, unique("p")
    # A loss limit too: were the limits checked before the exclusion, a session row would appear.
    player_token = token(player, self_excluded=True, loss_limit=10_000, session_limit_min=60)
    async with start_node() as node, await RoomClient.connect(ws_url(node), player_token) as client:
        snapshot = await join(client, room)
        assert snapshot.payload.you.balance == 100_000
        await settled(client)
        before = await footprint(ledger, player)
        for stake in (10, 100, 10_000):
            assert_blocked(await spin(client, room, stake), room)
        after = await footprint(ledger, player)
    assert after == before
    assert before.spins == before.tournament_spins == 0
    assert before.rg_sessions == ()
    assert await fetch_spins(ledger, room, player) == []
    assert await ledger.chips_balance(room, player) == 100_000


# ---------------------------------------------------------------- 2. self-exclusion by the API


async def test_the_per_player_flag_closes_and_blocks_a_connected_player_until_cleared(
    start_node: NodeStarter, base_config: Config, ledger: Ledger
) -> None:
    tournament = await create_tournament(ledger)
    room, player = tournament.config.tournament_id, unique("p")
    player_token = token(player, loss_limit=50_000)
    async with api_node(start_node, base_config) as (node, api):
        async with await RoomClient.connect(ws_url(node), player_token) as client:
            await join(client, room)
            first_key = unique("k")
            first = admitted(await spin(client, room, 100, key=first_key))
            assert await net_loss(ledger, player) == 100 - first.payload.win

            # Set through this node's side API: the connection is closed, do not reconnect.
            view = await put_rg(api, player, self_excluded=True)
            await client.until_closed(timeout_s=5)
            assert client.close_code == CloseCode.FORBIDDEN
        # Connecting again is closed as soon as the connection opens.
        async with await RoomClient.connect(ws_url(node), player_token) as client:
            assert await client.until_closed(timeout_s=5) == []
            assert client.close_code == CloseCode.FORBIDDEN

        got = await api.get(rg_path(player), headers=admin_headers())
        assert got.status_code == 200, got.text
        assert got.json() == view
        # A read-only key may look but not change.
        reader = await api.get(rg_path(player), headers=admin_headers(READER_KEY))
        assert reader.status_code == 200, reader.text
        refused = await api.put(
            rg_path(player), json={"self_excluded": False}, headers=admin_headers(READER_KEY)
        )
        assert_error(refused, 403, "FORBIDDEN")

        # Unknown players and bad bodies.
        nobody = unique("nobody")
        assert_error(
            await api.put(rg_path(nobody), json={"self_excluded": True}, headers=admin_headers()),
            404,
            "PLAYER_NOT_FOUND",
        )
        assert_error(
            await api.get(rg_path(nobody), headers=admin_headers()), 404, "PLAYER_NOT_FOUND"
        )
        for bad in (
            {"self_excluded": False, "loss_limit": -1},
            {"self_excluded": False, "session_limit_min": 0},
            {"self_excluded": False, "session_limit_min": -5},
            {"loss_limit": 100},
            {"self_excluded": "no"},
        ):
            response = await api.put(rg_path(player), json=bad, headers=admin_headers())
            assert_error(response, 400, "BAD_REQUEST")
        assert_error(
            await api.put(rg_path(player), content=b"{not json", headers=admin_headers()),
            400,
            "BAD_REQUEST",
        )
        # The refused bodies changed nothing: the player is still excluded.
        still = await api.get(rg_path(player), headers=admin_headers())
        assert still.json() == view

        # Cleared, the player connects again. A flag set where this node's connections are not
        # reached (another node's side API; here, straight in the database) still blocks every
        # debit in the spin transaction.
        await put_rg(api, player, self_excluded=False)
        async with await RoomClient.connect(ws_url(node), player_token) as client:
            await join(client, room)
            await settled(client)
            await ledger.set_rg_settings(RgSettings(player, True, None, None))
            before = await footprint(ledger, player)
            assert_blocked(await spin(client, room, 100), room)
            assert_blocked(await spin(client, room, 10), room)
            # A retry of a spin made before the block gets its stored result (no new debit).
            retried = admitted(await spin(client, room, 100, key=first_key))
            assert retried.payload.spin_id == first.payload.spin_id
            assert await footprint(ledger, player) == before
            assert await ledger.chips_balance(room, player) == 100_000 - 100 + first.payload.win

            # Clearing the flag lets the same connection play again.
            await put_rg(api, player, self_excluded=False)
            again = admitted(await spin(client, room, 100))
    assert len(await fetch_spins(ledger, room, player)) == 2
    assert await ledger.chips_balance(room, player) == (
        100_000 - 200 + first.payload.win + again.payload.win
    )


# ---------------------------------------------------------------- 3. loss limits


async def test_the_loss_limit_claim_admits_up_to_the_limit_and_no_further(
    start_node: NodeStarter, ledger: Ledger
) -> None:
    tournament = await create_tournament(ledger)
    room, player = tournament.config.tournament_id, unique("p")
    seed = tournament.server_seed
    async with (
        start_node() as node,
        await RoomClient.connect(ws_url(node), token(player, loss_limit=250)) as client,
    ):
        await join(client, room)
        admitted(await spin(client, room, 100, seed=seed_with(seed, 0, 0)), nonce=0)
        assert await net_loss(ledger, player) == 100
        admitted(await spin(client, room, 100, seed=seed_with(seed, 1, 0)), nonce=1)
        assert await net_loss(ledger, player) == 200
        # 200 + 100 > 250: refused, although this spin would have won (the stake decides).
        before = await footprint(ledger, player)
        assert_blocked(await spin(client, room, 100, seed=seed_with(seed, 2, 5)), room)
        assert await footprint(ledger, player) == before
        # 200 + 50 == 250: admitted (the limit itself may be reached).
        admitted(await spin(client, room, 50, seed=seed_with(seed, 3, 0)), nonce=3)
        assert await net_loss(ledger, player) == 250
        before = await footprint(ledger, player)
        assert_blocked(await spin(client, room, 10), room)
        assert_blocked(await spin(client, room, 10_000), room)
        assert await footprint(ledger, player) == before
    spins = await fetch_spins(ledger, room, player)
    assert [s["stake"] for s in spins] == [100, 100, 50]
    assert sum(s["stake"] - s["win"] for s in spins) == 250
    assert await ledger.chips_balance(room, player) == 100_000 - 250


async def test_the_stricter_of_claim_and_setting_applies_and_wins_give_room(
    start_node: NodeStarter, base_config: Config, ledger: Ledger
) -> None:
    tournament = await create_tournament(ledger)
    room, seed = tournament.config.tournament_id, tournament.server_seed
    by_setting, by_claim = unique("p"), unique("p")
    for player in (by_setting, by_claim):
        await ledger.ensure_player(player, f"Player {player}", CURRENCY)
    async with api_node(start_node, base_config) as (node, api):
        # The setting (300) is stricter than the claim (1000).
        await put_rg(api, by_setting, loss_limit=300)
        async with await RoomClient.connect(
            ws_url(node), token(by_setting, loss_limit=1_000)
        ) as client:
            await join(client, room)
            win = admitted(await spin(client, room, 100, seed=seed_with(seed, 0, 2)), nonce=0)
            assert win.payload.win == 200
            assert await net_loss(ledger, by_setting) == -100
            # -100 + 400 == 300: the win made room for a stake above the limit itself.
            admitted(await spin(client, room, 400, seed=seed_with(seed, 1, 0)), nonce=1)
            assert await net_loss(ledger, by_setting) == 300
            before = await footprint(ledger, by_setting)
            assert_blocked(await spin(client, room, 10), room)
            assert await footprint(ledger, by_setting) == before
            # Raising the setting above the claim makes the claim (1000) the limit.
            await put_rg(api, by_setting, loss_limit=5_000)
            admitted(await spin(client, room, 700, seed=seed_with(seed, 3, 0)), nonce=3)
            assert await net_loss(ledger, by_setting) == 1_000
            before = await footprint(ledger, by_setting)
            assert_blocked(await spin(client, room, 10), room)
            assert await footprint(ledger, by_setting) == before

        # The claim (100) is stricter than the setting (1000).
        await put_rg(api, by_claim, loss_limit=1_000)
        async with await RoomClient.connect(
            ws_url(node), token(by_claim, loss_limit=100)
        ) as client:
            await join(client, room)
            admitted(await spin(client, room, 100, seed=seed_with(seed, 0, 0)), nonce=0)
            before = await footprint(ledger, by_claim)
            assert_blocked(await spin(client, room, 10), room)
            assert await footprint(ledger, by_claim) == before
    setting_spins = await fetch_spins(ledger, room, by_setting)
    assert sum(s["stake"] - s["win"] for s in setting_spins) == 1_000
    assert await ledger.chips_balance(room, by_setting) == 100_000 - 1_000
    assert await ledger.chips_balance(room, by_claim) == 100_000 - 100


async def test_concurrent_spins_in_two_rooms_never_pass_the_loss_limit(
    start_node: NodeStarter, ledger: Ledger
) -> None:
    rooms = [await create_tournament(ledger) for _ in range(2)]
    player = unique("p")
    async with (
        start_node() as node,
        await RoomClient.connect(ws_url(node), token(player, loss_limit=500)) as client,
    ):
        for tournament in rooms:
            await join(client, tournament.config.tournament_id, rid=tournament.config.tournament_id)
        spins = [
            Spin(
                room=t.config.tournament_id,
                stake=100,
                idempotency_key=unique("k"),
                client_seed=seed_with(t.server_seed, n, 0),
                rid=f"{t.config.tournament_id}/{n}",
            )
            for n in range(6)
            for t in rooms
        ]
        for message in spins:
            await client.send(message)
        replies = await client.replies([s.rid for s in spins if s.rid is not None])
    results = [r for r in replies.values() if isinstance(r, SpinResult)]
    refusals = [r for r in replies.values() if isinstance(r, Error)]
    assert len(results) == 5
    assert len(refusals) == 7
    assert {r.payload.code for r in refusals} == {ErrorCode.RG_BLOCKED}
    assert await net_loss(ledger, player) == 500
    recorded = [s for t in rooms for s in await fetch_spins(ledger, t.config.tournament_id, player)]
    assert len(recorded) == 5
    assert sum(s["stake"] - s["win"] for s in recorded) == 500


# ---------------------------------------------------------------- 4. session time


async def backdate_session(ledger: Ledger, player_id: str, age_s: float) -> None:
    """Move the start of the player's RG session `age_s` seconds into the past."""
    status = await ledger.pool.execute(
        "UPDATE rg_sessions SET started_at = now() - $2::interval WHERE player_id = $1",
        player_id,
        dt.timedelta(seconds=age_s),
    )
    assert status == "UPDATE 1", status


async def test_a_session_over_its_time_limit_is_blocked(
    start_node: NodeStarter, ledger: Ledger
) -> None:
    tournament = await create_tournament(ledger)
    room, player = tournament.config.tournament_id, unique("p")
    player_token = token(player, session_limit_min=1)
    async with start_node() as node:
        async with await RoomClient.connect(ws_url(node), player_token) as client:
            await join(client, room)
            first = admitted(await spin(client, room, 100))
            assert await net_loss(ledger, player) == 100 - first.payload.win
            await backdate_session(ledger, player, 50)
            admitted(await spin(client, room, 100))
            await backdate_session(ledger, player, 120)
            before = await footprint(ledger, player)
            assert_blocked(await spin(client, room, 100), room)
            assert_blocked(await spin(client, room, 10), room)
            assert await footprint(ledger, player) == before
        # Reconnecting with the same token continues the same (expired) session.
        async with await RoomClient.connect(ws_url(node), player_token) as client:
            await join(client, room)
            await settled(client)
            before = await footprint(ledger, player)
            assert_blocked(await spin(client, room, 10), room)
            assert await footprint(ledger, player) == before
    assert len(await fetch_spins(ledger, room, player)) == 2


async def test_the_per_player_session_limit_blocks_until_a_new_session_or_cleared(
    start_node: NodeStarter, base_config: Config, ledger: Ledger
) -> None:
    tournament = await create_tournament(ledger)
    room, player = tournament.config.tournament_id, unique("p")
    await ledger.ensure_player(player, f"Player {player}", CURRENCY)
    async with api_node(start_node, base_config) as (node, api):
        await put_rg(api, player, session_limit_min=1)
        async with await RoomClient.connect(ws_url(node), token(player)) as client:
            await join(client, room)
            admitted(await spin(client, room, 100))
            await backdate_session(ledger, player, 61)
            before = await footprint(ledger, player)
            assert_blocked(await spin(client, room, 100), room)
            assert await footprint(ledger, player) == before

            # Without the limit the same session plays again (and no longer counts).
            await put_rg(api, player)
            admitted(await spin(client, room, 100))
            assert await footprint(ledger, player) != before
            assert (await footprint(ledger, player)).rg_sessions == before.rg_sessions

            # Limit back on: the session is still over its time.
            await put_rg(api, player, session_limit_min=1)
            before = await footprint(ledger, player)
            assert_blocked(await spin(client, room, 10), room)
            assert await footprint(ledger, player) == before
        # A new token is a new session, with its own clock.
        async with await RoomClient.connect(ws_url(node), token(player)) as client:
            await join(client, room)
            admitted(await spin(client, room, 100))
        sessions = (await footprint(ledger, player)).rg_sessions
    assert len(sessions) == 2
    assert len(await fetch_spins(ledger, room, player)) == 3


# ---------------------------------------------------------------- 5. reality checks


async def test_reality_checks_report_session_time_and_the_connections_net_result(
    start_node: NodeStarter, base_config: Config, ledger: Ledger
) -> None:
    tournament = await create_tournament(ledger)
    room, player, idler = tournament.config.tournament_id, unique("p"), unique("p")
    async with (
        start_node(with_reality_checks(base_config, 0.3)) as node,
        await RoomClient.connect(ws_url(node), token(player)) as client,
        await RoomClient.connect(ws_url(node), token(idler, currency="GBP")) as idle,
    ):
        opened = time.monotonic()
        await join(client, room)
        results = [admitted(await spin(client, room, stake)) for stake in (100, 200, 300, 400)]
        expected = sum(r.payload.win - r.payload.stake for r in results)
        checks: list[RealityCheck] = await client.collect([RealityCheck], duration_s=1.5)
        elapsed = time.monotonic() - opened
        idle_checks: list[RealityCheck] = await idle.collect([RealityCheck], duration_s=0.2)
    # About one every 0.3 s.
    assert 3 <= len(checks) <= 7, len(checks)
    assert all(c.payload.net_result == expected for c in checks)
    assert all(c.payload.currency == CURRENCY for c in checks)
    seconds = [c.payload.session_s for c in checks]
    assert seconds == sorted(seconds)
    assert 1 <= seconds[-1] <= elapsed + 1
    spins = await fetch_spins(ledger, room, player)
    assert expected == sum(s["win"] - s["stake"] for s in spins)
    # A connection without spins: nothing won or lost, in its token's currency.
    assert len(idle_checks) >= 4
    assert {(c.payload.net_result, c.payload.currency) for c in idle_checks} == {(0, "GBP")}


async def test_reality_checks_are_off_with_a_zero_interval(
    start_node: NodeStarter, base_config: Config, ledger: Ledger
) -> None:
    tournament = await create_tournament(ledger)
    room = tournament.config.tournament_id
    async with (
        start_node(with_reality_checks(base_config, 0)) as node,
        await RoomClient.connect(ws_url(node), token(unique("p"))) as client,
    ):
        await join(client, room)
        admitted(await spin(client, room, 100))
        assert await client.collect([RealityCheck], duration_s=1.0) == []


async def test_reality_check_counts_a_replayed_spin_once(
    start_node: NodeStarter, base_config: Config, ledger: Ledger
) -> None:
    tournament = await create_tournament(ledger)
    room, player = tournament.config.tournament_id, unique("p")
    losing = seed_with(tournament.server_seed, 0, 0)
    async with (
        start_node(with_reality_checks(base_config, 0.3)) as node,
        await RoomClient.connect(ws_url(node), token(player)) as client,
    ):
        await join(client, room)
        first = admitted(await spin(client, room, 100, seed=losing, key="same"), nonce=0)
        replay = admitted(await spin(client, room, 100, seed=losing, key="same"))
        assert replay.payload.spin_id == first.payload.spin_id
        checks: list[RealityCheck] = await client.collect([RealityCheck], duration_s=0.8)
    assert len(await fetch_spins(ledger, room, player)) == 1
    assert await ledger.chips_balance(room, player) == 100_000 - 100
    assert checks
    # One spin of 100 was lost; the replay moved no money.
    assert [c.payload.net_result for c in checks] == [-100] * len(checks)


# ---------------------------------------------------------------- 6. wallet bets around a block


async def test_bets_placed_before_a_block_still_settle_and_roll_back(
    start_node: NodeStarter, base_config: Config, ledger: Ledger
) -> None:
    player = await funded_player(ledger, 1_000)
    hold = {
        "bet_id": unique("bet"),
        "round_id": unique("round"),
        "player_id": player,
        "amount": 100,
    }
    bet = {
        "transaction_id": unique("tx"),
        "round_id": unique("round"),
        "player_id": player,
        "currency": CURRENCY,
        "bet": 50,
        "win": 0,
    }
    other_bet = {**bet, "transaction_id": unique("tx"), "round_id": unique("round"), "bet": 40}
    async with api_node(start_node, base_config) as (_node, api):
        authorized = await signed_post(api, "/v1/bets/authorize", hold)
        assert authorized.status_code == 200, authorized.text
        assert authorized.json()["balance"] == 900
        placed = await signed_post(api, "/wallet/makeBet", bet)
        assert placed.status_code == 200, placed.text
        assert placed.json()["balance"] == 850
        placed = await signed_post(api, "/wallet/makeBet", other_bet)
        assert placed.status_code == 200, placed.text
        assert placed.json()["balance"] == 810

        await put_rg(api, player, self_excluded=True)
        before = await footprint(ledger, player)
        new_bet = {**bet, "transaction_id": unique("tx"), "round_id": unique("round"), "bet": 10}
        assert_error(await signed_post(api, "/wallet/makeBet", new_bet), 403, "RG_BLOCKED")
        new_hold = {**hold, "bet_id": unique("bet"), "round_id": unique("round"), "amount": 10}
        assert_error(await signed_post(api, "/v1/bets/authorize", new_hold), 403, "RG_BLOCKED")
        # Retries of calls made before the block get their stored answers.
        retried_hold = await signed_post(api, "/v1/bets/authorize", hold)
        assert retried_hold.status_code == 200, retried_hold.text
        assert retried_hold.json() == authorized.json()
        retried_bet = await signed_post(api, "/wallet/makeBet", other_bet)
        assert retried_bet.status_code == 200, retried_bet.text
        assert retried_bet.json() == placed.json()
        assert await footprint(ledger, player) == before
        assert await ledger.cash_balance(player, CURRENCY) == 810

        settle = {"bet_id": hold["bet_id"], "round_id": hold["round_id"], "win": 30}
        settled_hold = await signed_post(api, "/v1/bets/settle", settle)
        assert settled_hold.status_code == 200, settled_hold.text
        assert settled_hold.json()["status"] == "settled"
        assert settled_hold.json()["balance"] == 840
        rollback = {
            "transaction_id": bet["transaction_id"],
            "rollback_transaction_id": unique("rb"),
        }
        rolled_back = await signed_post(api, "/wallet/rollback", rollback)
        assert rolled_back.status_code == 200, rolled_back.text
        assert rolled_back.json()["status"] == "rolled_back"
        assert rolled_back.json()["balance"] == 890
        # The win of a round bet before the block is paid (a makeBet without a stake).
        payout = {**other_bet, "transaction_id": unique("tx"), "bet": 0, "win": 120}
        paid = await signed_post(api, "/wallet/makeBet", payout)
        assert paid.status_code == 200, paid.text
        assert paid.json()["balance"] == 1_010
        balance = await signed_post(
            api, "/wallet/getBalance", {"player_id": player, "currency": CURRENCY}
        )
    assert balance.status_code == 200, balance.text
    assert balance.json()["balance"] == 1_010
    assert await ledger.cash_balance(player, CURRENCY) == 1_010
    refused = await ledger.pool.fetchval(
        """SELECT (SELECT count(*) FROM wallet_bets WHERE agent_id = $1 AND transaction_id = $2)
                + (SELECT count(*) FROM bet_holds WHERE agent_id = $1 AND bet_id = $3)""",
        AGENT_ID,
        new_bet["transaction_id"],
        new_hold["bet_id"],
    )
    assert refused == 0


# ---------------------------------------------------------------- 7. registration


async def test_a_self_excluded_player_cannot_buy_in(
    start_node: NodeStarter, base_config: Config, ledger: Ledger
) -> None:
    tournament = await create_tournament(ledger, buy_in=1_000, starting_chips=5_000)
    room = tournament.config.tournament_id
    flagged, claimed = await funded_player(ledger, 5_000), await funded_player(ledger, 5_000)
    path = f"/internal/tournaments/{room}/players"
    async with api_node(start_node, base_config) as (node, api):
        # By the per-player flag, through the side API.
        await put_rg(api, flagged, self_excluded=True)
        before = await footprint(ledger, flagged)
        response = await api.post(path, json={"player_id": flagged}, headers=admin_headers())
        assert_error(response, 403, "RG_BLOCKED")
        assert await footprint(ledger, flagged) == before
        assert await ledger.cash_balance(flagged, CURRENCY) == 5_000
        assert await ledger.chips_balance(room, flagged) is None

        # By the token's claim, joining over the socket.
        before = await footprint(ledger, claimed)
        async with await RoomClient.connect(
            ws_url(node), token(claimed, self_excluded=True)
        ) as client:
            await client.send(RoomJoin(room=room, rid="j"))
            refusal = await client.recv_type(Error, rid="j")
            assert refusal.payload.code == ErrorCode.RG_BLOCKED
            await settled(client)
            assert await footprint(ledger, claimed) == before
        assert await ledger.cash_balance(claimed, CURRENCY) == 5_000
        assert await ledger.chips_balance(room, claimed) is None

        # Cleared, the same registration goes through and the buy-in is debited once.
        await put_rg(api, flagged)
        registered = await api.post(path, json={"player_id": flagged}, headers=admin_headers())
        assert registered.status_code == 200, registered.text
        assert registered.json()["chips"] == 5_000
    assert await ledger.cash_balance(flagged, CURRENCY) == 4_000
    assert await ledger.chips_balance(room, flagged) == 5_000
    still_in: int = await ledger.pool.fetchval(
        "SELECT registered_count FROM tournaments WHERE tournament_id = $1", room
    )
    assert still_in == 1
