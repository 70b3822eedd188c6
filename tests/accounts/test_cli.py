"""The `flask --app app` commands of DESIGN.md: org create, sso set, user grant, demo load."""

from __future__ import annotations

from sqlalchemy import func, select

from accounts.estate.models import BillingAccount, Service, Site
from accounts.models import (
    AccountManagerAssignment,
    Delegation,
    IdpConnection,
    Invitation,
    Membership,
    Organisation,
    User,
)
from portal.audit import AuditEvent
from portal.extensions import db


def run(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


def test_org_create_with_domains_and_parent(app):
    assert run(app, "org", "create", "acme-group", "--name", "Acme Group", "--kind",
               "customer", "--domain", "acme.test").exit_code == 0
    result = run(app, "org", "create", "acme-fr", "--name", "Acme France", "--kind", "customer",
                 "--domain", "ACME.fr", "--domain", "acme-france.test", "--parent", "acme-group")
    assert result.exit_code == 0, result.output
    with app.app_context():
        org = db.session.scalars(select(Organisation).where(Organisation.slug == "acme-fr")).one()
        assert org.parent.slug == "acme-group"
        assert sorted(d.domain for d in org.domains) == ["acme-france.test", "acme.fr"]
        assert all(d.verified for d in org.domains)
        event = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "org:create", AuditEvent.organisation_id == org.id)).one()
        assert event.actor_label == "cli"


def test_org_create_refuses_bad_input_and_writes_nothing(app):
    run(app, "org", "create", "acme", "--name", "Acme", "--kind", "customer", "--domain",
        "acme.test")
    cases = [
        (["org", "create", "acme", "--name", "Again", "--kind", "customer"], "exists already"),
        (["org", "create", "Bad_Slug", "--name", "X", "--kind", "customer"], "not a valid slug"),
        (["org", "create", "other", "--name", "X", "--kind", "customer", "--domain",
          "acme.test"], "belongs to another organisation"),
        (["org", "create", "other", "--name", "X", "--kind", "customer", "--domain",
          "not a domain"], "not a valid domain"),
        (["org", "create", "other", "--name", "X", "--kind", "customer", "--parent", "nope"],
         "No parent organisation"),
    ]
    for args, message in cases:
        result = run(app, *args)
        assert result.exit_code != 0 and message in result.output, (args, result.output)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Organisation)) == 1


def test_sso_set_stores_the_connection_and_validates_roles(app):
    run(app, "org", "create", "acme", "--name", "Acme", "--kind", "customer")
    result = run(app, "sso", "set", "acme", "--issuer", "https://login.acme.test/",
                 "--client-id", "portal", "--client-secret", "shh", "--map",
                 "IT-Admins=admin", "--map", "Buyers=buyer")
    assert result.exit_code == 0, result.output
    bad = run(app, "sso", "set", "acme", "--issuer", "https://login.acme.test",
              "--client-id", "portal", "--client-secret", "shh", "--map", "Ops=operator_admin")
    assert bad.exit_code != 0 and "cannot hold" in bad.output
    with app.app_context():
        connection = db.session.scalars(select(IdpConnection)).one()
        assert connection.issuer == "https://login.acme.test"
        assert connection.role_map == {"IT-Admins": "admin", "Buyers": "buyer"}
        event = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "sso:update")).one()
        assert "shh" not in str(event.after) and "shh" not in str(event.before)


def test_user_grant_before_first_sign_in_waits_as_an_invitation(app):
    run(app, "org", "create", "acme", "--name", "Acme", "--kind", "customer", "--domain",
        "acme.test")
    result = run(app, "user", "grant", "New.Person@acme.test", "--org", "acme", "--role",
                 "finance")
    assert result.exit_code == 0, result.output
    with app.app_context():
        invitation = db.session.scalars(select(Invitation)).one()
        assert (invitation.email, invitation.role) == ("new.person@acme.test", "finance")


def test_user_grant_gives_an_existing_user_a_manual_role(app, factory):
    org_id = factory.org("acme")
    user_id = factory.user(org_id, "buyer", email="bob@acme.test", source="idp")
    result = run(app, "user", "grant", "bob@acme.test", "--org", "acme", "--role", "admin")
    assert result.exit_code == 0, result.output
    with app.app_context():
        roles = {(m.role, m.source) for m in db.session.scalars(
            select(Membership).where(Membership.user_id == user_id))}
        assert roles == {("buyer", "idp"), ("admin", "manual")}


def test_user_grant_refuses_foreign_domains_and_wrong_roles(app, factory):
    factory.org("acme")
    outside = run(app, "user", "grant", "eve@evil.test", "--org", "acme", "--role", "admin")
    assert outside.exit_code != 0 and "not in a verified domain" in outside.output
    wrong = run(app, "user", "grant", "bob@acme.test", "--org", "acme", "--role",
                "sales_director")
    assert wrong.exit_code != 0 and "has no role" in wrong.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Invitation)) == 0


def test_user_deactivate(app, factory):
    org_id = factory.org("acme")
    user_id = factory.user(org_id, "buyer", email="bob@acme.test")
    assert run(app, "user", "deactivate", "bob@acme.test").exit_code == 0
    with app.app_context():
        assert db.session.get(User, user_id).active is False


def _counts(app) -> dict:
    with app.app_context():
        return {model.__name__: db.session.scalar(select(func.count()).select_from(model))
                for model in (Organisation, User, Site, Service, BillingAccount, Delegation,
                              AccountManagerAssignment)}


def test_demo_load_is_idempotent(app):
    first = run(app, "demo", "load")
    assert first.exit_code == 0, first.output
    after_first = _counts(app)
    second = run(app, "demo", "load")
    assert "already present" in second.output
    assert _counts(app) == after_first
    with app.app_context():
        orgs = {o.slug: o for o in db.session.scalars(select(Organisation))}
        demo = {"carrier", "acme", "globex", "northwind"}
        assert demo <= set(orgs)
        # The legacy systems' samples bring more customers, all of them customers.
        assert {orgs[slug].kind for slug in set(orgs) - demo} == {"customer"}
        assert orgs["carrier"].kind == "operator" and orgs["northwind"].kind == "partner"
        assert all(orgs[slug].idp is not None for slug in demo)
        assert orgs["acme"].idp.issuer == "http://localhost/devidp/acme"
        acme = orgs["acme"].id
        sites = db.session.scalars(select(Site).where(Site.organisation_id == acme)).all()
        assert len(sites) == 40 and {s.country for s in sites} == {"DE", "FR", "GB", "NL"}
        assert db.session.scalar(select(func.count()).select_from(BillingAccount).where(
            BillingAccount.organisation_id == acme)) == 3
        systems = dict(db.session.execute(
            select(Service.source_system, func.count()).where(Service.organisation_id == acme)
            .group_by(Service.source_system)).all())
        assert set(systems) == {"mobile-bss", "fixed-bss", "tv-bss"}
        assert 100 <= sum(systems.values()) <= 400
        delegation = db.session.scalars(select(Delegation)).one()
        assert (delegation.organisation_id, delegation.partner_id) == (
            acme, orgs["northwind"].id)
        managed = {a.customer.slug for a in db.session.scalars(select(AccountManagerAssignment))}
        assert managed == {"acme", "globex"}
