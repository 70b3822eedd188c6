"""The customer's quote pages: the list, a version with its lines, prices and approvals, the
changes allowed on it, acceptance, and the comparison of two versions. Views are thin: every
rule is in quotes.services, quotes.approvals and quotes.acceptance; every action names the
version the customer was looking at."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from flask import (
    Blueprint,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.exc import StaleDataError
from wtforms.fields.choices import SelectChoice

from accounts.estate.queries import Page
from portal.actions import commit_or_flash
from portal.catalog.store import current_catalog
from portal.db import utcnow
from portal.errors import render_error
from portal.extensions import db
from portal.orders.models import Order
from portal.security import Permission, can, require
from quotes import acceptance, approvals, services
from quotes.cart import find_cart
from quotes.forms import (
    AcceptQuoteForm,
    QuoteActionForm,
    QuoteFilterForm,
    QuoteLineForm,
    QuoteRequestForm,
)
from quotes.models import Quote, QuoteLine, QuoteState, QuoteVersion

bp = Blueprint("quotes", __name__, url_prefix="/quotes")

PAGE_SIZE = 50
LINES_PER_PAGE = 200
EXPIRED = "expired"  # a filter and a badge, not a stored state
STATE_LABELS = {
    QuoteState.IN_PROGRESS: "in progress",
    QuoteState.PENDING: "pending approval",
    QuoteState.APPROVED: "approved",
    QuoteState.ACCEPTED: "accepted",
    QuoteState.REJECTED: "rejected",
    QuoteState.CANCELLED: "cancelled",
}
EDITABLE = (QuoteState.IN_PROGRESS, QuoteState.PENDING, QuoteState.APPROVED)
SUBMITTED = {
    "auto": "Quote {number} version {version} is approved: no discount needs approval. It "
            "can be accepted now.",
    approvals.ACCOUNT_MANAGER: "Quote {number} version {version} was sent to your account "
                               "manager for approval.",
    approvals.SALES_DIRECTOR: "Quote {number} version {version} was sent for approval: its "
                              "discount needs your account manager's approval, then the "
                              "sales director's.",
}
NO_CATALOG = "The catalog is not available, so no quote can be priced now."
_REFUSED = object()


@bp.errorhandler(services.QuoteNotFound)
def _not_found(_error):
    db.session.rollback()
    return render_error(404)


def _today() -> dt.date:
    return utcnow().date()


def _user():
    return current_user._get_current_object()


def _is_expired(version: QuoteVersion, today: dt.date) -> bool:
    """Expired, as the customer sees it: past its validity and still open."""
    return version.is_expired(today) and version.state not in QuoteState.FINAL


def _apply(change: Callable[[], object]):
    """Run a service call and commit (portal.actions.commit_or_flash), keeping what it
    returned; `_REFUSED` when a rule said no (its message is flashed). A concurrent change
    of the same version is refused the same way."""
    kept = []

    def run():
        try:
            kept.append(change())
            db.session.flush()
        except StaleDataError:
            raise approvals.ConcurrentChange(
                "Someone else changed this quote at the same moment; look at it again."
            ) from None

    return kept[0] if commit_or_flash(run) else _REFUSED


def _form_errors(form) -> str:
    if "version" in form.errors:
        return "The form was incomplete; reload the quote and try again."
    return "; ".join(f"{form[name].label.text}: {' '.join(messages)}"
                     for name, messages in form.errors.items())


def _posted(quote_id: int, form: QuoteActionForm) -> QuoteVersion | None:
    """The version the form names (404 outside the organisation), or None when the form
    is incomplete (the problems are flashed)."""
    if not form.validate_on_submit():
        services.get_quote(db.session, g.current_org_id, quote_id)  # 404 before anything
        flash(_form_errors(form), "danger")
        return None
    return services.get_version(db.session, g.current_org_id, quote_id, form.version.data)


def _back(quote_id: int, form: QuoteActionForm):
    return redirect(url_for(".show", quote_id=quote_id, version=form.version.data))


# -- the list ----------------------------------------------------------------------------------

def _quote_page(org_id: int, search: str, state: str, page: int, today: dt.date) -> Page:
    """The organisation's quotes, newest first, each as (quote, latest version) with its
    author, one page (two queries whatever the number of quotes)."""
    stmt = (select(Quote, QuoteVersion)
            .join(QuoteVersion, and_(QuoteVersion.quote_id == Quote.id,
                                     QuoteVersion.version == Quote.latest_version))
            .where(Quote.organisation_id == org_id))
    if search:
        stmt = stmt.where(or_(Quote.number.icontains(search, autoescape=True),
                              Quote.title.icontains(search, autoescape=True)))
    if state == EXPIRED:
        stmt = stmt.where(QuoteVersion.valid_until < today,
                          QuoteVersion.state.not_in(QuoteState.FINAL))
    elif state:
        stmt = stmt.where(QuoteVersion.state == state)
    total = db.session.scalar(select(func.count()).select_from(
        stmt.with_only_columns(Quote.id).order_by(None).subquery()))
    last = max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    page = min(max(page, 1), last)
    rows = db.session.execute(
        stmt.options(joinedload(Quote.created_by))
        .order_by(Quote.created_at.desc(), Quote.id.desc())
        .limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)).all()
    return Page([tuple(row) for row in rows], total, page, PAGE_SIZE)


@bp.get("")
@require(Permission.QUOTES_VIEW)
def index():
    """The organisation's quotes: search by number or title, filter by state."""
    form = QuoteFilterForm(request.args)
    form.state.choices = [SelectChoice("", "All states"),
                          *(SelectChoice(state, label.capitalize())
                            for state, label in STATE_LABELS.items()),
                          SelectChoice(EXPIRED, "Expired")]
    state = form.state.data if form.state.data in (*QuoteState.ALL, EXPIRED) else ""
    search = (form.q.data or "").strip()[:100]
    today = _today()
    page = _quote_page(g.current_org_id, search, state,
                       max(request.args.get("page", 1, type=int) or 1, 1), today)
    return render_template("quotes/index.html", form=form, page=page, today=today,
                           filtered=bool(search or state))


