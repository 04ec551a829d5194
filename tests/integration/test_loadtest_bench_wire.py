"""`python -m loadtest fanout --wire roomserver-bench`: the peers' job on our wire.

Members publish the peers' payload with `bench.publish` to a node with `server.bench_publish`;
every member's `bench.update` is a timed push. Nothing is committed. The generator is a real
subprocess, as in `test_loadtest.py`, whose helpers this module shares.
"""

from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest

from roomserver.config import Config
from roomserver.node import Node
from roomserver.store.ledger import Ledger
from tests.integration.conftest import NodeStarter
from tests.integration.test_loadtest import (
    generate,
    generator_spins,
    loadtest_config,
    new_spins,
    wait_until_generator_gone,
)

CONNECTIONS, ROOMS, RATE, DURATION_S = 20, 2, 20, 1


def bench_config(base_config: Config, *, bench_publish: bool) -> Config:
    """A sandbox node for the generator, with `server.bench_publish` as given."""
    config = loadtest_config(base_config)
    server = msgspec.structs.replace(config.server, bench_publish=bench_publish)
    return msgspec.structs.replace(config, server=server)


@pytest.fixture
async def bench_node(start_node: NodeStarter, base_config: Config) -> AsyncIterator[Node]:
    """A running node that takes `bench.publish`."""
    async with start_node(bench_config(base_config, bench_publish=True)) as running:
        yield running


FANOUT = (
    f"fanout --wire roomserver-bench --connections {CONNECTIONS} --rooms {ROOMS}"
    f" --rate {RATE} --duration {DURATION_S} --processes 1"
)


async def test_every_publish_reaches_every_member_of_its_room_and_commits_nothing(
    bench_node: Node, ledger: Ledger, tmp_path: Path
) -> None:
    before = await generator_spins(ledger)
    report = await generate(bench_node, tmp_path, FANOUT)
    await wait_until_generator_gone(bench_node)

    assert report.wire == "roomserver-bench"
    assert (report.scenario, report.connections, report.rooms) == ("fanout", CONNECTIONS, ROOMS)
    assert report.fatal == []
    assert report.connect_failures == 0
    assert report.errors == {}
    assert (report.gaps, report.reordered, report.duplicates) == (0, 0, 0)
    assert report.unexpected_closes == 0
    assert report.events == RATE * DURATION_S
    # Each publish reaches every member of its room (the rooms are the same size), once. The
    # rooms' other frames (the joins' presence and leaderboard pushes) may follow the start
    # line, so they count too: every frame seen reaches each member of its room at most once.
    members = CONNECTIONS // ROOMS
    assert report.frames_delivered > 0
    assert report.frames_published >= report.events
    assert report.events * members <= report.frames_delivered
    assert report.frames_delivered <= report.frames_published * members
    assert report.samples == report.frames_delivered
    assert report.p50_ms <= report.p99_ms <= report.max_ms
    # A publish commits nothing.
    assert await new_spins(ledger, before) == {}


async def test_a_node_without_bench_publish_refuses_every_publish_and_the_report_says_so(
    start_node: NodeStarter, base_config: Config, tmp_path: Path
) -> None:
    async with start_node(bench_config(base_config, bench_publish=False)) as node:
        report = await generate(node, tmp_path, FANOUT)
        await wait_until_generator_gone(node)

    assert report.connect_failures == 0
    assert report.errors == {"UNKNOWN_TYPE": report.events}
    assert report.events == RATE * DURATION_S
    # Nothing was published: at most the last arrivals' presence frames straddle the start line.
    assert report.frames_delivered <= 2 * (CONNECTIONS // ROOMS)
