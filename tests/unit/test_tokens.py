"""Tests for player token verification: what is accepted, and every way a token is refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from protocol.claims import ResponsibleGamingClaims, claims_from_payload
from roomserver.config import AuthConfig, JwtKey
from roomserver.gateway.tokens import PlayerClaims, TokenRejected, TokenVerifier, issue_token

SECRET = "hs256-test-secret-0123456789abcdef-xyz"
OTHER_SECRET = "another-hs256-secret-0123456789abcdef"
AUTH = AuthConfig(issuer="casino-test", audience="rooms-test", jwt_secret=SECRET, leeway_s=5)


@pytest.fixture(scope="module")
def rsa_private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def rsa_public_pem(rsa_private_key: rsa.RSAPrivateKey) -> str:
    return (
        rsa_private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@pytest.fixture(scope="module")
def keyed_auth(rsa_public_pem: str) -> AuthConfig:
    """Keys selected by `kid` only: one RS256 public key and one HS256 secret."""
    return AuthConfig(
        issuer="casino-test",
        audience="rooms-test",
        keys=(
            JwtKey(kid="rsa-1", algorithm="RS256", public_key_pem=rsa_public_pem),
            JwtKey(kid="hs-1", algorithm="HS256", secret=OTHER_SECRET),
        ),
    )


def claims(**overrides: Any) -> dict[str, Any]:
    """Valid claims for AUTH; a value of None removes that claim."""
    now = int(time.time())
    base: dict[str, Any] = {
        "sub": "p_1",
        "name": "Ann",
        "currency": "EUR",
        "iss": "casino-test",
        "aud": "rooms-test",
        "iat": now,
        "exp": now + 600,
        "jti": "j-1",
    }
    base.update(overrides)
    return {key: value for key, value in base.items() if value is not None}


def hs256(payload: dict[str, Any], secret: str = SECRET, **headers: Any) -> str:
    return jwt.encode(payload, secret, algorithm="HS256", headers=headers or None)


def rejection(verifier: TokenVerifier, token: str, **kwargs: Any) -> str:
    """The reason `verify` gives for refusing `token`; it must never echo the token."""
    with pytest.raises(TokenRejected) as caught:
        verifier.verify(token, **kwargs)
    message = str(caught.value)
    for part in [token, *token.split(".")]:
        if len(part) >= 8:
            assert part not in message
    return message


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def handmade(header: dict[str, Any], payload: dict[str, Any], key: bytes) -> str:
    """An HS256-signed token built without pyjwt, which refuses some of the keys used here."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def unsigned(header: dict[str, Any], payload: dict[str, Any]) -> str:
    """An `alg: none` token: no signature at all."""
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}."


def handmade_hs(payload: dict[str, Any]) -> str:
    """An HS256 token for AUTH carrying claims pyjwt would refuse to encode."""
    return handmade({"alg": "HS256", "typ": "JWT"}, payload, SECRET.encode())


# ---------------------------------------------------------------- accepted


def test_issue_and_verify_round_trip() -> None:
    now = time.time()
    token = issue_token(
        AUTH,
        player_id="p_42",
        name="Zoë",
        currency="usd",
        geo="DE",
        self_excluded=True,
        loss_limit=5_000,
        session_limit_min=90,
        ttl_s=300,
        now=now,
    )
    verified = TokenVerifier(AUTH).verify(token)
    assert verified == PlayerClaims(
        player_id="p_42",
        name="Zoë",
        currency="USD",
        geo="DE",
        self_excluded=True,
        loss_limit=5_000,
        session_limit_min=90,
        expires_at=float(int(now) + 300),
        token_id=verified.token_id,
    )
    assert verified.token_id


def test_issued_token_defaults() -> None:
    verified = TokenVerifier(AUTH).verify(
        issue_token(AUTH, player_id="p_1", name="Ann", currency="EUR")
    )
    assert verified.self_excluded is False
    assert verified.loss_limit is None
    assert verified.session_limit_min is None
    assert verified.expires_at - time.time() == pytest.approx(AUTH.token_ttl_s, abs=5)


