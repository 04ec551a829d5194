"""What only the in-process broker does: streams expire on its own clock."""

from collections.abc import Callable

from protocol.messages import PlayerConnected, PresencePayload, ServerMessage
from roomserver.cluster.broker import StreamPosition
from roomserver.cluster.broker_local import LocalBroker

HISTORY = 5


class FakeClock:
    """Monotonic seconds that a test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Recorder:
    """A subscriber that keeps what it was given."""

    def __init__(self) -> None:
        self.got: list[tuple[StreamPosition, bytes]] = []

    def __call__(self, position: StreamPosition, frame: bytes) -> None:
        self.got.append((position, frame))


def message(count: int) -> ServerMessage:
    return PlayerConnected(
        room="r", ts="2026-01-01T00:00:00.000Z", payload=PresencePayload(players_online=count)
    )


def local(clock: FakeClock, epochs: Callable[[], str] | None = None) -> LocalBroker:
    counter = iter(range(1000))
    return LocalBroker(
        HISTORY,
        stream_ttl_s=60.0,
        clock=clock,
        new_epoch=epochs or (lambda: f"e{next(counter)}"),
    )


async def test_a_quiet_stream_without_subscribers_is_dropped_and_restarts_in_a_new_epoch() -> None:
    clock = FakeClock()
    broker = local(clock)
    position = await broker.publish("r", message(1))
    clock.now += 61.0
    assert await broker.history("r", position) is None
    assert len(broker) == 0
    restarted = await broker.position("r")
    assert restarted.epoch != position.epoch
    assert restarted.offset >= position.offset


async def test_a_subscribed_stream_is_kept() -> None:
    clock = FakeClock()
    broker = local(clock)
    recorder = Recorder()
    await broker.subscribe("r", recorder)
    position = await broker.publish("r", message(1))
    clock.now += 600.0
    assert await broker.history("r", position) == []
    await broker.unsubscribe("r", recorder)
    clock.now += 30.0
    assert await broker.history("r", position) == []  # still within the ttl after the last use
    clock.now += 61.0
    assert await broker.history("r", position) is None
