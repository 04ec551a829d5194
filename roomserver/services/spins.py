"""The spin use case: outcome from the fair RNG, money through the ledger, rank from the room.

The `spin.result` is built only after the ledger transaction committed. A retried request (same
idempotency key) gets the stored result back; a spin whose nonce another connection of the same
player took is recomputed with a fresh nonce.
"""

import hashlib
import secrets
import uuid
from typing import Final

import asyncpg
import msgspec

from protocol.codes import ErrorCode
from protocol.messages import FairnessPayload, Spin, SpinOutcomePayload, SpinResultPayload
from roomserver.domain import slot_game
from roomserver.domain.errors import RequestError, error_code_from_ledger
from roomserver.gateway.session import Membership, Session
from roomserver.store.ledger import SPIN_OK, SPIN_REPLAY, Ledger, SpinRequest

_MAX_ATTEMPTS: Final = 5
_result_decoder: Final = msgspec.json.Decoder(SpinResultPayload)
_encoder: Final = msgspec.json.Encoder()


def request_hash(message: Spin) -> bytes:
    """What makes two spins with one key "the same request": room, stake and client seed."""
    text = f"{message.room}\x00{message.stake}\x00{message.client_seed or ''}"
    return hashlib.sha256(text.encode()).digest()


class SpinService:
    """Plays spins against the ledger."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    async def spin(
        self, session: Session, membership: Membership, message: Spin, nonce: int
    ) -> tuple[SpinResultPayload, bool]:
        """Play one spin: its committed (or stored) result with the current rank, and whether
        this call committed it (False for a replay of an earlier request).

        Raises:
            RequestError: the spin was refused; nothing was written.
        """
        claims = session.claims
        room = membership.room
        tournament = room.tournament
        client_seed = message.client_seed or secrets.token_hex(8)
        digest = request_hash(message)
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
            try:
                record = await self._ledger.place_spin(
                    SpinRequest(
                        tournament_id=room.room_id,
                        player_id=claims.player_id,
                        idempotency_key=message.idempotency_key,
                        request_hash=digest,
                        rg_json=session.rg_json,
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
            except asyncpg.UniqueViolationError as exc:
                if exc.constraint_name == "spins_nonce_unique":
                    # Another connection of this player used the nonce: take a fresh one.
                    membership.next_nonce = max(
                        membership.next_nonce,
                        await self._ledger.next_nonce(room.room_id, claims.player_id),
                    )
                    nonce = membership.take_nonce()
                # Else the same key raced in another room: the next attempt finds it stored.
                continue
            if record.status == SPIN_OK:
                assert record.response_json is not None and record.score_reached_at is not None
                assert record.spins is not None
                result = _result_decoder.decode(record.response_json)
                rank = await room.record_score(
                    claims.player_id,
                    claims.name,
                    result.score,
                    record.score_reached_at.timestamp(),
                    record.spins,
                )
                return msgspec.structs.replace(result, rank=rank), True
            if record.status == SPIN_REPLAY:
                assert record.response_json is not None
                result = _result_decoder.decode(record.response_json)
                return msgspec.structs.replace(result, rank=room.rank_of(claims.player_id)), False
            raise RequestError(error_code_from_ledger(record.status))
        raise RequestError(ErrorCode.INTERNAL)
