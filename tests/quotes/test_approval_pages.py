"""The approvers' pages: the queue of the customers assigned to them, a version to decide
on, approving and rejecting with a comment, the stale page that must not win, the sales
director's second level, and the requester told in the portal and by e-mail."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import re
from decimal import Decimal
from html import unescape
from pathlib import Path

import pytest
from conftest import count_queries, csrf_token, login_as
from sqlalchemy import func, select
from support.quoting import make_quote

from accounts.estate.models import BillingAccount, Site
from accounts.models import AccountManagerAssignment, User
from portal.catalog.store import current_catalog
from portal.extensions import db
from portal.notifications.models import Notification
from quotes import approvals, services
from quotes import cart as carts
from quotes.models import QuoteApproval, QuoteState, QuoteVersion

TODAY = dt.date.today()
ROW_VERSION = re.compile(r'name="row_version" type="hidden" value="(\d+)"')
WRITES = re.compile(r"^\s*(INSERT|UPDATE|DELETE)\b(?!.*\bweb_sessions\b)", re.I | re.S)


def _submitted(app, q, discount: str = "12", **kwargs) -> tuple[int, int]:
    """A quote of the customer with a negotiated discount, submitted by the buyer:
    (quote id, version id)."""
    quote_id = make_quote(app, q, discounts={1: discount}, **kwargs)
    with app.app_context():
        version = services.get_version(db.session, q.org, quote_id)
        approvals.submit(db.session, version, db.session.get(User, q.buyer), TODAY)
        db.session.commit()
        return quote_id, version.id


def _other_customer_quote(app, q) -> int:
    """A pending quote of the other customer (globex), whose account manager is
    `other_manager`: its version id."""
    with app.app_context():
        account = BillingAccount(organisation_id=q.other_org, number="BA-G", name="Globex",
                                 country="DE")
        site = Site(organisation_id=q.other_org, code="G-1", name="Globex HQ", address="1",
                    postcode="1", city="Bonn", country="DE")
        db.session.add_all([account, site])
        db.session.flush()
        buyer = db.session.get(User, q.buyer)
        catalog_version, catalog = current_catalog(db.session)
        cart = carts.open_cart(db.session, q.other_org, q.buyer)
        carts.add_lines(db.session, cart, catalog, [site.id], "MOB-UNL", 5, 24)
        carts.set_billing_account(db.session, cart, account.id)
        quote = services.create_from_cart(db.session, cart, catalog_version, catalog, buyer,
                                          TODAY, title="Globex fleet")
        version = quote.versions[0]
        services.change_line(db.session, version, version.lines[0].id, quantity=5,
                             term_months=24, discount=Decimal("0.10"),
                             justification="Globex tender", today=TODAY)
        approvals.submit(db.session, version, buyer, TODAY)
        db.session.commit()
        return version.id


def _version(app, version_id) -> QuoteVersion:
    with app.app_context():
        version = db.session.get(QuoteVersion, version_id)
        version.approvals  # noqa: B018 - loaded while the session is open
        db.session.expunge(version)  # kept as it is now when the session ends
        return version


def _open(client, version_id) -> tuple[str, int | None]:
    """The detail page and the row_version its decision form carries (None: no form)."""
    response = client.get(f"/approvals/{version_id}")
    assert response.status_code == 200
    html = unescape(response.get_data(as_text=True))
    match = ROW_VERSION.search(html)
    return html, int(match.group(1)) if match else None


def _decide(client, version_id, decision, comment="", row_version=None) -> str:
    """Post a decision and follow to the page it leads to: that page's text."""
    if row_version is None:
        row_version = _open(client, version_id)[1]
    data = {"csrf_token": csrf_token(client, "/approvals"), "decision": decision,
            "comment": comment, "row_version": str(row_version)}
    response = client.post(f"/approvals/{version_id}", data=data, follow_redirects=True)
    assert response.status_code == 200
    return unescape(response.get_data(as_text=True))


def _outbox(app) -> list[email.message.EmailMessage]:
    folder = Path(app.instance_path) / "mail"
    return [email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            for path in sorted(folder.glob("*.eml"))] if folder.exists() else []


def test_the_queue_shows_only_the_customers_assigned(app, client, quoting):
    q = quoting
    _submitted(app, q)
    _other_customer_quote(app, q)
    login_as(client, q.manager, q.operator)
    html = client.get("/approvals").get_data(as_text=True)
    assert html.count('data-testid="approval-row"') == 1
    assert "Acme" in html and "Globex" not in html
    assert "12 %" in html and "account manager" in html
    assert "bob@acme.test" in html  # who asked
    login_as(client, q.director, q.operator)
    # Nothing at the director's level yet: the account managers decide first.
    assert 'data-testid="approval-row"' not in client.get("/approvals").get_data(as_text=True)