def test_missing_optional_claims_get_safe_defaults() -> None:
    payload = claims(name=None, currency=None, jti=None)
    verified = TokenVerifier(AUTH).verify(hs256(payload))
    assert verified.name == "p_1"
    assert verified.currency == "EUR"
    assert verified.self_excluded is False
    assert verified.token_id is None
    assert verified.geo is None


def test_rs256_key_selected_by_kid(
    keyed_auth: AuthConfig, rsa_private_key: rsa.RSAPrivateKey
) -> None:
    token = jwt.encode(
        claims(sub="p_rsa"), rsa_private_key, algorithm="RS256", headers={"kid": "rsa-1"}
    )
    assert TokenVerifier(keyed_auth).verify(token).player_id == "p_rsa"


def test_hs256_key_selected_by_kid(keyed_auth: AuthConfig) -> None:
    token = hs256(claims(sub="p_hs"), OTHER_SECRET, kid="hs-1")
    assert TokenVerifier(keyed_auth).verify(token).player_id == "p_hs"


def test_leeway_accepts_a_just_expired_token() -> None:
    token = hs256(claims(exp=int(time.time()) - 2))
    assert TokenVerifier(AUTH).verify(token).player_id == "p_1"


# ---------------------------------------------------------------- refused


def test_expired_token() -> None:
    token = issue_token(
        AUTH, player_id="p_1", name="Ann", currency="EUR", ttl_s=60, now=time.time() - 3600
    )
    assert rejection(TokenVerifier(AUTH), token) == "token expired"


def test_token_expired_by_the_callers_clock() -> None:
    """A long-lived connection re-checks expiry with its own `now`."""
    token = issue_token(AUTH, player_id="p_1", name="Ann", currency="EUR", ttl_s=60)
    verifier = TokenVerifier(AUTH)
    assert verifier.verify(token, now=time.time()).player_id == "p_1"
    assert rejection(verifier, token, now=time.time() + 3600) == "token expired"


def test_wrong_secret() -> None:
    message = rejection(TokenVerifier(AUTH), hs256(claims(), OTHER_SECRET))
    assert message.startswith("invalid token")


def test_wrong_issuer() -> None:
    message = rejection(TokenVerifier(AUTH), hs256(claims(iss="someone-else")))
    assert message.startswith("invalid token")


def test_wrong_audience() -> None:
    message = rejection(TokenVerifier(AUTH), hs256(claims(aud="another-service")))
    assert message.startswith("invalid token")


@pytest.mark.parametrize("claim", ["exp", "iat", "iss", "aud", "sub"])
def test_missing_required_claim(claim: str) -> None:
    token = hs256(claims(**{claim: None}))
    message = rejection(TokenVerifier(AUTH), token)
    assert message.startswith("invalid token")


def test_control_token_with_every_required_claim_is_accepted() -> None:
    """The missing-claim tests above fail for the claim, not for the helper."""
    assert TokenVerifier(AUTH).verify(hs256(claims())).player_id == "p_1"


@pytest.mark.parametrize("sub", ["", "x" * 65, 42])
def test_bad_subject(sub: object) -> None:
    assert rejection(TokenVerifier(AUTH), handmade_hs(claims(sub=sub))).startswith("invalid token")


def test_bad_currency() -> None:
    message = rejection(TokenVerifier(AUTH), hs256(claims(currency="EURO")))
    assert message.startswith("invalid token: bad claim currency")


