"""Player tokens (JWT) issued by the Casino System: verification at the upgrade, and issuing
for the sandbox. Algorithms are fixed per key by config; `none` and switching are refused."""

import time
import uuid
from dataclasses import dataclass
from typing import Any, Final

import jwt

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
        self._auth = auth
        self._by_kid: dict[str, JwtKey] = {key.kid: key for key in auth.keys}

    def verify(self, token: str, *, now: float | None = None) -> PlayerClaims:
        """Check signature, algorithm, issuer, audience and expiry.

        Raises:
            TokenRejected: with a reason fit for the client (never the token itself).
        """
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
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
            claims: dict[str, Any] = jwt.decode(
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
        if now is not None and claims["exp"] + self._auth.leeway_s < now:
            raise TokenRejected("token expired")
        return _claims_from(claims)


def _claims_from(claims: dict[str, Any]) -> PlayerClaims:
    sub = claims["sub"]
    if not isinstance(sub, str) or not 1 <= len(sub) <= 64:
        raise TokenRejected("invalid token: bad sub")
    rg = claims.get("rg") or {}
    if not isinstance(rg, dict):
        raise TokenRejected("invalid token: bad rg")
    currency = claims.get("currency") or "EUR"
    if not isinstance(currency, str) or len(currency) != 3:
        raise TokenRejected("invalid token: bad currency")
    name = claims.get("name")
    return PlayerClaims(
        player_id=sub,
        name=name[:64] if isinstance(name, str) and name else sub,
        currency=currency.upper(),
        geo=claims.get("geo") if isinstance(claims.get("geo"), str) else None,
        self_excluded=rg.get("self_excluded") is True,
        loss_limit=rg.get("loss_limit") if isinstance(rg.get("loss_limit"), int) else None,
        session_limit_min=(
            rg.get("session_limit_min") if isinstance(rg.get("session_limit_min"), int) else None
        ),
        expires_at=float(claims["exp"]),
        token_id=str(claims["jti"]) if "jti" in claims else None,
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
    claims = {
        "sub": player_id,
        "name": name,
        "currency": currency,
        "geo": geo,
        "rg": {
            "self_excluded": self_excluded,
            "loss_limit": loss_limit,
            "session_limit_min": session_limit_min,
        },
        "iss": auth.issuer,
        "aud": auth.audience,
        "iat": issued,
        "exp": issued + (auth.token_ttl_s if ttl_s is None else ttl_s),
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, auth.jwt_secret, algorithm="HS256")