def test_another_account_manager_gets_404(app, client, quoting):
    q = quoting
    _, version_id = _submitted(app, q)
    login_as(client, q.other_manager, q.operator)
    assert 'data-testid="approval-row"' not in client.get("/approvals").get_data(as_text=True)
    assert client.get(f"/approvals/{version_id}").status_code == 404
    response = client.post(f"/approvals/{version_id}", data={
        "csrf_token": csrf_token(client, "/approvals"), "decision": "approved",
        "comment": "mine now", "row_version": "1"})
    assert response.status_code == 404
    assert _version(app, version_id).state == QuoteState.PENDING


def test_customers_cannot_open_the_approval_pages(app, client, quoting):
    q = quoting
    _, version_id = _submitted(app, q)
    login_as(client, q.buyer, q.org)
    assert client.get("/approvals").status_code == 403
    assert client.get(f"/approvals/{version_id}").status_code == 403


def test_the_detail_page_shows_what_is_decided_on(app, client, quoting):
    q = quoting
    _, version_id = _submitted(app, q)
    login_as(client, q.manager, q.operator)
    with count_queries(app) as statements:
        html, row_version = _open(client, version_id)
    assert [s for s in statements if WRITES.match(s)] == []  # looking changes nothing
    assert row_version == _version(app, version_id).row_version
    assert "Competing offer" in html  # the justification
    assert "12 %" in html
    assert "BA-1 · Acme GmbH" in html
    assert 'data-testid="decision-form"' in html
    assert "Business Mobile Unlimited" in html


def test_approving_with_a_comment_tells_the_requester(app, client, quoting):
    q = quoting
    quote_id, version_id = _submitted(app, q)
    login_as(client, q.manager, q.operator)
    html = _decide(client, version_id, "approved", "Good customer, fine by me")
    assert "is approved; the customer can accept it" in html
    assert 'data-testid="approval-row"' not in html  # back on the queue, now empty
    version = _version(app, version_id)
    assert version.state == QuoteState.APPROVED
    [decision] = version.approvals
    assert (decision.level, decision.decision, decision.user_id, decision.comment) == \
        ("account_manager", "approved", q.manager, "Good customer, fine by me")
    assert decision.content_hash == version.content_hash

    # The buyer sees it in the portal ...
    login_as(client, q.buyer, q.org)
    page = client.get("/notifications").get_data(as_text=True)
    assert "v1 approved" in page and "Good customer, fine by me" in page
    assert 'data-testid="unread-count">1<' in page
    # ... and got an e-mail with an absolute link to the quote.
    [mail] = [m for m in _outbox(app) if m["To"].addresses[0].addr_spec == "bob@acme.test"]
    assert "approved" in mail["Subject"]
    body = mail.get_content()
    assert f"http://localhost/quotes/{quote_id}?version=1" in body
    assert "Good customer, fine by me" in body
    with app.app_context():
        row = db.session.scalars(select(Notification).where(
            Notification.user_id == q.buyer)).one()
        assert row.emailed_at is not None and row.email_error is None


def test_rejecting_needs_a_comment(app, client, quoting):
    q = quoting
    _, version_id = _submitted(app, q)
    login_as(client, q.manager, q.operator)
    html = _decide(client, version_id, "rejected", "   ")
    assert "Say why the quote is rejected" in html
    assert _version(app, version_id).state == QuoteState.PENDING
    html = _decide(client, version_id, "rejected", "12 % is too much for 10 lines")
    assert "is rejected" in html
    version = _version(app, version_id)
    assert version.state == QuoteState.REJECTED
    assert version.approvals[0].comment == "12 % is too much for 10 lines"


def test_an_incomplete_form_changes_nothing(app, client, quoting):
    q = quoting
    _, version_id = _submitted(app, q)
    login_as(client, q.manager, q.operator)
    response = client.post(f"/approvals/{version_id}", data={
        "csrf_token": csrf_token(client, "/approvals"), "decision": "maybe"},
        follow_redirects=True)
    assert "The form was incomplete" in response.get_data(as_text=True)
    assert _version(app, version_id).state == QuoteState.PENDING


def test_a_page_opened_before_the_buyer_changed_the_quote_cannot_approve(app, client,
                                                                        quoting):
    q = quoting
    quote_id, version_id = _submitted(app, q)
    login_as(client, q.manager, q.operator)
    _, seen = _open(client, version_id)
    with app.app_context():  # meanwhile the buyer asks for more
        version = services.get_version(db.session, q.org, quote_id)
        line = version.lines[0]
        services.change_line(db.session, version, line.id, quantity=40, term_months=24,
                             discount=Decimal("0.12"), justification="Bigger fleet",
                             today=TODAY)
        db.session.commit()
    html = _decide(client, version_id, "approved", "ok", row_version=seen)
    assert f"Quote Q-{TODAY.year}-{quote_id:06d} changed since you opened it" in html
    assert "look at it again before deciding" in html
    version = _version(app, version_id)
    assert version.state == QuoteState.IN_PROGRESS
    assert version.approvals == []


