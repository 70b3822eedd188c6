"""End-to-end sign-in against a real OpenID provider (npm `oidc-provider`, tests/oidc).

The portal runs in Flask's test client (BASE_URL http://localhost); the IdPs run as node
processes on 127.0.0.1, and a `requests.Session` plays the browser at the IdP. Each sign-in
goes the whole way: home-realm discovery, the IdP's login and consent forms, the callback
with code, state and iss, the code exchange with PKCE, the ID token check, UserInfo, and
just-in-time provisioning.

Two providers run for the whole module (one per organisation); each test sets its own
accounts. Without node or `npm ci` in tests/oidc the harness raises RuntimeError and these
tests fail: they are never skipped.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import email_validator
import pytest
import requests
from conftest import csrf_token
from sqlalchemy import select
from support.oidc_provider import (
    LoginRejected,
    OidcProvider,
    complete_login,
    complete_logout,
)

from accounts.models import Membership, User
from accounts.services import grant_role, org_by_slug, set_user_active
from portal.audit import AuditEvent
from portal.extensions import db
from portal.sessions import WebSession

BASE_URL = "http://localhost"
COOKIE = "portal_session"
ROLE_MAP = {"portal-admins": "admin", "portal-buyers": "buyer"}
ERROR_RE = re.compile(r'data-testid="signin-error">([^<]*)<')
ROLES_RE = re.compile(r'data-testid="dashboard-roles">([^<]*)<')

# The two organisations and the OAuth clients their IdPs know the portal by.
ORGS = {
    "acme": {"domains": ["acme.test"], "client_id": "portal-acme", "secret": "acme-secret"},
    "globex": {"domains": ["globex.test"], "client_id": "portal-globex",
               "secret": "globex-secret"},
}


def _client_config(slug: str) -> dict:
    return {
        "client_id": ORGS[slug]["client_id"],
        "client_secret": ORGS[slug]["secret"],
        "redirect_uris": [f"{BASE_URL}/sso/{slug}/callback"],
        "post_logout_redirect_uris": [f"{BASE_URL}/signed-out"],
    }


def account(sub: str, email: str, name: str, groups: list[str]) -> dict:
    """An IdP account entry (login -> password and claims)."""
    return {"password": "test", "claims": {"sub": sub, "email": email, "email_verified": True,
                                           "name": name, "groups": groups}}


ALICE = account("alice-sub", "alice@acme.test", "Alice Admin",
                ["portal-admins", "portal-buyers"])
BOB = account("bob-sub", "bob@acme.test", "Bob Buyer", ["portal-buyers"])


# -- fixtures -------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def test_domains_are_valid_emails(monkeypatch):
    """Let the login form take addresses in the reserved `.test` domain (RFC 2606), which
    email-validator refuses outside its test environment."""
    monkeypatch.setattr(email_validator, "TEST_ENVIRONMENT", True)


@pytest.fixture(scope="module")
def providers() -> Iterator[dict[str, OidcProvider]]:
    """One real OpenID provider per organisation, started in parallel for the module."""
    started: dict[str, OidcProvider] = {}

    def start(slug: str) -> OidcProvider:
        provider = OidcProvider()
        started[slug] = provider
        # No "port": the harness picks a free one and retries if it was taken meanwhile.
        return provider.start({"clients": [_client_config(slug)], "accounts": {}})

    try:
        with ThreadPoolExecutor(max_workers=len(ORGS)) as pool:
            # .result() re-raises the harness's RuntimeError (no node, no node_modules).
            for future in [pool.submit(start, slug) for slug in ORGS]:
                future.result()
        yield started
    finally:
        for provider in started.values():
            provider.stop()


@pytest.fixture
def idp(providers) -> OidcProvider:
    """Acme's IdP with alice (admin + buyer groups) and bob (buyer group)."""
    provider = providers["acme"]
    provider.set_accounts({"alice": ALICE, "bob": BOB}, replace=True)
    return provider


@pytest.fixture
def idp_b(providers) -> OidcProvider:
    """Globex's IdP, with no accounts until a test adds them."""
    provider = providers["globex"]
    provider.set_accounts({}, replace=True)
    return provider


