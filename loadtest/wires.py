"""The wires the load generator speaks (`--wire NAME`), each the `Link` subclass for it.

The registry sits above the links: it imports every wire's module, and none of them imports it.
"""

from loadtest.links import Link
from loadtest.peer_links import ColyseusLink, SocketIoLink, WsJsonLink
from loadtest.roomserver_link import RoomserverBenchLink, RoomserverLink

_WIRES: dict[str, type[Link]] = {
    link.wire: link
    for link in (RoomserverLink, RoomserverBenchLink, WsJsonLink, SocketIoLink, ColyseusLink)
}


def link_class(wire: str) -> type[Link]:
    """The link for a wire name."""
    try:
        return _WIRES[wire]
    except KeyError:
        raise ValueError(f"unknown wire {wire!r} (known: {', '.join(sorted(_WIRES))})") from None


def wire_names() -> list[str]:
    """Every selectable wire."""
    return sorted(_WIRES)


def speaks_roomserver(wire: str) -> bool:
    """Whether the wire is our own protocol: rooms from the side API, tokens, resume."""
    return issubclass(link_class(wire), RoomserverLink)
