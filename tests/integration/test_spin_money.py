"""Spins move money exactly once: idempotency, concurrency, and the checks in protocol order."""

import asyncio

from clients.python.room_client import RoomClient
from protocol.codes import CloseCode, ErrorCode
from protocol.messages import Error, RoomJoin, Spin, SpinResult
from roomserver.domain import slot_game
from roomserver.store.ledger import Ledger
from tests.integration.conftest import NodeStarter
from tests.support.node import create_tournament, fetch_spins, join, token, unique, ws_url


def losing_seed(server_seed: bytes, nonce: int) -> str:
    """A client seed whose spin at `nonce` loses (so balances only go down)."""
    for n in range(10_000):
        seed = f"lose-{nonce}-{n}"
        if slot_game.play(server_seed, seed, nonce).multiplier == 0:
            return seed
    raise AssertionError("no losing seed found")


async def test_same_key_sequentially_pays_once_and_replays_the_result(
    start_node: NodeStarter, ledger: Ledger
) -> None:
    tournament = await create_tournament(ledger)
    room, player = tournament.config.tournament_id, unique("p")
    async with start_node() as node:
        async with await RoomClient.connect(ws_url(node), token(player)) as client:
            await join(client, room)
            spin = Spin(room=room, stake=250, idempotency_key="same-key", rid="1")
            await client.send(spin)
            first = await client.recv_type(SpinResult, rid="1")
            await client.send(Spin(room=room, stake=250, idempotency_key="same-key", rid="2"))
            second = await client.recv_type(SpinResult, rid="2")
        # Across a reconnect too.
        async with await RoomClient.connect(ws_url(node), token(player)) as client:
            await join(client, room)
            await client.send(Spin(room=room, stake=250, idempotency_key="same-key", rid="3"))
            third = await client.recv_type(SpinResult, rid="3")
    assert first.payload == second.payload == third.payload
    spins = await fetch_spins(ledger, room, player)
    assert len(spins) == 1
    assert str(spins[0]["spin_id"]) == first.payload.spin_id
    assert await ledger.chips_balance(room, player) == 100_000 - 250 + first.payload.win


async def test_same_key_concurrently_has_one_effect(
    start_node: NodeStarter, ledger: Ledger
) -> None:
    tournament = await create_tournament(ledger)
    room, player = tournament.config.tournament_id, unique("p")
    async with (
        start_node() as node,
        await RoomClient.connect(ws_url(node), token(player)) as client,
    ):
        await join(client, room)
        for n in range(8):
            await client.send(Spin(room=room, stake=100, idempotency_key="dup", rid=f"r{n}"))
        results = list((await client.replies([f"r{n}" for n in range(8)])).values())
    assert all(isinstance(result, SpinResult) for result in results)
    assert len({result.payload.spin_id for result in results}) == 1
    spins = await fetch_spins(ledger, room, player)
    assert len(spins) == 1
    assert await ledger.chips_balance(room, player) == 100_000 - 100 + spins[0]["win"]


async def test_same_key_for_a_different_request_is_a_mismatch(
    start_node: NodeStarter, ledger: Ledger
) -> None:
    first_room = (await create_tournament(ledger)).config.tournament_id
    other_room = (await create_tournament(ledger)).config.tournament_id
    player = unique("p")
    async with (
        start_node() as node,
        await RoomClient.connect(ws_url(node), token(player)) as client,
    ):
        await join(client, first_room)
        await join(client, other_room, rid="join2")
        await client.send(Spin(room=first_room, stake=100, idempotency_key="k", rid="ok"))
        original = await client.recv_type(SpinResult, rid="ok")
        refusals = []
        for spin in [
            Spin(room=first_room, stake=101, idempotency_key="k", rid="stake"),
            Spin(room=other_room, stake=100, idempotency_key="k", rid="room"),
            Spin(room=first_room, stake=100, idempotency_key="k", client_seed="x", rid="seed"),
        ]:
            await client.send(spin)
            refusals.append(await client.recv_type(Error, rid=spin.rid))
    assert [r.payload.code for r in refusals] == [ErrorCode.IDEMPOTENCY_MISMATCH] * 3
    assert all(r.payload.retryable is False for r in refusals)
    assert len(await fetch_spins(ledger, first_room, player)) == 1
    assert await fetch_spins(ledger, other_room, player) == []
    assert await ledger.chips_balance(first_room, player) == 100_000 - 100 + original.payload.win
    assert await ledger.chips_balance(other_room, player) == 100_000