@pytest.fixture
def http() -> Iterator[requests.Session]:
    """The browser's side at the IdP (its cookies are the IdP session)."""
    with requests.Session() as session:
        yield session


@pytest.fixture
def acme(factory, idp) -> int:
    """Acme, a customer whose IdP signs in acme.test addresses; returns its id."""
    return _org(factory, "acme", idp)


@pytest.fixture
def globex(factory, idp_b) -> int:
    """Globex, another customer with its own IdP; returns its id."""
    return _org(factory, "globex", idp_b)


def _org(factory, slug: str, provider: OidcProvider) -> int:
    spec = ORGS[slug]
    return factory.org(slug, kind="customer", domains=spec["domains"], issuer=provider.issuer,
                       role_map=ROLE_MAP, client_id=spec["client_id"],
                       client_secret=spec["secret"])


# -- helpers --------------------------------------------------------------------------------


def start_sign_in(client, email: str, next_url: str | None = None):
    """Type the e-mail on the login page; returns the portal's answer."""
    path = "/login" + (f"?{urlencode({'next': next_url})}" if next_url is not None else "")
    token = csrf_token(client, path)
    return client.post(path, data={"csrf_token": token, "email": email})


def at_idp(client, email: str, login: str, http: requests.Session | None = None,
           next_url: str | None = None) -> str:
    """Start at the portal and sign in at the IdP; returns the callback's path and query."""
    resp = start_sign_in(client, email, next_url)
    assert resp.status_code == 302, resp.get_data(as_text=True)
    if http is None:  # a browser of its own, closed afterwards
        with requests.Session() as browser:
            back = complete_login(browser, resp.headers["Location"], login)
    else:
        back = complete_login(http, resp.headers["Location"], login)
    return path_and_query(back.headers["Location"])


def sign_in(client, email: str, login: str, http: requests.Session | None = None,
            next_url: str | None = None):
    """The whole sign-in as a browser does it; returns the portal's callback response."""
    return client.get(at_idp(client, email, login, http, next_url))


def path_and_query(url: str) -> str:
    """What the test client needs of a URL on the portal (BASE_URL http://localhost)."""
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == BASE_URL, url
    return urlunsplit(("", "", parts.path, parts.query, ""))


def with_param(path: str, **changes: str | None) -> str:
    """`path` with query parameters replaced (or removed when None)."""
    parts = urlsplit(path)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    for key, value in changes.items():
        if value is None:
            query.pop(key, None)
        else:
            query[key] = value
    return urlunsplit(("", "", parts.path, urlencode(query), ""))


def signin_error(resp) -> str:
    """The plain-words message of a refused sign-in page."""
    match = ERROR_RE.search(resp.get_data(as_text=True))
    assert match, resp.get_data(as_text=True)
    return html.unescape(match.group(1))


def dashboard_roles(client) -> tuple[str, list[str]]:
    """Who the dashboard says is signed in, and the role labels it shows."""
    resp = client.get("/dashboard")
    assert resp.status_code == 200, resp.headers.get("Location")
    match = ROLES_RE.search(resp.get_data(as_text=True))
    assert match
    who, _, roles = html.unescape(match.group(1)).partition(" · ")
    return who.removeprefix("Signed in as "), roles.split(", ")


def assert_anonymous(client) -> None:
    """The client reaches no signed-in page: /dashboard sends it to sign in."""
    resp = client.get("/dashboard")
    assert resp.status_code == 302
    assert urlsplit(resp.headers["Location"]).path == "/login"


def cookie(client) -> str | None:
    """The portal session cookie the client holds, if any."""
    found = client.get_cookie(COOKIE)
    return found.value if found is not None else None


def session_row_exists(app, token: str) -> bool:
    with app.app_context():
        return db.session.get(WebSession, hashlib.sha256(token.encode()).hexdigest()) is not None


def sessions_of(app, user_id: int) -> int:
    with app.app_context():
        return len(db.session.scalars(
            select(WebSession).where(WebSession.user_id == user_id)).all())


