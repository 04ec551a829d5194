"""One player's WebSocket connection: guarded synchronous writes, room memberships, closing.

Frames are written straight to the transport (no per-connection queue or task). The transport's
write buffer is the only outbound queue, and it is bounded: a client that lets it grow past
`max_buffered_bytes`, or keeps it non-empty for `max_stall_s`, is closed with 1013.
"""

import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, Final

import msgspec
from websockets.protocol import State

from protocol.codec import format_ts
from protocol.codes import CloseReason
from roomserver.gateway.credentials import PlayerConnection
from roomserver.gateway.rate_limit import MessageRateLimit
from roomserver.gateway.tokens import PlayerClaims
from roomserver.gateway.wire_errors import CLOSE_CODE_OF_REASON
from roomserver.rooms.room import Room

log = logging.getLogger(__name__)
_encoder: Final = msgspec.json.Encoder()

Spawn = Callable[[Coroutine[Any, Any, None]], None]


@dataclass(slots=True)
class Membership:
    """A session's place in one room: the room, and the next RNG nonce of the player there."""

    room: Room
    next_nonce: int

    def take_nonce(self) -> int:
        """Reserve the next nonce (a failed spin leaves a gap: nonces are unique, not dense)."""
        nonce = self.next_nonce
        self.next_nonce += 1
        return nonce

    def skip_nonces_below(self, nonce: int) -> None:
        """Never hand out a nonce below `nonce` (another connection of the player used them)."""
        self.next_nonce = max(self.next_nonce, nonce)


def rg_session_json(claims: PlayerClaims, connected_at_s: float) -> str:
    """The token's RG claims and the playing session, as the spin transaction reads them.

    A session is one token (its `jti`): reconnecting with the same token continues it, and the
    database keeps its first start. Without a `jti`, the connection is the session.
    """
    session_key = claims.token_id or f"connection:{connected_at_s!r}"
    return _encoder.encode(
        {
            "self_excluded": claims.self_excluded,
            "loss_limit": claims.loss_limit,
            "session_limit_min": claims.session_limit_min,
            "session_key": session_key,
            "session_started_at": format_ts(connected_at_s),
        }
    ).decode()


