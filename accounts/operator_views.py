"""Operator administration: every organisation, its domains and its single sign-on."""

from __future__ import annotations

from flask import Blueprint, render_template
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from accounts.models import Membership, Organisation
from portal.extensions import db
from portal.security import Permission, require

bp = Blueprint("operator", __name__, url_prefix="/operator")


@bp.get("/organisations")
@require(Permission.ORGS_MANAGE)
def organisations():
    """All organisations with their kind, parent, verified domains, IdP and member count."""
    orgs = db.session.scalars(
        select(Organisation)
        .options(selectinload(Organisation.domains), selectinload(Organisation.idp),
                 selectinload(Organisation.parent))
        .order_by(Organisation.kind, Organisation.name)
    ).all()
    counts = dict(db.session.execute(
        select(Membership.organisation_id, func.count(func.distinct(Membership.user_id)))
        .group_by(Membership.organisation_id)
    ).all())
    return render_template("operator/organisations.html", orgs=orgs, counts=counts)
