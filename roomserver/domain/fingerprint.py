"""Request fingerprints: what makes a retried request "the same request" as the first.

Every idempotent write stores the fingerprint of its first request next to its key; a later
request with the key and another fingerprint is refused, never applied. The formats are stored
in the database, so changing one would refuse honest retries made across an upgrade.
"""

import hashlib

import msgspec


def fingerprint(value: object) -> bytes:
    """SHA-256 of the JSON encoding of `value` (decoded fields, so JSON formatting is moot).

    Used for wallet bets and holds, game-server results and keyed side-API requests; pass a
    tuple or a list for several fields.
    """
    return hashlib.sha256(msgspec.json.encode(value)).digest()


def spin_fingerprint(room_id: str, stake: int, client_seed: str | None) -> bytes:
    """A spin's fingerprint: its room, stake and client seed (its own stored format)."""
    text = f"{room_id}\x00{stake}\x00{client_seed or ''}"
    return hashlib.sha256(text.encode()).digest()