class Session:
    """A connected player."""

    __slots__ = (
        "_max_buffered_bytes",
        "_on_close",
        "_plain",
        "_spawn",
        "_transport",
        "claims",
        "close_code",
        "connected_at_s",
        "expires_at_s",
        "frames_sent",
        "memberships",
        "net_result",
        "next_ping_s",
        "next_reality_check_s",
        "peak_buffered_bytes",
        "ping_sent_s",
        "rate_limit",
        "rg_json",
        "spins_in_flight",
        "stalled_since_s",
        "ws",
    )

    def __init__(
        self,
        ws: PlayerConnection,
        claims: PlayerClaims,
        rate_limit: MessageRateLimit,
        *,
        max_buffered_bytes: int,
        spawn: Spawn,
        on_close: Callable[[CloseReason], None],
    ) -> None:
        """A session over `ws` for the verified `claims`.

        Args:
            ws: The open connection.
            claims: The player's verified token claims.
            rate_limit: The connection's message rate limit.
            max_buffered_bytes: Close (1013) once the write buffer holds more than this.
            spawn: Runs a coroutine in the node's task group (the closing handshake).
            on_close: Told the reason when the server closes the connection.
        """
        self.ws = ws
        self.claims = claims
        self.rate_limit = rate_limit
        self.memberships: dict[str, Membership] = {}
        self.connected_at_s = time.time()
        self.net_result = 0  # wins minus stakes of this connection's spins (reality checks)
        self.rg_json = rg_session_json(claims, self.connected_at_s)
        self.spins_in_flight = 0
        self.frames_sent = 0
        self.peak_buffered_bytes = 0
        self.stalled_since_s: float | None = None
        self.close_code: int | None = None
        # Deadlines kept by the hub's upkeep sweep (`roomserver.gateway.upkeep`).
        self.expires_at_s = claims.expires_at
        self.next_ping_s: float | None = None
        self.ping_sent_s: float | None = None
        self.next_reality_check_s: float | None = None
        self._max_buffered_bytes = max_buffered_bytes
        self._spawn = spawn
        self._on_close = on_close
        self._transport = ws.transport
        # Without a negotiated extension (compression), a server frame is the same bytes on
        # every connection, so a pre-framed broadcast can be written as is.
        self._plain = not ws.protocol.extensions

    @property
    def player_id(self) -> str:
        """The player's id, from the token."""
        return self.claims.player_id

    @property
    def display_name(self) -> str:
        """The player's name, from the token."""
        return self.claims.name

    def left_room(self, room_id: str) -> None:
        """Forget the membership of `room_id` (its room removed this connection)."""
        self.memberships.pop(room_id, None)

    @property
    def closing(self) -> bool:
        """Whether the server decided to close this connection."""
        return self.close_code is not None

    def send(self, frame: bytes, wire: bytes | None = None) -> bool:
        """Write one text frame now, unless the client is not keeping up.

        `wire`, when given, is `protocol.framing.text_frame(frame)`, built once for a whole
        broadcast; a plain connection writes it as is, one with an extension (compression)
        frames its own.

        Returns:
            Whether the frame was written.
        """
        if self.close_code is not None or self.ws.protocol.state is not State.OPEN:
            return False
        transport = self._transport
        if transport.get_write_buffer_size() > self._max_buffered_bytes:
            self.close(CloseReason.SLOW_CONSUMER)
            return False
        if wire is not None and self._plain:
            transport.write(wire)
        else:
            self.ws.protocol.send_text(frame)
            self.ws.send_data()
        self.frames_sent += 1
        buffered = transport.get_write_buffer_size()
        if buffered > self.peak_buffered_bytes:
            self.peak_buffered_bytes = buffered
        return True

    def send_batch(self, frames: Sequence[bytes], wire: bytes) -> bool:
        """Write several text frames; `wire` is all of them pre-framed, in order.

        A plain connection writes `wire` in one write; one with an extension (compression)
        frames each frame itself.

        Returns:
            Whether the frames were written.
        """
        if self._plain:
            # `send` writes pre-framed bytes as they are, however many frames they hold.
            if not self.send(frames[0], wire):
                return False
            self.frames_sent += len(frames) - 1
            return True
        return all(self.send(frame) for frame in frames)

    @property
    def pong_received_s(self) -> float:
        """When (the loop's clock) the last pong arrived; 0.0 before any."""
        return self.ws.pong_received_s

    def ping(self, now_s: float) -> bool:
        """Send a keepalive ping now (`now_s` on the loop's clock); False when not open."""
        if self.close_code is not None or self.ws.protocol.state is not State.OPEN:
            return False
        self.ws.protocol.send_ping(b"")
        self.ws.send_data()
        self.ping_sent_s = now_s
        return True

    def check_stall(self, now_s: float, max_stall_s: float) -> None:
        """Close the connection if its write buffer has not emptied for `max_stall_s`."""
        if self.close_code is not None:
            return
        if self._transport.get_write_buffer_size() == 0:
            self.stalled_since_s = None
        elif self.stalled_since_s is None:
            self.stalled_since_s = now_s
        elif now_s - self.stalled_since_s > max_stall_s:
            self.close(CloseReason.SLOW_CONSUMER)

    def close(self, reason: CloseReason) -> None:
        """Start the closing handshake (bounded by the server's close timeout); idempotent."""
        if self.close_code is not None:
            return
        code = CLOSE_CODE_OF_REASON[reason]
        self.close_code = code
        self._on_close(reason)
        log.info("closing %s: %d %s", self.player_id, code, reason.value)
        self._spawn(self.ws.close(code, reason.value))
