"""The rules about organisations, users and roles. Each function takes a session; pages,
the API and the CLI all call these, and the caller commits."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts.models import (
    ORG_KINDS,
    IdpConnection,
    Invitation,
    Membership,
    Organisation,
    OrganisationDomain,
    User,
)
from portal import audit
from portal.crypto import seal
from portal.db import utcnow
from portal.rules import RuleError
from portal.security import ROLES_BY_ORG_KIND
from portal.sessions import end_sessions_of_user

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
DOMAIN_RE = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


class AccountError(RuleError):
    """A request that breaks a rule; the message is shown to the user as it is."""


def normalise_domain(domain: str) -> str:
    """Lower-case a domain and check its shape."""
    domain = domain.strip().lower().rstrip(".")
    if not DOMAIN_RE.match(domain):
        raise AccountError(f"{domain!r} is not a valid domain name.")
    return domain


def email_domain(email: str) -> str:
    """The domain part of an e-mail address, lower-cased ('' if there is none)."""
    _, _, domain = email.strip().rpartition("@")
    return domain.lower()


def org_by_slug(session: Session, slug: str) -> Organisation | None:
    """The organisation with this slug, if any."""
    return session.scalars(select(Organisation).where(Organisation.slug == slug)).first()


def create_organisation(
    session: Session,
    slug: str,
    name: str,
    kind: str,
    domains: list[str] | tuple[str, ...] = (),
    parent_slug: str | None = None,
    actor_label: str | None = None,
) -> Organisation:
    """Create an organisation with its verified domains; refuses duplicates."""
    if not SLUG_RE.match(slug):
        raise AccountError(
            f"{slug!r} is not a valid slug: lower-case letters, digits and dashes."
        )
    if kind not in ORG_KINDS:
        raise AccountError(f"kind must be one of {', '.join(ORG_KINDS)}.")
    if not name.strip():
        raise AccountError("The organisation needs a name.")
    if org_by_slug(session, slug) is not None:
        raise AccountError(f"An organisation {slug!r} exists already.")
    parent = None
    if parent_slug:
        parent = org_by_slug(session, parent_slug)
        if parent is None:
            raise AccountError(f"No parent organisation {parent_slug!r}.")
    org = Organisation(slug=slug, name=name.strip(), kind=kind, parent=parent)
    session.add(org)
    for domain in domains:
        add_verified_domain(session, org, domain)
    session.flush()
    audit.record(
        session,
        "org:create",
        organisation_id=org.id,
        target=org,
        after={"slug": slug, "name": org.name, "kind": kind, "domains": sorted(domains)},
        actor_label=actor_label,
    )
    return org


def add_verified_domain(session: Session, org: Organisation, domain: str) -> OrganisationDomain:
    """Record `domain` as verified for `org`; a domain belongs to one organisation only."""
    domain = normalise_domain(domain)
    owner = session.scalars(
        select(OrganisationDomain).where(OrganisationDomain.domain == domain)
    ).first()
    if owner is not None and owner.organisation_id != org.id:
        raise AccountError(f"The domain {domain} belongs to another organisation.")
    if owner is not None:
        return owner
    entry = OrganisationDomain(domain=domain, verified=True, verified_at=utcnow())
    org.domains.append(entry)
    return entry


def check_role_map(org: Organisation, role_map: dict[str, str]) -> dict[str, str]:
    """Refuse mappings to roles the organisation's kind cannot hold."""
    allowed = ROLES_BY_ORG_KIND[org.kind]
    for group, role in role_map.items():
        if not group.strip():
            raise AccountError("A group name cannot be empty.")
        if role not in allowed:
            raise AccountError(
                f"Group {group!r} maps to {role!r}, which a {org.kind} organisation cannot "
                f"hold (allowed: {', '.join(allowed)})."
            )
    return {group.strip(): role for group, role in role_map.items()}


def set_idp_connection(
    session: Session,
    org: Organisation,
    issuer: str,
    client_id: str,
    client_secret: str | None,
    role_map: dict[str, str],
    enabled: bool = True,
    actor_label: str | None = None,
) -> IdpConnection:
    """Create or replace the organisation's IdP connection. A `client_secret` of None keeps
    the stored one (forms never show it back)."""
    issuer = issuer.strip().rstrip("/")
    if not issuer.startswith(("https://", "http://")):
        raise AccountError("The issuer must be an http(s) URL.")
    if not client_id.strip():
        raise AccountError("The client id cannot be empty.")
    role_map = check_role_map(org, role_map)
    connection = org.idp
    before = connection.public_view() if connection else None
    if connection is None:
        if not client_secret:
            raise AccountError("A new connection needs its client secret.")
        connection = IdpConnection(organisation=org, issuer=issuer, client_id=client_id,
                                   client_secret=seal(client_secret))
        session.add(connection)
    connection.issuer = issuer
    connection.client_id = client_id.strip()
    if client_secret:
        connection.client_secret = seal(client_secret)  # encrypted at rest
    connection.role_map = role_map
    connection.enabled = enabled
    connection.updated_at = utcnow()
    session.flush()
    after = connection.public_view()
    after["client_secret_changed"] = bool(client_secret)
    audit.record(session, "sso:update", organisation_id=org.id, target=connection,
                 before=before, after=after, actor_label=actor_label)
    return connection


