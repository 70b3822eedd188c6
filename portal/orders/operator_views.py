"""The operator's view of order deliveries across every customer: parts that need attention
(every attempt to send them failed) with a retry button, parts the backend refused, and
recent failures. Operator admins act from the operator organisation, so parts are loaded by
id, not through the organisation acted for; the retry is audited (services.retry_part)."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, flash, redirect, render_template, url_for
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import selectinload

from accounts.models import Organisation
from portal.actions import commit_or_flash
from portal.db import utcnow
from portal.errors import render_error
from portal.extensions import db
from portal.orders import services
from portal.orders.forms import ActionForm
from portal.orders.models import Delivery, Order, OrderPart, OutboxMessage, PartState
from portal.security import Permission, require

bp = Blueprint("order_operations", __name__, url_prefix="/operator/orders")

LIMIT = 200
RECENT = dt.timedelta(days=14)
SILENT = dt.timedelta(hours=48)


def _parts(*where, limit: int = LIMIT) -> list[tuple]:
    """Parts matching `where`, newest first, each as (part, order id, order number,
    customer name, attempts of its request): one query."""
    attempts = (select(func.coalesce(func.max(OutboxMessage.attempts), 0))
                .where(OutboxMessage.part_id == OrderPart.id, OutboxMessage.kind == "create")
                .correlate(OrderPart).scalar_subquery())
    return [tuple(row) for row in db.session.execute(
        select(OrderPart, Order.id, Order.number, Organisation.name, attempts.label("attempts"))
        .join(Order, Order.id == OrderPart.order_id)
        .join(Organisation, Organisation.id == Order.organisation_id)
        .where(*where).order_by(OrderPart.id.desc()).limit(limit)).all()]


@bp.get("")
@require(Permission.ORDERS_OPERATE)
def index():
    """Deliveries that need an operator, then recent failures (a fixed number of
    queries)."""
    stuck = _parts(OrderPart.delivery.in_((Delivery.ATTENTION, Delivery.REFUSED)))
    failures = _parts(or_(
        and_(OrderPart.state.in_((PartState.FAILED, PartState.REJECTED)),
             OrderPart.delivery.not_in((Delivery.ATTENTION, Delivery.REFUSED)),
             OrderPart.updated_at >= utcnow() - RECENT),
        and_(OrderPart.delivery == Delivery.QUEUED, OrderPart.last_error.is_not(None))))
    # Delivered, but the backend has said nothing for a long time: its events may be lost.
    silent = _parts(OrderPart.delivery == Delivery.DELIVERED,
                    OrderPart.state.not_in(PartState.FINAL),
                    OrderPart.updated_at < utcnow() - SILENT)
    return render_template("orders/operator.html", stuck=stuck, failures=failures,
                           silent=silent, silent_hours=int(SILENT.total_seconds() // 3600),
                           form=ActionForm(), recent_days=RECENT.days, limit=LIMIT)


@bp.post("/parts/<int:part_id>/retry")
@require(Permission.ORDERS_OPERATE)
def retry(part_id: int):
    """Send a part that needs attention again (same Idempotency-Key: never twice)."""
    part = db.session.scalars(select(OrderPart).options(selectinload(OrderPart.order))
                              .where(OrderPart.id == part_id)).first()
    if part is None:
        return render_error(404)
    form = ActionForm()
    if not form.validate_on_submit():
        flash("The form was incomplete; reload the page and try again.", "danger")
        return redirect(url_for(".index"))
    external_id = part.external_id
    if commit_or_flash(lambda: services.retry_part(db.session, part)):
        flash(f"Part {external_id} is queued again; the dispatcher sends it within a few "
              f"seconds.", "success")
    return redirect(url_for(".index"))
