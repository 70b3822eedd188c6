"""The operator pages under /operator/legacy: upload, proposals, legacy accounts."""

from __future__ import annotations

import io

import pytest
from conftest import count_queries, csrf_token, login_as
from sqlalchemy import func, select

from accounts.legacy.layouts import LAYOUTS
from accounts.legacy.models import LegacyAccount, MatchProposal
from accounts.legacy.services import SAMPLES
from accounts.models import Organisation
from portal.audit import AuditEvent
from portal.extensions import db
from portal.security import Role


@pytest.fixture
def operator(client, factory):
    """Signed in as an operator admin of `carrier`."""
    org_id = factory.org("carrier", kind="operator")
    user_id = factory.user(org_id, Role.OPERATOR_ADMIN, email="olga@carrier.test")
    login_as(client, user_id, org_id)
    return user_id


def _upload(client, system: str, data: bytes, name: str = "export.csv"):
    return client.post("/operator/legacy/import", data={
        "csrf_token": csrf_token(client, "/operator/legacy"), "system": system,
        "file": (io.BytesIO(data), name)}, content_type="multipart/form-data")


def _upload_samples(client):
    for system, layout in LAYOUTS.items():
        response = _upload(client, system, (SAMPLES / layout.sample).read_bytes(), layout.sample)
        assert response.status_code == 200


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_the_nav_leads_operator_admins_to_the_imports(client, operator):
    page = client.get("/dashboard").get_data(as_text=True)
    assert 'href="/operator/legacy">Legacy imports</a>' in page
    index = client.get("/operator/legacy").get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in index and "Nothing imported yet." in index


def test_uploading_the_samples_shows_reports_and_audits(client, operator, app):
    response = _upload(client, "mobile-bss",
                       (SAMPLES / "mobile-bss-customers.csv").read_bytes(),
                       "mobile-bss-customers.csv")
    page = response.get_data(as_text=True)
    assert "mobile-bss-customers.csv (mobile-bss): 98 rows, 5 customer accounts." in page
    assert "Services: 98 created, 0 updated, 0 unchanged." in page
    again = _upload(client, "mobile-bss", (SAMPLES / "mobile-bss-customers.csv").read_bytes())
    assert "Nothing changed" in again.get_data(as_text=True)
    index = client.get("/operator/legacy").get_data(as_text=True)
    assert "mobile-bss-customers.csv" in index and "olga@carrier.test" in index
    with app.app_context():
        events = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "legacy:import")).all()
        assert [e.actor_label for e in events] == ["olga@carrier.test"] * 2
        assert events[0].after["services_created"] == 98


@pytest.mark.parametrize("system,data,message", [
    ("fixed-bss", (SAMPLES / "fixed-bss-customers.csv").read_bytes().replace(
        b"2018-10-24", b"24/10/2018"), "Line 2: start_date &#39;24/10/2018&#39; is not a date"),
    ("mobile-bss", (SAMPLES / "tv-bss-customers.csv").read_bytes(),
     "It looks like a TV BSS export (tv-bss)"),
    ("tv-bss", "Müller".encode("latin-1"), "is not UTF-8 text"),
])
def test_a_refused_upload_explains_why_and_changes_nothing(client, operator, app, system,
                                                           data, message):
    response = _upload(client, system, data)
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    with app.app_context():
        assert _count(LegacyAccount) == 0
        assert db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "legacy:import")).all() == []


def test_an_upload_needs_a_file(client, operator):
    response = client.post("/operator/legacy/import", data={
        "csrf_token": csrf_token(client, "/operator/legacy"), "system": "tv-bss"},
        content_type="multipart/form-data")
    assert "Choose the export file." in response.get_data(as_text=True)


def test_posts_without_csrf_are_refused(client, operator, app):
    _upload_samples(client)
    with app.app_context():
        proposal_id = db.session.scalar(select(MatchProposal.id))
    for path in ("/operator/legacy/import", f"/operator/legacy/proposals/{proposal_id}/confirm",
                 f"/operator/legacy/proposals/{proposal_id}/reject"):
        assert client.post(path, data={}).status_code == 400
    with app.app_context():
        assert db.session.get(MatchProposal, proposal_id).status == "open"