async def test_fifty_concurrent_spins_against_a_balance_for_twenty(
    start_node: NodeStarter, ledger: Ledger
) -> None:
    stake = 100
    tournament = await create_tournament(ledger, starting_chips=20 * stake)
    room, player = tournament.config.tournament_id, unique("p")
    async with (
        start_node() as node,
        await RoomClient.connect(ws_url(node), token(player)) as client,
    ):
        await join(client, room)
        # Nonces follow message order; each seed loses at its nonce, so wins never refill.
        spins = [
            Spin(
                room=room,
                stake=stake,
                idempotency_key=unique("k"),
                client_seed=losing_seed(tournament.server_seed, n),
                rid=f"s{n}",
            )
            for n in range(50)
        ]
        await asyncio.gather(*(client.send(spin) for spin in spins))
        replies = list((await client.replies([f"s{n}" for n in range(50)])).values())
    results = [r for r in replies if isinstance(r, SpinResult)]
    errors = [r for r in replies if isinstance(r, Error)]
    assert len(results) == 20
    assert {e.payload.code for e in errors} == {ErrorCode.INSUFFICIENT_FUNDS}
    assert len(errors) == 30
    assert sorted(r.payload.balance for r in results) == [stake * n for n in range(20)]
    assert await ledger.chips_balance(room, player) == 0
    assert len(await fetch_spins(ledger, room, player)) == 20


async def test_spin_checks_run_in_protocol_order_and_write_nothing(
    start_node: NodeStarter, ledger: Ledger
) -> None:
    running = await create_tournament(ledger, starting_chips=50)
    scheduled = await create_tournament(ledger, status="scheduled")
    excluded = unique("rg")
    await ledger.ensure_player(excluded, "Excluded", "EUR", self_excluded=True)
    player = unique("p")
    run_id, sched_id = running.config.tournament_id, scheduled.config.tournament_id

    async def refusal(client: RoomClient, spin: Spin) -> ErrorCode:
        await client.send(spin)
        error = await client.recv_type(Error, rid=spin.rid)
        return error.payload.code

    async with start_node() as node:
        async with await RoomClient.connect(ws_url(node), token(player)) as client:
            assert (
                await refusal(client, Spin(room=run_id, stake=10, idempotency_key="a", rid="1"))
                == ErrorCode.NOT_IN_ROOM
            )
            await join(client, run_id)
            await join(client, sched_id, rid="j2")
            # Not running beats a bad stake; a bad stake beats funds.
            assert (
                await refusal(client, Spin(room=sched_id, stake=1, idempotency_key="b", rid="2"))
                == ErrorCode.TOURNAMENT_NOT_RUNNING
            )
            assert (
                await refusal(client, Spin(room=run_id, stake=9, idempotency_key="c", rid="3"))
                == ErrorCode.STAKE_OUT_OF_RANGE
            )
            assert (
                await refusal(client, Spin(room=run_id, stake=10_001, idempotency_key="d", rid="4"))
                == ErrorCode.STAKE_OUT_OF_RANGE
            )
            assert (
                await refusal(client, Spin(room=run_id, stake=60, idempotency_key="e", rid="5"))
                == ErrorCode.INSUFFICIENT_FUNDS
            )
        # Self-exclusion from the player's record closes the connection as it opens (4003).
        async with await RoomClient.connect(ws_url(node), token(excluded)) as client:
            assert await client.until_closed() == []
            assert client.close_code == CloseCode.FORBIDDEN
        assert await ledger.chips_balance(run_id, excluded) is None
        # Self-exclusion from the token claim.
        claimed = unique("p")
        async with await RoomClient.connect(
            ws_url(node), token(claimed, self_excluded=True)
        ) as client:
            await join(client, run_id)
            assert (
                await refusal(client, Spin(room=run_id, stake=10_001, idempotency_key="f", rid="6"))
                == ErrorCode.STAKE_OUT_OF_RANGE
            )
            # RG is checked before funds: 60 is more than the 50 chips.
            assert (
                await refusal(client, Spin(room=run_id, stake=60, idempotency_key="g", rid="7"))
                == ErrorCode.RG_BLOCKED
            )
            assert (
                await refusal(client, Spin(room=run_id, stake=10, idempotency_key="h", rid="8"))
                == ErrorCode.RG_BLOCKED
            )
        assert await fetch_spins(ledger, run_id, claimed) == []
        assert await ledger.chips_balance(run_id, claimed) == 50
    assert await fetch_spins(ledger, run_id, player) == []
    assert await ledger.chips_balance(run_id, player) == 50
    assert await fetch_spins(ledger, sched_id, player) == []


async def test_joining_an_unknown_room_is_not_found(start_node: NodeStarter) -> None:
    async with (
        start_node() as node,
        await RoomClient.connect(ws_url(node), token(unique("p"))) as client,
    ):
        await client.send(RoomJoin(room="no-such-room", rid="j"))
        error = await client.recv_type(Error, rid="j")
    assert error.payload.code == ErrorCode.NOT_FOUND
    assert error.room == "no-such-room"