def find_user(app, email: str) -> dict | None:
    """The user with this e-mail as a plain dict (with their roles per organisation)."""
    with app.app_context():
        users = db.session.scalars(select(User).where(User.email == email)).all()
        assert len(users) <= 1, users
        if not users:
            return None
        user = users[0]
        roles: dict[int, dict[str, str]] = {}
        for m in user.memberships:
            roles.setdefault(m.organisation_id, {})[m.role] = m.source
        return {"id": user.id, "issuer": user.issuer, "subject": user.subject,
                "email": user.email, "name": user.name, "active": user.active, "roles": roles}


def login_events(app, outcome: str | None = None) -> list[AuditEvent]:
    """The auth:login audit events, oldest first (detached, attributes loaded)."""
    with app.app_context():
        stmt = select(AuditEvent).where(AuditEvent.action == "auth:login")
        if outcome:
            stmt = stmt.where(AuditEvent.outcome == outcome)
        events = db.session.scalars(stmt.order_by(AuditEvent.id)).all()
        db.session.expunge_all()
        return list(events)


def assert_refused(app, client, resp, reason: str, *, org_id: int | None = None) -> str:
    """A refused sign-in: 401 page with a message, a failure audit event, no session."""
    assert resp.status_code == 401
    message = signin_error(resp)
    failures = login_events(app, "failure")
    assert [e.reason for e in failures] == [reason]
    if org_id is not None:
        assert failures[0].organisation_id == org_id
    assert_anonymous(client)
    return message


def user_count(app) -> int:
    with app.app_context():
        return len(db.session.scalars(select(User.id)).all())


# -- 1. just-in-time provisioning -----------------------------------------------------------


def test_first_sign_in_provisions_the_user_from_the_idp_claims(app, client, idp, acme):
    """The first sign-in creates the user keyed by (issuer, sub) with the IdP's e-mail, name
    and the role of their group, starts a session and lands on a dashboard showing the
    role; the sign-in is audited as a success."""
    idp.set_accounts({"bob": account("bob-sub", "Bob@Acme.test", "Bob Buyer",
                                     ["portal-buyers"])})
    assert find_user(app, "bob@acme.test") is None

    resp = sign_in(client, "bob@acme.test", "bob")

    assert resp.status_code == 302
    assert resp.headers["Location"] == "/dashboard"
    assert dashboard_roles(client) == ("Bob Buyer", ["Buyer"])
    user = find_user(app, "bob@acme.test")  # the e-mail is stored lower-cased
    assert user == {"id": user["id"], "issuer": idp.issuer, "subject": "bob-sub",
                    "email": "bob@acme.test", "name": "Bob Buyer", "active": True,
                    "roles": {acme: {"buyer": "idp"}}}
    assert sessions_of(app, user["id"]) == 1
    [event] = login_events(app)
    assert (event.outcome, event.organisation_id, event.actor_user_id) == (
        "success", acme, user["id"])
    assert event.after == {"created": True, "roles_before": [], "roles_after": ["buyer"]}


# -- 2. groups -> roles ---------------------------------------------------------------------


def test_roles_follow_the_idp_groups_and_hand_grants_survive(app, idp, acme):
    """Roles from groups are re-derived at every sign-in: a group that disappears at the IdP
    takes its role away at the next sign-in, while a role granted by hand in the portal
    stays whatever the groups say."""
    first = app.test_client()
    sign_in(first, "alice@acme.test", "alice")
    assert dashboard_roles(first) == ("Alice Admin", ["Admin", "Buyer"])
    assert find_user(app, "alice@acme.test")["roles"] == {acme: {"admin": "idp",
                                                                 "buyer": "idp"}}

    idp.set_accounts({"alice": account("alice-sub", "alice@acme.test", "Alice Admin",
                                       ["portal-buyers"])})
    second = app.test_client()
    assert sign_in(second, "alice@acme.test", "alice").headers["Location"] == "/dashboard"
    assert dashboard_roles(second) == ("Alice Admin", ["Buyer"])
    assert second.get("/organisation/members").status_code == 403
    assert find_user(app, "alice@acme.test")["roles"] == {acme: {"buyer": "idp"}}

    result = app.test_cli_runner().invoke(
        args=["user", "grant", "alice@acme.test", "--org", "acme", "--role", "finance"])
    assert result.exit_code == 0, result.output
    idp.set_accounts({"alice": account("alice-sub", "alice@acme.test", "Alice Admin", [])})
    third = app.test_client()
    assert sign_in(third, "alice@acme.test", "alice").headers["Location"] == "/dashboard"
    assert dashboard_roles(third) == ("Alice Admin", ["Finance"])
    assert find_user(app, "alice@acme.test")["roles"] == {acme: {"finance": "manual"}}
    assert [e.after["roles_after"] for e in login_events(app, "success")] == [
        ["admin", "buyer"], ["buyer"], ["finance"]]


