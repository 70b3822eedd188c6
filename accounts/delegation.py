"""Partner delegation: a customer lets a partner organisation act for it, within scopes,
until an expiry; and operator account managers assigned to customers."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts.models import (
    DELEGATION_SCOPES,
    AccountManagerAssignment,
    Delegation,
    Membership,
    Organisation,
    User,
)
from accounts.services import AccountError
from portal import audit
from portal.db import utcnow
from portal.security import Role

MAX_DELEGATION = dt.timedelta(days=3 * 365)


def _view(delegation: Delegation) -> dict:
    return {"partner": delegation.partner_id, "scopes": list(delegation.scopes),
            "expires_at": delegation.expires_at.isoformat(),
            "revoked": delegation.revoked_at is not None}


def grant_delegation(
    session: Session, customer: Organisation, partner: Organisation, scopes, expires_at: dt.datetime
) -> Delegation:
    """Let `partner` act for `customer` within `scopes` until `expires_at`. A live
    delegation to the same partner is changed rather than doubled."""
    scopes = sorted(set(scopes))
    if customer.kind != "customer":
        raise AccountError("Only customer organisations delegate to partners.")
    if partner.kind != "partner" or not partner.active:
        raise AccountError("Delegate to an active partner organisation.")
    if not scopes or not set(scopes) <= set(DELEGATION_SCOPES):
        raise AccountError(f"Choose at least one scope among {', '.join(DELEGATION_SCOPES)}.")
    now = utcnow()
    if expires_at <= now:
        raise AccountError("The expiry must be in the future.")
    if expires_at - now > MAX_DELEGATION:
        raise AccountError("A delegation lasts three years at the most.")
    current = session.scalars(
        select(Delegation).where(Delegation.organisation_id == customer.id,
                                 Delegation.partner_id == partner.id,
                                 Delegation.revoked_at.is_(None), Delegation.expires_at > now)
    ).first()
    before = _view(current) if current else None
    delegation = current or Delegation(organisation_id=customer.id, partner_id=partner.id)
    delegation.scopes = scopes
    delegation.expires_at = expires_at
    session.add(delegation)
    session.flush()
    audit.record(session, "delegation:grant", organisation_id=customer.id, target=delegation,
                 before=before, after=_view(delegation))
    return delegation


def revoke_delegation(session: Session, delegation: Delegation) -> None:
    """End a delegation now: the partner's users lose access with their next request."""
    if delegation.revoked_at is not None:
        return
    before = _view(delegation)
    delegation.revoked_at = utcnow()
    audit.record(session, "delegation:revoke", organisation_id=delegation.organisation_id,
                 target=delegation, before=before, after=_view(delegation))


def account_managers(session: Session) -> list[User]:
    """Active operator staff holding the account manager role."""
    return list(session.scalars(
        select(User).join(Membership, Membership.user_id == User.id)
        .join(Organisation, Organisation.id == Membership.organisation_id)
        .where(Membership.role == Role.ACCOUNT_MANAGER.value, Organisation.kind == "operator",
               User.active.is_(True))
        .order_by(User.name, User.email).distinct()
    ))


def assign_account_manager(
    session: Session, customer: Organisation, manager: User
) -> AccountManagerAssignment:
    """Put `manager` in charge of `customer` (idempotent)."""
    if customer.kind != "customer":
        raise AccountError("Account managers are assigned to customer organisations.")
    if manager.id not in {u.id for u in account_managers(session)}:
        raise AccountError(f"{manager.email} is not an active account manager.")
    existing = session.scalars(select(AccountManagerAssignment).where(
        AccountManagerAssignment.organisation_id == customer.id,
        AccountManagerAssignment.user_id == manager.id)).first()
    if existing:
        return existing
    assignment = AccountManagerAssignment(organisation_id=customer.id, user_id=manager.id)
    session.add(assignment)
    session.flush()
    audit.record(session, "account_manager:assign", organisation_id=customer.id,
                 target=assignment, after={"manager": manager.email})
    return assignment


def unassign_account_manager(session: Session, assignment: AccountManagerAssignment) -> None:
    """Take the customer away from the manager, at once."""
    audit.record(session, "account_manager:unassign", organisation_id=assignment.organisation_id,
                 target=assignment, before={"manager": assignment.user.email})
    session.delete(assignment)
