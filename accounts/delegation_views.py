"""Pages for partner delegations (customer admins) and account manager assignments
(operator admins)."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, abort, flash, g, redirect, render_template, url_for
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from accounts import delegation as rules
from accounts.forms import ActionForm, AssignmentForm, DelegationForm
from accounts.models import AccountManagerAssignment, Delegation, Organisation, User
from portal.actions import commit_or_flash
from portal.db import tenant_get_or_404, utcnow
from portal.extensions import db
from portal.security import Permission, require

bp = Blueprint("delegations", __name__)


def _partners() -> list[Organisation]:
    return list(db.session.scalars(
        select(Organisation).where(Organisation.kind == "partner", Organisation.active.is_(True))
        .order_by(Organisation.name)))


@bp.get("/organisation/delegations")
@require(Permission.DELEGATIONS_MANAGE)
def index():
    """The organisation's delegations to partners, live and past, and the grant form."""
    form = DelegationForm()
    form.partner_id.choices = [(p.id, p.name) for p in _partners()]
    if not form.expires_on.data:
        form.expires_on.data = (utcnow() + dt.timedelta(days=365)).date()
    delegations = db.session.scalars(
        select(Delegation).options(joinedload(Delegation.partner))
        .where(Delegation.organisation_id == g.current_org_id)
        .order_by(Delegation.revoked_at.is_(None).desc(), Delegation.expires_at.desc())
    ).all()
    return render_template("delegations/index.html", form=form, delegations=delegations,
                           action_form=ActionForm(), now=utcnow())


@bp.post("/organisation/delegations")
@require(Permission.DELEGATIONS_MANAGE)
def grant():
    """Grant (or change) a partner's delegation."""
    form = DelegationForm()
    form.partner_id.choices = [(p.id, p.name) for p in _partners()]
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for error in errors:
                flash(error, "danger")
        return redirect(url_for(".index"))
    partner = db.session.get(Organisation, form.partner_id.data)
    expires_at = dt.datetime.combine(form.expires_on.data, dt.time(23, 59, 59), dt.UTC)
    if commit_or_flash(lambda: rules.grant_delegation(db.session, g.current_org, partner,
                                                      form.scopes.data, expires_at)):
        flash(f"{partner.name} may act for {g.current_org.name} until "
              f"{form.expires_on.data.isoformat()}.", "success")
    return redirect(url_for(".index"))


@bp.post("/organisation/delegations/<int:delegation_id>/revoke")
@require(Permission.DELEGATIONS_MANAGE)
def revoke(delegation_id: int):
    """End a delegation at once."""
    if not ActionForm().validate_on_submit():
        abort(400)
    delegation = tenant_get_or_404(db.session, Delegation, delegation_id)
    rules.revoke_delegation(db.session, delegation)
    db.session.commit()
    flash(f"{delegation.partner.name} can no longer act for {g.current_org.name}.", "success")
    return redirect(url_for(".index"))


def _assignment_form() -> AssignmentForm:
    form = AssignmentForm()
    form.customer_id.choices = [(o.id, o.name) for o in db.session.scalars(
        select(Organisation).where(Organisation.kind == "customer").order_by(Organisation.name))]
    form.manager_id.choices = [(u.id, u.display_name)
                               for u in rules.account_managers(db.session)]
    return form


@bp.get("/operator/account-managers")
@require(Permission.ACCOUNT_MANAGERS_MANAGE)
def assignments():
    """Which account manager looks after which customer."""
    rows = db.session.scalars(
        select(AccountManagerAssignment)
        .options(joinedload(AccountManagerAssignment.customer),
                 joinedload(AccountManagerAssignment.user))
        .join(Organisation, Organisation.id == AccountManagerAssignment.organisation_id)
        .order_by(Organisation.name)
    ).all()
    return render_template("delegations/assignments.html", assignments=rows,
                           form=_assignment_form(), action_form=ActionForm())


@bp.post("/operator/account-managers")
@require(Permission.ACCOUNT_MANAGERS_MANAGE)
def assign():
    """Put an account manager in charge of a customer."""
    form = _assignment_form()
    if not form.validate_on_submit():
        flash("Choose a customer and an account manager.", "danger")
        return redirect(url_for(".assignments"))
    customer = db.session.get(Organisation, form.customer_id.data)
    manager = db.session.get(User, form.manager_id.data)
    if commit_or_flash(lambda: rules.assign_account_manager(db.session, customer, manager)):
        flash(f"{manager.display_name} now looks after {customer.name}.", "success")
    return redirect(url_for(".assignments"))


@bp.post("/operator/account-managers/<int:assignment_id>/remove")
@require(Permission.ACCOUNT_MANAGERS_MANAGE)
def unassign(assignment_id: int):
    """Take a customer away from an account manager."""
    if not ActionForm().validate_on_submit():
        abort(400)
    assignment = db.session.get(AccountManagerAssignment, assignment_id)
    if assignment is None:
        abort(404)
    rules.unassign_account_manager(db.session, assignment)
    db.session.commit()
    flash("Assignment removed.", "success")
    return redirect(url_for(".assignments"))