def test_a_hand_grant_of_an_idp_role_keeps_it_when_the_group_goes(app, idp, acme):
    """Granting by hand a role the IdP already gives makes it a hand grant: removing the
    group at the IdP no longer removes the role."""
    sign_in(app.test_client(), "bob@acme.test", "bob")
    with app.app_context():
        grant_role(db.session, "bob@acme.test", org_by_slug(db.session, "acme"), "buyer")
        db.session.commit()
    idp.set_accounts({"bob": account("bob-sub", "bob@acme.test", "Bob Buyer", [])})

    client = app.test_client()
    assert sign_in(client, "bob@acme.test", "bob").headers["Location"] == "/dashboard"
    assert dashboard_roles(client) == ("Bob Buyer", ["Buyer"])
    assert find_user(app, "bob@acme.test")["roles"] == {acme: {"buyer": "manual"}}


# -- 3. e-mail outside the organisation's verified domains ----------------------------------


def test_an_email_outside_the_verified_domains_is_refused(app, client, idp, acme):
    """The IdP of an organisation may only sign in addresses of that organisation's verified
    domains: anything else is refused with a clear message, creates no user and starts no
    session."""
    idp.set_accounts({"mallory": account("mallory-sub", "mallory@evil.test", "Mallory",
                                         ["portal-admins"])})

    resp = sign_in(client, "alice@acme.test", "mallory")

    message = assert_refused(app, client, resp, "domain-not-verified", org_id=acme)
    assert "mallory@evil.test is not in a domain verified for Acme" in message
    assert find_user(app, "mallory@evil.test") is None
    assert user_count(app) == 0
    assert login_events(app, "success") == []
    assert login_events(app)[0].actor_label == "mallory@evil.test"


# -- 4. one organisation's IdP cannot sign anyone into another ------------------------------


def test_another_organisations_idp_cannot_sign_in_our_addresses(app, idp, idp_b, acme,
                                                                globex):
    """Globex's IdP asserting an acme.test address (even with the sub of an existing Acme
    user) is refused: it signs in no one, and the Acme user is untouched."""
    sign_in(app.test_client(), "alice@acme.test", "alice")
    alice_before = find_user(app, "alice@acme.test")
    idp_b.set_accounts({"impostor": account("alice-sub", "alice@acme.test", "Alice Admin",
                                            ["portal-admins"])})

    client = app.test_client()
    resp = sign_in(client, "someone@globex.test", "impostor")

    message = assert_refused(app, client, resp, "domain-not-verified", org_id=globex)
    assert "alice@acme.test is not in a domain verified for Globex" in message
    assert find_user(app, "alice@acme.test") == alice_before
    assert user_count(app) == 1
    with app.app_context():
        assert db.session.scalars(
            select(Membership).where(Membership.organisation_id == globex)).all() == []


def test_a_code_from_one_idp_is_refused_at_another_organisations_callback(app, client, idp,
                                                                          idp_b, acme,
                                                                          globex):
    """A code Acme's IdP issued, replayed at Globex's callback, is refused: by its `iss`,
    and with a forged `iss` by the state (Globex's sign-in was never started). Neither
    starts a session; the genuine callback still works, so the refusals were no accident."""
    acme_callback = at_idp(client, "alice@acme.test", "alice")
    assert acme_callback.startswith("/sso/acme/callback?")

    resp = client.get(acme_callback.replace("/sso/acme/", "/sso/globex/", 1))
    assert resp.status_code == 401
    assert "identity provider other than your organisation's" in signin_error(resp)

    resp = client.get(with_param(acme_callback.replace("/sso/acme/", "/sso/globex/", 1),
                                 iss=idp_b.issuer))
    assert resp.status_code == 401
    assert "not started from this browser" in signin_error(resp)

    assert [(e.reason, e.organisation_id) for e in login_events(app, "failure")] == [
        ("callback-issuer-mismatch", globex), ("state-mismatch", globex)]
    assert user_count(app) == 0
    assert_anonymous(client)

    assert client.get(acme_callback).headers["Location"] == "/dashboard"
    assert find_user(app, "alice@acme.test")["roles"] == {acme: {"admin": "idp",
                                                                 "buyer": "idp"}}