def grant_role(
    session: Session, email: str, org: Organisation, role: str, actor_label: str | None = None
) -> Membership | Invitation:
    """Give the user with this e-mail `role` in `org`, by hand. If they have not signed in
    yet, the grant waits as an invitation and is applied at their first sign-in."""
    email = email.strip().lower()
    if role not in ROLES_BY_ORG_KIND[org.kind]:
        raise AccountError(
            f"A {org.kind} organisation has no role {role!r} "
            f"(roles: {', '.join(ROLES_BY_ORG_KIND[org.kind])})."
        )
    if email_domain(email) not in {d.domain for d in org.domains if d.verified}:
        raise AccountError(
            f"{email} is not in a verified domain of {org.name}; its IdP cannot sign them in."
        )
    users = session.scalars(select(User).where(User.email == email)).all()
    if not users:
        existing = session.scalars(
            select(Invitation).where(Invitation.email == email,
                                     Invitation.organisation_id == org.id,
                                     Invitation.role == role)
        ).first()
        invitation = existing or Invitation(email=email, organisation_id=org.id, role=role)
        session.add(invitation)
        session.flush()
        audit.record(session, "user:invite", organisation_id=org.id, target=invitation,
                     after={"email": email, "role": role}, actor_label=actor_label)
        return invitation
    membership = None
    for user in users:
        membership = _ensure_membership(session, user, org.id, role, source="manual")
        audit.record(session, "user:grant", organisation_id=org.id, target=user,
                     after={"email": email, "role": role}, actor_label=actor_label)
    return membership


def _ensure_membership(session: Session, user: User, org_id: int, role: str, source: str):
    for membership in user.memberships:
        if membership.organisation_id == org_id and membership.role == role:
            if source == "manual":
                membership.source = "manual"  # a hand grant survives group changes
            return membership
    membership = Membership(user=user, organisation_id=org_id, role=role, source=source)
    session.add(membership)
    return membership


@dataclass(frozen=True)
class Identity:
    """What a validated sign-in tells us about the person."""

    issuer: str
    subject: str
    email: str
    name: str
    groups: tuple[str, ...]


def roles_from_groups(connection: IdpConnection, groups) -> set[str]:
    """The roles the connection's group map gives for these IdP groups."""
    role_map = connection.role_map or {}
    return {role_map[group] for group in groups if group in role_map}


def provision_user(session: Session, org: Organisation, identity: Identity) -> tuple[User, dict]:
    """Find or create the user for `identity` (just in time), refresh their e-mail and
    name, and re-derive their IdP roles in `org` from the groups: a group that disappeared
    takes its role away. Pending invitations for the e-mail become memberships.

    Returns the user and the change of roles for the audit trail. Raises AccountError for a
    deactivated user.
    """
    user = session.scalars(
        select(User).where(User.issuer == identity.issuer, User.subject == identity.subject)
    ).first()
    created = user is None
    if created:
        user = User(issuer=identity.issuer, subject=identity.subject, email=identity.email,
                    name=identity.name)
        session.add(user)
        session.flush()
    elif not user.active:
        raise AccountError("Your portal account has been deactivated by an administrator.")
    user.email = identity.email
    user.name = identity.name or user.name
    user.last_login_at = utcnow()

    in_org = [m for m in user.memberships if m.organisation_id == org.id]
    before = sorted(m.role for m in in_org)
    wanted = roles_from_groups(org.idp, identity.groups)
    for membership in in_org:
        if membership.source == "idp" and membership.role not in wanted:
            user.memberships.remove(membership)
    for role in wanted:
        _ensure_membership(session, user, org.id, role, source="idp")
    invitations = session.scalars(
        select(Invitation).where(Invitation.email == identity.email,
                                 Invitation.organisation_id == org.id)
    ).all()
    for invitation in invitations:
        _ensure_membership(session, user, org.id, invitation.role, source="manual")
        session.delete(invitation)
    session.flush()
    after = sorted(m.role for m in user.memberships if m.organisation_id == org.id)
    return user, {"created": created, "roles_before": before, "roles_after": after}


def set_user_active(
    session: Session, user: User, active: bool, organisation_id: int | None = None,
    actor_label: str | None = None,
) -> None:
    """Activate or deactivate a user; deactivation ends all their sessions at once."""
    before = {"active": user.active}
    user.active = active
    ended = 0 if active else end_sessions_of_user(session, user.id)
    audit.record(session, "user:activate" if active else "user:deactivate",
                 organisation_id=organisation_id, target=user, before=before,
                 after={"active": active, "sessions_ended": ended}, actor_label=actor_label)


def memberships_by_org(user: User) -> dict[int, list[Membership]]:
    """The user's memberships grouped by organisation id."""
    grouped: dict[int, list[Membership]] = {}
    for membership in user.memberships:
        grouped.setdefault(membership.organisation_id, []).append(membership)
    return grouped
