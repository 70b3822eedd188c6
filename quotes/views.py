"""The configurator: pick sites, add offerings, see prices and rule problems as the cart
changes. Pages work without script; with it, changes update the cart in place."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from sqlalchemy import func, select
from wtforms.fields.choices import SelectChoice

from accounts.estate.models import BillingAccount, Site
from portal.catalog.store import current_catalog
from portal.db import utcnow
from portal.extensions import db
from portal.rules import RuleError
from portal.security import Permission, require
from quotes import cart as rules
from quotes.forms import AddLinesForm, BillingAccountForm, CompanionForm, LineForm

bp = Blueprint("configurator", __name__, url_prefix="/configurator")

SITE_PICKER_LIMIT = 200
LINES_PER_PAGE = 200


NO_CATALOG = ("The catalog is not available yet, so nothing can be configured. The operator "
              "loads it with `flask --app app catalog load`.")


class _NoCatalog(Exception):
    pass


def _catalog():
    found = current_catalog(db.session)
    if found is None:
        raise _NoCatalog
    return found[1]


@bp.errorhandler(_NoCatalog)
def _no_catalog(_error):
    if request.method == "GET":
        return render_template("configurator/no_catalog.html", message=NO_CATALOG)
    flash(NO_CATALOG, "warning")
    return redirect(url_for(".index"))


def _fetch() -> bool:
    """A script asked for the cart fragment rather than a whole page."""
    return request.headers.get("X-Requested-With") == "fetch"


def _add_form(catalog) -> AddLinesForm:
    form = AddLinesForm()
    today = utcnow().date()
    form.offering_code.choices = [
        SelectChoice(o.code, f"{o.name} · {o.recurring} {catalog.currency}/month",
                     optgroup=o.family.capitalize())
        for o in sorted(catalog.sold_on(today), key=lambda o: (o.family, o.name))]
    terms = sorted({t for o in catalog.offerings.values() for t in o.terms})
    form.term_months.choices = [SelectChoice(t, f"{t} months") for t in terms]
    if not form.is_submitted():
        form.term_months.data = 24 if 24 in terms else terms[0]
    return form


def _render(catalog, cart, add_form=None, status=200, error=None):
    """The whole page, or only the cart fragment for a script."""
    view = rules.view_cart(cart, catalog, utcnow().date())
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    lines = view.cart.lines if view.cart else []
    shown = lines[(page - 1) * LINES_PER_PAGE: page * LINES_PER_PAGE]
    pages = max((len(lines) + LINES_PER_PAGE - 1) // LINES_PER_PAGE, 1)
    context = {"view": view, "catalog": catalog, "shown": shown, "page": page,
               "pages": pages, "line_form": LineForm(), "companion_form": CompanionForm(),
               "error": error}
    if _fetch():
        return render_template("configurator/_cart.html", **context), status
    country = (request.args.get("country") or "").upper()[:2]
    search = (request.args.get("q") or "").strip()[:100]
    stmt = select(Site).where(Site.organisation_id == g.current_org_id, Site.status == "active")
    if country:
        stmt = stmt.where(Site.country == country)
    if search:
        pattern = f"%{search}%"
        stmt = stmt.where(Site.name.ilike(pattern) | Site.code.ilike(pattern)
                          | Site.city.ilike(pattern))
    matching = db.session.scalar(select(func.count()).select_from(stmt.subquery()))
    sites = db.session.scalars(stmt.order_by(Site.code).limit(SITE_PICKER_LIMIT)).all()
    countries = db.session.execute(
        select(Site.country, func.count()).where(Site.organisation_id == g.current_org_id,
                                                 Site.status == "active")
        .group_by(Site.country).order_by(Site.country)).all()
    accounts = db.session.scalars(select(BillingAccount).where(
        BillingAccount.organisation_id == g.current_org_id).order_by(BillingAccount.number)).all()
    account_form = BillingAccountForm()
    account_form.billing_account_id.choices = [SelectChoice(a.id, f"{a.number} · {a.name} "
                                                                  f"({a.country})")
                                               for a in accounts]
    if view.cart and view.cart.billing_account_id:
        account_form.billing_account_id.data = view.cart.billing_account_id
    return render_template(
        "configurator/index.html", add_form=add_form or _add_form(catalog), sites=sites,
        matching=matching, countries=countries, country=country, search=search,
        account_form=account_form, picker_limit=SITE_PICKER_LIMIT, **context), status


@bp.get("")
@require(Permission.QUOTES_CREATE)
def index():
    """The configurator with the saved cart (nothing is written by looking)."""
    catalog = _catalog()
    cart = rules.find_cart(db.session, g.current_org_id, current_user.id)
    return _render(catalog, cart)


def _after_change(catalog, message: str | None = None):
    db.session.commit()
    if _fetch():
        cart = rules.find_cart(db.session, g.current_org_id, current_user.id)
        return _render(catalog, cart)
    if message:
        flash(message, "success")
    return redirect(url_for(".index", **request.args))


def _refused(catalog, error: str, add_form=None):
    db.session.rollback()
    cart = rules.find_cart(db.session, g.current_org_id, current_user.id)
    return _render(catalog, cart, add_form=add_form, status=422, error=error)


def _chosen_sites(form: AddLinesForm) -> list[int]:
    stmt = select(Site.id).where(Site.organisation_id == g.current_org_id,
                                 Site.status == "active")
    if form.scope.data == "country":
        return list(db.session.scalars(stmt.where(Site.country == (form.country.data or "")
                                                  .upper())))
    if form.scope.data == "all":
        return list(db.session.scalars(stmt))
    ids = []
    for value in request.form.getlist("site_id"):
        try:
            ids.append(int(value))
        except ValueError:
            continue
    return ids


@bp.post("/lines")
@require(Permission.QUOTES_CREATE)
def add():
    """Add an offering at the chosen sites."""
    catalog = _catalog()
    form = _add_form(catalog)
    if not form.validate_on_submit():
        errors = "; ".join(f"{form[name].label.text}: {', '.join(messages)}"
                           for name, messages in form.errors.items())
        return _refused(catalog, errors, add_form=form)
    try:
        cart = rules.open_cart(db.session, g.current_org_id, current_user.id)
        count = rules.add_lines(db.session, cart, catalog, _chosen_sites(form),
                                form.offering_code.data, form.quantity.data,
                                form.term_months.data)
    except RuleError as exc:
        return _refused(catalog, str(exc), add_form=form)
    name = catalog.offerings[form.offering_code.data].name
    return _after_change(catalog, f"{name} added at {count} site{'' if count == 1 else 's'}.")


@bp.post("/lines/<int:line_id>")
@require(Permission.QUOTES_CREATE)
def update(line_id: int):
    """Change a line's quantity and term."""
    catalog = _catalog()
    form = LineForm()
    if not form.validate_on_submit():
        return _refused(catalog, "Enter a quantity of at least 1 and a term in months.")
    cart = rules.find_cart(db.session, g.current_org_id, current_user.id)
    try:
        if cart is None:
            raise rules.LineNotFound(line_id)
        rules.update_line(db.session, cart, catalog, line_id, form.quantity.data,
                          form.term_months.data)
    except rules.LineNotFound:
        abort(404)
    except RuleError as exc:
        return _refused(catalog, str(exc))
    return _after_change(catalog)


