"""The claims of a player token (JWT), each decoded strictly into its type.

The Casino System mints these tokens; the hub and `POST /internal/auth/validate-token` verify
them, and the sandbox and the load generator mint their own. A claim of the wrong type (a bool
sent as the string `"true"`, a time sent as a numeric string, an id holding a NUL byte) fails
the whole token: nothing is coerced or guessed.
"""

from typing import Annotated, Final

import msgspec
from msgspec import Meta, Struct

from protocol.ids import PlayerId

# No C0 or C1 control characters and no DEL: such text is refused by PostgreSQL (NUL) or
# breaks the displays and logs it ends up in.
PRINTABLE_PATTERN: Final = r"^[^\x00-\x1f\x7f-\x9f]*$(?!\n)"
# Far enough ahead for any real token (year 5138), finite, never negative.
NUMERIC_DATE_MAX: Final = 10**11
# PostgreSQL's bigint, the type money is stored in.
MINOR_UNITS_MAX: Final = 2**63 - 1

NumericDate = (
    Annotated[int, Meta(ge=0, le=NUMERIC_DATE_MAX)]
    | Annotated[float, Meta(ge=0, le=NUMERIC_DATE_MAX)]
)
DisplayName = Annotated[str, Meta(max_length=64, pattern=PRINTABLE_PATTERN)]
CurrencyCode = Annotated[str, Meta(pattern=r"^[A-Za-z]{3}$")]
Geo = Annotated[str, Meta(min_length=1, max_length=16, pattern=PRINTABLE_PATTERN)]
TokenId = Annotated[str, Meta(min_length=1, max_length=128, pattern=PRINTABLE_PATTERN)]
Issuer = Annotated[str, Meta(min_length=1, max_length=256, pattern=PRINTABLE_PATTERN)]
Audience = Annotated[str, Meta(min_length=1, max_length=256, pattern=PRINTABLE_PATTERN)]
LossLimit = Annotated[int, Meta(ge=0, le=MINOR_UNITS_MAX)]
SessionLimitMinutes = Annotated[int, Meta(ge=0, le=10**6)]


class ResponsibleGamingClaims(Struct, frozen=True, kw_only=True, omit_defaults=False):
    """The `rg` claim: self-exclusion and the player's own limits."""

    self_excluded: bool = False
    loss_limit: LossLimit | None = None
    """Minor units of the token's currency, or null for no limit."""
    session_limit_min: SessionLimitMinutes | None = None
    """Minutes, or null for no limit."""


class PlayerTokenClaims(Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Every claim of a player token the server reads; other claims are ignored.

    `sub`, `iss`, `aud`, `iat` and `exp` are required. Times are JWT NumericDates (seconds
    since the epoch, a JSON number).
    """

    sub: PlayerId
    iss: Issuer
    aud: Audience | Annotated[list[Audience], Meta(min_length=1, max_length=16)]
    iat: NumericDate
    exp: NumericDate
    nbf: NumericDate | None = None
    jti: TokenId | None = None
    name: DisplayName | None = None
    currency: CurrencyCode | None = None
    geo: Geo | None = None
    rg: ResponsibleGamingClaims | None = None


class InvalidClaims(ValueError):
    """A claim is missing or not of its type; the message names the claim (never its value)."""


def claims_from_payload(payload: object) -> PlayerTokenClaims:
    """The claims of a verified token payload (the JSON object pyjwt returns), decoded strictly.

    Raises:
        InvalidClaims: a required claim is missing or any claim is not of its type.
    """
    try:
        return msgspec.convert(payload, PlayerTokenClaims, strict=True)
    except msgspec.ValidationError as exc:
        raise InvalidClaims(_reason(str(exc))) from None


def claims_to_payload(claims: PlayerTokenClaims) -> dict[str, object]:
    """The JSON object to sign for these claims."""
    payload: dict[str, object] = msgspec.to_builtins(claims)
    return payload


def _reason(message: str) -> str:
    """Reword a msgspec validation error to name the bad claim first.

    Msgspec's "Expected `bool`, got `str` - at `$.rg.self_excluded`" becomes "bad claim
    rg.self_excluded: Expected `bool`, got `str`" (msgspec names the type, never the value).
    """
    expected, _, where = message.partition(" - at `$")
    claim = where.rstrip("`").lstrip(".")
    if not claim:
        return f"bad claims: {expected[:160]}"
    return f"bad claim {claim[:64]}: {expected[:160]}"
