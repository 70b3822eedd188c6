"""Members: invitations, roles granted by hand next to IdP roles, the last administrator."""

from __future__ import annotations

import re

from conftest import csrf_token, login_as
from sqlalchemy import select

from accounts.models import Invitation, Membership, User
from portal.audit import AuditEvent
from portal.extensions import db


def _admin(client, factory):
    org_id = factory.org("acme")
    me = factory.user(org_id, "admin", email="ada@acme.test")
    login_as(client, me, org_id)
    return org_id, me


def _roles(app, user_id, org_id):
    with app.app_context():
        return {(m.role, m.source) for m in db.session.scalars(select(Membership).where(
            Membership.user_id == user_id, Membership.organisation_id == org_id))}


def test_an_admin_invites_someone_who_then_holds_the_role(client, factory, app):
    org_id, _ = _admin(client, factory)
    response = client.post("/organisation/members/invite", follow_redirects=True, data={
        "csrf_token": csrf_token(client, "/organisation/members"),
        "email": "New.Buyer@acme.test", "role": "buyer"})
    page = response.get_data(as_text=True)
    assert "new.buyer@acme.test" in page and "Invitations not yet used" in page
    with app.app_context():
        invitation = db.session.scalars(select(Invitation)).one()
        assert (invitation.email, invitation.role) == ("new.buyer@acme.test", "buyer")
        assert db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "user:invite")).one().actor_label == "ada@acme.test"


def test_an_invitation_outside_the_verified_domains_is_refused(client, factory, app):
    _admin(client, factory)
    response = client.post("/organisation/members/invite", follow_redirects=True, data={
        "csrf_token": csrf_token(client, "/organisation/members"),
        "email": "eve@evil.test", "role": "admin"})
    assert "not in a verified domain" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalars(select(Invitation)).all() == []


def test_a_role_that_the_org_kind_cannot_hold_is_refused(client, factory, app):
    _admin(client, factory)
    response = client.post("/organisation/members/invite", data={
        "csrf_token": csrf_token(client, "/organisation/members"),
        "email": "x@acme.test", "role": "operator_admin"}, follow_redirects=True)
    assert "Enter an e-mail address and pick a role" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalars(select(Invitation)).all() == []


def test_withdrawing_an_invitation(client, factory, app):
    org_id, _ = _admin(client, factory)
    with app.app_context():
        invitation = Invitation(organisation_id=org_id, email="x@acme.test", role="buyer")
        db.session.add(invitation)
        db.session.commit()
        invitation_id = invitation.id
    client.post(f"/organisation/invitations/{invitation_id}/revoke",
                data={"csrf_token": csrf_token(client, "/organisation/members")})
    with app.app_context():
        assert db.session.get(Invitation, invitation_id) is None


def test_hand_roles_change_but_idp_roles_stay(client, factory, app):
    org_id, _ = _admin(client, factory)
    bob = factory.user(org_id, "buyer", email="bob@acme.test", source="idp")
    response = client.post(f"/organisation/members/{bob}/roles", follow_redirects=True, data={
        "csrf_token": csrf_token(client, "/organisation/members"), "roles": ["finance"]})
    assert "bob@acme.test now holds: Buyer, Finance" in response.get_data(as_text=True)
    assert _roles(app, bob, org_id) == {("buyer", "idp"), ("finance", "manual")}
    # Unticking everything removes the hand role; the IdP role is the IdP's to change.
    client.post(f"/organisation/members/{bob}/roles",
                data={"csrf_token": csrf_token(client, "/organisation/members")})
    assert _roles(app, bob, org_id) == {("buyer", "idp")}


def test_the_last_admin_cannot_be_demoted(client, factory, app):
    org_id, me = _admin(client, factory)
    response = client.post(f"/organisation/members/{me}/roles", follow_redirects=True, data={
        "csrf_token": csrf_token(client, "/organisation/members"), "roles": ["buyer"]})
    assert "last administrator" in response.get_data(as_text=True)
    assert _roles(app, me, org_id) == {("admin", "manual")}


def test_a_second_admin_can_be_demoted(client, factory, app):
    org_id, _ = _admin(client, factory)
    other = factory.user(org_id, "admin", email="second@acme.test")
    client.post(f"/organisation/members/{other}/roles", data={
        "csrf_token": csrf_token(client, "/organisation/members"), "roles": ["viewer"]})
    assert _roles(app, other, org_id) == {("viewer", "manual")}
    with app.app_context():
        event = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "user:roles")).one()
        assert event.before == {"roles": ["admin"]} and event.after == {"roles": ["viewer"]}


def test_removing_every_role_is_refused(client, factory, app):
    org_id, _ = _admin(client, factory)
    viewer = factory.user(org_id, "viewer", email="vic@acme.test")
    response = client.post(f"/organisation/members/{viewer}/roles", follow_redirects=True,
                           data={"csrf_token": csrf_token(client, "/organisation/members")})
    assert "would hold no role" in response.get_data(as_text=True)
    assert _roles(app, viewer, org_id) == {("viewer", "manual")}


def test_the_page_marks_idp_roles_as_not_editable(client, factory):
    org_id, _ = _admin(client, factory)
    bob = factory.user(org_id, "buyer", email="bob@acme.test", source="idp")
    page = client.get("/organisation/members").get_data(as_text=True)

    def checkbox(role):
        return re.search(rf'<input[^>]*id="r-{bob}-{role}"[^>]*>', page, re.S).group(0)

    assert "checked" in checkbox("buyer") and "disabled" in checkbox("buyer")
    assert "checked" not in checkbox("admin") and "disabled" not in checkbox("admin")


def test_deactivated_users_are_marked_and_can_be_reactivated(client, factory, app):
    org_id, _ = _admin(client, factory)
    bob = factory.user(org_id, "buyer", email="bob@acme.test")
    token = csrf_token(client, "/organisation/members")
    client.post(f"/organisation/members/{bob}/deactivate", data={"csrf_token": token})
    assert "deactivated" in client.get("/organisation/members").get_data(as_text=True)
    client.post(f"/organisation/members/{bob}/activate", data={"csrf_token": token})
    with app.app_context():
        assert db.session.get(User, bob).active is True
