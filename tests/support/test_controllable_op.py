"""Self-tests for :mod:`controllable_op`'s ``ControllableOP``.

The RP conformance tests rely on the OP misbehaving *exactly* as asked, so
each knob is checked here from the outside: a real client (authlib's
``OAuth2Session``) drives the code flow over HTTP and the ID token is
verified with joserfc against the JWKS the OP publishes.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwk, jwt
from joserfc.errors import (
    BadSignatureError,
    InvalidKeyIdError,
    JoseError,
    UnsupportedAlgorithmError,
)

from .controllable_op import DEFAULT_USER, ControllableOP, drive_login

CLIENT_ID = "portal-test-client"
CLIENT_SECRET = "s3cret with spaces & symbols"
REDIRECT_URI = "http://127.0.0.1:5999/auth/callback"


@dataclass
class Login:
    """What a completed login produced, for assertions."""

    token: dict[str, Any]
    nonce: str
    state: str
    callback: dict[str, str]

    @property
    def id_token(self) -> str:
        """The compact ID token."""
        return str(self.token["id_token"])


@pytest.fixture
def op() -> Iterator[ControllableOP]:
    """A running OP with the test client registered."""
    with ControllableOP(CLIENT_ID, CLIENT_SECRET, [REDIRECT_URI]) as provider:
        yield provider
    assert provider.server_errors == []


@pytest.fixture
def http() -> Iterator[requests.Session]:
    """A plain HTTP session, closed afterwards (keeps -W error happy)."""
    with requests.Session() as session:
        yield session


def _client(auth_method: str = "client_secret_basic") -> OAuth2Session:
    return OAuth2Session(
        CLIENT_ID,
        CLIENT_SECRET,
        token_endpoint_auth_method=auth_method,
        scope="openid email profile",
        redirect_uri=REDIRECT_URI,
        code_challenge_method="S256",
    )


def _authorize_url(
    op: ControllableOP, client: OAuth2Session, **extra: str
) -> tuple[str, str, str, str]:
    """Build an authorization URL with PKCE S256, state and nonce.

    Returns ``(url, state, nonce, code_verifier)``.
    """
    verifier = generate_token(48)
    nonce = generate_token(20)
    url, state = client.create_authorization_url(
        op.authorization_endpoint, code_verifier=verifier, nonce=nonce, **extra
    )
    return url, state, nonce, verifier


def _callback_params(response: requests.Response) -> dict[str, str]:
    location = response.headers["Location"]
    assert location.startswith(REDIRECT_URI)
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def login(op: ControllableOP, auth_method: str = "client_secret_basic") -> Login:
    """Run the whole code flow against ``op`` and return the token response.

    A separate plain session plays the browser: ``OAuth2Session.get`` insists
    on having a token already, and the RP back channel and the user agent
    are different parties anyway.
    """
    with _client(auth_method) as client, requests.Session() as browser:
        url, state, nonce, verifier = _authorize_url(op, client)
        response = drive_login(browser, url)
        callback = _callback_params(response)
        token = client.fetch_token(
            op.token_endpoint,
            authorization_response=response.headers["Location"],
            state=state,
            code_verifier=verifier,
        )
    return Login(dict(token), nonce, state, callback)


def fetch_jwks(http: requests.Session, op: ControllableOP) -> jwk.KeySet:
    """Fetch the published JWKS over HTTP, as an RP would."""
    response = http.get(op.jwks_uri, timeout=10)
    response.raise_for_status()
    return jwk.KeySet.import_key_set(response.json())


def header_of(token: str) -> dict[str, Any]:
    """Decode the JOSE header without verifying anything."""
    segment = token.split(".")[0]
    return dict(json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))))


def claims_of(token: str) -> dict[str, Any]:
    """Decode the payload without verifying anything."""
    segment = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))))


def validate_claims(op: ControllableOP, claims: dict[str, Any], nonce: str) -> None:
    """Validate ID token claims the way OIDC Core 3.1.3.7 asks an RP to."""
    registry = jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": op.issuer},
        aud={"essential": True, "value": CLIENT_ID},
        sub={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
        nonce={"essential": True, "value": nonce},
    )
    registry.validate(claims)


# ----------------------------------------------------------------------
# baseline behaviour
# ----------------------------------------------------------------------


def test_discovery_document(op: ControllableOP, http: requests.Session) -> None:
    doc = http.get(op.discovery_url, timeout=10).json()
    assert doc["issuer"] == op.issuer
    assert op.issuer.startswith("http://127.0.0.1:")
    assert doc["authorization_endpoint"] == f"{op.issuer}/authorize"
    assert doc["token_endpoint"] == f"{op.issuer}/token"
    assert doc["userinfo_endpoint"] == f"{op.issuer}/userinfo"
    assert doc["jwks_uri"] == f"{op.issuer}/jwks"
    assert doc["end_session_endpoint"] == f"{op.issuer}/logout"
    assert doc["response_types_supported"] == ["code"]
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert "public" in doc["subject_types_supported"]
    assert "openid" in doc["scopes_supported"]
    assert doc["authorization_response_iss_parameter_supported"] is True
    assert op.discovery_requests == 1


@pytest.mark.parametrize("auth_method", ["client_secret_basic", "client_secret_post"])
def test_happy_path_id_token_verifies(
    op: ControllableOP, http: requests.Session, auth_method: str
) -> None:
    result = login(op, auth_method)

    assert set(result.callback) == {"code", "state", "iss"}
    assert result.callback["state"] == result.state
    assert result.callback["iss"] == op.issuer
    assert result.token["token_type"] == "Bearer"
    assert result.token["expires_in"] == 300
    assert result.token["access_token"]
    assert op.last_token_auth_method == auth_method
    assert op.token_requests == 1

    decoded = jwt.decode(result.id_token, fetch_jwks(http, op), algorithms=["RS256"])
    assert decoded.header["kid"] == op.signing_kid
    assert decoded.header["alg"] == "RS256"
    validate_claims(op, decoded.claims, result.nonce)
    claims = decoded.claims
    assert claims["sub"] == DEFAULT_USER["sub"]
    assert claims["email"] == DEFAULT_USER["email"]
    assert claims["email_verified"] is True
    assert claims["name"] == DEFAULT_USER["name"]
    assert claims["groups"] == DEFAULT_USER["groups"]
    assert claims["exp"] - claims["iat"] == 300
    assert abs(claims["iat"] - time.time()) < 5


def test_user_is_configurable(op: ControllableOP, http: requests.Session) -> None:
    op.user = {
        "sub": "bob",
        "email": "bob@corp.example",
        "name": "Bob",
        "groups": ["admins", "billing"],
    }
    claims = jwt.decode(login(op).id_token, fetch_jwks(http, op)).claims
    assert (claims["sub"], claims["email"], claims["groups"]) == (
        "bob",
        "bob@corp.example",
        ["admins", "billing"],
    )


def test_userinfo_returns_user_claims(op: ControllableOP, http: requests.Session) -> None:
    result = login(op)
    response = http.get(
        op.userinfo_endpoint,
        headers={"Authorization": f"Bearer {result.token['access_token']}"},
        timeout=10,
    )
    assert response.status_code == 200
    assert response.json() == {**DEFAULT_USER, "email_verified": True}
    assert op.userinfo_requests == 1

    bad = http.get(op.userinfo_endpoint, headers={"Authorization": "Bearer nope"}, timeout=10)
    assert bad.status_code == 401


def test_authorize_rejects_unregistered_client_or_redirect(
    op: ControllableOP, http: requests.Session
) -> None:
    with _client() as client:
        url, *_ = _authorize_url(op, client, redirect_uri="http://evil.example/cb")
    # No redirect to an unregistered URI (that would be an open redirector).
    with pytest.raises(AssertionError, match="HTTP 400"):
        drive_login(http, url)

    with OAuth2Session("someone-else", "x", redirect_uri=REDIRECT_URI, scope="openid") as other:
        url, _ = other.create_authorization_url(op.authorization_endpoint, nonce="n")
    assert http.get(url, allow_redirects=False, timeout=10).status_code == 400


@pytest.mark.parametrize(
    ("drop", "expected_error"),
    [
        ("code_challenge", "invalid_request"),
        ("nonce", "invalid_request"),
    ],
)
def test_authorize_requires_pkce_and_nonce(
    op: ControllableOP, http: requests.Session, drop: str, expected_error: str
) -> None:
    with _client() as client:
        url, state, _, _ = _authorize_url(op, client)
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items() if k != drop}
    response = http.get(op.authorization_endpoint, params=query, allow_redirects=False, timeout=10)
    params = _callback_params(response)
    assert params["error"] == expected_error
    assert params["state"] == state
    assert params["iss"] == op.issuer
    assert "code" not in params


def test_login_required_when_no_user(op: ControllableOP, http: requests.Session) -> None:
    op.user = None
    with _client() as client:
        url, *_ = _authorize_url(op, client)
    assert _callback_params(drive_login(http, url))["error"] == "login_required"


def _token_request(
    op: ControllableOP, http: requests.Session, **overrides: Any
) -> requests.Response:
    """Get a code, then POST a token request with some fields overridden."""
    with _client() as client:
        url, _, _, verifier = _authorize_url(op, client)
    code = _callback_params(drive_login(http, url))["code"]
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
    }
    data.update(overrides)
    data = {k: v for k, v in data.items() if v is not None}
    return http.post(op.token_endpoint, data=data, timeout=10)


@pytest.mark.parametrize(
    ("overrides", "status", "error"),
    [
        ({}, 200, None),
        ({"client_secret": "wrong"}, 401, "invalid_client"),
        ({"client_secret": None}, 401, "invalid_client"),
        ({"code_verifier": generate_token(48)}, 400, "invalid_grant"),
        ({"code_verifier": None}, 400, "invalid_grant"),
        ({"redirect_uri": "http://127.0.0.1:5999/other"}, 400, "invalid_grant"),
        ({"code": "forged"}, 400, "invalid_grant"),
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
    ],
)
def test_token_endpoint_checks(
    op: ControllableOP,
    http: requests.Session,
    overrides: dict[str, Any],
    status: int,
    error: str | None,
) -> None:
    response = _token_request(op, http, **overrides)
    assert response.status_code == status, response.text
    assert response.json().get("error") == error


def test_code_is_single_use(op: ControllableOP, http: requests.Session) -> None:
    with _client() as client:
        url, _, _, verifier = _authorize_url(op, client)
    code = _callback_params(drive_login(http, url))["code"]
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier,
    }
    auth = (CLIENT_ID, CLIENT_SECRET)
    assert http.post(op.token_endpoint, data=data, auth=auth, timeout=10).status_code == 200
    second = http.post(op.token_endpoint, data=data, auth=auth, timeout=10)
    assert second.json()["error"] == "invalid_grant"


def test_logout(op: ControllableOP, http: requests.Session) -> None:
    id_token = login(op).id_token
    response = http.get(
        op.end_session_endpoint,
        params={
            "id_token_hint": id_token,
            "post_logout_redirect_uri": "http://127.0.0.1:5999/bye",
            "state": "xyz",
        },
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "http://127.0.0.1:5999/bye?state=xyz"
    assert op.last_logout_params is not None
    assert op.last_logout_params["id_token_hint"] == id_token
    assert op.logout_requests == 1
    assert http.get(op.end_session_endpoint, allow_redirects=False, timeout=10).status_code == 200


def test_logout_redirect_restricted_when_registered(http: requests.Session) -> None:
    with ControllableOP(
        CLIENT_ID,
        CLIENT_SECRET,
        [REDIRECT_URI],
        post_logout_redirect_uris=["http://127.0.0.1:5999/bye"],
    ) as op:
        url = op.end_session_endpoint
        bad = http.get(
            url, params={"post_logout_redirect_uri": "http://evil.example/"}, allow_redirects=False
        )
        assert bad.status_code == 400
        good = http.get(
            url,
            params={"post_logout_redirect_uri": "http://127.0.0.1:5999/bye"},
            allow_redirects=False,
        )
        assert good.status_code == 302


def test_lifecycle() -> None:
    op = ControllableOP(CLIENT_ID, CLIENT_SECRET, [REDIRECT_URI])
    with pytest.raises(RuntimeError):
        _ = op.issuer
    op.start()
    try:
        with pytest.raises(RuntimeError):
            op.start()
        with requests.Session() as http:
            assert http.get(op.jwks_uri, timeout=10).status_code == 200
    finally:
        op.stop()
    op.stop()  # idempotent


# ----------------------------------------------------------------------
# knobs
# ----------------------------------------------------------------------


def test_bad_signature(op: ControllableOP, http: requests.Session) -> None:
    op.bad_signature = True
    result = login(op)
    keys = fetch_jwks(http, op)
    # The header still names the published kid, so the RP picks the right
    # key and only the signature check can catch the forgery.
    assert header_of(result.id_token)["kid"] == op.signing_kid
    assert [k.kid for k in keys] == [op.signing_kid]
    with pytest.raises(BadSignatureError):
        jwt.decode(result.id_token, keys, algorithms=["RS256"])
    # The claims themselves are fine.
    validate_claims(op, claims_of(result.id_token), result.nonce)


def _claims_cases() -> list[Any]:
    now = int(time.time())
    return [
        pytest.param({"iss": "https://evil.example"}, set(), "iss", id="issuer-mismatch"),
        pytest.param({}, {"aud"}, "aud", id="aud-missing"),
        pytest.param({"aud": "someone-else"}, set(), "aud", id="aud-wrong"),
        pytest.param({}, {"iat"}, "iat", id="iat-missing"),
        pytest.param({}, {"sub"}, "sub", id="sub-missing"),
        pytest.param({"nonce": "wrong"}, set(), "nonce", id="nonce-invalid"),
        pytest.param({"exp": now - 600, "iat": now - 900}, set(), "exp", id="expired"),
    ]


@pytest.mark.parametrize(("override", "remove", "claim"), _claims_cases())
def test_claims_override_and_remove(
    op: ControllableOP,
    http: requests.Session,
    override: dict[str, Any],
    remove: set[str],
    claim: str,
) -> None:
    op.claims_override = override
    op.claims_remove = remove
    result = login(op)
    # Signature is still valid: only claim validation should reject it.
    claims = jwt.decode(result.id_token, fetch_jwks(http, op), algorithms=["RS256"]).claims
    for name, value in override.items():
        assert claims[name] == value
    for name in remove:
        assert name not in claims
    with pytest.raises(JoseError) as excinfo:
        validate_claims(op, claims, result.nonce)
    assert getattr(excinfo.value, "claim", None) == claim


def test_claims_remove_wins_over_override(op: ControllableOP, http: requests.Session) -> None:
    op.claims_override = {"nonce": "x", "acr": "urn:test"}
    op.claims_remove = {"nonce"}
    claims = claims_of(login(op).id_token)
    assert "nonce" not in claims
    assert claims["acr"] == "urn:test"


def test_alg_none(op: ControllableOP, http: requests.Session) -> None:
    op.alg_none = True
    token = login(op).id_token
    header_b64, _, signature = token.split(".")
    assert header_of(token) == {"alg": "none"}
    assert signature == ""
    assert claims_of(token)["iss"] == op.issuer
    with pytest.raises(UnsupportedAlgorithmError):
        jwt.decode(token, fetch_jwks(http, op), algorithms=["RS256"])


def test_omit_kid_single_key_verifies(op: ControllableOP, http: requests.Session) -> None:
    op.omit_kid = True
    result = login(op)
    assert "kid" not in header_of(result.id_token)
    keys = fetch_jwks(http, op)
    assert len(keys.keys) == 1
    # With one key in the JWKS the kid-less token is unambiguous and valid
    # (rp-id_token-kid-absent-single-jwks).
    decoded = jwt.decode(result.id_token, keys, algorithms=["RS256"])
    validate_claims(op, decoded.claims, result.nonce)


def test_extra_jwks_keys_with_omit_kid(op: ControllableOP, http: requests.Session) -> None:
    op.extra_jwks_keys = 2
    op.omit_kid = True
    result = login(op)
    keys = fetch_jwks(http, op)
    assert len(keys.keys) == 3
    assert len({k.kid for k in keys}) == 3
    assert keys.keys[-1].kid == op.signing_kid
    assert "kid" not in header_of(result.id_token)
    # Without a kid the key set is ambiguous for a naive lookup ...
    with pytest.raises(InvalidKeyIdError):
        jwt.decode(result.id_token, keys, algorithms=["RS256"])
    # ... and exactly one published key (the signing key) verifies it.
    verifying = []
    for key in keys:
        try:
            jwt.decode(result.id_token, key, algorithms=["RS256"])
        except BadSignatureError:
            continue
        verifying.append(key.kid)
    assert verifying == [op.signing_kid]
    # The extra keys are stable between fetches.
    assert [k.kid for k in fetch_jwks(http, op)] == [k.kid for k in keys]


def test_rotate_keys(op: ControllableOP, http: requests.Session) -> None:
    old_keys = fetch_jwks(http, op)
    old_token = login(op).id_token
    old_kid = op.signing_kid
    assert [k.kid for k in old_keys] == [old_kid]

    new_kid = op.rotate_keys()

    assert new_kid != old_kid
    assert op.signing_kid == new_kid
    new_keys = fetch_jwks(http, op)
    assert [k.kid for k in new_keys] == [new_kid]
    new_token = login(op).id_token
    assert header_of(new_token)["kid"] == new_kid
    # An RP with the cached (old) JWKS cannot find the new kid ...
    with pytest.raises(InvalidKeyIdError):
        jwt.decode(new_token, old_keys, algorithms=["RS256"])
    # ... but verifies after one refetch; old tokens no longer verify.
    jwt.decode(new_token, new_keys, algorithms=["RS256"])
    with pytest.raises(InvalidKeyIdError):
        jwt.decode(old_token, new_keys, algorithms=["RS256"])
    assert op.jwks_requests == 2


def test_userinfo_sub(op: ControllableOP, http: requests.Session) -> None:
    op.userinfo_sub = "not-the-same-user"
    result = login(op)
    assert claims_of(result.id_token)["sub"] == DEFAULT_USER["sub"]
    info = http.get(
        op.userinfo_endpoint,
        headers={"Authorization": f"Bearer {result.token['access_token']}"},
        timeout=10,
    ).json()
    assert info["sub"] == "not-the-same-user"
    assert info["email"] == DEFAULT_USER["email"]


def test_discovery_issuer(op: ControllableOP, http: requests.Session) -> None:
    op.discovery_issuer = "https://other-issuer.example"
    doc = http.get(op.discovery_url, timeout=10).json()
    assert doc["issuer"] == "https://other-issuer.example"
    # Only the advertised issuer changes; tokens keep the real one.
    assert doc["jwks_uri"] == op.jwks_uri
    assert claims_of(login(op).id_token)["iss"] == op.issuer


def test_callback_iss(op: ControllableOP) -> None:
    op.callback_iss = "https://mix-up.example"
    result = login(op)
    assert result.callback["iss"] == "https://mix-up.example"
    assert claims_of(result.id_token)["iss"] == op.issuer


def test_counters_and_reset(op: ControllableOP, http: requests.Session) -> None:
    http.get(op.discovery_url, timeout=10)
    fetch_jwks(http, op)
    fetch_jwks(http, op)
    login(op)
    assert (op.discovery_requests, op.jwks_requests, op.authorize_requests, op.token_requests) == (
        1,
        2,
        1,
        1,
    )
    op.reset_counters()
    assert (op.discovery_requests, op.jwks_requests, op.token_requests, op.userinfo_requests) == (
        0,
        0,
        0,
        0,
    )
