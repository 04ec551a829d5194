"""The public WebSocket listener: upgrade checks, per-connection dispatch, slow consumers, drain.

Checks at the upgrade, cheapest first: path (404), Origin (403), capacity (503), exactly one
valid token (401); a check that fails unexpectedly refuses (400), never a 500. Each connection
runs one read loop; spins run as tasks so a player's spins overlap in the ledger.
"""

import asyncio
import logging
import socket
import time
import urllib.parse
from http import HTTPStatus
from typing import assert_never

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.typing import Origin

from protocol.codec import DecodeFailure, binary_frame_text, decode_client, encode, format_ts
from protocol.codes import CloseReason, ErrorCode
from protocol.messages import (
    AnyClientMessage,
    BalanceGet,
    BenchPublish,
    DrainingPayload,
    Ping,
    Pong,
    PongPayload,
    RoomJoin,
    RoomLeave,
    ServerDraining,
    Spin,
    SpinResult,
)
from roomserver.config import Config
from roomserver.gateway.credentials import (
    PlayerConnection,
    credential_of,
    forget_handshake,
    select_subprotocol,
)
from roomserver.gateway.rate_limit import MessageRateLimit, TokenBucket
from roomserver.gateway.session import Membership, Session, Spawn
from roomserver.gateway.tokens import TokenRejected, TokenVerifier
from roomserver.gateway.upkeep import SessionUpkeep, UpkeepPolicy
from roomserver.gateway.wire_errors import (
    CLOSE_CODE_OF_REASON,
    RequestError,
    error_frame,
    wire_code,
)
from roomserver.ops.metrics import NodeMetrics, NodeStats
from roomserver.rooms.registry import RoomDirectory
from roomserver.rooms.room import RoomClosed
from roomserver.services.presence_events import PresenceEvents
from roomserver.services.registration import Registrations
from roomserver.services.spins import SpinService
from roomserver.store.ledger import Ledger

log = logging.getLogger(__name__)

# What a node without `server.bench_publish` answers, as it does any type it does not know.
_UNKNOWN_BENCH = "unknown message type 'bench.publish'"


