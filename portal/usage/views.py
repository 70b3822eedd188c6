"""Usage and offer pages: the organisation's usage (used against allowance by service and
month) with its open offers; accepting or dismissing an offer; and for the operator's
admins, the usage upload and the offer rules. Views are thin: the rules are in the services
of portal.usage."""

from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from accounts.models import Organisation
from portal.actions import commit_or_flash
from portal.audit import AuditEvent
from portal.catalog.store import current_catalog
from portal.db import tenant_get_or_404, utcnow
from portal.extensions import db
from portal.security import Permission, require
from portal.usage import rules as offer_rules
from portal.usage.forms import OfferDecisionForm, RulesForm, UploadForm
from portal.usage.imports import UsageImportError, import_usage
from portal.usage.measures import amount_text, percent_of, percent_text
from portal.usage.models import Offer
from portal.usage.offers import accept_offer, dismiss_offer
from portal.usage.services import usage_page

bp = Blueprint("usage", __name__)

RECENT_IMPORTS = 20
BACK = {"dashboard": "dashboard.index", "usage": "usage.index"}


@bp.get("/usage")
@require(Permission.INVENTORY_VIEW)
def index():
    """Data used against the allowance, by service and month (the last six months with
    usage), and the open offers."""
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    data = usage_page(db.session, g.current_org_id, page)
    return render_template("usage/index.html", data=data, percent_of=percent_of,
                           amount_text=amount_text)


def _offer_form(offer_id: int) -> tuple[Offer, str]:
    """The offer (of the organisation acted for) and where to go back to, once the form's
    CSRF token checks out."""
    form = OfferDecisionForm()
    if not form.validate_on_submit():
        abort(400)
    offer = tenant_get_or_404(db.session, Offer, offer_id)
    return offer, url_for(BACK[form.back.data or "dashboard"])


@bp.post("/offers/<int:offer_id>/accept")
@require(Permission.ORDERS_CREATE)
def accept(offer_id: int):
    """Accept an offer: its change order is placed (priced again now) and shown."""
    offer, back = _offer_form(offer_id)
    found = current_catalog(db.session)
    if found is None:
        flash("The catalog is not available, so the change cannot be priced now. Try again "
              "later.", "warning")
        return redirect(back)
    placed = []
    if not commit_or_flash(lambda: placed.append(accept_offer(
            db.session, offer, current_user.id, found[1], utcnow().date()))):
        return redirect(back)
    order = placed[0]
    flash(f"Order {order.number} was placed: {order.description}. It is sent to the order "
          "backend now; this page follows it.", "success")
    return redirect(url_for("orders.show", order_id=order.id))


@bp.post("/offers/<int:offer_id>/dismiss")
@require(Permission.ORDERS_CREATE)
def dismiss(offer_id: int):
    """Dismiss an offer; it does not come back for the same reason."""
    offer, back = _offer_form(offer_id)
    if commit_or_flash(lambda: dismiss_offer(db.session, offer, current_user.id)):
        flash(f"The offer of {offer.offering_name} was dismissed.", "success")
    return redirect(back)


# -- the operator's admins ---------------------------------------------------------------------

def _operator_page(form: UploadForm, problems: UsageImportError | None = None):
    imports = db.session.execute(
        select(AuditEvent, Organisation.name)
        .join(Organisation, Organisation.id == AuditEvent.organisation_id)
        .where(AuditEvent.action == "usage:import")
        .order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc())
        .limit(RECENT_IMPORTS)).all()
    return render_template("usage/operator.html", form=form, refused=problems,
                           imports=imports), 422 if problems else 200


@bp.get("/operator/usage")
@require(Permission.OFFERS_MANAGE)
def operator_usage():
    """The usage upload and the last imports."""
    return _operator_page(UploadForm())


@bp.post("/operator/usage")
@require(Permission.OFFERS_MANAGE)
def upload():
    """Import an uploaded usage file: all of it, or nothing and every problem listed."""
    form = UploadForm()
    if not form.validate_on_submit():
        return _operator_page(form)
    sent = form.file.data
    try:
        result = import_usage(db.session, sent.read(), current_user.email,
                              filename=(sent.filename or "usage.csv")[-200:])
        db.session.commit()
    except UsageImportError as refused:
        db.session.rollback()
        return _operator_page(form, refused)
    flash(result.summary(), "success")
    return redirect(url_for(".operator_usage"))


@bp.route("/operator/offer-rules", methods=["GET", "POST"])
@require(Permission.OFFERS_MANAGE)
def rules():
    """See and change the rules of alerts and offers."""
    current = offer_rules.current_rules(db.session)
    # The rules in force fill the form only when it is shown, never under a post: a field
    # left out of a post must be missing, not silently the current value.
    form = RulesForm(obj=current if request.method == "GET" else None)
    if request.method == "GET":
        form.alert_thresholds.data = ", ".join(percent_text(t) for t in current.thresholds)
    elif form.validate_on_submit() and commit_or_flash(lambda: offer_rules.update_rules(
            db.session, form.values(), current_user.email)):
        flash("The offer rules were saved; they apply from the next import or evaluation.",
              "success")
        return redirect(url_for(".rules"))
    return render_template("offers/rules.html", form=form, rules=current), \
        422 if form.errors else 200