@bp.post("/lines/<int:line_id>/delete")
@require(Permission.QUOTES_CREATE)
def remove(line_id: int):
    """Take a line out."""
    catalog = _catalog()  # (the app-wide CSRF protection has checked the token)
    cart = rules.find_cart(db.session, g.current_org_id, current_user.id)
    try:
        if cart is None:
            raise rules.LineNotFound(line_id)
        rules.remove_line(db.session, cart, line_id)
    except rules.LineNotFound:
        abort(404)
    return _after_change(catalog)


@bp.post("/companions")
@require(Permission.QUOTES_CREATE)
def companions():
    """Guided selling: add a device's plan or accessory where the device is."""
    catalog = _catalog()
    form = CompanionForm()
    if not form.validate_on_submit():
        abort(400)
    cart = rules.find_cart(db.session, g.current_org_id, current_user.id)
    if cart is None:
        abort(404)
    try:
        count = rules.add_companions(db.session, cart, catalog, form.device_code.data,
                                     form.companion_code.data)
    except RuleError as exc:
        return _refused(catalog, str(exc))
    name = catalog.offerings[form.companion_code.data].name
    return _after_change(catalog, f"{name} added at {count} site{'' if count == 1 else 's'}.")


@bp.post("/billing-account")
@require(Permission.QUOTES_CREATE)
def billing_account():
    """Choose the billing account (and so the tax country)."""
    catalog = _catalog()
    account_id = request.form.get("billing_account_id", type=int)
    try:
        cart = rules.open_cart(db.session, g.current_org_id, current_user.id)
        rules.set_billing_account(db.session, cart, account_id)
    except RuleError as exc:
        return _refused(catalog, str(exc))
    return _after_change(catalog, "Billing account chosen.")


@bp.post("/clear")
@require(Permission.QUOTES_CREATE)
def clear():
    """Empty the cart."""
    catalog = _catalog()
    cart = rules.find_cart(db.session, g.current_org_id, current_user.id)
    if cart is not None:
        rules.clear(db.session, cart)
    return _after_change(catalog, "The cart is empty.")