class Hub:
    """Accepts players and runs their connections."""

    def __init__(
        self,
        config: Config,
        verifier: TokenVerifier,
        ledger: Ledger,
        rooms: RoomDirectory,
        spins: SpinService,
        registrations: Registrations,
        presence_events: PresenceEvents,
        spawn: Spawn,
        metrics: NodeMetrics | None = None,
    ) -> None:
        """A hub for the node's services; `start` binds its listener.

        Args:
            config: The node's configuration.
            verifier: Verifies player tokens at the upgrade.
            ledger: Reads RG settings, balances and nonces.
            rooms: The rooms open on this node.
            spins: Plays spins.
            registrations: Registers a player at their first join.
            presence_events: Records members joining and leaving rooms.
            spawn: Runs a coroutine in the node's task group.
            metrics: The node's metrics, when exported.
        """
        self._config = config
        self._metrics = metrics
        self._verifier = verifier
        self._ledger = ledger
        self._rooms = rooms
        self._spins = spins
        self._registrations = registrations
        self._presence_events = presence_events
        self._spawn = spawn
        self._server: Server | None = None
        self._port: int | None = None
        # `None` stands for a request without an Origin header (a server-side client).
        self._allowed_origins: frozenset[str | None] = frozenset(
            [
                *config.server.allowed_origins,
                *([None] if config.server.allow_missing_origin else []),
            ]
        )
        self._sessions: set[Session] = set()
        self._upkeep = SessionUpkeep(
            lambda: self._sessions,
            UpkeepPolicy(
                ping_interval_s=config.server.ping_interval_s,
                ping_timeout_s=config.server.ping_timeout_s,
                expiry_leeway_s=config.auth.leeway_s,
                reality_check_interval_s=config.rg.reality_check_interval_s,
                max_stall_s=config.slow_consumer.max_stall_s,
                interval_s=config.slow_consumer.check_interval_s,
            ),
        )
        self._spins_in_flight = 0
        self._spins_settled = asyncio.Event()
        self._draining = False
        self.stats = NodeStats()

    @property
    def sessions(self) -> frozenset[Session]:
        """The open connections."""
        return frozenset(self._sessions)

    @property
    def node_id(self) -> str:
        """This node's name: `server.node_id`, else host name and bound port."""
        return self._config.server.node_id or f"{socket.gethostname()}:{self.port}"

    @property
    def port(self) -> int:
        """The port actually bound (useful with port 0); still known once the listener closed."""
        assert self._port is not None, "the hub has not started"
        return self._port

    async def start(self) -> None:
        """Start listening."""
        server = self._config.server
        origins: list[Origin | None] = [Origin(origin) for origin in server.allowed_origins]
        if server.allow_missing_origin:
            origins.append(None)
        self._server = await serve(
            self._serve_connection,
            server.host,
            server.port,
            origins=origins,
            select_subprotocol=select_subprotocol,
            compression="deflate" if server.compression else None,
            process_request=self._check_upgrade,
            create_connection=PlayerConnection,
            open_timeout=server.open_timeout_s,
            # Keepalive pings come from the upkeep sweep, not a task per connection.
            ping_interval=None,
            ping_timeout=None,
            close_timeout=server.close_timeout_s,
            max_size=server.max_message_bytes,
            server_header=None,
        )
        self._port = self._server.sockets[0].getsockname()[1]
        log.info("hub listening on ws://%s:%d%s", server.host, self.port, server.path)

    # ------------------------------------------------------------ upgrade

    def _check_upgrade(self, connection: ServerConnection, request: Request) -> Response | None:
        """Accept (None) or refuse the upgrade; never raises, so never a 500."""
        try:
            return self._admit(connection, request)
        except Exception:
            # The request line and headers are not logged: they may carry the token.
            log.exception("upgrade check failed; refused")
            return connection.respond(HTTPStatus.BAD_REQUEST, "bad upgrade request\n")

    def _admit(self, connection: ServerConnection, request: Request) -> Response | None:
        """The upgrade checks, cheapest first.

        The verified claims travel on the connection itself, so a refusal later in the
        handshake (websockets' own checks) leaves nothing behind.
        """
        assert isinstance(connection, PlayerConnection)
        url = urllib.parse.urlsplit(request.path)
        if url.path != self._config.server.path:
            return connection.respond(HTTPStatus.NOT_FOUND, "not found\n")
        origins = request.headers.get_all("Origin")
        if len(origins) > 1:
            return connection.respond(HTTPStatus.BAD_REQUEST, "more than one Origin header\n")
        if (origins[0] if origins else None) not in self._allowed_origins:
            return connection.respond(HTTPStatus.FORBIDDEN, "origin not allowed\n")
        if self._draining or len(self._sessions) >= self._config.server.max_connections:
            return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "try another node\n")
        try:
            token = credential_of(request.headers, url.query)
            claims = self._verifier.verify(token, now=time.time())
        except TokenRejected as exc:
            return connection.respond(HTTPStatus.UNAUTHORIZED, f"{exc}\n")
        connection.claims = claims
        send_buffer = self._config.server.socket_send_buffer_bytes
        if send_buffer:
            sock = connection.transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer)
        return None

    # ------------------------------------------------------------ connection

    async def _serve_connection(self, ws: ServerConnection) -> None:
        if not isinstance(ws, PlayerConnection) or ws.claims is None:
            # Only a connection whose token was verified at the upgrade gets here.
            reason = CloseReason.NOT_AUTHENTICATED
            await ws.close(CLOSE_CODE_OF_REASON[reason], reason.value)
            return
        claims = ws.claims
        limits = self._config.rate_limit
        session = Session(
            ws,
            claims,
            MessageRateLimit(
                TokenBucket(limits.messages_per_s, limits.burst), limits.strikes_before_close
            ),
            max_buffered_bytes=self._config.slow_consumer.max_buffered_bytes,
            spawn=self._spawn,
            on_close=self._count_close,
        )
        self._sessions.add(session)
        self.stats.connections_opened += 1
        self._upkeep.opened(session)
        forget_handshake(ws)
        try:
            if await self._refuse_self_excluded(session):
                # Read nothing more; the handler returns once the 4003 close is done.
                await ws.wait_closed()
                return
            while True:
                # Text frames arrive as str, their UTF-8 checked by websockets (invalid UTF-8
                # closes 1007); binary frames as bytes.
                data = await ws.recv()
                await self._on_frame(session, data)
        except ConnectionClosed:
            pass
        finally:
            self._sessions.discard(session)
            self.stats.frames_sent_by_closed += session.frames_sent
            self.stats.peak_buffered_bytes = max(
                self.stats.peak_buffered_bytes, session.peak_buffered_bytes
            )
            for membership in list(session.memberships.values()):
                await self._leave(session, membership, None, reply=False)

    async def _refuse_self_excluded(self, session: Session) -> bool:
        """Close (4003) a player whose self-exclusion flag is set; True when it did.

        It runs right after the connection opened.

        The session is already listed in `_sessions` when the flag is read, so a flag set
        concurrently is seen either here or by `close_self_excluded`, never by neither. (The
        token's own `rg.self_excluded` claim is refused at every buy-in and spin.)
        """
        try:
            settings = await self._ledger.rg_settings(session.player_id)
        except Exception:
            log.exception("could not read the RG settings of %s", session.player_id)
            session.close(CloseReason.INTERNAL_ERROR)
            return True
        if settings is not None:
            # The row exists (rows are never deleted): the join skips creating the player.
            self._registrations.player_exists(session.player_id)
        if settings is not None and settings.self_excluded:
            session.close(CloseReason.SELF_EXCLUDED)
            return True
        return False

    def close_self_excluded(self, player_id: str) -> int:
        """Close every open connection of a player who was just self-excluded, with 4003.

        Returns:
            How many connections were closed.
        """
        closed = 0
        for session in list(self._sessions):
            if session.player_id == player_id and not session.closing:
                session.close(CloseReason.SELF_EXCLUDED)
                closed += 1
        return closed

    async def _leave(
        self, session: Session, membership: Membership, rid: str | None, *, reply: bool
    ) -> None:
        room = membership.room
        was_member = room.is_member(session.player_id)
        await room.leave(session, rid, reply=reply)
        if was_member and not room.is_member(session.player_id):
            await self._presence_events.disconnected(
                room.room_id,
                session.player_id,
                node_id=self.node_id,
                connected_at_s=session.connected_at_s,
            )

    def _error_frame(
        self, failure: Exception, *, rid: str | None, room: str | None, now_s: float
    ) -> bytes:
        """The failure's `error` frame, counted by code for the metrics."""
        self.stats.errors_by_code[wire_code(failure)] += 1
        return error_frame(failure, rid=rid, room=room, now_s=now_s)

    def _count_close(self, reason: CloseReason) -> None:
        if reason is CloseReason.SLOW_CONSUMER:
            self.stats.slow_consumer_closes += 1
        elif reason is CloseReason.MESSAGE_RATE:
            self.stats.rate_limit_closes += 1

    async def _on_frame(self, session: Session, data: str | bytes) -> None:
        now = time.time()
        verdict = session.rate_limit.check(time.monotonic())
        if verdict is None:
            session.close(CloseReason.MESSAGE_RATE)
            return
        try:
            if isinstance(data, bytes):
                # A binary frame holding UTF-8 JSON is read like a text frame.
                data = binary_frame_text(data)
            message = decode_client(data)
        except DecodeFailure as failure:
            session.send(self._error_frame(failure, rid=failure.rid, room=None, now_s=now))
            return
        room = getattr(message, "room", None)
        try:
            if verdict is False:
                raise RequestError(ErrorCode.RATE_LIMITED)
            if self._draining and not isinstance(message, Ping):
                raise RequestError(ErrorCode.DRAINING)
            await self._dispatch(session, message, now)
        except Exception as exc:
            session.send(self._error_frame(exc, rid=message.rid, room=room, now_s=now))

    async def _dispatch(self, session: Session, message: AnyClientMessage, now: float) -> None:
        match message:
            case Spin():
                self._start_spin(session, message)
            case Ping():
                payload = None if message.t is None else PongPayload(t=message.t)
                session.send(encode(Pong(rid=message.rid, ts=format_ts(now), payload=payload)))
            case RoomJoin():
                await self._join(session, message)
            case RoomLeave():
                membership = _membership(session, message.room)
                await self._leave(session, membership, message.rid, reply=True)
            case BalanceGet():
                room = _membership(session, message.room).room
                chips = await self._registrations.chips(message.room, session.player_id)
                session.send(room.balance_reply(chips, message.rid))
            case BenchPublish():
                if not self._config.server.bench_publish:
                    raise RequestError(ErrorCode.UNKNOWN_TYPE, _UNKNOWN_BENCH, "$.type")
                await _membership(session, message.room).room.bench_publish(message.payload)
            case _:
                assert_never(message)

    async def _join(self, session: Session, message: RoomJoin) -> None:
        existing = session.memberships.get(message.room)
        if existing is not None and existing.room.closed:
            existing = None
        room = existing.room if existing is not None else await self._rooms.open(message.room)
        if room is None:
            raise RequestError(ErrorCode.NOT_FOUND)
        claims = session.claims
        registration = await self._registrations.register(
            room.room_id,
            claims.player_id,
            claims.name,
            claims.currency,
            rg_self_excluded=claims.self_excluded,
        )
        if existing is None:
            existing = Membership(
                room, await self._ledger.next_nonce(room.room_id, claims.player_id)
            )
            session.memberships[room.room_id] = existing
        was_member = room.is_member(claims.player_id)
        try:
            try:
                await room.join(
                    session, message.since_seq, registration.chips, message.rid, message.since_epoch
                )
            except RoomClosed:
                # The room closed (empty and quiet) while the join was on its way: reopen it.
                reopened = await self._rooms.open(message.room)
                if reopened is None:
                    raise RequestError(ErrorCode.NOT_FOUND) from None
                existing.room = room = reopened
                await room.join(
                    session, message.since_seq, registration.chips, message.rid, message.since_epoch
                )
        except BaseException:
            session.memberships.pop(room.room_id, None)
            raise
        if not was_member:
            await self._presence_events.connected(
                room.room_id,
                claims.player_id,
                node_id=self.node_id,
                connected_at_s=session.connected_at_s,
            )
        # A join that bought the player in: the buy-in left their cash, chips arrived.
        await self._registrations.announce(room.room_id, claims.player_id, registration)

    # ------------------------------------------------------------ spins

    def _start_spin(self, session: Session, message: Spin) -> None:
        membership = _membership(session, message.room)
        if session.spins_in_flight >= self._config.rate_limit.max_spins_in_flight:
            raise RequestError(ErrorCode.RATE_LIMITED, "too many spins in flight")
        # The nonce is taken in message order, so a player's outcomes follow their requests.
        nonce = membership.take_nonce()
        session.spins_in_flight += 1
        self._spins_in_flight += 1
        self._spins_settled.clear()
        self._spawn(self._run_spin(session, membership, message, nonce))

    async def _run_spin(
        self, session: Session, membership: Membership, message: Spin, nonce: int
    ) -> None:
        started = time.perf_counter()
        try:
            result, committed = await self._spins.spin(
                session.player_id, session.claims.name, session.rg_json, membership, message, nonce
            )
            if committed:  # a replay moved no money again
                session.net_result += result.win - result.stake
                self.stats.spins_committed += 1
            if self._metrics is not None:
                self._metrics.spin_latency.observe(time.perf_counter() - started)
            frame = encode(
                SpinResult(
                    rid=message.rid, room=message.room, ts=format_ts(time.time()), payload=result
                )
            )
        except Exception as exc:
            frame = self._error_frame(exc, rid=message.rid, room=message.room, now_s=time.time())
        finally:
            session.spins_in_flight -= 1
            self._spins_in_flight -= 1
            if self._spins_in_flight == 0:
                self._spins_settled.set()
        session.send(frame)

    # ------------------------------------------------------------ slow consumers and shutdown

    async def watch_sessions(self) -> None:
        """Keep every connection's deadlines: pings, token expiry, reality checks, stalls.

        Runs until cancelled.
        """
        await self._upkeep.run()

    async def drain(self) -> None:
        """Stop accepting, tell everyone, let in-flight spins commit and reply, then close 1012."""
        if self._server is None:
            return
        self._draining = True
        self._server.server.close()
        server = self._config.server
        notice = encode(
            ServerDraining(
                ts=format_ts(time.time()),
                payload=DrainingPayload(reconnect_after_ms=server.drain_reconnect_after_ms),
            )
        )
        for session in list(self._sessions):
            session.send(notice)
        if self._spins_in_flight:
            try:
                async with asyncio.timeout(server.shutdown_grace_s):
                    await self._spins_settled.wait()
            except TimeoutError:
                log.warning("%d spins still in flight at shutdown", self._spins_in_flight)
        for session in list(self._sessions):
            session.close(CloseReason.RESTARTING)
        self._server.close(
            close_connections=True, code=CLOSE_CODE_OF_REASON[CloseReason.RESTARTING]
        )
        await self._server.wait_closed()


def _membership(session: Session, room_id: str) -> Membership:
    membership = session.memberships.get(room_id)
    if membership is None:
        raise RequestError(ErrorCode.NOT_IN_ROOM)
    return membership
