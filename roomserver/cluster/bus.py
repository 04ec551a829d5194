"""The room bus: how a room's broadcast frames reach the members on every node.

One node runs the in-process bus; the Redis bus (pub/sub per room) plugs in behind the same
interface when `redis.url` is set.
"""

from collections.abc import Callable
from typing import Protocol

Deliver = Callable[[bytes], None]
Unsubscribe = Callable[[], None]


class RoomBus(Protocol):
    """Publish a room's encoded frames; every subscriber of the room receives them in order."""

    def publish(self, room_id: str, frame: bytes) -> None:
        """Send one encoded frame to every subscriber of `room_id`."""

    def subscribe(self, room_id: str, deliver: Deliver) -> Unsubscribe:
        """Call `deliver` with each frame published to `room_id`, until unsubscribed."""


class LocalBus:
    """The in-process bus of a single node: delivery is a direct call."""

    def __init__(self) -> None:
        self._subscribers: dict[str, list[Deliver]] = {}

    def publish(self, room_id: str, frame: bytes) -> None:
        """Deliver to this node's subscribers, synchronously."""
        for deliver in self._subscribers.get(room_id, ()):
            deliver(frame)

    def subscribe(self, room_id: str, deliver: Deliver) -> Unsubscribe:
        """Register `deliver` for the room."""
        subscribers = self._subscribers.setdefault(room_id, [])
        subscribers.append(deliver)

        def unsubscribe() -> None:
            subscribers.remove(deliver)
            if not subscribers:
                self._subscribers.pop(room_id, None)

        return unsubscribe
