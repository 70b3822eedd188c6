"""The rules about an organisation's members: roles granted by hand, invitations, and
keeping at least one administrator."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts.models import Invitation, Membership, Organisation, User
from accounts.services import AccountError, grant_role
from portal import audit
from portal.security import ROLES_BY_ORG_KIND, Role

ADMIN_ROLES = frozenset({Role.ADMIN.value, Role.PARTNER_ADMIN.value, Role.OPERATOR_ADMIN.value})


def active_admin_ids(session: Session, org_id: int) -> set[int]:
    """The active users holding an administrator role in the organisation."""
    return set(session.scalars(
        select(User.id)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.organisation_id == org_id, Membership.role.in_(ADMIN_ROLES),
               User.active.is_(True))
    ))


def is_last_admin(session: Session, user: User, org_id: int) -> bool:
    """Whether `user` is the only active administrator left in the organisation."""
    return active_admin_ids(session, org_id) == {user.id}


def set_manual_roles(
    session: Session, org: Organisation, user: User, roles: set[str]
) -> tuple[list[str], list[str]]:
    """Make `roles` the user's hand-granted roles in `org`. Roles that come from the IdP's
    groups are not touched (the IdP owns them). Refuses a change that leaves the
    organisation without an active administrator. Returns (roles before, roles after)."""
    allowed = set(ROLES_BY_ORG_KIND[org.kind])
    unknown = roles - allowed
    if unknown:
        raise AccountError(f"A {org.kind} organisation has no role {sorted(unknown)[0]!r}.")
    mine = [m for m in user.memberships if m.organisation_id == org.id]
    before = sorted(m.role for m in mine)
    from_idp = {m.role for m in mine if m.source == "idp"}
    for membership in mine:
        if membership.source == "manual" and membership.role not in roles:
            user.memberships.remove(membership)
    for role in roles - from_idp - {m.role for m in mine}:
        session.add(Membership(user=user, organisation_id=org.id, role=role, source="manual"))
    session.flush()
    after = sorted(m.role for m in user.memberships if m.organisation_id == org.id)
    if user.active and set(before) & ADMIN_ROLES and not set(after) & ADMIN_ROLES \
            and not active_admin_ids(session, org.id):
        raise AccountError(f"{user.email} is the last administrator of {org.name}; appoint "
                           "another administrator first.")
    if not after:
        raise AccountError(f"{user.email} would hold no role in {org.name}; deactivate them "
                           "instead.")
    audit.record(session, "user:roles", organisation_id=org.id, target=user,
                 before={"roles": before}, after={"roles": after})
    return before, after


def invite(session: Session, org: Organisation, email: str, role: str):
    """Invite someone by e-mail: they sign in through their organisation's IdP and land
    with `role` (a user who signed in already gets the role at once)."""
    return grant_role(session, email, org, role)


def revoke_invitation(session: Session, invitation: Invitation) -> None:
    """Withdraw an invitation not yet used."""
    audit.record(session, "user:invite_revoke", organisation_id=invitation.organisation_id,
                 target=invitation, before={"email": invitation.email, "role": invitation.role})
    session.delete(invitation)
