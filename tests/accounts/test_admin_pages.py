"""Organisation administration pages: SSO settings, members, audit trail."""

from __future__ import annotations

import datetime as dt

from conftest import count_queries, csrf_token, login_as
from sqlalchemy import select

from accounts.models import IdpConnection, User
from portal.audit import AuditEvent
from portal.crypto import unseal
from portal.extensions import db


def _admin(client, factory, slug="acme"):
    org_id = factory.org(slug, issuer="https://idp.acme.test", client_secret="top-secret-value",
                         role_map={"IT": "admin"})
    user_id = factory.user(org_id, "admin", email=f"admin@{slug}.test")
    login_as(client, user_id, org_id)
    return org_id, user_id


def test_the_sso_page_never_shows_the_client_secret(client, factory):
    _admin(client, factory)
    page = client.get("/organisation/sso").get_data(as_text=True)
    assert "https://idp.acme.test" in page
    assert "top-secret-value" not in page
    assert "http://localhost/sso/acme/callback" in page
    assert "IT=admin" in page


def test_saving_sso_settings_keeps_the_secret_when_left_empty_and_audits(client, factory, app):
    org_id, _ = _admin(client, factory)
    response = client.post("/organisation/sso", data={
        "csrf_token": csrf_token(client), "issuer": "https://login.acme.test",
        "client_id": "new-client", "client_secret": "", "role_map": "IT=admin\nBuyers = buyer",
        "enabled": "y"})
    assert response.status_code == 302
    with app.app_context():
        connection = db.session.scalars(select(IdpConnection)).one()
        assert unseal(connection.client_secret) == "top-secret-value"
        assert "top-secret-value" not in connection.client_secret  # encrypted at rest
        assert connection.client_id == "new-client"
        assert connection.role_map == {"IT": "admin", "Buyers": "buyer"}
        event = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "sso:update", AuditEvent.actor_label == "admin@acme.test")).one()
        assert event.before["client_id"] == "portal-acme"
        assert event.after["client_id"] == "new-client"
        assert event.after["client_secret_changed"] is False


def test_invalid_sso_settings_are_explained_and_change_nothing(client, factory, app):
    _admin(client, factory)
    for role_map, message in [("Ops=operator_admin", "cannot hold"),
                              ("just-a-group", "is not GROUP=ROLE")]:
        response = client.post("/organisation/sso", data={
            "csrf_token": csrf_token(client), "issuer": "https://login.acme.test",
            "client_id": "changed", "role_map": role_map, "enabled": "y"})
        assert response.status_code == 200
        assert message in response.get_data(as_text=True)
    bad_url = client.post("/organisation/sso", data={
        "csrf_token": csrf_token(client), "issuer": "not a url", "client_id": "x"})
    assert "Invalid URL" in bad_url.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalars(select(IdpConnection)).one().client_id == "portal-acme"


def test_members_page_shows_roles_and_their_source(client, factory):
    org_id, _ = _admin(client, factory)
    factory.user(org_id, "buyer", email="bob@acme.test", source="idp")
    page = client.get("/organisation/members").get_data(as_text=True)
    assert "bob@acme.test" in page and "Buyer" in page and ">IdP<" in page


def test_an_admin_cannot_deactivate_themselves_but_can_another_admin(client, factory, app):
    org_id, me = _admin(client, factory)
    response = client.post(f"/organisation/members/{me}/deactivate",
                           data={"csrf_token": csrf_token(client)}, follow_redirects=True)
    assert "cannot deactivate yourself" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(User, me).active is True
    other_admin = factory.user(org_id, "admin", email="second@acme.test")
    response = client.post(f"/organisation/members/{other_admin}/deactivate",
                           data={"csrf_token": csrf_token(client)}, follow_redirects=True)
    assert "deactivated" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(User, other_admin).active is False


def test_the_audit_trail_filters_by_user_action_and_date(client, factory, app):
    org_id, _ = _admin(client, factory)
    now = dt.datetime.now(dt.UTC)
    with app.app_context():
        db.session.add_all([
            AuditEvent(action="quote:approve", actor_label="amy@acme.test",
                       organisation_id=org_id, occurred_at=now - dt.timedelta(days=3)),
            AuditEvent(action="sso:update", actor_label="bob@acme.test",
                       organisation_id=org_id, occurred_at=now),
        ])
        db.session.commit()

    def listed(query):
        page = client.get(f"/audit?{query}").get_data(as_text=True)
        return {"quote:approve" in page, "sso:update" in page}

    assert listed("user=amy") == {True, False}
    assert listed("action=sso") == {False, True}
    day = (now - dt.timedelta(days=3)).date().isoformat()
    page = client.get(f"/audit?date_from={day}&date_to={day}").get_data(as_text=True)
    assert "quote:approve" in page and "sso:update" not in page
    assert "Use the form YYYY-MM-DD" in client.get("/audit?date_from=yesterday").get_data(
        as_text=True)


def test_the_audit_trail_shows_only_the_own_organisation(client, factory, app):
    _admin(client, factory)
    other = factory.org("globex")
    with app.app_context():
        db.session.add(AuditEvent(action="secret:globex-thing", organisation_id=other))
        db.session.commit()
    assert "secret:globex-thing" not in client.get("/audit").get_data(as_text=True)


def test_pages_run_a_fixed_number_of_queries_whatever_the_data_size(client, factory, app):
    org_id, _ = _admin(client, factory)

    def queries(path):
        client.get(path)  # warm up (session row, caches)
        with count_queries(app) as statements:
            assert client.get(path).status_code == 200
        return len(statements)

    paths = ["/dashboard", "/organisation/members", "/audit", "/organisation/sso"]
    before = {path: queries(path) for path in paths}
    for n in range(30):
        factory.user(org_id, "buyer", email=f"buyer{n}@acme.test")
    with app.app_context():
        db.session.add_all(AuditEvent(action=f"test:{n}", organisation_id=org_id)
                           for n in range(120))
        db.session.commit()
    after = {path: queries(path) for path in paths}
    assert after == before


def test_members_are_listed_a_page_at_a_time(client, factory):
    org_id, _ = _admin(client, factory)
    for n in range(60):
        factory.user(org_id, "viewer", email=f"viewer{n:02d}@acme.test")
    first = client.get("/organisation/members").get_data(as_text=True)
    assert "61 members" in first and "Page 1 of 2" in first
    row = 'text-muted">{}</span>'.format
    assert row("admin@acme.test") in first and row("viewer59@acme.test") not in first
    second = client.get("/organisation/members?page=2").get_data(as_text=True)
    assert row("viewer59@acme.test") in second and row("admin@acme.test") not in second
