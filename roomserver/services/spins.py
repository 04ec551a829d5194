"""The spin use case: outcome from the fair RNG, money through the ledger, rank from the room.

The `spin.result` is built only after the ledger transaction committed. A retried request (same
idempotency key) gets the stored result back; a spin whose nonce another connection of the same
player took is recomputed with a fresh nonce.
"""

import secrets
import uuid
from typing import Final, Protocol

import msgspec

from protocol.messages import FairnessPayload, Spin, SpinOutcomePayload, SpinResultPayload
from roomserver.domain import slot_game
from roomserver.domain.fingerprint import spin_fingerprint
from roomserver.domain.refusal import Refusal, Refused
from roomserver.services.live_rooms import LiveRoom
from roomserver.store.ledger import Ledger
from roomserver.store.spins import SpinRequest

_MAX_ATTEMPTS: Final = 5
_result_decoder: Final = msgspec.json.Decoder(SpinResultPayload)
_encoder: Final = msgspec.json.Encoder()


class Seat(Protocol):
    """Where a player spins: the room, and the player's next RNG nonce in it."""

    @property
    def room(self) -> LiveRoom:
        """The room spun in."""
        ...

    def take_nonce(self) -> int:
        """Reserve the next nonce."""
        ...

    def skip_nonces_below(self, nonce: int) -> None:
        """Never hand out a nonce below `nonce` (another connection of the player used them)."""
        ...


class SpinService:
    """Plays spins against the ledger."""

    def __init__(self, ledger: Ledger) -> None:
        """Spins against `ledger`."""
        self._ledger = ledger

    async def spin(
        self, player_id: str, name: str, rg_json: str, seat: Seat, message: Spin, nonce: int
    ) -> tuple[SpinResultPayload, bool]:
        """Play one spin of `player_id` (shown as `name`) with nonce `nonce`.

        `rg_json` is the playing session's responsible-gaming limits, as the spin transaction
        reads them.

        Returns:
            Its committed (or stored) result with the current rank, and whether this call
            committed it (False for a replay of an earlier request).

        Raises:
            Refused: the spin was refused, or lost every race for a nonce; nothing was
                written.
        """
        room = seat.room
        tournament = room.tournament
        client_seed = message.client_seed or secrets.token_hex(8)
        digest = spin_fingerprint(message.room, message.stake, message.client_seed)
        for _attempt in range(_MAX_ATTEMPTS):
            outcome = slot_game.play(tournament.server_seed, client_seed, nonce)
            win = slot_game.win_for(message.stake, outcome)
            outcome_payload = SpinOutcomePayload(
                symbols=list(outcome.symbols),
                stops=list(outcome.stops),
                multiplier=outcome.multiplier,
                rule=outcome.rule,
                features=[],
            )
            spin_id = str(uuid.uuid4())
            # balance and score are filled in by the transaction itself.
            draft = SpinResultPayload(
                spin_id=spin_id,
                round_id=spin_id,
                stake=message.stake,
                win=win,
                balance=0,
                currency=tournament.config.currency,
                score=0,
                outcome=outcome_payload,
                fairness=FairnessPayload(
                    server_seed_hash=tournament.server_seed_hash,
                    client_seed=client_seed,
                    nonce=nonce,
                    math_version=slot_game.MATH_VERSION,
                ),
            )
            record = await self._ledger.attempt_spin(
                SpinRequest(
                    tournament_id=room.room_id,
                    player_id=player_id,
                    idempotency_key=message.idempotency_key,
                    request_hash=digest,
                    rg_json=rg_json,
                    spin_id=spin_id,
                    round_id=spin_id,
                    stake=message.stake,
                    win=win,
                    client_seed=client_seed,
                    nonce=nonce,
                    math_version=slot_game.MATH_VERSION,
                    response_json=_encoder.encode(draft).decode(),
                )
            )
            match record.status:
                case Refusal.OK:
                    assert record.response_json is not None
                    assert record.score_reached_at is not None and record.spins is not None
                    result = _result_decoder.decode(record.response_json)
                    rank = await room.record_score(
                        player_id,
                        name,
                        result.score,
                        record.score_reached_at.timestamp(),
                        record.spins,
                    )
                    return msgspec.structs.replace(result, rank=rank), True
                case Refusal.REPLAY:
                    assert record.response_json is not None
                    result = _result_decoder.decode(record.response_json)
                    rank = room.rank_of(player_id)
                    return msgspec.structs.replace(result, rank=rank), False
                case Refusal.NONCE_TAKEN:
                    # Another connection of this player used the nonce: take a fresh one.
                    seat.skip_nonces_below(await self._ledger.next_nonce(room.room_id, player_id))
                    nonce = seat.take_nonce()
                case Refusal.KEY_TAKEN:
                    pass  # the same key raced in another room: the next attempt finds it stored
                case refusal:
                    raise Refused(refusal)
        raise Refused(record.status)
