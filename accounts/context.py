"""Who is signed in and which organisation they act for, loaded once per request."""

from __future__ import annotations

from flask import g, session
from flask_login import current_user, logout_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from accounts.models import Membership, User
from accounts.services import memberships_by_org
from portal.extensions import db, login_manager


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """The signed-in user with their memberships (two queries whatever their number)."""
    try:
        key = int(user_id)
    except (TypeError, ValueError):
        return None
    return db.session.scalars(
        select(User)
        .options(selectinload(User.memberships).joinedload(Membership.organisation))
        .where(User.id == key, User.active.is_(True))
    ).first()


def load_tenant_context() -> None:
    """Put the organisation acted for and the roles held there on `g`.

    A user whose last membership went away is signed out: there is nothing they may see.
    """
    g.current_org = None
    g.current_org_id = None
    g.current_roles = ()
    g.user_orgs = []
    if not current_user.is_authenticated:
        return
    grouped = memberships_by_org(current_user)
    if not grouped:
        logout_user()
        session.end()
        return
    org_id = session.get("org_id")
    if org_id not in grouped:
        org_id = min(grouped)
        session["org_id"] = org_id
    memberships = grouped[org_id]
    g.current_org = memberships[0].organisation
    g.current_org_id = org_id
    g.current_roles = tuple(sorted(m.role for m in memberships))
    g.user_orgs = sorted((ms[0].organisation for ms in grouped.values()), key=lambda o: o.name)


def acting_org_ids() -> set[int]:
    """The organisations whose objects the current user may load (the one acted for)."""
    return {g.current_org_id} if g.get("current_org_id") else set()
