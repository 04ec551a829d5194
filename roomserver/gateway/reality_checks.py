"""Responsible-gaming reality checks: a reminder to one connection at a fixed interval."""

import asyncio
import time

from protocol.codec import encode, format_ts
from protocol.messages import RealityCheck, RealityCheckPayload
from roomserver.gateway.session import Session


class RealityChecks:
    """`rg.reality_check` to one connection every `interval_s`: session time and net result."""

    def __init__(self, session: Session, interval_s: float) -> None:
        """Start sending to `session` every `interval_s` seconds."""
        self._session = session
        self._interval_s = interval_s
        self._handle = asyncio.get_running_loop().call_later(interval_s, self._send)

    def _send(self) -> None:
        session = self._session
        now = time.time()
        session.send(
            encode(
                RealityCheck(
                    ts=format_ts(now),
                    payload=RealityCheckPayload(
                        session_s=int(now - session.connected_at_s),
                        net_result=session.net_result,
                        currency=session.claims.currency,
                    ),
                )
            )
        )
        self._handle = asyncio.get_running_loop().call_later(self._interval_s, self._send)

    def stop(self) -> None:
        """Send no more (the connection closed)."""
        self._handle.cancel()