# Every claim decodes strictly into its type: nothing is coerced, nothing is guessed.
MISTYPED_CLAIMS: list[tuple[str, dict[str, Any]]] = [
    ("rg.self_excluded", {"rg": {"self_excluded": "true"}}),
    ("rg.self_excluded", {"rg": {"self_excluded": "false"}}),
    ("rg.self_excluded", {"rg": {"self_excluded": 1}}),
    ("rg.self_excluded", {"rg": {"self_excluded": None}}),
    ("rg.loss_limit", {"rg": {"self_excluded": False, "loss_limit": "5000"}}),
    ("rg.loss_limit", {"rg": {"self_excluded": False, "loss_limit": 50.5}}),
    ("rg.loss_limit", {"rg": {"self_excluded": False, "loss_limit": -1}}),
    ("rg.loss_limit", {"rg": {"self_excluded": False, "loss_limit": True}}),
    ("rg.session_limit_min", {"rg": {"self_excluded": False, "session_limit_min": "90"}}),
    ("rg", {"rg": "self_excluded"}),
    ("rg", {"rg": [True]}),
    ("exp", {"exp": "9999999999"}),
    ("iat", {"iat": True}),
    ("exp", {"exp": 10**12}),
    ("iat", {"iat": "0"}),
    ("nbf", {"nbf": "0"}),
    ("sub", {"sub": "p\x00nul"}),
    ("sub", {"sub": "two words"}),
    ("sub", {"sub": "p_1\n"}),
    ("sub", {"sub": "p/1"}),
    ("sub", {"sub": "x" * 65}),
    ("sub", {"sub": ""}),
    ("sub", {"sub": 42}),
    ("name", {"name": 42}),
    ("name", {"name": "x" * 65}),
    ("name", {"name": "Ann\x00"}),
    ("currency", {"currency": 978}),
    ("geo", {"geo": ["MT"]}),
    ("geo", {"geo": "x" * 17}),
    ("jti", {"jti": 7}),
    ("jti", {"jti": "j\n1"}),
    ("aud", {"aud": ["rooms-test", 7]}),
]


@pytest.mark.parametrize(
    ("claim", "overrides"), MISTYPED_CLAIMS, ids=[str(case[1]) for case in MISTYPED_CLAIMS]
)
def test_a_claim_of_the_wrong_type_refuses_the_token(claim: str, overrides: dict[str, Any]) -> None:
    """Correctly signed, but one claim is not of its type: refused.

    Either by the JWT library's own checks, or by the strict decoding, which names the claim.
    """
    token = handmade_hs(claims(**overrides))
    for now in (None, time.time()):
        message = rejection(TokenVerifier(AUTH), token, now=now)
        assert message.startswith("invalid token"), message
        if "bad claim" in message:
            assert f"bad claim {claim}" in message, message


def test_self_excluded_true_is_honoured() -> None:
    token = handmade_hs(claims(rg={"self_excluded": True, "loss_limit": None}))
    assert TokenVerifier(AUTH).verify(token).self_excluded is True


def test_times_may_be_fractional_numbers() -> None:
    now = time.time()
    verified = TokenVerifier(AUTH).verify(
        handmade_hs(claims(iat=now, nbf=now - 1, exp=now + 60.5)), now=now
    )
    assert verified.expires_at == pytest.approx(now + 60.5)


def test_audience_may_be_a_list() -> None:
    token = handmade_hs(claims(aud=["other-service", "rooms-test"]))
    assert TokenVerifier(AUTH).verify(token).player_id == "p_1"


def test_unknown_claims_and_rg_fields_are_ignored() -> None:
    token = handmade_hs(claims(tier="gold", rg={"self_excluded": False, "cool_off_until": None}))
    assert TokenVerifier(AUTH).verify(token).self_excluded is False


def test_a_payload_nested_past_any_limit_is_refused_not_raised() -> None:
    depth = 5_000
    payload = json.dumps(claims())[:-1] + ', "extra": ' + '{"a": ' * depth + "1" + "}" * depth + "}"
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    signing_input = f"{header}.{b64(payload.encode())}"
    signature = hmac.new(SECRET.encode(), signing_input.encode(), hashlib.sha256).digest()
    message = rejection(TokenVerifier(AUTH), f"{signing_input}.{b64(signature)}")
    assert message.startswith("invalid token")


