"""The permission matrix: every route declares its permission, and every route answers
every role (and anonymous users) as the role map says; objects of another organisation
answer 404."""

from __future__ import annotations

import re

import pytest
from conftest import count_queries, csrf_token, login_as
from sqlalchemy import select

from accounts.models import Invitation
from portal.audit import AuditEvent
from portal.extensions import db
from portal.security import ROLE_PERMISSIONS, ROLES_BY_ORG_KIND, Permission, Role

# Sample values for URL parameters; object ids are filled in per test.
OPEN_ENDPOINTS = {"static", "bootstrap.static"}


def _routes(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint in OPEN_ENDPOINTS:
            continue
        yield rule, app.view_functions[rule.endpoint]


@pytest.mark.parametrize("dev_idp", [False, True])
def test_every_route_declares_its_permission(make_app, dev_idp):
    app = make_app(DEV_IDP=dev_idp)
    undeclared = [rule.rule for rule, view in _routes(app)
                  if not hasattr(view, "required_permission")]
    assert undeclared == []
    assert any(rule.rule.startswith("/devidp/") for rule, _ in _routes(app)) is dev_idp


WRITES = re.compile(r"^\s*(INSERT|UPDATE|DELETE)\b(?!.*\bweb_sessions\b)", re.I | re.S)


@pytest.mark.parametrize("role", [Role.ADMIN, Role.OPERATOR_ADMIN])
def test_get_pages_change_nothing(client, factory, role):
    """No state change on GET: pages write nothing but the session's own bookkeeping."""
    org_id, user_id, ids = _setup(factory, role)
    login_as(client, user_id, org_id)
    for method, path, permission in PAGES:
        if method != "GET" or permission not in ROLE_PERMISSIONS[role]:
            continue
        with count_queries(client.application) as statements:
            assert client.get(path.format(**ids)).status_code == 200
        assert [s for s in statements if WRITES.match(s)] == [], path


ROLE_ORG = {role: kind for kind, roles in ROLES_BY_ORG_KIND.items() for role in roles}

# (method, path, permission) of every protected page; {other} paths are in the 404 test.
PAGES = [
    ("GET", "/dashboard", Permission.DASHBOARD_VIEW),
    ("GET", "/organisation/members", Permission.USERS_VIEW),
    ("GET", "/organisation/sso", Permission.SSO_MANAGE),
    ("POST", "/organisation/sso", Permission.SSO_MANAGE),
    ("GET", "/audit", Permission.AUDIT_VIEW),
    ("GET", "/audit/{event}", Permission.AUDIT_VIEW),
    ("GET", "/operator/organisations", Permission.ORGS_MANAGE),
    ("POST", "/organisation/members/{member}/deactivate", Permission.USERS_MANAGE),
    ("POST", "/organisation/members/{member}/activate", Permission.USERS_MANAGE),
    ("POST", "/organisation/members/invite", Permission.USERS_MANAGE),
    ("POST", "/organisation/members/{member}/roles", Permission.USERS_MANAGE),
    ("POST", "/organisation/invitations/{invitation}/revoke", Permission.USERS_MANAGE),
]
SIGNED_IN_ONLY = [("POST", "/logout"), ("POST", "/switch-org")]


def _shapes(path: str) -> list[str]:
    """`/a/<int:x>/b` and `/a/{x}/b` both become `/a/{}/b`; `<any(p, q):x>` gives each."""
    match = re.search(r"<any\(([^)]*)\):\w+>", path)
    paths = [path.replace(match.group(0), option.strip())
             for option in match.group(1).split(",")] if match else [path]
    return [re.sub(r"<[^>]+>|\{\w+\}", "{}", p) for p in paths]


def test_the_matrix_lists_every_protected_route(app):
    """A new protected route must be added to PAGES (so it is checked for every role)."""
    listed = {(method, _shapes(path)[0]) for method, path, _ in PAGES}
    listed |= {(method, path) for method, path in SIGNED_IN_ONLY}
    for rule, view in _routes(app):
        if getattr(view, "is_public", False) or rule.rule.startswith("/tmf-api/"):
            continue
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            for shape in _shapes(rule.rule):
                assert (method, shape) in listed, f"{method} {shape} is not in the matrix"


def _setup(factory, role):
    org_id = factory.org("home", kind=ROLE_ORG[role])
    user_id = factory.user(org_id, role)
    member_id = factory.user(org_id, role, email="colleague@home.test")
    with factory.app.app_context():
        event = AuditEvent(action="test:event", organisation_id=org_id)
        invitation = Invitation(organisation_id=org_id, email="new@home.test", role=role)
        db.session.add_all([event, invitation])
        db.session.commit()
        event_id, invitation_id = event.id, invitation.id
    return org_id, user_id, {"event": event_id, "member": member_id,
                             "invitation": invitation_id}


@pytest.mark.parametrize("method,path,permission", PAGES)
def test_anonymous_users_are_sent_to_sign_in(client, factory, method, path, permission):
    _, _, ids = _setup(factory, Role.ADMIN)
    data = {"csrf_token": csrf_token(client)} if method == "POST" else None
    response = client.open(path.format(**ids), method=method, data=data)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("method,path,permission", PAGES)
def test_each_role_gets_exactly_what_its_permissions_allow(
    client, factory, role, method, path, permission
):
    org_id, user_id, ids = _setup(factory, role)
    login_as(client, user_id, org_id)
    data = {"csrf_token": csrf_token(client)} if method == "POST" else None
    response = client.open(path.format(**ids), method=method, data=data)
    if permission in ROLE_PERMISSIONS[role]:
        assert response.status_code in (200, 302), (role, path, response.status_code)
    else:
        assert response.status_code == 403, (role, path, response.status_code)


@pytest.mark.parametrize("method,path", SIGNED_IN_ONLY)
def test_sign_out_and_switching_need_a_session(client, method, path):
    response = client.open(path, method=method, data={"csrf_token": csrf_token(client)})
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


@pytest.mark.parametrize("method,path", [
    ("GET", "/audit/{event}"),
    ("POST", "/organisation/members/{member}/roles"),
    ("POST", "/organisation/invitations/{invitation}/revoke"),
    ("POST", "/organisation/members/{member}/deactivate"),
    ("POST", "/organisation/members/{member}/activate"),
])
def test_objects_of_another_organisation_answer_404(client, factory, method, path):
    _, _, theirs = _setup(factory, Role.ADMIN)
    mine = factory.org("mine")
    me = factory.user(mine, Role.ADMIN)
    login_as(client, me, mine)
    data = {"csrf_token": csrf_token(client)} if method == "POST" else None
    response = client.open(path.format(**theirs), method=method, data=data)
    assert response.status_code == 404
    with factory.app.app_context():
        # Nothing happened to the other organisation's member.
        from accounts.models import User

        assert db.session.get(User, theirs["member"]).active is True


def test_switching_to_an_organisation_without_membership_answers_404(client, factory):
    mine = factory.org("mine")
    other = factory.org("other")
    me = factory.user(mine, Role.ADMIN)
    login_as(client, me, mine)
    response = client.post("/switch-org", data={"csrf_token": csrf_token(client),
                                                 "org_id": str(other)})
    assert response.status_code == 404


def test_operator_admins_see_every_organisations_events(client, factory):
    customer = factory.org("customer")
    operator = factory.org("carrier", kind="operator")
    admin = factory.user(operator, Role.OPERATOR_ADMIN)
    with factory.app.app_context():
        event = AuditEvent(action="test:customer-event", organisation_id=customer)
        db.session.add(event)
        db.session.commit()
        event_id = event.id
    login_as(client, admin, operator)
    assert client.get(f"/audit/{event_id}").status_code == 200
    assert "test:customer-event" in client.get("/audit").get_data(as_text=True)


@pytest.mark.parametrize("path", ["/organisation/sso", "/organisation/members/1/deactivate",
                                  "/logout", "/switch-org"])
def test_posts_without_a_csrf_token_are_refused(client, factory, path):
    org_id = factory.org("home")
    user_id = factory.user(org_id, Role.ADMIN)
    login_as(client, user_id, org_id)
    response = client.post(path, data={})
    assert response.status_code == 400
    with factory.app.app_context():
        assert db.session.scalars(
            select(AuditEvent).where(AuditEvent.action.in_(["sso:update", "auth:logout"]))
        ).all() == []
