"""Tests for the per-connection message rate limit (time is passed in, so no sleeping)."""

from __future__ import annotations

import pytest

from roomserver.gateway.rate_limit import MessageRateLimit, TokenBucket

# Rates and times are powers of two so the refill arithmetic is exact in floating point.
T0 = 1_000.0


def takes(bucket: TokenBucket, now_s: float, count: int) -> list[bool]:
    return [bucket.take(now_s) for _ in range(count)]


def checks(limit: MessageRateLimit, now_s: float, count: int) -> list[bool | None]:
    return [limit.check(now_s) for _ in range(count)]


def limiter(rate: float = 4.0, burst: int = 8, strikes: int = 3) -> MessageRateLimit:
    return MessageRateLimit(TokenBucket(rate, burst), strikes)


# ---------------------------------------------------------------- TokenBucket


def test_bucket_allows_burst_at_once_then_refuses() -> None:
    bucket = TokenBucket(rate_per_s=4.0, burst=8)
    assert takes(bucket, T0, 8) == [True] * 8
    assert takes(bucket, T0, 3) == [False] * 3


def test_bucket_starts_full_whatever_the_clock() -> None:
    """The first message fills the bucket at its own time, not at time 0."""
    bucket = TokenBucket(rate_per_s=1.0, burst=2)
    assert takes(bucket, 0.0, 3) == [True, True, False]
    late = TokenBucket(rate_per_s=1.0, burst=2)
    assert takes(late, 1e9, 3) == [True, True, False]


def test_bucket_refills_at_rate() -> None:
    bucket = TokenBucket(rate_per_s=4.0, burst=8)
    takes(bucket, T0, 8)
    # A quarter second at 4/s earns exactly one token.
    assert takes(bucket, T0 + 0.25, 2) == [True, False]
    # Half a second more earns two.
    assert takes(bucket, T0 + 0.75, 3) == [True, True, False]


def test_bucket_refill_is_capped_at_burst() -> None:
    bucket = TokenBucket(rate_per_s=4.0, burst=8)
    takes(bucket, T0, 8)
    assert takes(bucket, T0 + 3600.0, 9) == [True] * 8 + [False]


def test_bucket_partial_tokens_accumulate() -> None:
    bucket = TokenBucket(rate_per_s=4.0, burst=8)
    takes(bucket, T0, 8)
    assert not bucket.take(T0 + 0.125)  # half a token so far
    assert bucket.take(T0 + 0.25)  # the other half arrives


def test_bucket_sustains_its_rate_and_no_more() -> None:
    bucket = TokenBucket(rate_per_s=4.0, burst=1)
    allowed = sum(bucket.take(T0 + step / 16) for step in range(16 * 10))
    # One at the start, then four a second for ten seconds (minus the last instant).
    assert allowed == 40


# ---------------------------------------------------------------- MessageRateLimit


def test_limit_allows_then_warns_then_closes() -> None:
    limit = limiter(burst=8, strikes=3)
    assert checks(limit, T0, 8) == [True] * 8
    # Three refusals are warnings (RATE_LIMITED); the fourth closes the connection.
    assert checks(limit, T0, 4) == [False, False, False, None]
    assert limit.check(T0) is None


def test_strikes_reset_once_back_under_the_limit() -> None:
    limit = limiter(rate=4.0, burst=8, strikes=3)
    checks(limit, T0, 8)
    assert checks(limit, T0, 3) == [False] * 3
    # Wait until the bucket is more than half full: 5 tokens, 4 left after this message.
    assert limit.check(T0 + 1.25) is True
    assert limit.strikes == 0
    # A clean record: spend the rest, then three warnings again before the close.
    assert checks(limit, T0 + 1.25, 4) == [True] * 4
    assert checks(limit, T0 + 1.25, 4) == [False, False, False, None]


def test_strikes_persist_while_the_bucket_stays_low() -> None:
    """A client that trickles one allowed message between bursts is still flooding."""
    limit = limiter(rate=4.0, burst=8, strikes=3)
    checks(limit, T0, 8)
    assert checks(limit, T0, 2) == [False, False]
    # One token earned and spent: allowed, but the bucket is empty again.
    assert limit.check(T0 + 0.25) is True
    assert limit.strikes == 2
    assert checks(limit, T0 + 0.25, 2) == [False, None]


@pytest.mark.parametrize("strikes", [1, 5])
def test_close_comes_after_exactly_strikes_before_close_refusals(strikes: int) -> None:
    limit = limiter(rate=1.0, burst=2, strikes=strikes)
    checks(limit, T0, 2)
    verdicts = checks(limit, T0, strikes + 1)
    assert verdicts == [False] * strikes + [None]


def test_under_the_rate_never_refused() -> None:
    limit = limiter(rate=4.0, burst=8, strikes=1)
    assert all(limit.check(T0 + step * 0.25) is True for step in range(1000))
    assert limit.strikes == 0


def test_clock_stepping_back_does_not_grant_a_new_burst() -> None:
    """The hub passes wall-clock time, which NTP may step backwards."""
    bucket = TokenBucket(rate_per_s=4.0, burst=8)
    takes(bucket, T0, 8)
    assert takes(bucket, T0 - 10.0, 9) == [False] * 9
