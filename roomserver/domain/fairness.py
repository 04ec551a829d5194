"""Provably fair random numbers.

Every random draw of a game round comes from three inputs:

* ``server_seed``: 32 secret random bytes chosen by the server. Before any round uses it,
  the server publishes its commitment ``server_seed_hash(server_seed)``, the lowercase hex
  SHA-256 of the raw seed bytes. After the seed is retired it is revealed, and anyone can
  check it against the commitment.
* ``client_seed``: a string chosen by the player.
* ``nonce``: a non-negative integer, a different one for every round played under the
  same pair of seeds.

Derivation, enough to re-implement and replay any round:

1. For ``block = 0, 1, 2, ...`` compute::

       message = f"{client_seed}:{nonce}:{block}".encode("utf-8")
       digest  = HMAC-SHA256(key=server_seed, msg=message)   # 32 bytes

   ``nonce`` and ``block`` are written in decimal with no sign, padding or leading zeros.
   Since both are integers after the last two colons, the message is unambiguous even
   when the client seed itself contains colons.
2. Split each digest into eight unsigned 32-bit big-endian integers ("words"). The
   words form one stream: the 8 words of block 0, then the 8 words of block 1, and so on.
   A block is computed only when the previous one is used up.
3. ``below(n)``, a uniform integer in ``[0, n)`` for ``1 <= n <= 2**32``::

       limit = 2**32 - (2**32 % n)    # largest multiple of n not above 2**32
       repeat:
           w = next word of the stream
           if w < limit:
               return w % n
           # otherwise discard w: keeping it would favour small results

   Every call consumes at least one word, including ``below(1)``, which always returns 0.

A game documents the order of its ``below`` calls; for example a slot draws one stop per
reel, reels left to right, each with ``below(len(reel))`` on the same stream.

In Python, the first word of a round is::

    int.from_bytes(
        hmac.new(server_seed, f"{client_seed}:{nonce}:0".encode(), hashlib.sha256).digest()[:4],
        "big",
    )
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import struct
from typing import Final

__all__ = ["FairRandom", "new_server_seed", "server_seed_hash"]

SERVER_SEED_BYTES: Final = 32
_WORD_SPACE: Final = 1 << 32
_WORDS_PER_BLOCK: Final = 8
_UNPACK_BLOCK: Final = struct.Struct(">8I").unpack


def new_server_seed() -> bytes:
    """Return a fresh secret server seed of 32 random bytes."""
    return secrets.token_bytes(SERVER_SEED_BYTES)


def server_seed_hash(server_seed: bytes) -> str:
    """Return the published commitment to a seed: lowercase hex SHA-256 of its bytes."""
    return hashlib.sha256(server_seed).hexdigest()


class FairRandom:
    """Deterministic unbiased integers from HMAC-SHA256(server_seed, "client_seed:nonce:block").

    One instance is the word stream of one round; see the module docstring for the
    exact derivation.
    """

    __slots__ = ("_block", "_index", "_key", "_prefix", "_words")

    def __init__(self, server_seed: bytes, client_seed: str, nonce: int) -> None:
        """Start the stream of one round.

        Args:
            server_seed: Secret server seed, used as the HMAC key.
            client_seed: Player-chosen seed, encoded as UTF-8.
            nonce: Round number under this seed pair, at least 0.

        Raises:
            ValueError: If ``nonce`` is negative.
        """
        if nonce < 0:
            raise ValueError(f"nonce must be >= 0, got {nonce}")
        self._key = bytes(server_seed)
        self._prefix = f"{client_seed}:{nonce}:".encode()
        self._block = 0
        self._words: tuple[int, ...] = ()
        self._index = _WORDS_PER_BLOCK  # forces block 0 on the first draw

    def _next_word(self) -> int:
        """Return the next 32-bit word, computing the next HMAC block when needed."""
        if self._index == _WORDS_PER_BLOCK:
            message = self._prefix + str(self._block).encode("ascii")
            self._words = _UNPACK_BLOCK(hmac.digest(self._key, message, "sha256"))
            self._block += 1
            self._index = 0
        word = self._words[self._index]
        self._index += 1
        return word

    def below(self, n: int) -> int:
        """Return a uniform integer in ``[0, n)`` by rejection sampling on 32-bit words.

        Args:
            n: Number of possible results, ``1 <= n <= 2**32``.

        Raises:
            ValueError: If ``n`` is out of range.
        """
        if not 1 <= n <= _WORD_SPACE:
            raise ValueError(f"n must be in [1, 2**32], got {n}")
        limit = _WORD_SPACE - _WORD_SPACE % n
        while True:
            word = self._next_word()
            if word < limit:
                return word % n