@bp.post("")
@require(Permission.QUOTES_CREATE)
def create():
    """A quote of the user's cart, priced with the catalog in force."""
    form = QuoteRequestForm()
    if not form.validate_on_submit():
        flash(_form_errors(form), "danger")
        return redirect(url_for("configurator.index"))
    found = current_catalog(db.session)
    if found is None:
        flash(NO_CATALOG, "warning")
        return redirect(url_for("configurator.index"))
    catalog_version, catalog = found
    cart = find_cart(db.session, g.current_org_id, current_user.id)
    if cart is None:
        flash("The cart is empty: add offerings before asking for a quote.", "danger")
        return redirect(url_for("configurator.index"))
    quote = _apply(lambda: services.create_from_cart(
        db.session, cart, catalog_version, catalog, _user(), _today(), form.title.data or ""))
    if quote is _REFUSED:
        return redirect(url_for("configurator.index"))
    flash(f"Quote {quote.number} was made from your cart. Check it, then request approval.",
          "success")
    return redirect(url_for(".show", quote_id=quote.id))


# -- one version --------------------------------------------------------------------------------

@bp.get("/<int:quote_id>")
@require(Permission.QUOTES_VIEW)
def show(quote_id: int):
    """A version of the quote (the latest unless `version` is given): state, validity,
    totals, lines with their price breakdowns, approvals, acceptance."""
    org_id = g.current_org_id
    quote = services.get_quote(db.session, org_id, quote_id)
    version = services.get_version(db.session, org_id, quote_id,
                                   request.args.get("version", type=int), with_lines=False)
    today = _today()
    line_count = db.session.scalar(select(func.count(QuoteLine.id)).where(
        QuoteLine.quote_version_id == version.id))
    pages = max((line_count + LINES_PER_PAGE - 1) // LINES_PER_PAGE, 1)
    page = min(max(request.args.get("page", 1, type=int) or 1, 1), pages)
    lines = db.session.scalars(
        select(QuoteLine).where(QuoteLine.quote_version_id == version.id)
        .order_by(QuoteLine.position).limit(LINES_PER_PAGE)
        .offset((page - 1) * LINES_PER_PAGE)).all()
    expired = _is_expired(version, today)
    editable = (can(Permission.QUOTES_CREATE) and version.is_latest
                and version.state in EDITABLE and not expired)
    terms = {}
    if editable:
        catalog = services.catalog_of(db.session, version)
        terms = {code: sorted(offering.terms) for code, offering in catalog.offerings.items()}
    order = None
    if version.state == QuoteState.ACCEPTED:
        order = db.session.scalars(select(Order).where(
            Order.quote_version_id == version.id, Order.organisation_id == org_id)).first()
    accept_form = AcceptQuoteForm(formdata=None, version=version.version,
                                  signatory=current_user.name or "")
    return render_template(
        "quotes/show.html", quote=quote, version=version, lines=lines, line_count=line_count,
        page=page, pages=pages, today=today, expired=expired, editable=editable, terms=terms,
        order=order, accept_form=accept_form, level_names=approvals.LEVEL_NAMES,
        has_accepted=any(v.state == QuoteState.ACCEPTED for v in quote.versions),
        compare_from=(version.based_on or version.version - 1) if version.version > 1 else 1,
        compare_to=version.version if version.version > 1 else quote.latest_version)


@bp.get("/<int:quote_id>/diff")
@require(Permission.QUOTES_VIEW)
def diff(quote_id: int):
    """What changed between two versions (`from` and `to`; by default the latest and the
    one before it)."""
    org_id = g.current_org_id
    quote = services.get_quote(db.session, org_id, quote_id)
    new_number = request.args.get("to", type=int) or quote.latest_version
    old_number = request.args.get("from", type=int) or max(new_number - 1, 1)
    old = services.get_version(db.session, org_id, quote_id, old_number)
    new = services.get_version(db.session, org_id, quote_id, new_number)
    return render_template("quotes/diff.html", quote=quote, diff=services.compare(old, new))


# -- changes ----------------------------------------------------------------------------------

@bp.post("/<int:quote_id>/lines/<int:line_id>")
@require(Permission.QUOTES_CREATE)
def change_line(quote_id: int, line_id: int):
    """Change a line's quantity, term, and negotiated discount with its justification."""
    form = QuoteLineForm()

    def change(version):
        discount = services.parse_discount(form.discount.data or "")
        return services.change_line(
            db.session, version, line_id, quantity=form.quantity.data,
            term_months=form.term_months.data, discount=discount,
            justification=form.justification.data or "", today=_today())

    return _action(quote_id, form, change,
                   lambda _, version, was: "The line was changed and the quote priced again."
                   + _sent_back(was, version))


@bp.post("/<int:quote_id>/lines/<int:line_id>/delete")
@require(Permission.QUOTES_CREATE)
def remove_line(quote_id: int, line_id: int):
    """Take a line out of the latest version."""
    return _action(quote_id, QuoteActionForm(),
                   lambda version: services.remove_line(db.session, version, line_id,
                                                        _today()),
                   lambda _, version, was: "The line was removed and the quote priced again."
                   + _sent_back(was, version))


def _sent_back(was: str, version) -> str:
    if was != QuoteState.IN_PROGRESS and version.state == QuoteState.IN_PROGRESS:
        return (f" The quote was {STATE_LABELS[was]}; it is back in progress: request "
                f"approval again.")
    return ""


def _action(quote_id: int, form, change, message):
    """Apply `change(version)` to the version the form names and flash
    `message(result, version, state before)`; a refusal is flashed instead. Back to the
    quote either way."""
    version = _posted(quote_id, form)
    if version is not None:
        was = version.state
        result = _apply(lambda: change(version))
        if result is not _REFUSED:
            flash(message(result, version, was), "success")
    return _back(quote_id, form)


@bp.post("/<int:quote_id>/submit")
@require(Permission.QUOTES_CREATE)
def submit(quote_id: int):
    """Request approval; the largest discount decides who must approve."""
    return _action(quote_id, QuoteActionForm(),
                   lambda version: approvals.submit(db.session, version, _user(), _today()),
                   lambda path, version, _: SUBMITTED[path].format(
                       number=version.quote.number, version=version.version))


@bp.post("/<int:quote_id>/versions")
@require(Permission.QUOTES_CREATE)
def new_version(quote_id: int):
    """A new version made from the version shown, priced with the catalog in force."""
    form = QuoteActionForm()
    source = _posted(quote_id, form)
    if source is None:
        return _back(quote_id, form)
    found = current_catalog(db.session)
    if found is None:
        flash(NO_CATALOG, "warning")
        return _back(quote_id, form)
    catalog_version, catalog = found
    made = _apply(lambda: services.new_version(db.session, source, catalog_version, catalog,
                                               _user(), _today()))
    if made is _REFUSED:
        return _back(quote_id, form)
    flash(f"Version {made.version} was made from version {made.based_on} with today's "
          f"catalog (version {made.catalog_number}). It is in progress.", "success")
    return redirect(url_for(".show", quote_id=quote_id, version=made.version))


@bp.post("/<int:quote_id>/cancel")
@require(Permission.QUOTES_CREATE)
def cancel(quote_id: int):
    """Cancel the latest version."""
    return _action(quote_id, QuoteActionForm(),
                   lambda version: services.cancel(db.session, version, _today()),
                   lambda _, version, __: f"Quote {version.quote.number} was cancelled.")


@bp.post("/<int:quote_id>/accept")
@require(Permission.ORDERS_CREATE)
def accept(quote_id: int):
    """Accept an approved, unexpired latest version: an order is placed."""
    form = AcceptQuoteForm()
    return _action(quote_id, form,
                   lambda version: acceptance.accept(db.session, version, _user(),
                                                     form.purchase_order.data,
                                                     form.signatory.data, _today()),
                   lambda order, version, _: f"Quote {version.quote.number} accepted. Order "
                   f"{order.number} was created and sent for fulfilment; follow it on its "
                   f"page.")
