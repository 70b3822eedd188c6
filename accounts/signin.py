"""The sign-in service: home-realm discovery and turning validated claims into a user."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from accounts.models import IdpConnection, Organisation, OrganisationDomain, User
from accounts.services import AccountError, Identity, email_domain, provision_user
from accounts.sso import SignInError


def discover(session: Session, email: str) -> Organisation:
    """The organisation whose verified domain the e-mail is in, with an enabled IdP."""
    domain = email_domain(email)
    owner = session.scalars(
        select(OrganisationDomain)
        .options(selectinload(OrganisationDomain.organisation).selectinload(Organisation.idp))
        .where(OrganisationDomain.domain == domain, OrganisationDomain.verified.is_(True))
    ).first()
    if owner is None or not owner.organisation.active:
        raise SignInError(
            "unknown-domain",
            f"No organisation signs in to this portal with {domain or 'that'} addresses. "
            "Check the address, or ask your administrator to set up single sign-on.",
        )
    org = owner.organisation
    if org.idp is None or not org.idp.enabled:
        raise SignInError(
            "sso-not-configured",
            f"Single sign-on is not set up for {org.name} yet. Ask your administrator.",
        )
    return org


def identity_from_claims(org: Organisation, connection: IdpConnection, claims: dict) -> Identity:
    """Check what the IdP said about the person against the organisation's rules."""
    email = claims.get("email")
    if not isinstance(email, str) or "@" not in email:
        raise SignInError("no-email", "Your identity provider did not share your e-mail "
                          "address, which the portal needs. Ask your administrator.")
    email = email.strip().lower()
    if claims.get("email_verified") is False:
        raise SignInError("email-unverified", "Your identity provider says your e-mail "
                          "address is not verified.")
    verified = {d.domain for d in org.domains if d.verified}
    if email_domain(email) not in verified:
        raise SignInError(
            "domain-not-verified",
            f"{email} is not in a domain verified for {org.name}, so {org.name}'s identity "
            "provider cannot sign it in to the portal.",
        )
    groups = claims.get(connection.groups_claim) or []
    if isinstance(groups, str):
        groups = [groups]
    if not isinstance(groups, list) or not all(isinstance(x, str) for x in groups):
        raise SignInError("bad-groups", "Your identity provider sent groups the portal "
                          "cannot read.")
    name = claims.get("name") if isinstance(claims.get("name"), str) else ""
    return Identity(issuer=connection.issuer, subject=str(claims["sub"]), email=email,
                    name=name, groups=tuple(groups))


def sign_in(session: Session, org: Organisation, claims: dict) -> tuple[User, dict]:
    """Provision the user and check they hold a role in `org`; the caller commits."""
    identity = identity_from_claims(org, org.idp, claims)
    try:
        user, change = provision_user(session, org, identity)
    except AccountError as exc:
        raise SignInError("user-deactivated", str(exc)) from exc
    if not change["roles_after"]:
        raise SignInError(
            "no-role",
            f"You signed in as {identity.email}, but you hold no role in the portal for "
            f"{org.name}. Ask your administrator for access.",
        )
    return user, change
