"""OpenID Connect relying-party conformance cases for the portal's single sign-on.

The portal is the relying party (RP); `support.controllable_op.ControllableOP` is a real OP
on 127.0.0.1 whose misbehaviour each test switches on through one knob. Every test drives
the whole flow (POST /login -> discovery -> OP authorize -> callback -> token, ID token,
UserInfo) and asserts either an accepted sign-in (302 to /dashboard, dashboard 200) or a
refused one: 401, the plain message on the page, an `auth:login` failure audit event with
the exact reason tag, and no signed-in session.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Iterator
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import email_validator
import pytest
import requests
from conftest import csrf_token
from sqlalchemy import select
from support.controllable_op import ControllableOP, drive_login

from accounts.models import User
from portal.audit import AuditEvent
from portal.extensions import db
from portal.sessions import WebSession

CLIENT_ID = "portal-acme"
CLIENT_SECRET = "acme-client-s3cret"
REDIRECT_URI = "http://localhost/sso/acme/callback"
USER = {
    "sub": "acme-user-0001",
    "email": "alice@acme.test",
    "name": "Alice Acme",
    "groups": ["staff"],
}
ERROR_RE = re.compile(r'data-testid="signin-error"[^>]*>(.*?)</', re.S)


@pytest.fixture(autouse=True)
def allow_test_domain_emails(monkeypatch):
    """Let the login form take addresses in the reserved `.test` domain (RFC 2606), which
    email-validator refuses outside its test environment."""
    monkeypatch.setattr(email_validator, "TEST_ENVIRONMENT", True)


@pytest.fixture
def op() -> Iterator[ControllableOP]:
    """A running OP with the portal registered as its client and Alice logged in."""
    with ControllableOP(CLIENT_ID, CLIENT_SECRET, [REDIRECT_URI], user=dict(USER)) as provider:
        yield provider
    assert provider.server_errors == []


@pytest.fixture
def acme(factory, op) -> int:
    """The organisation acme.test, whose IdP is the OP; its `staff` group maps to admin."""
    return factory.org("acme", domains=["acme.test"], issuer=op.issuer,
                       role_map={"staff": "admin"}, client_id=CLIENT_ID,
                       client_secret=CLIENT_SECRET)


@pytest.fixture
def http() -> Iterator[requests.Session]:
    """The browser's side of the OP leg."""
    with requests.Session() as session:
        yield session


def start_login(client, email: str = USER["email"]):
    """POST the e-mail to /login; returns the portal's answer."""
    return client.post("/login", data={"csrf_token": csrf_token(client), "email": email})


def authorize(client, op: ControllableOP, http: requests.Session) -> str:
    """Start a sign-in and let the OP answer; returns the callback's path and query."""
    response = start_login(client)
    assert response.status_code == 302, response.get_data(as_text=True)
    assert response.location.startswith(op.authorization_endpoint + "?")
    callback = urlsplit(drive_login(http, response.location).headers["Location"])
    assert f"{callback.scheme}://{callback.netloc}{callback.path}" == REDIRECT_URI
    return f"{callback.path}?{callback.query}"


def sign_in(client, op: ControllableOP, http: requests.Session):
    """The whole flow; returns the portal's answer at the callback."""
    return client.get(authorize(client, op, http))


def login_events(app) -> list[AuditEvent]:
    """The `auth:login` audit events, oldest first."""
    with app.app_context():
        events = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "auth:login").order_by(AuditEvent.id)
        ).all()
        db.session.expunge_all()
        return list(events)


def signed_in_sessions(app) -> int:
    """How many stored web sessions belong to a signed-in user."""
    with app.app_context():
        return len(db.session.scalars(
            select(WebSession).where(WebSession.user_id.is_not(None))
        ).all())


def assert_accepted(app, client, response) -> None:
    """Signed in: to the dashboard, which answers, with a success audit event."""
    assert response.status_code == 302, response.get_data(as_text=True)
    assert urlsplit(response.location).path == "/dashboard"
    assert client.get("/dashboard").status_code == 200
    events = login_events(app)
    assert events and events[-1].outcome == "success"
    assert events[-1].actor_label == USER["email"]