# -- 5. logout ------------------------------------------------------------------------------


def test_logout_ends_the_session_and_signs_out_at_the_idp(app, client, http, idp, acme):
    """Signing out deletes the session row at once, so the old cookie replayed from another
    browser is worthless, and sends the person to the IdP's end-session endpoint with the ID
    token hint, which returns them to /signed-out; afterwards the IdP asks for a login
    again."""
    sign_in(client, "alice@acme.test", "alice", http)
    old = cookie(client)
    assert old and session_row_exists(app, old)

    resp = client.post("/logout", data={"csrf_token": csrf_token(client, "/dashboard")})

    assert resp.status_code == 302
    end_session = resp.headers["Location"]
    assert end_session.startswith(idp.metadata()["end_session_endpoint"] + "?")
    params = {k: v[0] for k, v in parse_qs(urlsplit(end_session).query).items()}
    assert params["post_logout_redirect_uri"] == f"{BASE_URL}/signed-out"
    assert params["id_token_hint"].count(".") == 2
    assert not session_row_exists(app, old)
    assert_anonymous(client)

    replay = app.test_client()
    replay.set_cookie(COOKIE, old, domain="localhost")
    assert_anonymous(replay)

    back = complete_logout(http, end_session)
    assert back.status_code in (302, 303)
    returned = urlsplit(back.headers["Location"])
    assert f"{returned.scheme}://{returned.netloc}{returned.path}" == f"{BASE_URL}/signed-out"
    assert parse_qs(returned.query)["state"] == [params["state"]]
    page = client.get(path_and_query(back.headers["Location"]))
    assert page.status_code == 200
    assert "You are signed out" in page.get_data(as_text=True)

    with app.app_context():
        assert db.session.scalars(select(AuditEvent.action).where(
            AuditEvent.action == "auth:logout")).all() == ["auth:logout"]
    # The IdP session ended too: the same browser gets the IdP's login form again (where
    # an unknown login name is rejected) instead of going straight back to the portal.
    relogin = start_sign_in(client, "alice@acme.test")
    assert relogin.status_code == 302
    with pytest.raises(LoginRejected):
        complete_login(http, relogin.headers["Location"], "nobody")


# -- 6. deactivation ------------------------------------------------------------------------


def test_deactivation_by_an_admin_ends_the_live_session(app, idp, acme):
    """An admin deactivating a member on the members page ends the member's live session at
    once (their next page sends them to sign in) and their next sign-in is refused."""
    admin, member = app.test_client(), app.test_client()
    sign_in(admin, "alice@acme.test", "alice")
    sign_in(member, "bob@acme.test", "bob")
    assert dashboard_roles(member) == ("Bob Buyer", ["Buyer"])
    bob = find_user(app, "bob@acme.test")
    assert sessions_of(app, bob["id"]) == 1

    resp = admin.post(f"/organisation/members/{bob['id']}/deactivate",
                      data={"csrf_token": csrf_token(admin, "/organisation/members")})

    assert resp.status_code == 302
    assert "deactivated; their sessions ended" in admin.get(
        resp.headers["Location"]).get_data(as_text=True)
    assert sessions_of(app, bob["id"]) == 0
    assert_anonymous(member)
    assert dashboard_roles(admin)[1] == ["Admin", "Buyer"]  # the admin's own session lives on

    again = app.test_client()
    resp = sign_in(again, "bob@acme.test", "bob")
    message = assert_refused(app, again, resp, "user-deactivated", org_id=acme)
    assert "deactivated" in message
    assert find_user(app, "bob@acme.test")["active"] is False


