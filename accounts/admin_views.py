"""The organisation's own administration: members, single sign-on settings."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from accounts.forms import ActionForm, SsoSettingsForm
from accounts.models import Membership, User
from accounts.services import AccountError, set_idp_connection, set_user_active
from portal.extensions import db
from portal.security import Permission, Role, require

bp = Blueprint("org_admin", __name__, url_prefix="/organisation")

PAGE_SIZE = 50
ADMIN_ROLES = {Role.ADMIN, Role.PARTNER_ADMIN, Role.OPERATOR_ADMIN}


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


@bp.get("/members")
@require(Permission.USERS_VIEW)
def members():
    """Everyone who holds a role in the organisation, with where the role comes from, a page
    at a time."""
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
    return render_template("org_admin/members.html", members=rows, org=org, form=ActionForm(),
                           page=page, total=total,
                           pages=max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1))


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
            return redirect(url_for(".members"))
        if _is_last_admin(user, org.id):
            flash("This is the last active administrator; appoint another first.", "danger")
            return redirect(url_for(".members"))
    set_user_active(db.session, user, active, organisation_id=org.id)
    db.session.commit()
    flash(f"{user.email} is {'active again' if active else 'deactivated; their sessions ended'}.",
          "success")
    return redirect(url_for(".members"))


def _is_last_admin(user: User, org_id: int) -> bool:
    admin_roles = [str(r) for r in ADMIN_ROLES]
    if not any(m.organisation_id == org_id and m.role in admin_roles for m in user.memberships):
        return False
    others = db.session.scalar(
        select(User.id)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.organisation_id == org_id, Membership.role.in_(admin_roles),
               User.active.is_(True), User.id != user.id)
        .limit(1)
    )
    return others is None


def _parse_role_map(text: str) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for number, line in enumerate((text or "").splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        group, sep, role = line.rpartition("=")
        if not sep or not group.strip() or not role.strip():
            raise AccountError(f"Line {number} of the mapping is not GROUP=ROLE: {line!r}.")
        mapping[group.strip()] = role.strip()
    return mapping


@bp.route("/sso", methods=["GET", "POST"])
@require(Permission.SSO_MANAGE)
def sso_settings():
    """The organisation's IdP connection; the client secret is write-only."""
    org = g.current_org
    connection = org.idp
    form = SsoSettingsForm(obj=connection) if request.method == "GET" else SsoSettingsForm()
    if request.method == "GET" and connection is not None:
        form.role_map.data = "\n".join(f"{k}={v}" for k, v in sorted(connection.role_map.items()))
    if form.validate_on_submit():
        try:
            set_idp_connection(
                db.session, org, form.issuer.data, form.client_id.data,
                form.client_secret.data or None, _parse_role_map(form.role_map.data),
                enabled=form.enabled.data,
            )
            db.session.commit()
        except AccountError as exc:
            db.session.rollback()
            form.role_map.errors.append(str(exc))
        else:
            flash("Single sign-on settings saved.", "success")
            return redirect(url_for(".sso_settings"))
    redirect_uri = current_app.config["BASE_URL"] + url_for("accounts.sso_callback",
                                                            slug=org.slug)
    return render_template("org_admin/sso.html", form=form, org=org, connection=connection,
                           redirect_uri=redirect_uri)
