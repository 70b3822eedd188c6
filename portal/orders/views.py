"""The customer's order pages: the list, one order with its parts, items, price impact and
a timeline per part, and cancelling while no part is in progress. Views are thin: the rules
are in portal.orders.services."""

from __future__ import annotations

from decimal import Decimal

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from sqlalchemy import func, select
from wtforms.fields.choices import SelectChoice

from accounts.estate.models import Site
from accounts.estate.queries import Page
from accounts.models import User
from portal.actions import commit_or_flash
from portal.catalog.store import current_catalog
from portal.errors import render_error
from portal.extensions import db
from portal.orders import services
from portal.orders.forms import ActionForm, OrderFilterForm
from portal.orders.models import Order, OrderPart, PartState
from portal.security import Permission, require
from quotes.models import Quote, QuoteVersion

bp = Blueprint("orders", __name__, url_prefix="/orders")

PAGE_SIZE = 50
# Order states in the order a customer meets them, with the words the pages use.
STATE_LABELS = {
    PartState.PENDING: "pending",
    PartState.ACKNOWLEDGED: "acknowledged",
    PartState.HELD: "held",
    PartState.IN_PROGRESS: "in progress",
    PartState.COMPLETED: "completed",
    "partial": "partly completed",
    PartState.FAILED: "failed",
    PartState.REJECTED: "rejected",
    PartState.CANCELLED: "cancelled",
}
ENDED = (*PartState.FINAL, "partial")


@bp.errorhandler(services.OrderNotFound)
def _not_found(_error):
    db.session.rollback()
    return render_error(404)


def why_not_cancellable(order: Order) -> str | None:
    """Why the customer cannot cancel the order now (None: they can). The same rules as
    services.request_cancel, asked before showing the button."""
    if order.state in ENDED:
        return f"This order is {STATE_LABELS.get(order.state, order.state)}."
    if order.cancel_requested_at is not None:
        return "Cancellation was requested; the backend decides on the parts it has."
    if any(PartState.RANK.get(p.state, 0) >= PartState.RANK[PartState.IN_PROGRESS]
           for p in order.parts):
        return ("Part of this order is already in progress at the backend; it can no longer "
                "be cancelled here. Call your account manager.")
    return None


# -- the list ----------------------------------------------------------------------------------

def _order_page(org_id: int, state: str, page: int) -> Page:
    """The organisation's orders, newest first, each as a row (order, quote id, quote
    number, author's name, author's e-mail, number of parts): two queries whatever the
    number of orders."""
    parts = (select(func.count(OrderPart.id)).where(OrderPart.order_id == Order.id)
             .correlate(Order).scalar_subquery())
    stmt = (select(Order, Quote.id, Quote.number, User.name, User.email,
                   parts.label("parts"))
            .outerjoin(QuoteVersion, QuoteVersion.id == Order.quote_version_id)
            .outerjoin(Quote, Quote.id == QuoteVersion.quote_id)
            .outerjoin(User, User.id == Order.created_by_id)
            .where(Order.organisation_id == org_id))
    if state:
        stmt = stmt.where(Order.state == state)
    total = db.session.scalar(select(func.count()).select_from(
        stmt.with_only_columns(Order.id).order_by(None).subquery()))
    last = max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    page = min(max(page, 1), last)
    rows = db.session.execute(stmt.order_by(Order.created_at.desc(), Order.id.desc())
                              .limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)).all()
    return Page([tuple(row) for row in rows], total, page, PAGE_SIZE)


@bp.get("")
@require(Permission.ORDERS_VIEW)
def index():
    """The organisation's orders, newest first, filtered by state."""
    form = OrderFilterForm(request.args)
    form.state.choices = [SelectChoice("", "All states"),
                          *(SelectChoice(state, label.capitalize())
                            for state, label in STATE_LABELS.items())]
    state = form.state.data if form.state.data in STATE_LABELS else ""
    page = _order_page(g.current_org_id, state,
                       max(request.args.get("page", 1, type=int) or 1, 1))
    return render_template("orders/index.html", form=form, page=page, filtered=bool(state),
                           labels=STATE_LABELS)


# -- one order ---------------------------------------------------------------------------------

@bp.get("/<int:order_id>")
@require(Permission.ORDERS_VIEW)
def show(order_id: int):
    """An order: its state, each part with its delivery and timeline, its items and what
    they change in the monthly charge."""
    order = services.get_order(db.session, g.current_org_id, order_id)
    quote = None
    if order.quote_version_id:
        quote = db.session.execute(
            select(Quote.id, Quote.number, QuoteVersion.version, QuoteVersion.currency)
            .join(QuoteVersion, QuoteVersion.quote_id == Quote.id)
            .where(QuoteVersion.id == order.quote_version_id)).first()
    if quote is not None:
        currency = quote.currency
    else:
        found = current_catalog(db.session)
        currency = found[1].currency if found else "EUR"
    author = db.session.get(User, order.created_by_id) if order.created_by_id else None
    site_ids = {i.site_id for i in order.items if i.site_id}
    site_ids |= {i.target["site_id"] for i in order.items if i.target.get("site_id")}
    sites = {s.id: s for s in db.session.scalars(select(Site).where(
        Site.id.in_(site_ids), Site.organisation_id == order.organisation_id))} \
        if site_ids else {}
    timeline: dict[int | None, list] = {}
    for event in order.events:
        timeline.setdefault(event.part_id, []).append(event)
    final = order.state in ENDED
    return render_template(
        "orders/show.html", order=order, quote=quote, author=author, sites=sites,
        timeline=timeline, labels=STATE_LABELS, final=final, currency=currency,
        cancel_refusal=why_not_cancellable(order), form=ActionForm(),
        mrc_change=sum((i.mrc_change for i in order.items), start=Decimal("0")),
        one_off=sum((i.nrc for i in order.items), start=Decimal("0")),
        refresh_seconds=5)


@bp.post("/<int:order_id>/cancel")
@require(Permission.ORDERS_CREATE)
def cancel(order_id: int):
    """Cancel the order while no part is in progress: parts not yet sent are withdrawn, the
    others get a cancellation request at the backend."""
    order = services.get_order(db.session, g.current_org_id, order_id)
    form = ActionForm()
    if not form.validate_on_submit():
        flash("The form was incomplete; reload the order and try again.", "danger")
        return redirect(url_for(".show", order_id=order_id))
    number = order.number
    if commit_or_flash(lambda: services.request_cancel(db.session, order)):
        order = services.get_order(db.session, g.current_org_id, order_id)
        if order.state == PartState.CANCELLED:
            flash(f"Order {number} was cancelled.", "success")
        else:
            flash(f"Cancellation of order {number} was requested; the order backend confirms "
                  f"it for the parts it already has.", "success")
    return redirect(url_for(".show", order_id=order_id))
