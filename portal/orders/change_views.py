"""Self-serve changes from the service inventory: the changes possible on a service (the
ineligible ones with their reason), a preview of the chosen change priced by the engine, and
its confirmation, which places an order; the same for a new service at a site. Previews
write nothing; a confirmation previews again on the server and never trusts posted prices.
The rules are in portal.orders.changes."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from wtforms.fields.choices import SelectChoice

from accounts.estate.models import Service, Site
from portal.actions import commit_or_flash
from portal.catalog.schema import Catalog
from portal.catalog.store import current_catalog
from portal.db import tenant_get_or_404, utcnow
from portal.errors import render_error
from portal.extensions import db
from portal.orders import changes
from portal.orders.forms import (
    AddServiceForm,
    ChangeChoiceForm,
    ConfirmAddForm,
    ConfirmChangeForm,
)
from portal.orders.services import OrderNotFound
from portal.rules import RuleError
from portal.security import Permission, require

bp = Blueprint("changes", __name__)

SITE_CHOICES_LIMIT = 500
NO_CATALOG = ("The catalog is not available, so no change can be priced now. Try again "
              "later.")
ACTION_LABELS = {
    "modify": "Change plan or bandwidth",
    "suspend": "Suspend",
    "resume": "Resume",
    "move": "Move to another site",
    "cease": "Cease",
}
ACTION_HELP = {
    "modify": "Another offering of the same family: a different plan, more or less "
              "bandwidth.",
    "suspend": "Stop the service for a while; it can be resumed.",
    "resume": "Start a suspended service again.",
    "move": "Move the service to another of your active sites.",
    "cease": "End the service. Inside the minimum term an early-termination charge applies.",
}


@bp.errorhandler(OrderNotFound)
def _not_found(_error):
    db.session.rollback()
    return render_error(404)


def _today() -> dt.date:
    return utcnow().date()


def _confirmable(form, incomplete: str) -> Catalog | None:
    """The catalog to price a confirmation with, once its form is complete; None (with the
    reason flashed) when the form is incomplete or there is no catalog."""
    if not form.validate_on_submit():
        flash(incomplete, "danger")
        return None
    catalog = _catalog()
    if catalog is None:
        flash(NO_CATALOG, "warning")
    return catalog


def _catalog() -> Catalog | None:
    found = current_catalog(db.session)
    return found[1] if found else None


def _int(value) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


@dataclass
class ActionOption:
    """A change offered on the service page: enabled, or disabled with the reason."""

    action: str
    label: str
    help: str
    reason: str | None = None
    choices: list[SelectChoice] = field(default_factory=list)


def _modify_targets(service: Service, catalog: Catalog, day: dt.date) -> list[SelectChoice]:
    current = catalog.offerings.get(service.offering_code)
    if current is None or current.family not in changes.MODIFIABLE_FAMILIES:
        return []
    country = service.site.country
    return [SelectChoice(o.code, f"{o.name} · {o.recurring} {catalog.currency}/month per unit")
            for o in catalog.sold_on(day)
            if o.family == current.family and o.code != current.code
            and (not o.available_in or country in o.available_in)]


def _move_targets(service: Service, catalog: Catalog) -> list[SelectChoice]:
    current = catalog.offerings.get(service.offering_code)
    stmt = select(Site).where(Site.organisation_id == service.organisation_id,
                              Site.status == "active", Site.id != service.site_id)
    if current is not None and current.available_in:
        stmt = stmt.where(Site.country.in_(current.available_in))
    sites = db.session.scalars(stmt.order_by(Site.code).limit(SITE_CHOICES_LIMIT))
    return [SelectChoice(str(s.id), f"{s.code} · {s.name}, {s.city} ({s.country})")
            for s in sites]


def _options(service: Service, catalog: Catalog, day: dt.date) -> list[ActionOption]:
    """Every change, with why it is not possible where it is not. The simple ones are asked
    of the rules themselves (a preview); modify and move need somewhere to go."""
    org_id = service.organisation_id
    options = []
    reasons = {}
    for action in ("suspend", "resume", "cease"):
        try:
            changes.preview_change(db.session, org_id, service.id, action, catalog, day)
            reasons[action] = None
        except RuleError as exc:
            reasons[action] = str(exc)
    blocked = reasons["cease"]  # cease is refused only when no change at all is possible
    for action in changes.CHANGE_ACTIONS:
        option = ActionOption(action, ACTION_LABELS[action], ACTION_HELP[action],
                              reasons.get(action))
        if action == "modify":
            current = catalog.offerings.get(service.offering_code)
            option.choices = [] if blocked else _modify_targets(service, catalog, day)
            if blocked:
                option.reason = blocked
            elif current is None or current.family not in changes.MODIFIABLE_FAMILIES:
                option.reason = "This offering has no other plans to change to."
            elif not option.choices:
                option.reason = "No other plan of this kind is sold at this site."
        elif action == "move":
            option.choices = [] if blocked else _move_targets(service, catalog)
            option.reason = blocked or (None if option.choices else
                                        "You have no other active site where this service "
                                        "is sold.")
        options.append(option)
    return options


def _preview_of(service_id: int, catalog: Catalog, action: str, offering_code: str | None,
                site_id: int | None):
    """The previewed change (priced now), or the reason it is not possible."""
    try:
        return changes.preview_change(db.session, g.current_org_id, service_id, action,
                                      catalog, _today(), offering_code=offering_code or None,
                                      site_id=site_id), None
    except RuleError as exc:
        return None, str(exc)


# -- a change of a service ----------------------------------------------------------------------

@bp.get("/inventory/<int:service_id>/change")
@require(Permission.ORDERS_CREATE)
def change(service_id: int):
    """The service, the changes possible on it, and (when one is chosen) its preview with
    a confirmation form. Nothing is written."""
    service = changes.load_service(db.session, g.current_org_id, service_id)
    catalog = _catalog()
    if catalog is None:
        return render_template("orders/change.html", service=service, catalog=None,
                               message=NO_CATALOG)
    day = _today()
    choice = ChangeChoiceForm(request.args)
    action = choice.action.data if choice.action.data in changes.CHANGE_ACTIONS else None
    preview = error = confirm = None
    if action:
        preview, error = _preview_of(service.id, catalog, action, choice.offering_code.data,
                                     _int(choice.site_id.data))
        if preview is not None:
            confirm = ConfirmChangeForm(formdata=None, action=action,
                                        offering_code=choice.offering_code.data or "",
                                        site_id=choice.site_id.data or "")
    busy = changes.open_change(db.session, service.id)
    current = catalog.offerings.get(service.offering_code)
    return render_template(
        "orders/change.html", service=service, catalog=catalog, current=current,
        options=_options(service, catalog, day), action=action, preview=preview,
        error=error, confirm=confirm, busy=busy, today=day,
        term_end=changes.term_end(service) if service.start_date else None,
        months_left=changes.months_left(service, day) if service.start_date else 0,
        chosen_offering=choice.offering_code.data, chosen_site=choice.site_id.data,
        action_labels=ACTION_LABELS), 422 if error else 200


@bp.post("/inventory/<int:service_id>/change")
@require(Permission.ORDERS_CREATE)
def confirm_change(service_id: int):
    """Place the order of a change, priced again here; a charge must have been accepted."""
    service = changes.load_service(db.session, g.current_org_id, service_id)
    back = url_for(".change", service_id=service.id)
    form = ConfirmChangeForm()
    catalog = _confirmable(form, "Choose a change and confirm it from its preview.")
    if catalog is None:
        return redirect(back)
    args = {"action": form.action.data}
    if form.offering_code.data:
        args["offering_code"] = form.offering_code.data
    if form.site_id.data:
        args["site_id"] = form.site_id.data
    preview, error = _preview_of(service.id, catalog, form.action.data,
                                 form.offering_code.data, _int(form.site_id.data))
    if preview is None:
        flash(error, "danger")
        return redirect(back)
    if preview.needs_consent and not form.accept_charge.data:
        flash(f"Ceasing now costs an early-termination charge of "
              f"{preview.early_termination_charge} {preview.currency}: tick the box to accept "
              f"it, or keep the service.", "danger")
        return redirect(url_for(".change", service_id=service.id, **args))
    placed = []
    if not commit_or_flash(lambda: placed.append(changes.place_change(
            db.session, g.current_org_id, current_user.id, preview,
            accept_charge=bool(form.accept_charge.data)))):
        return redirect(url_for(".change", service_id=service.id, **args))
    order = placed[0]
    flash(f"Order {order.number} was placed: {preview.summary}. It is sent to the order "
          f"backend now; this page follows it.", "success")
    return redirect(url_for("orders.show", order_id=order.id))


# -- a new service at a site ---------------------------------------------------------------------

def _add_choices(form: AddServiceForm, site: Site, catalog: Catalog, day: dt.date) -> None:
    offered = [o for o in catalog.sold_on(day)
               if not o.available_in or site.country in o.available_in]
    form.offering_code.choices = [
        SelectChoice(o.code, f"{o.name} · {o.recurring} {catalog.currency}/month",
                     optgroup=o.family.capitalize())
        for o in sorted(offered, key=lambda o: (o.family, o.name))]
    terms = sorted({t for o in offered for t in o.terms})
    form.term_months.choices = [SelectChoice("", "The shortest offered"),
                                *(SelectChoice(str(t), f"{t} months") for t in terms)]


@bp.get("/sites/<int:site_id>/add-service")
@require(Permission.ORDERS_CREATE)
def add_service(site_id: int):
    """Choose an offering, quantity and term for a site; with an offering chosen, the
    preview priced by the engine and a confirmation form. Nothing is written."""
    site = tenant_get_or_404(db.session, Site, site_id)
    catalog = _catalog()
    if catalog is None:
        return render_template("orders/add_service.html", site=site, catalog=None,
                               message=NO_CATALOG)
    day = _today()
    form = AddServiceForm(request.args)
    _add_choices(form, site, catalog, day)
    preview = error = confirm = None
    if site.status != "active":
        error = f"Site {site.code} is closed: no service can be added there."
    elif form.offering_code.data:
        if not form.validate():
            error = "Enter a quantity between 1 and 10,000."
        else:
            term = _int(form.term_months.data)
            try:
                preview = changes.preview_add(db.session, g.current_org_id, site.id,
                                              form.offering_code.data, form.quantity.data or 1,
                                              term, catalog, day)
            except RuleError as exc:
                error = str(exc)
            else:
                confirm = ConfirmAddForm(formdata=None, offering_code=form.offering_code.data,
                                         quantity=form.quantity.data or 1, term_months=term)
    return render_template("orders/add_service.html", site=site, catalog=catalog, form=form,
                           preview=preview, error=error, confirm=confirm), \
        422 if error else 200


@bp.post("/sites/<int:site_id>/add-service")
@require(Permission.ORDERS_CREATE)
def confirm_add(site_id: int):
    """Place the order of a new service, priced again here."""
    site = tenant_get_or_404(db.session, Site, site_id)
    back = url_for(".add_service", site_id=site.id)
    form = ConfirmAddForm()
    catalog = _confirmable(form, "Choose an offering and confirm it from its preview.")
    if catalog is None:
        return redirect(back)
    placed = []

    def place():
        preview = changes.preview_add(db.session, g.current_org_id, site.id,
                                      form.offering_code.data, form.quantity.data,
                                      form.term_months.data, catalog, _today())
        placed.append((changes.place_change(db.session, g.current_org_id, current_user.id,
                                            preview), preview))

    if not commit_or_flash(place):
        return redirect(back)
    order, preview = placed[0]
    flash(f"Order {order.number} was placed: {preview.summary}.", "success")
    return redirect(url_for("orders.show", order_id=order.id))
