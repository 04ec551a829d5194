"""Tests for the provably fair random stream."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import random
from collections import Counter

import pytest

from roomserver.domain.fairness import FairRandom, new_server_seed, server_seed_hash

SEED = bytes(range(32))
CLIENT = "player-chosen seed"


def reference_words(server_seed: bytes, client_seed: str, nonce: int, block: int) -> list[int]:
    """The eight words of one block, derived from the module docstring without the module."""
    message = f"{client_seed}:{nonce}:{block}".encode()
    digest = hmac.new(server_seed, message, hashlib.sha256).digest()
    return [int.from_bytes(digest[i : i + 4], "big") for i in range(0, 32, 4)]


def draws(rng: FairRandom, n: int, count: int) -> list[int]:
    """The next ``count`` results of ``rng.below(n)``."""
    return [rng.below(n) for _ in range(count)]


def test_same_inputs_give_the_same_stream() -> None:
    first = draws(FairRandom(SEED, CLIENT, 7), 1000, 50)
    assert draws(FairRandom(SEED, CLIENT, 7), 1000, 50) == first


@pytest.mark.parametrize(
    ("server_seed", "client_seed", "nonce"),
    [
        (SEED, CLIENT, 8),
        (SEED, CLIENT + "!", 7),
        (bytes(31) + b"\x01", CLIENT, 7),
    ],
    ids=["nonce", "client_seed", "server_seed"],
)
def test_any_changed_input_changes_the_stream(
    server_seed: bytes, client_seed: str, nonce: int
) -> None:
    base = draws(FairRandom(SEED, CLIENT, 7), 2**32, 20)
    assert draws(FairRandom(server_seed, client_seed, nonce), 2**32, 20) != base


def test_first_word_matches_the_documented_derivation() -> None:
    # below(2**32) never rejects, so it returns the raw words.
    expected = int.from_bytes(
        hmac.new(SEED, f"{CLIENT}:0:0".encode(), hashlib.sha256).digest()[:4], "big"
    )
    assert FairRandom(SEED, CLIENT, 0).below(2**32) == expected


def test_known_answer() -> None:
    # HMAC-SHA256(key=32 zero bytes, msg=b"abc:1:0") = fb165aac e9c38db0 ...
    digest = hmac.new(b"\x00" * 32, b"abc:1:0", hashlib.sha256).hexdigest()
    assert digest == "fb165aace9c38db050f849172efe9b644f027371298a9a98ca11b0f958710848"
    rng = FairRandom(b"\x00" * 32, "abc", 1)
    assert [rng.below(2**32), rng.below(2**32)] == [0xFB165AAC, 0xE9C38DB0]
    assert FairRandom(b"\x00" * 32, "abc", 1).below(25) == 0xFB165AAC % 25 == 20


def test_words_run_through_blocks_in_order() -> None:
    rng = FairRandom(SEED, CLIENT, 3)
    expected = [w for block in range(3) for w in reference_words(SEED, CLIENT, 3, block)]
    assert draws(rng, 2**32, 24) == expected


def test_client_seed_is_utf8() -> None:
    words = reference_words(SEED, "ÿ☃", 0, 0)
    assert FairRandom(SEED, "ÿ☃", 0).below(2**32) == words[0]


def test_rejected_words_are_skipped() -> None:
    # For n = 3 * 2**30 the accepted words are those below 3 * 2**30; find a nonce whose
    # first word is rejected to pin that below() moves on to the next word.
    n = 3 * 2**30
    for nonce in itertools.count():
        words = reference_words(SEED, CLIENT, nonce, 0)
        if words[0] >= n and words[1] < n:
            break
    assert FairRandom(SEED, CLIENT, nonce).below(n) == words[1] % n


def test_below_one_is_zero_and_consumes_a_word() -> None:
    rng = FairRandom(SEED, CLIENT, 0)
    assert [rng.below(1) for _ in range(10)] == [0] * 10
    assert rng.below(2**32) == reference_words(SEED, CLIENT, 0, 1)[2]


def test_below_stays_in_range() -> None:
    picker = random.Random(1)
    sizes = [1, 2, 3, 7, 25, 1000, 2**31 - 1, 2**31, 2**31 + 1, 3 * 2**30, 2**32 - 1, 2**32]
    for n in sizes + [picker.randint(1, 2**32) for _ in range(200)]:
        rng = FairRandom(picker.randbytes(32), str(picker.random()), picker.randint(0, 2**63))
        assert all(0 <= value < n for value in draws(rng, n, 20))


@pytest.mark.parametrize("n", [0, -1, 2**32 + 1])
def test_below_rejects_an_empty_or_too_large_range(n: int) -> None:
    with pytest.raises(ValueError, match="n must be"):
        FairRandom(SEED, CLIENT, 0).below(n)


def test_negative_nonce_is_rejected() -> None:
    with pytest.raises(ValueError, match="nonce"):
        FairRandom(SEED, CLIENT, -1)


# 99.9th percentiles of chi-square with n - 1 degrees of freedom.
@pytest.mark.parametrize(("n", "critical"), [(3, 13.82), (20, 43.82), (37, 67.99)])
def test_small_ranges_are_uniform(n: int, critical: float) -> None:
    count = 60_000
    rng = FairRandom(SEED, CLIENT, 0)
    observed = Counter(draws(rng, n, count))
    expected = count / n
    chi_square = sum((observed[k] - expected) ** 2 / expected for k in range(n))
    assert set(observed) == set(range(n))
    assert chi_square < critical


def test_no_modulo_bias_for_a_range_close_to_the_word_size() -> None:
    # With plain "word % n", results below 2**30 would come up twice as often (1/2, not 1/3).
    n = 3 * 2**30
    count = 30_000
    rng = FairRandom(SEED, CLIENT, 0)
    low = sum(value < 2**30 for value in draws(rng, n, count))
    assert abs(low / count - 1 / 3) < 0.015


def test_server_seed_hash_is_sha256_hex() -> None:
    assert server_seed_hash(b"") == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    assert server_seed_hash(SEED) == hashlib.sha256(SEED).hexdigest()


def test_new_server_seeds_are_32_fresh_bytes() -> None:
    seeds = {new_server_seed() for _ in range(10)}
    assert len(seeds) == 10
    assert all(isinstance(seed, bytes) and len(seed) == 32 for seed in seeds)
