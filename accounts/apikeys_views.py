"""The organisation's API keys: list, create (the token shown once), revoke."""

from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.validators import DataRequired, Length

from accounts.apikeys import NAME_MAX, create_api_key, key_roles, list_api_keys, revoke_api_key
from accounts.forms import ActionForm
from accounts.models import ApiKey
from accounts.services import AccountError
from portal.db import tenant_get_or_404
from portal.extensions import db
from portal.security import Permission, require
from portal.templating import role_label

MAX_ID = 2**31 - 1  # ids are INTEGER columns

bp = Blueprint("apikeys", __name__, url_prefix="/organisation/api-keys")


class ApiKeyForm(FlaskForm):
    """A new key: what uses it, and the role it acts with."""

    name = StringField(
        "Name", validators=[DataRequired(message="Name the system that will use the key."),
                            Length(max=NAME_MAX)],
        description="The system that will use it, like “ERP sync”.",
    )
    role = SelectField("Role", validators=[DataRequired()],
                       description="The key can do what a person with this role can do.")


def _form(org) -> ApiKeyForm:
    form = ApiKeyForm()
    form.role.choices = [(role, role_label(role)) for role in key_roles(org, g.current_roles)]
    return form


@bp.route("", methods=["GET", "POST"])
@require(Permission.APIKEYS_MANAGE)
def index():
    """The organisation's keys and the form for a new one. After creating a key the page
    shows its token, this once: it is stored only as a hash."""
    org = g.current_org
    form = _form(org)
    created, token = None, None
    if form.validate_on_submit():
        try:
            created, token = create_api_key(db.session, org, form.name.data, form.role.data,
                                            current_user, actor_roles=g.current_roles)
            db.session.commit()
        except AccountError as exc:
            db.session.rollback()
            form.name.errors.append(str(exc))
        else:
            form = _form(org)
            form.name.data = ""
    # The token goes straight into this page, never into the session or a flash message.
    return render_template("apikeys/index.html", org=org, form=form, keys=list_api_keys(
        db.session, org.id), created=created, token=token, action_form=ActionForm())


@bp.post("/<int:key_id>/revoke")
@require(Permission.APIKEYS_MANAGE)
def revoke(key_id: int):
    """Revoke a key of the organisation acted for; keys of others answer 404."""
    if not ActionForm().validate_on_submit():
        abort(400)
    if key_id > MAX_ID:  # no such key, and PostgreSQL would refuse to compare it
        abort(404)
    key = tenant_get_or_404(db.session, ApiKey, key_id)
    try:
        revoke_api_key(db.session, key)
        db.session.commit()
    except AccountError as exc:
        db.session.rollback()
        flash(str(exc), "info")
    else:
        flash(f"The key {key.name} ({key.prefix}) is revoked; it no longer works.", "success")
    return redirect(url_for(".index"))
