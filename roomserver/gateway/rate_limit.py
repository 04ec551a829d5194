"""Per-connection message rate limit: a token bucket with strikes (pure; the caller gives time)."""

from dataclasses import dataclass


@dataclass(slots=True)
class TokenBucket:
    """`rate_per_s` messages a second on average, bursts up to `burst`."""

    rate_per_s: float
    burst: int
    tokens: float | None = None
    updated_s: float = 0.0

    def take(self, now_s: float) -> bool:
        """Spend one token if there is one (a clock that steps back refills nothing)."""
        if self.tokens is None:
            self.tokens, self.updated_s = float(self.burst), now_s
        else:
            elapsed = max(0.0, now_s - self.updated_s)
            self.updated_s = max(self.updated_s, now_s)
            self.tokens = min(float(self.burst), self.tokens + elapsed * self.rate_per_s)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@dataclass(slots=True)
class MessageRateLimit:
    """A bucket plus a count of refused messages: past `strikes_before_close` the client goes."""

    bucket: TokenBucket
    strikes_before_close: int
    strikes: int = 0

    def check(self, now_s: float) -> bool | None:
        """True: allowed. False: refuse with `RATE_LIMITED`. None: close the connection (1008)."""
        if self.bucket.take(now_s):
            # A client that is back under the limit starts again with a clean record.
            if (self.bucket.tokens or 0.0) >= self.bucket.burst / 2:
                self.strikes = 0
            return True
        self.strikes += 1
        return None if self.strikes > self.strikes_before_close else False
