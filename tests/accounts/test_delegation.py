"""Partner delegation, account manager assignments and organisation hierarchy: who may act
for whom, and that it ends at once."""

from __future__ import annotations

import datetime as dt

from conftest import csrf_token, login_as
from sqlalchemy import select, update

from accounts.models import AccountManagerAssignment, Delegation
from portal.audit import AuditEvent
from portal.db import utcnow
from portal.extensions import db


def _switch(client, org_id):
    return client.post("/switch-org", data={"csrf_token": csrf_token(client, "/dashboard"),
                                            "org_id": str(org_id)})


def _grant(client, partner_id, scopes, days=30):
    return client.post("/organisation/delegations", follow_redirects=True, data={
        "csrf_token": csrf_token(client, "/organisation/delegations"),
        "partner_id": str(partner_id), "scopes": scopes,
        "expires_on": (utcnow() + dt.timedelta(days=days)).date().isoformat()})


def _setup(client, factory):
    acme = factory.org("acme")
    northwind = factory.org("northwind", kind="partner")
    ada = factory.user(acme, "admin", email="ada@acme.test")
    paul = factory.user(northwind, "partner_agent", email="paul@northwind.test")
    return acme, northwind, ada, paul


def test_a_customer_admin_delegates_and_the_partner_acts_within_the_scopes(
    client, factory, app
):
    acme, northwind, ada, paul = _setup(client, factory)
    login_as(client, ada, acme)
    page = _grant(client, northwind, ["quote"]).get_data(as_text=True)
    assert "Northwind may act for Acme until" in page
    partner = app.test_client()
    login_as(partner, paul, northwind)
    dashboard = partner.get("/dashboard").get_data(as_text=True)
    assert "Acme (via Northwind)" in dashboard
    assert _switch(partner, acme).status_code == 302
    dashboard = partner.get("/dashboard").get_data(as_text=True)
    assert '<h1 class="h2 mb-1">Acme</h1>' in dashboard
    # Delegated access is scoped: no administration of the customer.
    assert partner.get("/organisation/members").status_code == 403
    assert partner.get("/organisation/delegations").status_code == 403
    with app.app_context():
        event = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "auth:switch_org")).one()
        assert event.organisation_id == acme


def test_actions_for_a_customer_are_audited_as_partner_on_behalf_of_customer(
    client, factory, app
):
    acme, northwind, ada, paul = _setup(client, factory)
    login_as(client, ada, acme)
    _grant(client, northwind, ["quote", "order"])
    partner = app.test_client()
    login_as(partner, paul, acme)
    partner.post("/logout", data={"csrf_token": csrf_token(partner, "/dashboard")})
    with app.app_context():
        event = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "auth:logout")).one()
        assert (event.organisation_id, event.actor_org_id) == (acme, northwind)
    # The customer's trail says who acted through which partner.
    trail = client.get("/audit?action=auth:logout").get_data(as_text=True)
    assert "paul@northwind.test" in trail and "via Northwind" in trail


def test_revoking_ends_the_partners_access_at_once(client, factory, app):
    acme, northwind, ada, paul = _setup(client, factory)
    login_as(client, ada, acme)
    _grant(client, northwind, ["quote"])
    partner = app.test_client()
    login_as(partner, paul, acme)
    assert "Acme" in partner.get("/dashboard").get_data(as_text=True)
    with app.app_context():
        delegation_id = db.session.scalars(select(Delegation.id)).one()
    client.post(f"/organisation/delegations/{delegation_id}/revoke",
                data={"csrf_token": csrf_token(client, "/organisation/delegations")})
    dashboard = partner.get("/dashboard").get_data(as_text=True)
    assert '<h1 class="h2 mb-1">Northwind</h1>' in dashboard  # back home, Acme gone
    assert "via Northwind" not in dashboard
    assert _switch(partner, acme).status_code == 404


def test_an_expired_delegation_gives_nothing(client, factory, app):
    acme, northwind, ada, paul = _setup(client, factory)
    login_as(client, ada, acme)
    _grant(client, northwind, ["quote"])
    with app.app_context():
        db.session.execute(update(Delegation).values(
            expires_at=utcnow() - dt.timedelta(seconds=1)))
        db.session.commit()
    partner = app.test_client()
    login_as(partner, paul, acme)
    assert '<h1 class="h2 mb-1">Northwind</h1>' in partner.get("/dashboard").get_data(
        as_text=True)
    assert "expired" in client.get("/organisation/delegations").get_data(as_text=True)


def test_bad_delegations_are_refused(client, factory, app):
    acme, northwind, ada, _ = _setup(client, factory)
    other_customer = factory.org("globex")
    login_as(client, ada, acme)
    assert "Choose at least one scope" in _grant(client, northwind, []).get_data(as_text=True)
    assert "in the future" in _grant(client, northwind, ["quote"], days=-1).get_data(
        as_text=True)
    assert "three years" in _grant(client, northwind, ["quote"], days=2000).get_data(
        as_text=True)
    assert "Not a valid choice" in _grant(client, other_customer, ["quote"]).get_data(
        as_text=True)
    with app.app_context():
        assert db.session.scalars(select(Delegation)).all() == []