def test_issued_tokens_decode_strictly() -> None:
    token = issue_token(AUTH, player_id="p_1", name="Ann", currency="EUR", loss_limit=10)
    payload = jwt.decode(token, options={"verify_signature": False})
    decoded = claims_from_payload(payload)
    assert decoded.rg == ResponsibleGamingClaims(self_excluded=False, loss_limit=10)
    assert isinstance(decoded.exp, int)


def test_alg_none_is_refused() -> None:
    token = unsigned({"alg": "none", "typ": "JWT"}, claims())
    assert rejection(TokenVerifier(AUTH), token).startswith("invalid token")


def test_alg_none_with_a_known_kid_is_refused(keyed_auth: AuthConfig) -> None:
    token = unsigned({"alg": "none", "typ": "JWT", "kid": "hs-1"}, claims())
    assert rejection(TokenVerifier(keyed_auth), token).startswith("invalid token")


def test_hs256_signed_with_the_rsa_public_key_is_refused(
    keyed_auth: AuthConfig, rsa_public_pem: str
) -> None:
    """Algorithm switching: the public key used as an HMAC secret must not verify."""
    token = handmade(
        {"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}, claims(), rsa_public_pem.encode()
    )
    assert rejection(TokenVerifier(keyed_auth), token).startswith("invalid token")


def test_rs256_token_for_an_hs256_kid_is_refused(
    keyed_auth: AuthConfig, rsa_private_key: rsa.RSAPrivateKey
) -> None:
    token = jwt.encode(claims(), rsa_private_key, algorithm="RS256", headers={"kid": "hs-1"})
    assert rejection(TokenVerifier(keyed_auth), token).startswith("invalid token")


def test_rs256_token_without_kid_is_not_checked_against_the_hs256_secret(
    rsa_private_key: rsa.RSAPrivateKey,
) -> None:
    token = jwt.encode(claims(), rsa_private_key, algorithm="RS256")
    assert rejection(TokenVerifier(AUTH), token).startswith("invalid token")


def test_unknown_kid(keyed_auth: AuthConfig) -> None:
    token = hs256(claims(), OTHER_SECRET, kid="hs-2")
    assert rejection(TokenVerifier(keyed_auth), token) == "unknown key id"


def test_kid_is_required_when_only_keys_are_configured(keyed_auth: AuthConfig) -> None:
    token = hs256(claims(), OTHER_SECRET)
    assert rejection(TokenVerifier(keyed_auth), token) == "token has no key id"


@pytest.mark.parametrize(
    "token",
    ["", "garbage", "a.b.c", "eyJhbGciOiJIUzI1NiJ9", "....", "é.é.é", "eyJ9.eyJ9.sig"],
)
def test_garbage_is_malformed(token: str) -> None:
    message = rejection(TokenVerifier(AUTH), token)
    assert message == "malformed token" or message.startswith("invalid token")


def test_random_strings_only_ever_raise_token_rejected() -> None:
    rng = random.Random(20261121)
    alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.=+/ {}"é'
    verifier = TokenVerifier(AUTH)
    valid = hs256(claims())
    for _ in range(500):
        if rng.random() < 0.5:
            token = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 80)))
        else:
            # A valid token with one character changed.
            index = rng.randrange(len(valid))
            token = valid[:index] + rng.choice(alphabet) + valid[index + 1 :]
            if token == valid:
                continue
        with pytest.raises(TokenRejected):
            verifier.verify(token)


def test_rejection_messages_do_not_contain_the_token() -> None:
    token = hs256(claims(), OTHER_SECRET)
    with pytest.raises(TokenRejected) as caught:
        TokenVerifier(AUTH).verify(token)
    text = f"{caught.value!s} {caught.value!r} {caught.value.args!r}"
    assert token not in text
    assert token.split(".")[1] not in text
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__
