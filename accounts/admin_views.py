"""The organisation's single sign-on settings."""

from __future__ import annotations

from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)

from accounts.forms import SsoSettingsForm
from accounts.services import AccountError, set_idp_connection
from portal.extensions import db
from portal.security import Permission, require

bp = Blueprint("org_admin", __name__, url_prefix="/organisation")


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