def test_granting_again_changes_the_live_delegation(client, factory, app):
    acme, northwind, ada, _ = _setup(client, factory)
    login_as(client, ada, acme)
    _grant(client, northwind, ["quote"])
    _grant(client, northwind, ["quote", "billing"], days=60)
    with app.app_context():
        delegation = db.session.scalars(select(Delegation)).one()
        assert delegation.scopes == ["billing", "quote"]


def test_an_account_manager_sees_only_assigned_customers(client, factory, app):
    carrier = factory.org("carrier", kind="operator")
    acme, globex = factory.org("acme"), factory.org("globex")
    olga = factory.user(carrier, "operator_admin", email="olga@carrier.test")
    amelia = factory.user(carrier, "account_manager", email="amelia@carrier.test")
    login_as(client, olga, carrier)
    response = client.post("/operator/account-managers", follow_redirects=True, data={
        "csrf_token": csrf_token(client, "/operator/account-managers"),
        "customer_id": str(acme), "manager_id": str(amelia)})
    assert "now looks after Acme" in response.get_data(as_text=True)
    manager = app.test_client()
    login_as(manager, amelia, carrier)
    page = manager.get("/dashboard").get_data(as_text=True)
    assert "Acme (via Carrier)" in page and "Globex" not in page
    assert _switch(manager, globex).status_code == 404
    assert _switch(manager, acme).status_code == 302
    assert manager.get("/organisation/members").status_code == 403  # read-only there
    with app.app_context():
        assignment_id = db.session.scalars(select(AccountManagerAssignment.id)).one()
    client.post(f"/operator/account-managers/{assignment_id}/remove",
                data={"csrf_token": csrf_token(client, "/operator/account-managers")})
    assert "via Carrier" not in manager.get("/dashboard").get_data(as_text=True)


def test_only_account_managers_can_be_assigned(client, factory):
    carrier = factory.org("carrier", kind="operator")
    acme = factory.org("acme")
    olga = factory.user(carrier, "operator_admin", email="olga@carrier.test")
    login_as(client, olga, carrier)
    response = client.post("/operator/account-managers", follow_redirects=True, data={
        "csrf_token": csrf_token(client, "/operator/account-managers"),
        "customer_id": str(acme), "manager_id": str(olga)})
    assert "Choose a customer and an account manager" in response.get_data(as_text=True)


def test_a_parent_admin_manages_subsidiaries_but_not_the_other_way(client, factory, app):
    group = factory.org("acme-group")
    france = factory.org("acme-fr", parent="acme-group")
    lyon = factory.org("acme-lyon", parent="acme-fr")
    group_admin = factory.user(group, "admin", email="ada@acme-group.test")
    france_admin = factory.user(france, "admin", email="fr@acme-fr.test")
    login_as(client, group_admin, group)
    page = client.get("/dashboard").get_data(as_text=True)
    assert "Acme-Fr" in page and "Acme-Lyon" in page
    assert _switch(client, lyon).status_code == 302
    assert client.get("/organisation/members").status_code == 200
    subsidiary = app.test_client()
    login_as(subsidiary, france_admin, france)
    page = subsidiary.get("/dashboard").get_data(as_text=True)
    assert "Acme-Lyon" in page and "Acme-Group" not in page
    assert _switch(subsidiary, group).status_code == 404


ESTATE_PAGES = ["/sites", "/inventory", "/billing-accounts"]


def _partner_session(app, factory, scopes, expires_in_days=30):
    acme = factory.org("acme")
    northwind = factory.org("northwind", kind="partner")
    paul = factory.user(northwind, "partner_agent", email="paul@northwind.test")
    with app.app_context():
        db.session.add(Delegation(organisation_id=acme, partner_id=northwind, scopes=scopes,
                                  expires_at=utcnow() + dt.timedelta(days=expires_in_days)))
        db.session.commit()
    client = app.test_client()
    login_as(client, paul, acme)
    return client


def test_a_partner_sees_the_estate_and_billing_only_with_the_billing_scope(app, factory):
    client = _partner_session(app, factory, ["quote"])
    assert [client.get(p).status_code for p in ESTATE_PAGES] == [200, 200, 403]


def test_the_billing_scope_opens_billing_accounts(app, factory):
    client = _partner_session(app, factory, ["billing"])
    assert [client.get(p).status_code for p in ESTATE_PAGES] == [200, 200, 200]


def test_without_a_live_delegation_a_partner_sees_no_customer_estate(app, factory):
    client = _partner_session(app, factory, ["quote", "order", "billing"],
                              expires_in_days=-1)
    # Back in their own organisation, where a partner agent holds no estate.
    assert [client.get(p).status_code for p in ESTATE_PAGES] == [403, 403, 403]
