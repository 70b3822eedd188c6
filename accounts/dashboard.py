"""The home page: one dashboard per role, for the organisation acted for."""

from __future__ import annotations

from flask import Blueprint, g, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import func, select

from accounts.models import Membership, Organisation
from portal.audit import AuditEvent
from portal.extensions import db
from portal.orders.models import Order
from portal.security import Permission, can, public, require
from portal.usage.offers import open_offers
from quotes.approvals import queue as approval_queue
from quotes.models import Quote, QuoteVersion

bp = Blueprint("dashboard", __name__)

RECENT_EVENTS = 8
DASHBOARD_OFFERS = 5


@bp.get("/")
@public
def home():
    """Signed-in people go to their dashboard, everyone else to sign in."""
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.index"))
    return redirect(url_for("accounts.login"))


@bp.get("/dashboard")
@require(Permission.DASHBOARD_VIEW)
def index():
    """The dashboard of the current role(s) in the organisation acted for."""
    org = g.current_org
    member_count = db.session.scalar(
        select(func.count(func.distinct(Membership.user_id))).where(
            Membership.organisation_id == org.id
        )
    )
    recent = []
    if can(Permission.AUDIT_VIEW):
        recent = db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.organisation_id == org.id)
            .order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc())
            .limit(RECENT_EVENTS)
        ).all()
    org_counts = {}
    if can(Permission.ORGS_MANAGE):
        org_counts = dict(
            db.session.execute(
                select(Organisation.kind, func.count()).group_by(Organisation.kind)
            ).all()
        )
    quote_states, open_orders, waiting = {}, 0, 0
    if can(Permission.QUOTES_VIEW):
        quote_states = dict(db.session.execute(
            select(QuoteVersion.state, func.count()).join(Quote)
            .where(Quote.organisation_id == org.id,
                   QuoteVersion.version == Quote.latest_version)
            .group_by(QuoteVersion.state)).all())
    if can(Permission.ORDERS_VIEW):
        open_orders = db.session.scalar(select(func.count()).select_from(Order).where(
            Order.organisation_id == org.id,
            Order.state.not_in(("completed", "failed", "cancelled", "rejected", "partial"))))
    if can(Permission.QUOTES_APPROVE):
        waiting = len(approval_queue(db.session, current_user))
    offers = []
    if can(Permission.INVENTORY_VIEW):  # one more than shown: is there more?
        offers = open_offers(db.session, org.id, DASHBOARD_OFFERS + 1)
    own_signins = db.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.actor_user_id == current_user.id, AuditEvent.action == "auth:login")
        .order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc())
        .limit(3)
    ).all()
    return render_template(
        "dashboard/index.html",
        member_count=member_count,
        recent=recent,
        org_counts=org_counts,
        own_signins=own_signins,
        quote_states=quote_states,
        open_orders=open_orders,
        waiting=waiting,
        offers=offers,
        dashboard_offers=DASHBOARD_OFFERS,
    )
