"""Who is signed in and which organisation they act for, loaded once per request.

A user can act for:
- each organisation they are a member of, with the roles held there;
- the subsidiaries (at any depth) of an organisation where they are an admin, as admin;
- each customer that delegated to their partner organisation (live delegation), with the
  delegation's scopes deciding what they may do;
- each customer assigned to them as an account manager, read-only plus approvals.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import g, session
from flask_login import current_user, logout_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from accounts.models import (
    AccountManagerAssignment,
    Delegation,
    Membership,
    Organisation,
    User,
)
from accounts.services import memberships_by_org
from portal.db import utcnow
from portal.extensions import db, login_manager
from portal.security import Role, delegated_permissions, permissions_of

MAX_HIERARCHY_DEPTH = 6
PARTNER_ROLES = {Role.PARTNER_ADMIN, Role.PARTNER_AGENT}


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


@dataclass(frozen=True)
class ActingContext:
    """One organisation the user may act for, and what they may do there."""

    org: Organisation
    roles: tuple[str, ...]
    permissions: frozenset
    via: Organisation | None = None  # the partner or operator organisation acted through
    scopes: tuple[str, ...] = ()

    @property
    def id(self) -> int:
        return self.org.id

    @property
    def label(self) -> str:
        """How the organisation switcher names this context."""
        return f"{self.org.name} (via {self.via.name})" if self.via else self.org.name


def acting_contexts(user: User) -> dict[int, ActingContext]:
    """Every organisation `user` may act for, by id (direct memberships win)."""
    contexts: dict[int, ActingContext] = {}
    grouped = memberships_by_org(user)
    for org_id, memberships in grouped.items():
        roles = tuple(sorted({m.role for m in memberships}))
        contexts[org_id] = ActingContext(memberships[0].organisation, roles,
                                         permissions_of(roles))
    admin_orgs = [oid for oid, ms in grouped.items() if any(m.role == Role.ADMIN for m in ms)]
    for child in _subsidiaries(admin_orgs):
        contexts.setdefault(child.id, ActingContext(child, (Role.ADMIN.value,),
                                                    permissions_of([Role.ADMIN])))
    partner_roles = {oid: sorted({m.role for m in ms} & PARTNER_ROLES)
                     for oid, ms in grouped.items()}
    partner_roles = {oid: roles for oid, roles in partner_roles.items() if roles}
    if partner_roles:
        now = utcnow()
        delegations = db.session.scalars(
            select(Delegation)
            .options(joinedload(Delegation.customer), joinedload(Delegation.partner))
            .where(Delegation.partner_id.in_(partner_roles), Delegation.revoked_at.is_(None),
                   Delegation.expires_at > now)
        ).all()
        for delegation in delegations:
            roles = tuple(partner_roles[delegation.partner_id])
            contexts.setdefault(delegation.organisation_id, ActingContext(
                delegation.customer, roles, delegated_permissions(delegation.scopes),
                via=delegation.partner, scopes=tuple(delegation.scopes)))
    managers = [oid for oid, ms in grouped.items()
                if any(m.role == Role.ACCOUNT_MANAGER for m in ms)]
    if managers:
        assignments = db.session.scalars(
            select(AccountManagerAssignment)
            .options(joinedload(AccountManagerAssignment.customer))
            .where(AccountManagerAssignment.user_id == user.id)
        ).all()
        operator = grouped[managers[0]][0].organisation
        for assignment in assignments:
            contexts.setdefault(assignment.organisation_id, ActingContext(
                assignment.customer, (Role.ACCOUNT_MANAGER.value,),
                permissions_of([Role.ACCOUNT_MANAGER]), via=operator))
    return contexts


def _subsidiaries(org_ids: list[int]) -> list[Organisation]:
    found: list[Organisation] = []
    frontier = list(org_ids)
    for _ in range(MAX_HIERARCHY_DEPTH):
        if not frontier:
            break
        children = db.session.scalars(
            select(Organisation).where(Organisation.parent_id.in_(frontier),
                                       Organisation.active.is_(True))
        ).all()
        found.extend(children)
        frontier = [c.id for c in children]
    return found


def load_tenant_context() -> None:
    """Put the organisation acted for, the roles and permissions held there on `g`.

    A user left with nothing to act for is signed out: there is nothing they may see.
    """
    g.current_org = None
    g.current_org_id = None
    g.current_roles = ()
    g.current_permissions = frozenset()
    g.current_context = None
    g.acting_via_org_id = None
    g.user_orgs = []
    if not current_user.is_authenticated:
        return
    contexts = acting_contexts(current_user)
    if not contexts:
        logout_user()
        session.end()
        return
    org_id = session.get("org_id")
    if org_id not in contexts:
        org_id = min(contexts)  # the first membership made
        session["org_id"] = org_id
    context = contexts[org_id]
    g.current_context = context
    g.current_org = context.org
    g.current_org_id = org_id
    g.current_roles = context.roles
    g.current_permissions = context.permissions
    g.acting_via_org_id = context.via.id if context.via else None
    g.user_orgs = sorted(contexts.values(), key=lambda c: c.label)


def acting_org_ids() -> set[int]:
    """The organisations whose objects the current user may load (the one acted for)."""
    return {g.current_org_id} if g.get("current_org_id") else set()
