"""The customer's quote pages: asking for a quote from the cart, the list, a version with
its prices and breakdowns, changing lines, requesting approval, accepting, versions and their
comparison; each for the roles that may, and nothing of another organisation."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from conftest import count_queries, csrf_token, login_as
from sqlalchemy import func, select
from support.quoting import make_quote

from accounts.models import Delegation, User
from portal.catalog.pricing import LineRequest, price_configuration
from portal.catalog.store import current_catalog
from portal.db import utcnow
from portal.extensions import db
from portal.orders.models import Order
from quotes import approvals
from quotes import cart as carts
from quotes.models import Quote, QuoteLine, QuoteState, QuoteVersion

TODAY = dt.date.today()
LONG_AGO = TODAY - dt.timedelta(days=40)  # a quote made then expired 10 days ago


def _money(amount) -> str:
    return f"{Decimal(amount):,.2f} EUR"


def _html(client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, path
    return response.get_data(as_text=True)


def _post(client, path: str, follow: bool = True, **data):
    data["csrf_token"] = csrf_token(client, "/quotes")
    return client.post(path, data=data, follow_redirects=follow)


def _version(app, q, quote_id, number=None) -> QuoteVersion:
    from quotes import services

    with app.app_context():
        version = services.get_version(db.session, q.org, quote_id, number)
        db.session.expunge_all()
        return version


def _state(app, q, quote_id, number=None) -> str:
    return _version(app, q, quote_id, number).state


def _lines(app, quote_id, number=1) -> list[QuoteLine]:
    with app.app_context():
        lines = db.session.scalars(
            select(QuoteLine).join(QuoteVersion)
            .where(QuoteVersion.quote_id == quote_id, QuoteVersion.version == number)
            .order_by(QuoteLine.position)).all()
        db.session.expunge_all()
        return lines


def _submit(app, q, quote_id, today=TODAY) -> str:
    """Request approval as the buyer, through the service (the page is tested below)."""
    from quotes import services

    with app.app_context():
        version = services.get_version(db.session, q.org, quote_id)
        path = approvals.submit(db.session, version, db.session.get(User, q.buyer), today)
        db.session.commit()
        return path


def _orders(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(Order.id)))


# -- asking for a quote ------------------------------------------------------------------------

def test_a_buyer_requests_a_quote_from_the_cart_and_sees_the_engines_totals(
        app, client, quoting):
    q = quoting
    login_as(client, q.buyer, q.org)
    wanted = [("DE-001", "MOB-UNL", 10, 24), ("DE-002", "FIBRE", 1, 36)]
    with app.app_context():
        catalog_version, catalog = current_catalog(db.session)
        cart = carts.open_cart(db.session, q.org, q.buyer)
        for site, code, quantity, term in wanted:
            carts.add_lines(db.session, cart, catalog, [q.sites[site]], code, quantity, term)
        db.session.commit()
        expected = price_configuration(
            catalog, [LineRequest(offering_code=code, quantity=quantity, term_months=term,
                                  site_id=q.sites[site]) for site, code, quantity, term in wanted],
            "DE", utcnow().date())
    assert 'data-testid="request-quote"' in _html(client, "/configurator")

    response = _post(client, "/quotes", follow=False, title="Berlin offices")
    assert response.status_code == 302
    match = re.fullmatch(r"/quotes/(\d+)", response.headers["Location"])
    assert match
    html = _html(client, response.headers["Location"])
    assert "was made from your cart" in html
    assert "Berlin offices" in html
    for testid, amount in [("total-mrc", expected.total_mrc), ("total-nrc", expected.total_nrc),
                           ("total-tcv", expected.total_tcv), ("tax-tcv", expected.tax_tcv),
                           ("total-tcv-tax", expected.tcv_with_tax)]:
        assert f'data-testid="{testid}">{_money(amount)}<' in html, testid
    assert expected.total_mrc == Decimal("309.50")
    assert "in progress" in html
    with app.app_context():
        quote = db.session.get(Quote, int(match.group(1)))
        assert (quote.organisation_id, quote.created_by_id, quote.title) == (
            q.org, q.buyer, "Berlin offices")
        assert db.session.scalars(select(carts.Cart)).one().status == "quoted"
    # The cart is closed: the configurator no longer offers to quote it.
    assert 'data-testid="request-quote"' not in _html(client, "/configurator")


def test_an_empty_cart_or_a_broken_rule_goes_back_to_the_configurator(app, client, quoting):
    q = quoting
    login_as(client, q.buyer, q.org)
    response = _post(client, "/quotes", follow=False)
    assert response.headers["Location"] == "/configurator"
    assert "The cart is empty" in _html(client, "/configurator")
    with app.app_context():
        cart = carts.open_cart(db.session, q.org, q.buyer)
        _, catalog = current_catalog(db.session)
        carts.add_lines(db.session, cart, catalog, [q.sites["DE-001"]], "MOB-UNL", 1, 24)
        cart.billing_account = None
        db.session.commit()
    response = _post(client, "/quotes")
    assert "Choose an active billing account" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count(Quote.id))) == 0


# -- the list ----------------------------------------------------------------------------------

def test_the_list_shows_the_latest_versions_filters_and_searches(app, client, quoting):
    q = quoting
    first = make_quote(app, q)
    second = make_quote(app, q, lines=[("DE-002", "FIBRE", 1, 24)])
    old = make_quote(app, q, today=LONG_AGO)
    with app.app_context():
        db.session.get(Quote, second).title = "Fibre for Site 2"
        db.session.commit()
        numbers = {quote.id: quote.number for quote in db.session.scalars(select(Quote))}
    login_as(client, q.viewer, q.org)
    _post(client, f"/quotes/{first}/cancel", version=1)  # the viewer may not
    assert _state(app, q, first) == QuoteState.IN_PROGRESS
    login_as(client, q.buyer, q.org)
    _post(client, f"/quotes/{first}/cancel", version=1)

    html = _html(client, "/quotes")
    assert all(number in html for number in numbers.values())
    assert html.count('data-testid="quote-row"') == 3
    assert html.count('data-testid="expired"') == 1
    assert "bob@acme.test" in html and "237.50 EUR" in html

    cancelled = _html(client, "/quotes?state=cancelled")
    assert numbers[first] in cancelled and cancelled.count('data-testid="quote-row"') == 1
    expired = _html(client, "/quotes?state=expired")
    assert numbers[old] in expired and expired.count('data-testid="quote-row"') == 1
    by_title = _html(client, "/quotes?q=fibre")
    assert numbers[second] in by_title and by_title.count('data-testid="quote-row"') == 1
    by_number = _html(client, f"/quotes?q={numbers[old]}")
    assert by_number.count('data-testid="quote-row"') == 1
    assert "No quotes match." in _html(client, "/quotes?q=nothing-like-this")
    # An unknown state is ignored rather than an error.
    assert _html(client, "/quotes?state=bogus").count('data-testid="quote-row"') == 3


def test_the_list_runs_a_fixed_number_of_queries(app, client, quoting):
    q = quoting
    login_as(client, q.viewer, q.org)

    def count() -> int:
        client.get("/quotes")  # warm up (session row, caches)
        with count_queries(app) as statements:
            assert client.get("/quotes").status_code == 200
        return len(statements)

    for _ in range(2):
        make_quote(app, q)
    small = count()
    for _ in range(28):
        make_quote(app, q, lines=[("DE-001", "MOB-UNL", 2, 12), ("DE-003", "FIBRE", 1, 24)])
    assert _html(client, "/quotes").count('data-testid="quote-row"') == 30
    assert count() == small


# -- one version -----------------------------------------------------------------------------

def test_the_quote_page_shows_lines_breakdowns_state_and_validity(app, client, quoting):
    q = quoting
    quote_id = make_quote(app, q, lines=[("DE-001", "MOB-UNL", 10, 24),
                                         ("FR-001", "FIBRE", 1, 36)], discounts={1: "12"})
    version = _version(app, q, quote_id)
    login_as(client, q.viewer, q.org)
    html = _html(client, f"/quotes/{quote_id}")
    assert html.count('data-testid="breakdown"') == 2
    for step in version.lines[0].breakdown["steps"]:
        assert f'data-step="{step["key"]}"' in html and step["label"] in html
    assert "THREE-FREE: 3 months free" in html
    # 25 x 10 x 0.95 x 0.88 = 209.00 a month; 3 months free = -627.00
    assert '<tr data-step="promotion"><td>Promotion THREE-FREE: first 3 months free</td>' \
           '<td class="text-end text-nowrap">-627.00 EUR</td>' in html
    assert "12 %" in html and "Competing offer" in html
    assert _money(version.lines[0].mrc) in html
    assert f'data-testid="valid-until">{version.valid_until.isoformat()}<' in html
    assert "BA-1 · Acme GmbH" in html and "Hauptstr. 1, 10115 Berlin, DE" in html
    assert 'data-testid="catalog-version">1<' in html
    assert "in progress" in html and 'data-testid="expired"' not in html
    # A viewer sees no action.
    assert 'data-testid="line-edit"' not in html and "Request approval" not in html
    assert 'data-testid="accept-form"' not in html
    buyer = app.test_client()
    login_as(buyer, q.buyer, q.org)
    page = _html(buyer, f"/quotes/{quote_id}")
    assert page.count('data-testid="line-edit"') == 2 and "Request approval" in page
    assert 'data-testid="resubmit-warning"' not in page


def test_an_expired_quote_says_so_and_offers_only_a_new_version(app, client, quoting):
    q = quoting
    quote_id = make_quote(app, q, today=LONG_AGO)
    login_as(client, q.buyer, q.org)
    html = _html(client, f"/quotes/{quote_id}")
    assert 'data-testid="expired"' in html and 'data-testid="expired-notice"' in html
    assert 'data-testid="line-edit"' not in html and "Request approval" not in html
    assert "Make a new version from version 1" in html
    html = _post(client, f"/quotes/{quote_id}/submit", version=1).get_data(as_text=True)
    assert "This version has expired" in html
    assert _state(app, q, quote_id) == QuoteState.IN_PROGRESS
    # A new version is priced today, valid again, and the old one says it is superseded.
    html = _post(client, f"/quotes/{quote_id}/versions", version=1).get_data(as_text=True)
    assert "Version 2 was made from version 1" in html
    assert 'data-testid="expired"' not in html
    assert _version(app, q, quote_id).valid_until == utcnow().date() + dt.timedelta(days=30)
    old = _html(client, f"/quotes/{quote_id}?version=1")
    assert 'data-testid="superseded"' in old and "version 2" in old
    assert client.get(f"/quotes/{quote_id}?version=3").status_code == 404


def test_a_discount_needs_a_justification(app, client, quoting):
    q = quoting
    quote_id = make_quote(app, q)
    line = _lines(app, quote_id)[0]
    login_as(client, q.buyer, q.org)
    path = f"/quotes/{quote_id}/lines/{line.id}"
    html = _post(client, path, version=1, quantity=10, term_months=24, discount="12",
                 justification=" ").get_data(as_text=True)
    assert "Say why the customer should get this discount" in html
    assert _lines(app, quote_id)[0].negotiated_discount == 0
    html = _post(client, path, version=1, quantity=10, term_months=24, discount="12,5",
                 justification="Matching a competitor").get_data(as_text=True)
    assert "The line was changed" in html
    changed = _lines(app, quote_id)[0]
    assert changed.negotiated_discount == Decimal("0.125")
    assert changed.mrc == Decimal("207.81")  # 25 x 10 x 0.95 x 0.875 = 207.8125
    assert "12.5 %" in html and "Matching a competitor" in html
    for bad, message in [("abc", "is not a percentage"), ("100", "below 100 %")]:
        html = _post(client, path, version=1, quantity=10, term_months=24, discount=bad,
                     justification="x").get_data(as_text=True)
        assert message in html
    html = _post(client, path, version=1, quantity=10, term_months=36, discount="",
                 justification="").get_data(as_text=True)
    assert "offered for 12, 24 months" in html
    assert _lines(app, quote_id)[0].negotiated_discount == Decimal("0.125")


def test_lines_of_another_version_or_quote_answer_404(app, client, quoting):
    q = quoting
    mine = make_quote(app, q)
    other = make_quote(app, q)
    login_as(client, q.buyer, q.org)
    line = _lines(app, other)[0]
    response = _post(client, f"/quotes/{mine}/lines/{line.id}", follow=False, version=1,
                     quantity=1, term_months=24)
    assert response.status_code == 404
    assert _lines(app, other)[0].quantity == 10


def test_submitting_with_12_percent_waits_for_the_account_manager(app, client, quoting):
    q = quoting
    quote_id = make_quote(app, q, discounts={1: "12"})
    login_as(client, q.buyer, q.org)
    html = _post(client, f"/quotes/{quote_id}/submit", version=1).get_data(as_text=True)
    assert "was sent to your account manager for approval" in html
    assert _state(app, q, quote_id) == QuoteState.PENDING
    assert "Waiting for the account manager" in html
    assert 'data-testid="resubmit-warning"' in html
    # Changing it sends it back to in progress.
    line = _lines(app, quote_id)[0]
    html = _post(client, f"/quotes/{quote_id}/lines/{line.id}", version=1, quantity=11,
                 term_months=24, discount="12", justification="Competing offer"
                 ).get_data(as_text=True)
    assert "back in progress: request approval again" in html
    assert _state(app, q, quote_id) == QuoteState.IN_PROGRESS


@pytest.mark.parametrize("percent,message,state", [
    ("0", "is approved: no discount needs approval", QuoteState.APPROVED),
    ("20", "then the sales director", QuoteState.PENDING),
    ("40", "no one can approve it", QuoteState.IN_PROGRESS),
])
def test_submitting_says_what_happens(app, client, quoting, percent, message, state):
    q = quoting
    quote_id = make_quote(app, q, discounts={1: percent} if percent != "0" else None)
    login_as(client, q.buyer, q.org)
    html = _post(client, f"/quotes/{quote_id}/submit", version=1).get_data(as_text=True)
    assert message in html
    assert _state(app, q, quote_id) == state


def test_a_viewer_may_not_accept(app, client, quoting):
    q = quoting
    quote_id = make_quote(app, q)
    _submit(app, q, quote_id)
    login_as(client, q.viewer, q.org)
    response = _post(client, f"/quotes/{quote_id}/accept", follow=False, version=1,
                     purchase_order="PO-1", signatory="Victor", confirm="y")
    assert response.status_code == 403
    assert _state(app, q, quote_id) == QuoteState.APPROVED and _orders(app) == 0


def test_accepting_an_approved_quote_creates_an_order(app, client, quoting):
    q = quoting
    quote_id = make_quote(app, q)
    _submit(app, q, quote_id)
    login_as(client, q.buyer, q.org)
    html = _html(client, f"/quotes/{quote_id}")
    assert 'data-testid="accept-form"' in html
    assert 'value="bob@acme.test"' in html  # prefilled with the user's name
    # Without the consent box nothing happens.
    html = _post(client, f"/quotes/{quote_id}/accept", version=1, purchase_order="PO-77",
                 signatory="Bob Buyer").get_data(as_text=True)
    assert "Tick the box to accept the quote" in html
    assert _orders(app) == 0
    html = _post(client, f"/quotes/{quote_id}/accept", version=1, purchase_order="PO-77",
                 signatory="Bob Buyer", confirm="y").get_data(as_text=True)
    with app.app_context():
        order = db.session.scalars(select(Order)).one()
        assert (order.organisation_id, order.state, order.purchase_order) == (
            q.org, "pending", "PO-77")
        number, order_id = order.number, order.id
    assert f"Order {number} was created" in html
    assert (f'data-testid="order-number"><a href="/orders/{order_id}">{number}</a>'
            in html)
    assert "Bob Buyer" in html and "PO-77" in html
    assert _state(app, q, quote_id) == QuoteState.ACCEPTED
    # Accepted: no more changes, versions or acceptance.
    assert 'data-testid="accept-form"' not in html and "Make a new version" not in html
    html = _post(client, f"/quotes/{quote_id}/accept", version=1, purchase_order="PO-78",
                 signatory="Bob", confirm="y").get_data(as_text=True)
    assert "only an approved version can be accepted" in html
    assert _orders(app) == 1


def test_an_expired_or_older_version_cannot_be_accepted(app, client, quoting):
    q = quoting
    expired = make_quote(app, q, today=LONG_AGO)
    _submit(app, q, expired, today=LONG_AGO)
    assert _state(app, q, expired) == QuoteState.APPROVED
    login_as(client, q.buyer, q.org)
    assert 'data-testid="accept-form"' not in _html(client, f"/quotes/{expired}")
    html = _post(client, f"/quotes/{expired}/accept", version=1, purchase_order="PO-1",
                 signatory="Bob", confirm="y").get_data(as_text=True)
    assert "This quote expired on" in html and "ask for a new version" in html

    older = make_quote(app, q)
    _submit(app, q, older)
    _post(client, f"/quotes/{older}/versions", version=1)
    html = _post(client, f"/quotes/{older}/accept", version=1, purchase_order="PO-2",
                 signatory="Bob", confirm="y").get_data(as_text=True)
    assert "Version 1 is not the latest version" in html
    assert _state(app, q, older, 1) == QuoteState.APPROVED
    assert _state(app, q, older, 2) == QuoteState.IN_PROGRESS
    assert _orders(app) == 0


def test_an_action_without_the_version_changes_nothing(app, client, quoting):
    q = quoting
    quote_id = make_quote(app, q)
    login_as(client, q.buyer, q.org)
    html = _post(client, f"/quotes/{quote_id}/cancel").get_data(as_text=True)
    assert "The form was incomplete" in html
    assert _state(app, q, quote_id) == QuoteState.IN_PROGRESS


def test_cancelling_and_removing_lines(app, client, quoting):
    q = quoting
    quote_id = make_quote(app, q, lines=[("DE-001", "MOB-UNL", 10, 24),
                                         ("DE-002", "FIBRE", 1, 24)])
    first, second = _lines(app, quote_id)
    login_as(client, q.buyer, q.org)
    html = _post(client, f"/quotes/{quote_id}/lines/{second.id}/delete",
                 version=1).get_data(as_text=True)
    assert "The line was removed" in html
    html = _post(client, f"/quotes/{quote_id}/lines/{first.id}/delete",
                 version=1).get_data(as_text=True)
    assert "only line; cancel the quote instead" in html
    assert len(_lines(app, quote_id)) == 1
    html = _post(client, f"/quotes/{quote_id}/cancel", version=1).get_data(as_text=True)
    assert "was cancelled" in html and "Cancel the quote" not in html
    assert _state(app, q, quote_id) == QuoteState.CANCELLED


# -- versions --------------------------------------------------------------------------------

def test_the_comparison_shows_changed_removed_lines_and_totals(app, client, quoting):
    q = quoting
    quote_id = make_quote(app, q, lines=[("DE-001", "MOB-UNL", 10, 24),
                                         ("DE-002", "FIBRE", 1, 24)])
    login_as(client, q.buyer, q.org)
    assert 'data-testid="compare-link"' not in _html(client, f"/quotes/{quote_id}")
    _post(client, f"/quotes/{quote_id}/versions", version=1)
    mobile, fibre = _lines(app, quote_id, 2)
    _post(client, f"/quotes/{quote_id}/lines/{mobile.id}", version=2, quantity=10,
          term_months=24, discount="12", justification="Competing offer")
    _post(client, f"/quotes/{quote_id}/lines/{fibre.id}/delete", version=2)
    assert 'data-testid="compare-link"' in _html(client, f"/quotes/{quote_id}")

    html = _html(client, f"/quotes/{quote_id}/diff")
    assert "From <a" in html and "version 1</a> to" in html and "version 2</a>" in html
    assert 'data-testid="line-change-changed"' in html
    assert 'data-testid="line-change-removed"' in html
    assert "Negotiated discount" in html and "12 %" in html and "Competing offer" in html
    old, new = _version(app, q, quote_id, 1), _version(app, q, quote_id, 2)
    assert _money(old.total_mrc) in html and _money(new.total_mrc) in html
    assert 'data-field="total_tcv"' in html
    # The same version against itself: nothing changed.
    same = _html(client, f"/quotes/{quote_id}/diff?from=2&to=2")
    assert 'data-testid="no-line-changes"' in same
    assert client.get(f"/quotes/{quote_id}/diff?from=1&to=9").status_code == 404


# -- who may ---------------------------------------------------------------------------------

def test_another_organisations_quote_answers_404(app, client, factory, quoting):
    q = quoting
    quote_id = make_quote(app, q)
    line = _lines(app, quote_id)[0]
    _submit(app, q, quote_id)
    stranger = factory.user(q.other_org, "admin", email="gina@globex.test")
    login_as(client, stranger, q.other_org)
    assert "No quotes yet." in _html(client, "/quotes")
    for path in [f"/quotes/{quote_id}", f"/quotes/{quote_id}?version=1",
                 f"/quotes/{quote_id}/diff"]:
        assert client.get(path).status_code == 404, path
    for path, data in [
        (f"/quotes/{quote_id}/lines/{line.id}", {"quantity": 1, "term_months": 24}),
        (f"/quotes/{quote_id}/lines/{line.id}/delete", {}),
        (f"/quotes/{quote_id}/submit", {}),
        (f"/quotes/{quote_id}/versions", {}),
        (f"/quotes/{quote_id}/cancel", {}),
        (f"/quotes/{quote_id}/accept", {"purchase_order": "PO", "signatory": "G",
                                        "confirm": "y"}),
    ]:
        for version in ("1", None):
            form = dict(data, **({"version": version} if version else {}))
            assert _post(client, path, follow=False, **form).status_code == 404, path
    assert _state(app, q, quote_id) == QuoteState.APPROVED
    assert _orders(app) == 0
    assert len(_lines(app, quote_id)) == 1 and _lines(app, quote_id)[0].quantity == 10


def test_a_partner_with_quote_scope_views_and_quotes_but_does_not_accept(
        app, client, factory, quoting):
    q = quoting
    partner = factory.org("northwind", kind="partner")
    agent = factory.user(partner, "partner_agent", email="paul@northwind.test")
    with app.app_context():
        db.session.add(Delegation(organisation_id=q.org, partner_id=partner, scopes=["quote"],
                                  expires_at=utcnow() + dt.timedelta(days=9)))
        cart = carts.open_cart(db.session, q.org, agent)
        _, catalog = current_catalog(db.session)
        carts.add_lines(db.session, cart, catalog, [q.sites["DE-001"]], "MOB-UNL", 5, 24)
        db.session.commit()
    existing = make_quote(app, q)
    login_as(client, agent, q.org)
    assert 'href="/quotes"' in _html(client, "/dashboard")  # in the menu
    assert _html(client, "/quotes").count('data-testid="quote-row"') == 1
    response = _post(client, "/quotes", follow=False, title="For Acme")
    assert response.status_code == 302
    made = int(response.headers["Location"].rsplit("/", 1)[1])
    with app.app_context():
        quote = db.session.get(Quote, made)
        assert (quote.organisation_id, quote.created_by_id) == (q.org, agent)
    html = _post(client, f"/quotes/{existing}/submit", version=1).get_data(as_text=True)
    assert "is approved" in html
    assert 'data-testid="accept-form"' not in html
    response = _post(client, f"/quotes/{existing}/accept", follow=False, version=1,
                     purchase_order="PO-9", signatory="Paul", confirm="y")
    assert response.status_code == 403
    assert _orders(app) == 0


def test_a_partner_with_order_scope_may_accept_but_not_change(app, client, factory, quoting):
    q = quoting
    partner = factory.org("northwind", kind="partner")
    agent = factory.user(partner, "partner_agent", email="paul@northwind.test")
    with app.app_context():
        db.session.add(Delegation(organisation_id=q.org, partner_id=partner, scopes=["order"],
                                  expires_at=utcnow() + dt.timedelta(days=9)))
        db.session.commit()
    quote_id = make_quote(app, q)
    _submit(app, q, quote_id)
    login_as(client, agent, q.org)
    html = _html(client, f"/quotes/{quote_id}")
    assert 'data-testid="accept-form"' in html and "Cancel the quote" not in html
    assert _post(client, f"/quotes/{quote_id}/cancel", follow=False,
                 version=1).status_code == 403
    html = _post(client, f"/quotes/{quote_id}/accept", version=1, purchase_order="PO-5",
                 signatory="Paul for Acme", confirm="y").get_data(as_text=True)
    assert "was created" in html
    assert _orders(app) == 1


def test_the_quote_page_links_to_the_pdf_of_the_version_shown(app, client, quoting):
    q = quoting
    quote_id = make_quote(app, q)
    login_as(client, q.viewer, q.org)
    html = _html(client, f"/quotes/{quote_id}")
    assert f'href="/quotes/{quote_id}/versions/1/pdf" data-testid="pdf-link"' in html
