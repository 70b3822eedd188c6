"""Sign-in, sign-out and switching organisation."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_user, logout_user

from accounts.forms import ActionForm, LoginForm, SwitchOrgForm
from accounts.models import Organisation
from accounts.services import org_by_slug
from accounts.signin import discover, sign_in
from accounts.sso import SignInError, client_for, end_session_url, exchange_code
from portal import audit
from portal.extensions import db, limiter
from portal.security import public, signed_in

bp = Blueprint("accounts", __name__)


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def safe_next(target: str | None) -> str | None:
    """Only a relative path on this site: never another host, scheme or `//host`."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or any(ord(c) < 32 for c in target):
        return None
    return target


def _callback_url(slug: str) -> str:
    return current_app.config["BASE_URL"] + url_for("accounts.sso_callback", slug=slug)


@bp.route("/login", methods=["GET", "POST"])
@public
@limiter.limit(_login_limit, methods=["POST"])
def login():
    """Ask for the work e-mail and send the person to their organisation's IdP."""
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")) or url_for("dashboard.index"))
    form = LoginForm()
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        try:
            org = discover(db.session, email)
            client = client_for(org.idp)
            response = client.authorize_redirect(_callback_url(org.slug), login_hint=email)
        except SignInError as exc:
            db.session.rollback()
            audit.record(db.session, "auth:login", outcome="failure", reason=exc.reason,
                         actor_label=email)
            db.session.commit()
            form.email.errors.append(exc.message)
            return render_template("accounts/login.html", form=form), 400
        session["sso_next"] = safe_next(request.args.get("next"))
        return response
    status = 400 if form.errors else 200
    return render_template("accounts/login.html", form=form), status


@bp.get("/sso/<slug>/callback")
@public
@limiter.limit(_login_limit)
def sso_callback(slug: str):
    """Finish the sign-in: validate everything the IdP sent, provision, start the session."""
    org = org_by_slug(db.session, slug)
    if org is None or org.idp is None:
        abort(404)
    email = None
    try:
        if not org.idp.enabled:
            raise SignInError("sso-disabled", f"Single sign-on for {org.name} is turned off.")
        claims = exchange_code(client_for(org.idp), org.idp)
        email = claims.get("email")
        user, change = sign_in(db.session, org, claims)
    except SignInError as exc:
        db.session.rollback()
        logout_user()
        audit.record(db.session, "auth:login", organisation_id=org.id, outcome="failure",
                     reason=exc.reason, actor_label=email if isinstance(email, str) else None)
        db.session.commit()
        current_app.logger.info("sign-in refused", extra={"reason": exc.reason, "org": slug})
        return render_template("accounts/signin_failed.html", message=exc.message,
                               reason=exc.reason, org=org), 401
    audit.record(db.session, "auth:login", organisation_id=org.id, target=user,
                 actor_user_id=user.id, actor_label=user.email, after=change)
    db.session.commit()
    next_url = session.get("sso_next")
    session.clear()
    login_user(user)
    session.regenerate()  # a new session id at sign-in: no fixation
    session["org_id"] = org.id
    session["idp_org_id"] = org.id
    session["id_token"] = claims.get("_id_token")
    return redirect(safe_next(next_url) or url_for("dashboard.index"))


@bp.post("/logout")
@signed_in
def logout():
    """End the session here at once, then at the IdP where it offers an end-session
    endpoint."""
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    idp_org_id = session.get("idp_org_id")
    idp_org = db.session.get(Organisation, idp_org_id) if idp_org_id else None
    id_token = session.get("id_token")
    audit.record(db.session, "auth:logout", target=current_user._get_current_object())
    db.session.commit()
    logout_user()
    session.end()
    return_to = current_app.config["BASE_URL"] + url_for("accounts.signed_out")
    url = None
    if idp_org is not None and idp_org.idp is not None:
        url = end_session_url(idp_org.idp, id_token, return_to)
    return redirect(url or return_to)


@bp.get("/signed-out")
@public
def signed_out():
    """Where the IdP sends the person back after signing out."""
    return render_template("accounts/signed_out.html")


@bp.post("/switch-org")
@signed_in
def switch_org():
    """Act for another organisation the user is a member of."""
    form = SwitchOrgForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        org_id = int(form.org_id.data)
    except ValueError:
        abort(404)
    context = next((c for c in g.user_orgs if c.id == org_id), None)
    if context is None:
        abort(404)
    target = context.org
    audit.record(db.session, "auth:switch_org", organisation_id=target.id, target=target,
                 before={"organisation_id": g.current_org_id},
                 after={"organisation_id": target.id})
    db.session.commit()
    session["org_id"] = target.id
    return redirect(url_for("dashboard.index"))
