"""Player tokens the load generator signs itself, with the sandbox secret by default."""

import time
import tomllib
from pathlib import Path

import jwt

from loadtest.links import Target
from protocol.claims import PlayerTokenClaims, ResponsibleGamingClaims, claims_to_payload

# The repository's config.toml: its [auth] section holds the sandbox secret, issuer and audience.
CONFIG_FILE = Path(__file__).resolve().parent.parent / "config.toml"
TOKEN_TTL_S = 7200


def sandbox_auth(config_file: Path = CONFIG_FILE) -> tuple[str, str, str]:
    """(secret, issuer, audience) from the config file's [auth] section."""
    with config_file.open("rb") as source:
        auth = tomllib.load(source).get("auth", {})
    return (
        str(auth.get("jwt_secret", "")),
        str(auth.get("issuer", "casino-system")),
        str(auth.get("audience", "roomserver")),
    )


def mint_token(target: Target, player_id: str) -> str:
    """An HS256 token for the player, valid for two hours, no RG limits."""
    now = int(time.time())
    claims = PlayerTokenClaims(
        sub=player_id,
        name=player_id,
        currency="EUR",
        geo="MT",
        rg=ResponsibleGamingClaims(self_excluded=False),
        iss=target.jwt_issuer,
        aud=target.jwt_audience,
        iat=now,
        exp=now + TOKEN_TTL_S,
        jti=f"lt-{player_id}-{now}",
    )
    return jwt.encode(claims_to_payload(claims), target.jwt_secret, algorithm="HS256")
