"""Members of the organisation acted for: invitations, roles, (de)activation."""

from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from accounts import members as rules
from accounts.forms import ActionForm, InviteForm, RolesForm
from accounts.models import Invitation, Membership, User
from accounts.services import set_user_active
from portal.actions import commit_or_flash
from portal.db import tenant_get_or_404
from portal.extensions import db
from portal.security import ROLES_BY_ORG_KIND, Permission, require
from portal.templating import role_label

bp = Blueprint("members", __name__, url_prefix="/organisation")

PAGE_SIZE = 50


def member_or_404(user_id: int, org_id: int) -> User:
    """A user who is a member of `org_id`; anyone else answers 404."""
    user = db.session.scalars(
        select(User)
        .options(selectinload(User.memberships))
        .join(Membership, Membership.user_id == User.id)
        .where(User.id == user_id, Membership.organisation_id == org_id)
    ).first()
    if user is None:
        abort(404)
    return user


def _role_choices() -> list[tuple[str, str]]:
    return [(r.value, role_label(r.value)) for r in ROLES_BY_ORG_KIND[g.current_org.kind]]


@bp.get("/members")
@require(Permission.USERS_VIEW)
def index():
    """Everyone who holds a role in the organisation, where each role comes from, and the
    pending invitations; a page at a time."""
    org = g.current_org
    member_ids = select(Membership.user_id).where(Membership.organisation_id == org.id)
    total = db.session.scalar(select(func.count()).select_from(
        member_ids.distinct().subquery()))
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    rows = db.session.scalars(
        select(User)
        .where(User.id.in_(member_ids))
        .options(selectinload(User.memberships))
        .order_by(User.email)
        .limit(PAGE_SIZE)
        .offset((page - 1) * PAGE_SIZE)
    ).all()
    invitations = db.session.scalars(
        select(Invitation).where(Invitation.organisation_id == org.id)
        .order_by(Invitation.email)
    ).all()
    invite_form = InviteForm()
    invite_form.role.choices = _role_choices()
    return render_template("members/index.html", members=rows, org=org, form=ActionForm(),
                           invite_form=invite_form, invitations=invitations,
                           role_choices=_role_choices(), page=page, total=total,
                           pages=max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1))


@bp.post("/members/invite")
@require(Permission.USERS_MANAGE)
def invite():
    """Invite someone by e-mail with a role."""
    form = InviteForm()
    form.role.choices = _role_choices()
    if not form.validate_on_submit():
        flash("Enter an e-mail address and pick a role.", "danger")
        return redirect(url_for(".index"))
    if commit_or_flash(lambda: rules.invite(db.session, g.current_org, form.email.data,
                                            form.role.data)):
        flash(f"{form.email.data} can now sign in as {role_label(form.role.data)}.", "success")
    return redirect(url_for(".index"))


@bp.post("/invitations/<int:invitation_id>/revoke")
@require(Permission.USERS_MANAGE)
def revoke_invitation(invitation_id: int):
    """Withdraw a pending invitation."""
    if not ActionForm().validate_on_submit():
        abort(400)
    invitation = tenant_get_or_404(db.session, Invitation, invitation_id)
    rules.revoke_invitation(db.session, invitation)
    db.session.commit()
    flash(f"The invitation of {invitation.email} is withdrawn.", "success")
    return redirect(url_for(".index"))


@bp.post("/members/<int:user_id>/roles")
@require(Permission.USERS_MANAGE)
def set_roles(user_id: int):
    """Replace the roles granted by hand; refuses to demote the last administrator."""
    user = member_or_404(user_id, g.current_org_id)
    form = RolesForm()
    form.roles.choices = _role_choices()
    if not form.validate_on_submit():
        abort(400)
    if commit_or_flash(lambda: rules.set_manual_roles(db.session, g.current_org, user,
                                                      set(form.roles.data))):
        roles = sorted(m.role for m in user.memberships if m.organisation_id == g.current_org_id)
        flash(f"{user.email} now holds: {', '.join(role_label(r) for r in roles)}.", "success")
    return redirect(url_for(".index"))


@bp.post("/members/<int:user_id>/<any(deactivate, activate):action>")
@require(Permission.USERS_MANAGE)
def set_active(user_id: int, action: str):
    """Deactivate (ending their sessions at once) or reactivate a member."""
    if not ActionForm().validate_on_submit():
        abort(400)
    org = g.current_org
    user = member_or_404(user_id, org.id)
    active = action == "activate"
    if not active:
        if user.id == current_user.id:
            flash("You cannot deactivate yourself.", "danger")
            return redirect(url_for(".index"))
        if rules.is_last_admin(db.session, user, org.id):
            flash("This is the last active administrator; appoint another first.", "danger")
            return redirect(url_for(".index"))
    set_user_active(db.session, user, active, organisation_id=org.id)
    db.session.commit()
    flash(f"{user.email} is {'active again' if active else 'deactivated; their sessions ended'}.",
          "success")
    return redirect(url_for(".index"))
