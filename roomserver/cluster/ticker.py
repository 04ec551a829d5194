"""The ticker lease: one node per room publishes the room's leaderboard and presence counts.

Every node with members in a room keeps standings and could push `leaderboard.updated`; if all
did, members would see as many leaderboards as there are nodes. So one node per room, the holder
of the room's ticker lease, publishes them; the others forward the standings they commit (see
`Broker.forward`). The lease expires unless renewed, so it moves to another node within a few
seconds of its holder's death.

A holder can be paused past its lease (a stop-the-world pause, a frozen VM) and wake up still
believing it holds it. Each grant therefore carries a fencing token, and the broker refuses a
publish whose fence is not the room's current one (`StaleFence`): a stale ticker's push never
reaches anyone.
"""

from typing import Protocol


class StaleFence(Exception):
    """A publish carried a ticker fence that no longer holds the room's lease: refused."""


class Tickers(Protocol):
    """This node's ticker leases: which rooms it wants, which it holds."""

    def want(self, room_id: str) -> None:
        """Compete for the room's lease (the room has members on this node)."""
        ...

    def drop(self, room_id: str) -> None:
        """Stop competing for the room's lease and give it up if held."""
        ...

    def fence(self, room_id: str) -> str | None:
        """The fence of this node's lease on the room as last granted, or None when not held.

        A read of the node's own view, without a round trip: the broker checks the fence when
        it is used, so a view outdated by a pause is harmless.
        """
        ...

    def lost(self, room_id: str, fence: str) -> None:
        """The broker refused `fence`: forget it until a new grant."""
        ...

    async def owner(self, room_id: str) -> str | None:
        """The node holding the room's lease, or None when no node does."""
        ...


class LocalTickers:
    """One node alone: it holds every lease it wants."""

    def __init__(self, node_id: str) -> None:
        """Leases of the only node, `node_id`."""
        self._node_id = node_id
        self._fence = f"{node_id} 1"
        self._wanted: set[str] = set()

    def want(self, room_id: str) -> None:
        """See `Tickers.want`."""
        self._wanted.add(room_id)

    def drop(self, room_id: str) -> None:
        """See `Tickers.drop`."""
        self._wanted.discard(room_id)

    def fence(self, room_id: str) -> str | None:
        """See `Tickers.fence`."""
        return self._fence if room_id in self._wanted else None

    def lost(self, room_id: str, fence: str) -> None:
        """See `Tickers.lost` (a local broker refuses no fence)."""

    async def owner(self, room_id: str) -> str | None:
        """See `Tickers.owner`."""
        return self._node_id if room_id in self._wanted else None
