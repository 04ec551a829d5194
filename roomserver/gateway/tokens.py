"""Player tokens (JWT) issued by the Casino System: verified at the upgrade, issued in sandbox.

Algorithms are fixed per key by config; `none` and switching are refused.
"""

import time
import uuid
from dataclasses import dataclass
from typing import Any, Final

import jwt

from protocol.claims import (
    InvalidClaims,
    PlayerTokenClaims,
    ResponsibleGamingClaims,
    claims_from_payload,
    claims_to_payload,
)
from roomserver.config import AuthConfig, JwtKey

_REQUIRED_CLAIMS: Final = ["exp", "iat", "iss", "aud", "sub"]


class TokenRejected(Exception):
    """The token is missing, malformed, badly signed, expired or for someone else."""


@dataclass(frozen=True, slots=True)
class PlayerClaims:
    """What the hub knows about a connected player, from the token."""

    player_id: str
    name: str
    currency: str
    geo: str | None
    self_excluded: bool
    loss_limit: int | None
    session_limit_min: int | None
    expires_at: float
    token_id: str | None


class TokenVerifier:
    """Verifies tokens against the configured keys."""

    def __init__(self, auth: AuthConfig) -> None:
        """A verifier for the keys, issuer and audience of `auth`."""
        self._auth = auth
        self._by_kid: dict[str, JwtKey] = {key.kid: key for key in auth.keys}

    def verify(self, token: str, *, now: float | None = None) -> PlayerClaims:
        """Check signature, algorithm, issuer, audience and expiry, then decode every claim.

        Each claim is decoded strictly into its type (`protocol.claims.PlayerTokenClaims`).

        Raises:
            TokenRejected: with a reason fit for the client (never the token itself).
        """
        try:
            header = jwt.get_unverified_header(token)
        except Exception:
            raise TokenRejected("malformed token") from None
        kid = header.get("kid")
        if kid is not None:
            key = self._by_kid.get(str(kid))
            if key is None:
                raise TokenRejected("unknown key id")
            algorithm, secret = key.algorithm, key.secret or key.public_key_pem
        elif self._auth.jwt_secret:
            algorithm, secret = self._auth.algorithm, self._auth.jwt_secret
        else:
            raise TokenRejected("token has no key id")
        try:
            payload: dict[str, Any] = jwt.decode(
                token,
                secret,
                algorithms=[algorithm],
                audience=self._auth.audience,
                issuer=self._auth.issuer,
                leeway=self._auth.leeway_s,
                options={"require": _REQUIRED_CLAIMS},
            )
        except jwt.ExpiredSignatureError:
            raise TokenRejected("token expired") from None
        except jwt.PyJWTError as exc:
            raise TokenRejected(f"invalid token: {type(exc).__name__}") from None
        except Exception as exc:
            # Whatever a crafted payload makes the JWT library trip on (a JSON nested past
            # the recursion limit, a claim of a type it does not expect) is a bad token.
            raise TokenRejected(f"invalid token: {type(exc).__name__}") from None
        try:
            claims = claims_from_payload(payload)
        except InvalidClaims as exc:
            raise TokenRejected(f"invalid token: {exc}") from None
        if now is not None and claims.exp + self._auth.leeway_s < now:
            raise TokenRejected("token expired")
        return _player_claims(claims)


def _player_claims(claims: PlayerTokenClaims) -> PlayerClaims:
    rg = claims.rg or ResponsibleGamingClaims()
    return PlayerClaims(
        player_id=claims.sub,
        name=claims.name or claims.sub,
        currency=(claims.currency or "EUR").upper(),
        geo=claims.geo,
        self_excluded=rg.self_excluded,
        loss_limit=rg.loss_limit,
        session_limit_min=rg.session_limit_min,
        expires_at=float(claims.exp),
        token_id=claims.jti,
    )


def issue_token(
    auth: AuthConfig,
    *,
    player_id: str,
    name: str,
    currency: str,
    geo: str = "MT",
    self_excluded: bool = False,
    loss_limit: int | None = None,
    session_limit_min: int | None = None,
    ttl_s: int | None = None,
    now: float | None = None,
) -> str:
    """A token as the Casino System would issue it, signed with the configured HS256 secret."""
    if not auth.jwt_secret:
        raise ValueError("no HS256 jwt_secret configured to sign with")
    issued = int(time.time() if now is None else now)
    claims = PlayerTokenClaims(
        sub=player_id,
        name=name,
        currency=currency,
        geo=geo,
        rg=ResponsibleGamingClaims(
            self_excluded=self_excluded,
            loss_limit=loss_limit,
            session_limit_min=session_limit_min,
        ),
        iss=auth.issuer,
        aud=auth.audience,
        iat=issued,
        exp=issued + (auth.token_ttl_s if ttl_s is None else ttl_s),
        jti=uuid.uuid4().hex,
    )
    return jwt.encode(claims_to_payload(claims), auth.jwt_secret, algorithm="HS256")