def assert_refused(app, client, response, reason: str, message: str, *,
                   org_id: int | None, status: int = 401) -> None:
    """Refused: the status, the plain message, one failure audit event, no session."""
    assert response.status_code == status
    page = response.get_data(as_text=True)
    if status == 401:
        match = ERROR_RE.search(page)
        assert match, page
        shown = html.unescape(match.group(1)).strip()
        assert message in shown
        assert reason not in shown and "Traceback" not in shown and "Error" not in shown
    else:  # refused at POST /login: the message is on the login form
        assert message in html.unescape(page)
    events = login_events(app)
    assert [(e.outcome, e.reason) for e in events] == [("failure", reason)]
    assert events[0].organisation_id == org_id
    follow = client.get("/dashboard")
    assert follow.status_code == 302
    assert urlsplit(follow.location).path == "/login"
    assert signed_in_sessions(app) == 0


def test_happy_path_baseline(app, client, acme, op, http):
    """Baseline: a well-behaved OP signs Alice in; every other case changes one knob."""
    assert_accepted(app, client, sign_in(client, op, http))
    assert (op.discovery_requests, op.jwks_requests, op.token_requests,
            op.userinfo_requests) == (1, 1, 1, 1)
    assert op.last_token_auth_method == "client_secret_basic"
    params = op.last_authorize_params
    assert params["code_challenge_method"] == "S256" and params["nonce"]
    assert signed_in_sessions(app) == 1
    with app.app_context():
        user = db.session.scalars(select(User).where(User.subject == USER["sub"])).one()
        assert (user.issuer, user.email) == (op.issuer, USER["email"])
        assert [(m.organisation_id, m.role) for m in user.memberships] == [(acme, "admin")]


NOW = int(time.time())

# knobs, reason tag, part of the message shown, JWKS fetches (a refresh only on unknown kid)
REFUSED_ID_TOKENS = [
    pytest.param({"bad_signature": True}, "id-token-bad-signature", "signature did not verify",
                 1, id="rp-id_token-bad-sig-rs256"),
    pytest.param({"claims_override": {"iss": "https://impostor.test"}}, "id-token-iss",
                 "identity provider other than your organisation's", 1,
                 id="rp-id_token-issuer-mismatch"),
    pytest.param({"claims_remove": {"aud"}}, "id-token-aud", "for another application", 1,
                 id="rp-id_token-aud-missing"),
    pytest.param({"claims_override": {"aud": "someone-else"}}, "id-token-aud",
                 "for another application", 1, id="rp-id_token-aud-wrong"),
    pytest.param({"claims_remove": {"iat"}}, "id-token-iat", "no valid issue time", 1,
                 id="rp-id_token-iat-missing"),
    pytest.param({"claims_remove": {"sub"}}, "id-token-sub", "did not say who you are", 1,
                 id="rp-id_token-sub-missing"),
    pytest.param({"claims_override": {"nonce": "not-the-nonce-the-rp-sent"}}, "id-token-nonce",
                 "did not match the one this browser started", 1, id="rp-nonce-invalid"),
    pytest.param({"alg_none": True}, "id-token-alg", "which is not accepted", 0,
                 id="rp-id_token-sig-none"),
    pytest.param({"omit_kid": True, "extra_jwks_keys": 2}, "id-token-kid-missing",
                 "did not name its signing key", 2,
                 id="rp-id_token-kid-absent-multiple-jwks"),
    pytest.param({"claims_override": {"azp": "another-client"}}, "id-token-azp",
                 "for another application", 1, id="id_token-azp-other-client"),
    pytest.param({"claims_override": {"iat": NOW + 3600}}, "id-token-iat",
                 "no valid issue time", 1, id="id_token-iat-in-the-future"),
    pytest.param({"claims_override": {"exp": NOW - 3600, "iat": NOW - 3900}},
                 "id-token-expired", "had expired", 1, id="id_token-expired"),
]


