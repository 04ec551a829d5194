"""The live nodes of a deployment and their load, as `GET /internal/server-info` lists them."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class NodeLoad:
    """One node: its name, public WebSocket URL, version and current load."""

    node_id: str
    public_url: str
    version: str
    connections: int
    rooms: int


class NodeDirectory(Protocol):
    """The nodes whose heartbeat is current, this one included."""

    async def live(self) -> list[NodeLoad]:
        """Every live node with the load it last reported, ordered by name."""
        ...


class LocalNodes:
    """A deployment of one node: itself."""

    def __init__(self, own: Callable[[], NodeLoad]) -> None:
        """The node whose load `own` reports."""
        self.own = own

    async def live(self) -> list[NodeLoad]:
        """This node alone."""
        return [self.own()]