def test_deactivation_from_the_command_line_ends_the_live_session(app, client, idp, acme):
    """`flask user deactivate` (and the service it calls) ends the user's sessions too."""
    sign_in(client, "bob@acme.test", "bob")
    assert dashboard_roles(client)[1] == ["Buyer"]

    result = app.test_cli_runner().invoke(args=["user", "deactivate", "bob@acme.test"])

    assert result.exit_code == 0, result.output
    assert_anonymous(client)
    resp = sign_in(app.test_client(), "bob@acme.test", "bob")
    assert resp.status_code == 401
    assert [e.reason for e in login_events(app, "failure")] == ["user-deactivated"]


def test_reactivated_user_signs_in_again(app, client, idp, acme):
    """Deactivation through the service is reversible: once active again, the same IdP
    identity signs in to the same user."""
    sign_in(client, "bob@acme.test", "bob")
    bob = find_user(app, "bob@acme.test")
    with app.app_context():
        user = db.session.get(User, bob["id"])
        set_user_active(db.session, user, False)
        db.session.commit()
    assert_anonymous(client)
    with app.app_context():
        set_user_active(db.session, db.session.get(User, bob["id"]), True)
        db.session.commit()

    assert sign_in(client, "bob@acme.test", "bob").headers["Location"] == "/dashboard"
    assert find_user(app, "bob@acme.test")["id"] == bob["id"]


# -- 7. the login page ----------------------------------------------------------------------


def test_login_with_an_unknown_domain_says_so(app, client, idp, acme):
    """An address no organisation owns gets the login page back with a message naming the
    domain, no trip to any IdP, and a failure in the audit trail."""
    resp = start_sign_in(client, "someone@unknown.test")

    assert resp.status_code == 400
    assert "No organisation signs in to this portal with unknown.test addresses" in (
        resp.get_data(as_text=True))
    [event] = login_events(app)
    assert (event.outcome, event.reason, event.actor_label) == (
        "failure", "unknown-domain", "someone@unknown.test")


@pytest.mark.parametrize(
    ("next_url", "landing"),
    [
        ("/audit", "/audit"),
        ("https://evil.test/", "/dashboard"),
        ("//evil.test", "/dashboard"),
        ("/\\evil.test", "/dashboard"),
    ],
)
def test_next_is_kept_only_when_relative(app, client, idp, acme, next_url, landing):
    """After sign-in the person lands where `next` pointed only if it is a path on this
    site; another host (absolute or scheme-relative) lands on the dashboard instead."""
    resp = sign_in(client, "alice@acme.test", "alice", next_url=next_url)

    assert resp.status_code == 302
    assert resp.headers["Location"] == landing
    assert client.get(landing).status_code == 200


# -- 8. session renewal ---------------------------------------------------------------------


def test_signing_in_renews_the_session(app, client, idp, acme):
    """The session that carried the sign-in's state is replaced at sign-in: a new cookie
    value, and the pre-login session row is gone, so a planted cookie gains nothing."""
    callback = at_idp(client, "alice@acme.test", "alice")
    before = cookie(client)
    assert before and session_row_exists(app, before)
    with app.app_context():
        pre_login = db.session.get(WebSession, hashlib.sha256(before.encode()).hexdigest())
        assert any(key.startswith("_state_") for key in pre_login.data)  # the OAuth state
        assert pre_login.user_id is None

    assert client.get(callback).headers["Location"] == "/dashboard"

    after = cookie(client)
    assert after and after != before
    assert not session_row_exists(app, before)
    assert session_row_exists(app, after)
    planted = app.test_client()
    planted.set_cookie(COOKIE, before, domain="localhost")
    assert_anonymous(planted)
    assert dashboard_roles(client) == ("Alice Admin", ["Admin", "Buyer"])


# -- 9. no role -----------------------------------------------------------------------------


def test_a_user_without_a_mapped_group_is_refused(app, client, idp, acme):
    """Signing in with only groups the organisation does not map gives no role, so the
    sign-in is refused with a message saying so, and no user is created."""
    idp.set_accounts({"carol": account("carol-sub", "carol@acme.test", "Carol",
                                       ["marketing"])})

    resp = sign_in(client, "carol@acme.test", "carol")

    message = assert_refused(app, client, resp, "no-role", org_id=acme)
    assert "you hold no role in the portal for Acme" in message
    assert find_user(app, "carol@acme.test") is None
    assert login_events(app, "success") == []