@pytest.mark.parametrize(("knobs", "reason", "message", "jwks_fetches"), REFUSED_ID_TOKENS)
def test_refused_id_token(app, client, acme, op, http, knobs, reason, message, jwks_fetches):
    """rp-id_token-bad-sig-rs256, rp-id_token-issuer-mismatch, rp-id_token-aud (missing,
    wrong), rp-id_token-iat (missing), rp-id_token-sub (missing), rp-nonce-invalid,
    rp-id_token-sig-none, rp-id_token-kid-absent-multiple-jwks and an expired ID token:
    the ID token is refused, so nobody is signed in."""
    for name, value in knobs.items():
        setattr(op, name, value)
    response = sign_in(client, op, http)
    assert op.token_requests == 1  # the refusal is the ID token check's, after the exchange
    assert op.userinfo_requests == 0
    assert op.jwks_requests == jwks_fetches
    assert_refused(app, client, response, reason, message, org_id=acme)


def test_kid_absent_single_jwks_is_accepted(app, client, acme, op, http):
    """rp-id_token-kid-absent-single-jwks: no `kid`, but the JWKS holds one key: accepted."""
    op.omit_kid = True
    assert_accepted(app, client, sign_in(client, op, http))
    assert op.jwks_requests == 1


def test_key_rotation_refreshes_jwks_once(app, client, acme, op, http):
    """rp-key-rotation-op-sign-key-native: after the OP rotates its signing key the next
    sign-in meets an unknown `kid`, fetches the JWKS exactly once more, and succeeds."""
    assert_accepted(app, client, sign_in(client, op, http))
    assert op.jwks_requests == 1
    op.rotate_keys()
    second = app.test_client()
    assert_accepted(app, second, sign_in(second, op, http))
    assert op.jwks_requests == 2
    assert op.discovery_requests == 1  # the cached client is reused; only the keys refresh
    assert [e.outcome for e in login_events(app)] == ["success", "success"]


def test_userinfo_bad_sub_is_refused(app, client, acme, op, http):
    """rp-userinfo-bad-sub-claim: UserInfo speaks of another `sub` than the ID token."""
    op.userinfo_sub = "someone-else"
    response = sign_in(client, op, http)
    assert op.userinfo_requests == 1
    assert_refused(app, client, response, "userinfo-sub-mismatch", "about someone else",
                   org_id=acme)


def test_discovery_issuer_mismatch_is_refused_at_login(app, client, acme, op):
    """rp-discovery-issuer-not-matching-config: discovery names another issuer, so the
    portal refuses at POST /login and never sends the browser to the OP."""
    op.discovery_issuer = "https://impostor.test"
    response = start_login(client)
    assert op.discovery_requests == 1
    assert op.authorize_requests == 0
    assert response.location is None
    assert_refused(app, client, response, "discovery-issuer-mismatch",
                   "announced a different issuer", org_id=None, status=400)
    assert login_events(app)[0].actor_label == USER["email"]


def _with_state(path: str, state: str) -> str:
    parts = urlsplit(path)
    query = dict(parse_qsl(parts.query))
    query["state"] = state
    return urlunsplit(parts._replace(query=urlencode(query)))


@pytest.mark.parametrize("how", ["tampered-state", "other-browser"])
def test_state_mismatch_is_refused(app, client, acme, op, http, how):
    """State mismatch: the callback's `state` is not one this browser's session holds
    (tampered in the URL, or the callback presented in another browser)."""
    callback = authorize(client, op, http)
    if how == "tampered-state":
        browser = client
        callback = _with_state(callback, "forged-state-value")
    else:
        browser = app.test_client()
    response = browser.get(callback)
    assert op.token_requests == 0  # the code is never redeemed
    assert_refused(app, browser, response, "state-mismatch", "not started from this browser",
                   org_id=acme)


def test_callback_iss_mismatch_is_refused(app, client, acme, op, http):
    """Authorization response `iss` (RFC 9207) naming another issuer: refused before the
    code is redeemed."""
    op.callback_iss = "https://impostor.test"
    response = sign_in(client, op, http)
    assert op.token_requests == 0
    assert_refused(app, client, response, "callback-issuer-mismatch",
                   "identity provider other than your organisation's", org_id=acme)
