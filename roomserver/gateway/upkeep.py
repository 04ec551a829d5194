"""Per-connection timekeeping in one sweep: keepalive pings, token expiry, reality checks, stalls.

One loop walks every open session a few times a second instead of each connection holding its
own timers and keepalive task (a task, its coroutine and a sleeping future, a timer handle for
the token's expiry and one for reality checks: about 3 KiB a connection, most of an idle
connection's memory besides the socket). A deadline is met within one sweep interval.
"""

import asyncio
import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass

from protocol.codec import encode, format_ts
from protocol.codes import CloseReason
from protocol.messages import RealityCheck, RealityCheckPayload
from roomserver.gateway.session import Session

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class UpkeepPolicy:
    """The deadlines the sweep keeps."""

    ping_interval_s: float  # 0: no keepalive pings
    ping_timeout_s: float  # 0: a ping never times out
    expiry_leeway_s: float  # a token closes this long after its `exp` (clock skew)
    reality_check_interval_s: float  # 0: no reality checks
    max_stall_s: float  # a write buffer non-empty this long closes the connection (1013)
    interval_s: float  # the sweep's own period

    @property
    def sweep_interval_s(self) -> float:
        """Often enough for the shortest deadline it keeps."""
        periods = [self.interval_s]
        if self.reality_check_interval_s > 0:
            periods.append(self.reality_check_interval_s)
        return min(periods)


class SessionUpkeep:
    """Keeps every open session's deadlines; `run` until cancelled."""

    def __init__(self, sessions: Callable[[], Collection[Session]], policy: UpkeepPolicy) -> None:
        """Keep the deadlines of `sessions()` (read at every sweep) by `policy`."""
        self._sessions = sessions
        self._policy = policy

    def opened(self, session: Session) -> None:
        """Set a new session's first deadlines."""
        policy = self._policy
        now = asyncio.get_running_loop().time()
        session.expires_at_s = session.claims.expires_at + policy.expiry_leeway_s
        if policy.ping_interval_s > 0:
            session.next_ping_s = now + policy.ping_interval_s
        if policy.reality_check_interval_s > 0:
            session.next_reality_check_s = now + policy.reality_check_interval_s

    async def run(self) -> None:
        """Sweep every `sweep_interval_s` (runs until cancelled).

        On a fixed beat, not an interval after each sweep, so the sweeps' own time does not
        pile up into late deadlines; after a stall the beat restarts from the late sweep.
        """
        loop = asyncio.get_running_loop()
        interval = self._policy.sweep_interval_s
        beat = loop.time()
        while True:
            beat = max(beat + interval, loop.time())
            await asyncio.sleep(beat - loop.time())
            self.sweep(loop.time(), time.time())

    def sweep(self, now: float, wall_now: float) -> None:
        """One pass over every open session: `now` is the loop's clock, `wall_now` Unix time."""
        policy = self._policy
        for session in list(self._sessions()):
            if session.closing:
                continue
            try:
                if wall_now >= session.expires_at_s:
                    session.close(CloseReason.TOKEN_EXPIRED)
                    continue
                session.check_stall(now, policy.max_stall_s)
                if session.next_ping_s is not None:
                    self._keep_alive(session, now)
                if session.next_reality_check_s is not None and now >= session.next_reality_check_s:
                    session.next_reality_check_s += policy.reality_check_interval_s
                    _send_reality_check(session, wall_now)
            except Exception:
                # One connection's failure must not stop the upkeep of every other.
                log.exception("upkeep of %s failed", session.player_id)

    def _keep_alive(self, session: Session, now: float) -> None:
        policy = self._policy
        sent = session.ping_sent_s
        if sent is not None:
            if session.pong_received_s >= sent:
                session.ping_sent_s = None
            elif policy.ping_timeout_s > 0 and now - sent > policy.ping_timeout_s:
                session.close(CloseReason.KEEPALIVE_TIMEOUT)
            return
        assert session.next_ping_s is not None
        if now >= session.next_ping_s and session.ping(now):
            session.next_ping_s = now + policy.ping_interval_s


def _send_reality_check(session: Session, wall_now: float) -> None:
    session.send(
        encode(
            RealityCheck(
                ts=format_ts(wall_now),
                payload=RealityCheckPayload(
                    session_s=int(wall_now - session.connected_at_s),
                    net_result=session.net_result,
                    currency=session.claims.currency,
                ),
            )
        )
    )
