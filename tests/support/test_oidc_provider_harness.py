"""Self-test for the oidc-provider test harness (tests/oidc + oidc_provider.py)."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from .oidc_provider import (
    LoginRejected,
    OidcProvider,
    complete_login,
    complete_logout,
)

CLIENT_ID = "portal-test"
CLIENT_SECRET = "portal-test-secret"
REDIRECT_URI = "http://127.0.0.1:5000/sso/acme/callback"
POST_LOGOUT_URI = "http://127.0.0.1:5000/signed-out"

ALICE = {
    "password": "pw",
    "claims": {
        "sub": "alice-sub",
        "email": "alice@acme.test",
        "email_verified": True,
        "name": "Alice",
        "groups": ["portal-admins"],
    },
}


@pytest.fixture(scope="module")
def idp() -> Iterator[OidcProvider]:
    config = {
        "clients": [
            {
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "redirect_uris": [REDIRECT_URI],
                "post_logout_redirect_uris": [POST_LOGOUT_URI],
            }
        ],
        "accounts": {"alice": ALICE},
    }
    with OidcProvider().start(config) as provider:
        yield provider


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def _b64url_json(part: str) -> dict[str, Any]:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def _authorize(idp: OidcProvider) -> tuple[str, dict[str, str]]:
    """Build an authorization URL with PKCE S256; return it and the secrets."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    query = urlencode(
        {
            "client_id": CLIENT_ID,
            "response_type": "code",
            "redirect_uri": REDIRECT_URI,
            "scope": "openid email profile groups",
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge.decode(),
            "code_challenge_method": "S256",
        }
    )
    meta = idp.metadata()
    return f"{meta['authorization_endpoint']}?{query}", {
        "verifier": verifier,
        "state": state,
        "nonce": nonce,
    }


def _callback_params(resp: requests.Response) -> dict[str, str]:
    assert resp.status_code in (302, 303)
    location = resp.headers["Location"]
    assert location.startswith(REDIRECT_URI + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def _exchange(
    idp: OidcProvider, http: requests.Session, code: str, verifier: str, *, post_auth: bool = False
) -> dict[str, Any]:
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier,
    }
    auth = None
    if post_auth:
        data |= {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    else:
        auth = (CLIENT_ID, CLIENT_SECRET)
    resp = http.post(idp.metadata()["token_endpoint"], data=data, auth=auth, timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.json()


def _sign_in(idp: OidcProvider, http: requests.Session, login: str = "alice", **kw: Any):
    url, secrets_ = _authorize(idp)
    params = _callback_params(complete_login(http, url, login))
    assert params["state"] == secrets_["state"]
    assert params["iss"] == idp.issuer
    tokens = _exchange(idp, http, params["code"], secrets_["verifier"], **kw)
    header, payload, _sig = tokens["id_token"].split(".")
    return tokens, _b64url_json(header), _b64url_json(payload), secrets_


def test_code_flow_with_pkce_puts_claims_in_id_token(idp: OidcProvider, http: requests.Session):
    tokens, header, claims, secrets_ = _sign_in(idp, http)

    assert header["alg"] == "RS256"
    assert claims["iss"] == idp.issuer
    assert claims["aud"] == CLIENT_ID
    assert claims["nonce"] == secrets_["nonce"]
    assert claims["sub"] == "alice-sub"
    assert claims["email"] == "alice@acme.test"
    assert claims["email_verified"] is True
    assert claims["name"] == "Alice"
    assert claims["groups"] == ["portal-admins"]

    userinfo = http.get(
        idp.metadata()["userinfo_endpoint"],
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
        timeout=10,
    )
    assert userinfo.status_code == 200
    assert userinfo.json()["groups"] == ["portal-admins"]


def test_client_secret_post_and_changed_groups_on_next_login(
    idp: OidcProvider, http: requests.Session
):
    _sign_in(idp, http)
    try:
        idp.set_accounts({"alice": {**ALICE, "claims": {**ALICE["claims"], "groups": ["viewers"]}}})
        # Same browser session: the IdP signs alice in again without a form.
        _tokens, _header, claims, _ = _sign_in(idp, http, post_auth=True)
        assert claims["groups"] == ["viewers"]
    finally:
        idp.set_accounts({"alice": ALICE})


def test_pkce_is_required(idp: OidcProvider, http: requests.Session):
    url, _ = _authorize(idp)
    split = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(split.query).items()}
    del query["code_challenge"], query["code_challenge_method"]
    resp = http.get(
        f"{split.scheme}://{split.netloc}{split.path}?{urlencode(query)}",
        allow_redirects=False,
        timeout=10,
    )
    assert resp.status_code in (302, 303)
    params = parse_qs(urlsplit(resp.headers["Location"]).query)
    assert params["error"] == ["invalid_request"]


def test_unknown_login_is_rejected(idp: OidcProvider, http: requests.Session):
    url, _ = _authorize(idp)
    with pytest.raises(LoginRejected):
        complete_login(http, url, "mallory")


def test_rp_initiated_logout(idp: OidcProvider, http: requests.Session):
    tokens, *_ = _sign_in(idp, http)
    end_session = idp.metadata()["end_session_endpoint"]
    query = urlencode(
        {
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": POST_LOGOUT_URI,
            "state": "bye",
        }
    )
    resp = complete_logout(http, f"{end_session}?{query}")
    assert resp.status_code in (302, 303)
    assert resp.headers["Location"] == f"{POST_LOGOUT_URI}?state=bye"

    # The IdP session is gone: the next sign-in shows the login form again.
    url, _ = _authorize(idp)
    with pytest.raises(LoginRejected):
        complete_login(http, url, "nobody")


def test_check_passwords_option(tmp_path):
    config = {
        "check_passwords": True,
        "clients": [{"client_id": "c", "client_secret": "s", "redirect_uris": [REDIRECT_URI]}],
        "accounts": {"alice": ALICE},
    }
    with OidcProvider().start(config) as provider, requests.Session() as http:
        query = urlencode(
            {
                "client_id": "c",
                "response_type": "code",
                "redirect_uri": REDIRECT_URI,
                "scope": "openid",
                "code_challenge": "x" * 43,
                "code_challenge_method": "S256",
            }
        )
        url = f"{provider.issuer}/auth?{query}"
        with pytest.raises(LoginRejected):
            complete_login(http, url, "alice", "wrong")
        resp = complete_login(http, url, "alice", "pw")
        assert "code=" in resp.headers["Location"]


def test_start_fails_clearly_without_node_modules(tmp_path):
    (tmp_path / "server.mjs").write_text("")
    with pytest.raises(RuntimeError, match="npm ci"):
        OidcProvider().start({}, node_dir=tmp_path)