def test_proposals_side_by_side_then_confirm(client, operator, app):
    _upload_samples(client)
    page = client.get("/operator/legacy/proposals").get_data(as_text=True)
    assert "1 proposal waits for a decision." in page
    assert "INITECH" in page and "Initech SAS" in page  # the two names side by side
    assert "12, rue de la Paix" in page and "12 Rue de la Paix" in page  # and addresses
    assert "100 %" in page and "same postcode" in page
    with app.app_context():
        proposal_id = db.session.scalar(select(MatchProposal.id))
    response = client.post(f"/operator/legacy/proposals/{proposal_id}/confirm",
                           data={"csrf_token": csrf_token(client, "/operator/legacy")},
                           follow_redirects=True)
    text = response.get_data(as_text=True)
    assert "fixed-bss FB-0091002 (INITECH) is now part of Initech SAS." in text
    assert "Nothing to decide." in text
    with app.app_context():
        event = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "legacy:confirm")).one()
        assert event.actor_label == "olga@carrier.test"
        assert db.session.get(MatchProposal, proposal_id).decided_by_id == operator


def test_reject_from_the_page_keeps_it_apart(client, operator, app):
    _upload_samples(client)
    with app.app_context():
        proposal_id = db.session.scalar(select(MatchProposal.id))
    response = client.post(f"/operator/legacy/proposals/{proposal_id}/reject",
                           data={"csrf_token": csrf_token(client, "/operator/legacy")},
                           follow_redirects=True)
    assert "is kept apart as its own organisation, INITECH." in response.get_data(as_text=True)
    again = client.post(f"/operator/legacy/proposals/{proposal_id}/reject",
                        data={"csrf_token": csrf_token(client, "/operator/legacy")},
                        follow_redirects=True)
    assert "was already rejected" in again.get_data(as_text=True)
    missing = client.post("/operator/legacy/proposals/999/confirm",
                          data={"csrf_token": csrf_token(client, "/operator/legacy")})
    assert missing.status_code == 404


def test_the_accounts_page_lists_each_organisations_legacy_accounts(client, operator):
    _upload_samples(client)
    page = client.get("/operator/legacy/accounts").get_data(as_text=True)
    assert "6 organisations with legacy accounts" in page
    assert "M100234" in page and "FB-0045821" in page and "TV-88812" in page
    assert "Waiting for a decision" in page and "FB-0091002" in page
    one = client.get("/operator/legacy/accounts?org=hooli").get_data(as_text=True)
    assert "1 organisation with legacy accounts" in one
    assert "FB-0102030" in one and "M100234" not in one


@pytest.mark.parametrize("role,kind", [(Role.ADMIN, "customer"), (Role.ACCOUNT_MANAGER,
                                       "operator"), (Role.PARTNER_ADMIN, "partner")])
def test_other_roles_are_refused(client, factory, role, kind):
    org_id = factory.org("home", kind=kind)
    login_as(client, factory.user(org_id, role), org_id)
    for path in ("/operator/legacy", "/operator/legacy/proposals", "/operator/legacy/accounts"):
        assert client.get(path).status_code == 403
    assert "Legacy imports" not in client.get("/dashboard").get_data(as_text=True)


def test_anonymous_users_are_sent_to_sign_in(client):
    response = client.get("/operator/legacy/proposals")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def _proposals(app, count: int, start: int = 0) -> None:
    """`count` look-alike accounts, each proposed for an organisation with accounts of its
    own."""
    with app.app_context():
        for n in range(start, start + count):
            org = Organisation(slug=f"company-{n}", name=f"Company {n}", kind="customer")
            db.session.add(LegacyAccount(system="mobile-bss", external_id=f"M{n}",
                                         name=f"Company {n} GmbH", country="DE",
                                         status="matched", organisation=org, postcode="10115"))
            account = LegacyAccount(system="fixed-bss", external_id=f"F{n}",
                                    name=f"COMPANY {n}", country="DE", status="proposed",
                                    held_rows=[])
            db.session.add(MatchProposal(account=account, organisation=org, score=90,
                                         reasons=["names alike"], status="open"))
        db.session.commit()


def test_the_proposals_page_runs_a_fixed_number_of_queries(client, operator, app):
    _proposals(app, 1)
    client.get("/operator/legacy/proposals")
    with count_queries(app) as one:
        assert client.get("/operator/legacy/proposals").status_code == 200
    _proposals(app, 9, start=1)
    with count_queries(app) as ten:
        page = client.get("/operator/legacy/proposals").get_data(as_text=True)
    assert page.count('data-testid="proposal"') == 10
    # session, user, memberships, the unread-notification count and five of the page's
    assert len(ten) == len(one) <= 9


def test_the_accounts_page_runs_a_fixed_number_of_queries(client, operator, app):
    _proposals(app, 1)
    client.get("/operator/legacy/accounts")  # the session's first request writes it
    with count_queries(app) as one:
        client.get("/operator/legacy/accounts")
    _proposals(app, 9, start=1)
    with count_queries(app) as ten:
        client.get("/operator/legacy/accounts")
    assert len(ten) == len(one)