def test_two_approvers_at_once_one_wins_and_the_other_is_told(app, client, quoting):
    q = quoting
    with app.app_context():  # a second account manager for the same customer
        db.session.add(AccountManagerAssignment(organisation_id=q.org, user_id=q.other_manager))
        db.session.commit()
    _, version_id = _submitted(app, q)
    other = app.test_client()
    login_as(client, q.manager, q.operator)
    login_as(other, q.other_manager, q.operator)
    _, mine = _open(client, version_id)
    _, theirs = _open(other, version_id)
    assert mine == theirs
    assert "is approved" in _decide(other, version_id, "approved", "go", row_version=theirs)
    html = _decide(client, version_id, "rejected", "no", row_version=mine)
    assert "changed since you opened it (it is now approved)" in html
    version = _version(app, version_id)
    assert version.state == QuoteState.APPROVED
    assert [(a.user_id, a.decision) for a in version.approvals] == \
        [(q.other_manager, "approved")]


def test_the_sales_director_gives_the_second_approval(app, client, quoting):
    q = quoting
    _, version_id = _submitted(app, q, discount="20")
    login_as(client, q.director, q.operator)
    html, row_version = _open(client, version_id)
    assert row_version is None  # the account manager decides first
    assert "waits for the account manager's decision" in html

    login_as(client, q.manager, q.operator)
    html = _decide(client, version_id, "approved", "Strategic account")
    assert "now waits for the sales director" in html
    html, row_version = _open(client, version_id)
    assert row_version is None  # the manager cannot give the second approval
    assert "waits for the sales director's decision" in html

    login_as(client, q.director, q.operator)
    queue = client.get("/approvals").get_data(as_text=True)
    assert queue.count('data-testid="approval-row"') == 1 and "sales director" in queue
    html = client.get("/notifications").get_data(as_text=True)
    assert "waits for the sales director" in html
    assert "is approved" in _decide(client, version_id, "approved", "OK")
    version = _version(app, version_id)
    assert version.state == QuoteState.APPROVED
    assert [(a.level, a.user_id) for a in version.approvals] == \
        [("account_manager", q.manager), ("sales_director", q.director)]
    assert approvals.approvals_valid(version)


def test_an_expired_request_shows_no_decision_form(app, client, quoting):
    q = quoting
    _, version_id = _submitted(app, q)
    with app.app_context():
        version = db.session.get(QuoteVersion, version_id)
        version.valid_until = TODAY - dt.timedelta(days=1)
        db.session.commit()
    login_as(client, q.manager, q.operator)
    assert 'data-testid="expired"' in client.get("/approvals").get_data(as_text=True)
    html, row_version = _open(client, version_id)
    assert row_version is None
    assert "has expired and can no longer be approved" in html


def test_the_approver_page_links_to_the_pdf(app, client, quoting):
    q = quoting
    _, version_id = _submitted(app, q)
    login_as(client, q.manager, q.operator)
    html, _ = _open(client, version_id)
    link = re.search(r'href="([^"]+)" data-testid="pdf-link"', html).group(1)
    assert link == f"/approvals/{version_id}/pdf"
    assert client.get(link).headers["Content-Type"] == "application/pdf"


@pytest.mark.parametrize("who", ["manager", "director"])
def test_the_queue_runs_a_fixed_number_of_queries(app, client, quoting, who):
    q = quoting
    _submitted(app, q, discount="20")
    login_as(client, getattr(q, who), q.operator)

    def queries() -> int:
        client.get("/approvals")  # warm up (session row, caches)
        with count_queries(app) as statements:
            assert client.get("/approvals").status_code == 200
        assert [s for s in statements if WRITES.match(s)] == []
        return len(statements)

    def to_the_director():
        with app.app_context():
            for version in db.session.scalars(select(QuoteVersion).where(
                    QuoteVersion.approval_stage == "account_manager")):
                approvals.decide(db.session, version, db.session.get(User, q.manager),
                                 "approved", "", TODAY)
            db.session.commit()

    if who == "director":
        to_the_director()
    one = queries()
    for _ in range(9):
        _submitted(app, q, discount="20")
    if who == "director":
        to_the_director()
    html = client.get("/approvals").get_data(as_text=True)
    assert html.count('data-testid="approval-row"') == 10
    assert queries() == one
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(QuoteApproval)) == \
            (10 if who == "director" else 0)
