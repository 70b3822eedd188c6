"""The audit trail: customer admins see their organisation's, operator admins everyone's."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, abort, g, render_template, request
from sqlalchemy import func, select

from accounts.forms import AuditFilterForm
from accounts.models import Organisation
from portal.audit import AuditEvent
from portal.extensions import db
from portal.security import Permission, can, require

bp = Blueprint("audit", __name__, url_prefix="/audit")

PAGE_SIZE = 50


def _day(text: str | None) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def _visible_events():
    """The events the current user may see: their organisation's, or all for operators."""
    stmt = select(AuditEvent)
    if not can(Permission.AUDIT_VIEW_ALL):
        stmt = stmt.where(AuditEvent.organisation_id == g.current_org_id)
    return stmt


@bp.get("")
@require(Permission.AUDIT_VIEW)
def index():
    """Filter by user, action, date (and organisation, for operators), newest first."""
    form = AuditFilterForm(request.args)
    form.validate()
    stmt = _visible_events()
    if form.user.data:
        stmt = stmt.where(AuditEvent.actor_label.icontains(form.user.data.strip(), autoescape=True))
    if form.action.data:
        stmt = stmt.where(AuditEvent.action.startswith(form.action.data.strip()))
    start, end = _day(form.date_from.data), _day(form.date_to.data)
    if form.date_from.data and start is None:
        form.date_from.errors.append("Use the form YYYY-MM-DD.")
    if form.date_to.data and end is None:
        form.date_to.errors.append("Use the form YYYY-MM-DD.")
    if start:
        stmt = stmt.where(AuditEvent.occurred_at >= dt.datetime.combine(start, dt.time(),
                                                                       dt.UTC))
    if end:
        stmt = stmt.where(AuditEvent.occurred_at < dt.datetime.combine(
            end + dt.timedelta(days=1), dt.time(), dt.UTC))
    if form.organisation.data and can(Permission.AUDIT_VIEW_ALL):
        stmt = stmt.join(Organisation, Organisation.id == AuditEvent.organisation_id).where(
            Organisation.slug == form.organisation.data.strip())
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    total = db.session.scalar(select(func.count()).select_from(stmt.subquery()))
    events = db.session.scalars(
        stmt.order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc())
        .limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)
    ).all()
    org_names = _org_names({e.organisation_id for e in events}
                           | {e.actor_org_id for e in events})
    return render_template("audit/index.html", form=form, events=events, total=total,
                           page=page, pages=max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1),
                           org_names=org_names)


@bp.get("/<int:event_id>")
@require(Permission.AUDIT_VIEW)
def detail(event_id: int):
    """One event with its before and after; another organisation's answers 404."""
    event = db.session.scalars(_visible_events().where(AuditEvent.id == event_id)).first()
    if event is None:
        abort(404)
    return render_template("audit/detail.html", event=event,
                           org_names=_org_names({event.organisation_id, event.actor_org_id}))


def _org_names(ids: set) -> dict[int, str]:
    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    return dict(db.session.execute(
        select(Organisation.id, Organisation.name).where(Organisation.id.in_(ids))).all())
