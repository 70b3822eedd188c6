"""The rules of quotes, through the services the pages and the API share: frozen prices,
versions, the approval path by discount, decisions bound to content, acceptance."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select
from support.quoting import make_quote

from accounts.models import User
from portal.catalog.store import current_catalog, load_version
from portal.extensions import db
from portal.notifications.models import Notification
from portal.orders.models import Order
from quotes import acceptance, approvals, services
from quotes.models import Cart, QuoteApproval, QuoteState

TODAY = dt.date.today()


def _version(q, quote_id, number=None):
    return services.get_version(db.session, q.org, quote_id, number)


def _user(user_id):
    return db.session.get(User, user_id)


def _submit(q, quote_id, today=TODAY):
    version = _version(q, quote_id)
    path = approvals.submit(db.session, version, _user(q.buyer), today)
    db.session.commit()
    return path


def _decide(q, quote_id, who, decision="approved", comment="ok", today=TODAY):
    version = _version(q, quote_id)
    state = approvals.decide(db.session, version, _user(who), decision, comment, today)
    db.session.commit()
    return state


def test_a_quote_freezes_the_engine_figures_and_closes_the_cart(app, quoting):
    q = quoting
    quote_id = make_quote(app, q, lines=[("DE-001", "MOB-UNL", 10, 24),
                                         ("DE-002", "FIBRE", 1, 36)])
    with app.app_context():
        version = _version(q, quote_id)
        # 25 x 10 x 0.95 = 237.50 a month; 80 x 0.90 = 72.00; tax 19 % (DE account)
        assert [line.mrc for line in version.lines] == [Decimal("237.50"), Decimal("72.00")]
        assert version.total_mrc == Decimal("309.50")
        assert version.total_nrc == Decimal("200.00")
        # TCV: 100 + 237.50 x (24 - 3 free months) + 100 + 72 x 36
        assert version.total_tcv == Decimal("100.00") + Decimal("237.50") * 21 \
            + Decimal("100.00") + Decimal("72.00") * 36
        # 7779.50 x 19 % = 1478.105: half-up, as DESIGN.md says (not the banker's 1478.10)
        assert version.tax_tcv == Decimal("1478.11")
        assert version.lines[0].breakdown["steps"][0]["key"] == "list"
        assert version.valid_until == TODAY + dt.timedelta(days=30)
        assert version.state == QuoteState.IN_PROGRESS
        assert version.quote.number == f"Q-{TODAY.year}-{quote_id:06d}"
        assert db.session.scalar(select(Cart.status)) == "quoted"


def test_prices_do_not_follow_a_later_catalog(app, quoting):
    q = quoting
    quote_id = make_quote(app, q)
    with app.app_context():
        from support.quoting import CATALOG
        load_version(db.session, CATALOG.replace('recurring: "25.00"', 'recurring: "30.00"'),
                     "v2.yaml", "test")
        db.session.commit()
        version = _version(q, quote_id)
        line = version.lines[0]
        services.change_line(db.session, version, line.id, quantity=10, term_months=24,
                             discount=Decimal("0"), justification="", today=TODAY)
        assert version.total_mrc == Decimal("237.50")  # priced again with its own catalog
        catalog_version, catalog = current_catalog(db.session)
        newer = services.new_version(db.session, version, catalog_version, catalog,
                                     _user(q.buyer), TODAY)
        assert newer.total_mrc == Decimal("285.00")  # a new version takes today's prices
        assert newer.catalog_number == 2


@pytest.mark.parametrize(("percent", "path", "state", "stage"), [
    ("5", "auto", "approved", None),
    ("12", "account_manager", "pending", "account_manager"),
    ("15", "account_manager", "pending", "account_manager"),
    ("15.01", "sales_director", "pending", "account_manager"),
    ("30", "sales_director", "pending", "account_manager"),
])
def test_the_discount_decides_the_approval_path(app, quoting, percent, path, state, stage):
    q = quoting
    quote_id = make_quote(app, q, discounts={1: percent})
    with app.app_context():
        assert _submit(q, quote_id) == path
        version = _version(q, quote_id)
        assert (version.state, version.approval_stage) == (state, stage)


def test_a_discount_above_the_sales_directors_limit_is_refused(app, quoting):
    q = quoting
    quote_id = make_quote(app, q, discounts={1: "30.5"})
    with app.app_context():
        with pytest.raises(services.QuoteError, match="above the sales director's limit of 30 %"):
            _submit(q, quote_id)
        db.session.rollback()
        assert _version(q, quote_id).state == QuoteState.IN_PROGRESS


def test_a_discount_needs_a_justification(app, quoting):
    q = quoting
    quote_id = make_quote(app, q)
    with app.app_context():
        version = _version(q, quote_id)
        with pytest.raises(services.QuoteError, match="justification"):
            services.change_line(db.session, version, version.lines[0].id, quantity=10,
                                 term_months=24, discount=Decimal("0.10"), justification=" ",
                                 today=TODAY)


@pytest.mark.parametrize("text", ["abc", "-1", "100", "12.345", "NaN", "Infinity"])
def test_a_bad_discount_is_refused(text):
    with pytest.raises(services.QuoteError):
        services.parse_discount(text)


def test_two_levels_then_acceptance_creates_a_pending_order(app, quoting):
    q = quoting
    quote_id = make_quote(app, q, discounts={1: "20"})
    with app.app_context():
        _submit(q, quote_id)
        assert _decide(q, quote_id, q.manager) == QuoteState.PENDING
        assert _version(q, quote_id).approval_stage == "sales_director"
        assert _decide(q, quote_id, q.director) == QuoteState.APPROVED
        version = _version(q, quote_id)
        order = acceptance.accept(db.session, version, _user(q.buyer), "PO-77", "Bob Buyer",
                                  TODAY)
        db.session.commit()
        assert version.state == QuoteState.ACCEPTED
        assert (order.state, order.purchase_order, order.quote_version_id) == \
            ("pending", "PO-77", version.id)
        assert db.session.scalar(select(Order.number)) == f"O-{TODAY.year}-{order.id:06d}"
        subjects = db.session.scalars(select(Notification.subject).where(
            Notification.user_id == q.buyer)).all()
        assert any("approved" in subject for subject in subjects)


def test_an_account_manager_cannot_decide_for_a_customer_not_assigned(app, quoting):
    q = quoting
    quote_id = make_quote(app, q, discounts={1: "12"})
    with app.app_context():
        _submit(q, quote_id)
        with pytest.raises(services.QuoteError, match="cannot decide"):
            _decide(q, quote_id, q.other_manager)
        db.session.rollback()
        with pytest.raises(services.QuoteNotFound):
            approvals.load_for_approver(db.session, _user(q.other_manager),
                                        _version(q, quote_id).id)
        assert approvals.queue(db.session, _user(q.other_manager)) == []
        assert [v.quote_id for v in approvals.queue(db.session, _user(q.manager))] == [quote_id]


def test_the_sales_director_cannot_skip_the_account_manager(app, quoting):
    q = quoting
    quote_id = make_quote(app, q, discounts={1: "20"})
    with app.app_context():
        _submit(q, quote_id)
        with pytest.raises(services.QuoteError, match="account manager"):
            _decide(q, quote_id, q.director)


def test_editing_after_approval_sends_the_quote_back(app, quoting):
    q = quoting
    quote_id = make_quote(app, q, discounts={1: "12"})
    with app.app_context():
        _submit(q, quote_id)
        _decide(q, quote_id, q.manager)
        version = _version(q, quote_id)
        assert version.state == QuoteState.APPROVED
        services.change_line(db.session, version, version.lines[0].id, quantity=10,
                             term_months=24, discount=Decimal("0.14"),
                             justification="More", today=TODAY)
        db.session.commit()
        version = _version(q, quote_id)
        assert version.state == QuoteState.IN_PROGRESS
        assert not approvals.approvals_valid(version)
        with pytest.raises(services.QuoteError, match="only an approved version"):
            acceptance.accept(db.session, version, _user(q.buyer), "PO-1", "Bob", TODAY)


def test_a_forced_state_without_a_matching_approval_cannot_be_accepted(app, quoting):
    q = quoting
    quote_id = make_quote(app, q, discounts={1: "12"})
    with app.app_context():
        _submit(q, quote_id)
        _decide(q, quote_id, q.manager)
        version = _version(q, quote_id)
        version.lines[0].negotiated_discount = Decimal("0.29")  # behind the services' back
        version.content_hash = services.content_hash(version)
        db.session.commit()
        with pytest.raises(services.QuoteError, match="approval does not cover"):
            acceptance.accept(db.session, _version(q, quote_id), _user(q.buyer), "PO-1",
                              "Bob", TODAY)


def test_an_old_version_cannot_be_accepted_or_edited(app, quoting):
    q = quoting
    quote_id = make_quote(app, q)
    with app.app_context():
        _submit(q, quote_id)
        first = _version(q, quote_id)
        catalog_version, catalog = current_catalog(db.session)
        services.new_version(db.session, first, catalog_version, catalog, _user(q.buyer), TODAY)
        db.session.commit()
        old = _version(q, quote_id, 1)
        assert old.state == QuoteState.APPROVED and not old.is_latest
        with pytest.raises(services.QuoteError, match="not the latest"):
            acceptance.accept(db.session, old, _user(q.buyer), "PO-1", "Bob", TODAY)
        with pytest.raises(services.QuoteError, match="read-only"):
            services.change_line(db.session, old, old.lines[0].id, quantity=1,
                                 term_months=24, discount=Decimal(0), justification="",
                                 today=TODAY)


def test_an_expired_quote_cannot_be_approved_or_accepted(app, quoting):
    q = quoting
    start = TODAY - dt.timedelta(days=40)
    quote_id = make_quote(app, q, today=start, discounts={1: "12"})
    with app.app_context():
        _submit(q, quote_id, today=start)
        with pytest.raises(services.QuoteError, match="expired"):
            _decide(q, quote_id, q.manager)
        db.session.rollback()
        _decide(q, quote_id, q.manager, today=start)
        with pytest.raises(services.QuoteError, match="expired"):
            acceptance.accept(db.session, _version(q, quote_id), _user(q.buyer), "PO-1",
                              "Bob", TODAY)


def test_two_approvers_at_once_one_wins(app, quoting):
    q = quoting
    quote_id = make_quote(app, q, discounts={1: "20"})
    with app.app_context():
        _submit(q, quote_id)
        _decide(q, quote_id, q.manager)
        seen = _version(q, quote_id).row_version
    engine = app.extensions["portal_db"].engine
    from sqlalchemy.orm import Session
    with Session(engine) as first, Session(engine) as second, app.test_request_context():
        a = services.get_version(first, q.org, quote_id)
        b = services.get_version(second, q.org, quote_id)
        approvals.decide(first, a, first.get(User, q.director), "approved", "yes", TODAY,
                         seen)
        first.commit()
        with pytest.raises(approvals.ConcurrentChange):
            approvals.decide(second, b, second.get(User, q.director), "rejected", "no",
                             TODAY, seen)
        second.rollback()
    with app.app_context():
        assert _version(q, quote_id).state == QuoteState.APPROVED
        assert db.session.scalar(select(QuoteApproval.decision).where(
            QuoteApproval.level == "sales_director")) == "approved"


def test_an_approver_acting_on_a_stale_page_is_told(app, quoting):
    q = quoting
    quote_id = make_quote(app, q, discounts={1: "12"})
    with app.app_context():
        _submit(q, quote_id)
        seen = _version(q, quote_id).row_version
        version = _version(q, quote_id)
        services.change_line(db.session, version, version.lines[0].id, quantity=10,
                             term_months=24, discount=Decimal("0.13"), justification="x",
                             today=TODAY)
        approvals.submit(db.session, version, _user(q.buyer), TODAY)
        db.session.commit()
        with pytest.raises(approvals.ConcurrentChange, match="changed since you opened it"):
            approvals.decide(db.session, _version(q, quote_id), _user(q.manager), "approved",
                             "", TODAY, seen)


def test_the_same_person_cannot_give_both_approvals(app, quoting, factory):
    q = quoting
    with app.app_context():
        from accounts.models import AccountManagerAssignment, Membership
        db.session.add(Membership(user_id=q.director, organisation_id=q.operator,
                                  role="account_manager"))
        db.session.add(AccountManagerAssignment(organisation_id=q.org, user_id=q.director))
        db.session.commit()
    quote_id = make_quote(app, q, discounts={1: "20"})
    with app.app_context():
        _submit(q, quote_id)
        _decide(q, quote_id, q.director)
        with pytest.raises(services.QuoteError, match="another person"):
            _decide(q, quote_id, q.director)


def test_a_rejection_needs_a_comment_and_tells_the_requester(app, quoting):
    q = quoting
    quote_id = make_quote(app, q, discounts={1: "12"})
    with app.app_context():
        _submit(q, quote_id)
        with pytest.raises(services.QuoteError, match="Say why"):
            _decide(q, quote_id, q.manager, "rejected", "")
        db.session.rollback()
        assert _decide(q, quote_id, q.manager, "rejected", "Too much") == QuoteState.REJECTED
        body = db.session.scalars(select(Notification.body).where(
            Notification.user_id == q.buyer)).one()
        assert "Too much" in body


def test_versions_compare_line_by_line(app, quoting):
    q = quoting
    quote_id = make_quote(app, q, lines=[("DE-001", "MOB-UNL", 10, 24),
                                         ("DE-002", "FIBRE", 1, 24)])
    with app.app_context():
        first = _version(q, quote_id)
        catalog_version, catalog = current_catalog(db.session)
        second = services.new_version(db.session, first, catalog_version, catalog,
                                      _user(q.buyer), TODAY)
        services.change_line(db.session, second, second.lines[0].id, quantity=12,
                             term_months=24, discount=Decimal(0), justification="",
                             today=TODAY)
        services.remove_line(db.session, second, second.lines[1].id, TODAY)
        db.session.commit()
        diff = services.compare(_version(q, quote_id, 1), _version(q, quote_id, 2))
        kinds = {(c.kind, c.offering_code) for c in diff.lines}
        assert kinds == {("changed", "MOB-UNL"), ("removed", "FIBRE")}
        changed = next(c for c in diff.lines if c.kind == "changed")
        assert changed.fields["quantity"] == (10, 12)
        assert "total_mrc" in diff.totals
