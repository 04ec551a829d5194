"""The upgrade: the player credential, the subprotocol, the connection that carries the claims."""

import urllib.parse
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.typing import Subprotocol

from protocol.codes import SUBPROTOCOL
from roomserver.gateway.tokens import PlayerClaims, TokenRejected


def credential_of(headers: Headers, query: str) -> str:
    """The one token presented: `Authorization: Bearer` or `?token=`, never both nor two.

    Another Authorization scheme (Basic credentials a browser replays for a proxy in front)
    is not a player credential and is ignored.

    Raises:
        TokenRejected: no token, or more than one (even the same token twice: a request
            naming two players must not connect as either).
    """
    bearers = [
        value.strip()
        for scheme, _, value in (
            header.partition(" ") for header in headers.get_all("Authorization")
        )
        if scheme.lower() == "bearer"
    ]
    in_query = urllib.parse.parse_qs(query, keep_blank_values=True).get("token", [])
    if len(bearers) + len(in_query) > 1:
        raise TokenRejected(
            "ambiguous credentials: present exactly one token, "
            "in the Authorization header or in ?token="
        )
    credential = (bearers or in_query or [""])[0].strip()
    if not credential:
        raise TokenRejected("missing token")
    return credential


class PlayerConnection(ServerConnection):
    """A connection that carries the claims verified at its upgrade, for its handler.

    Kept on the connection rather than in a table of the hub, so an upgrade refused after the
    token check (Origin, handshake headers, shutdown) frees them with the connection.
    """

    claims: PlayerClaims | None = None
    # When the last pong arrived (the loop's clock): the hub's keepalive sweep reads it.
    pong_received_s: float = 0.0

    def acknowledge_pings(self, data: bytes) -> None:
        """Note the pong's arrival, then let websockets match it to its own pings, if any."""
        self.pong_received_s = self.loop.time()
        super().acknowledge_pings(data)


def forget_handshake(ws: ServerConnection) -> None:
    """Drop the upgrade's headers and its path (the token may be in it): never read again.

    The request is emptied in place, not unset: websockets tells that the handshake is over
    by `ws.request` being set, and its HTTP parser keeps a reference of its own.
    """
    if ws.request is not None:
        ws.request.headers.clear()
        ws.request.path = ""
    ws.response = None


def select_subprotocol(
    connection: ServerConnection, offered: "list[Subprotocol] | Any"
) -> Subprotocol | None:
    """Select `roomserver.v1` when offered; a client offering nothing still connects."""
    return Subprotocol(SUBPROTOCOL) if SUBPROTOCOL in offered else None
