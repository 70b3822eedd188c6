"""Organisations, their verified domains and IdP connections, users and memberships."""

from __future__ import annotations

import datetime as dt

from flask_login import UserMixin
from sqlalchemy import JSON, Boolean, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base, UTCDateTime, utcnow

ORG_KINDS = ("customer", "partner", "operator")


class Organisation(Base):
    """A customer, a channel partner, or the operator itself."""

    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="RESTRICT"), index=True
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    parent: Mapped[Organisation | None] = relationship(remote_side=[id])
    domains: Mapped[list[OrganisationDomain]] = relationship(
        back_populates="organisation",
        cascade="all, delete-orphan",
        order_by="OrganisationDomain.domain",
    )
    idp: Mapped[IdpConnection | None] = relationship(
        back_populates="organisation", cascade="all, delete-orphan", uselist=False
    )

    def __repr__(self) -> str:
        return f"<Organisation {self.slug}>"


class OrganisationDomain(Base):
    """An e-mail domain the organisation has proven it owns: it routes sign-in (home-realm
    discovery) and bounds which e-mail addresses its IdP may sign in."""

    __tablename__ = "organisation_domains"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    domain: Mapped[str] = mapped_column(String(253), unique=True)
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    verified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    organisation: Mapped[Organisation] = relationship(back_populates="domains")


class IdpConnection(Base):
    """An organisation's own OpenID provider: issuer and client pinned, groups -> roles."""

    __tablename__ = "idp_connections"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), unique=True
    )
    issuer: Mapped[str] = mapped_column(String(500))
    client_id: Mapped[str] = mapped_column(String(255))
    # Write-only: never rendered back to anyone, only replaced; encrypted at rest
    # (portal.crypto.seal), read only to talk to the IdP.
    client_secret: Mapped[str] = mapped_column(Text)
    scopes: Mapped[str] = mapped_column(String(255), default="openid email profile groups")
    groups_claim: Mapped[str] = mapped_column(String(64), default="groups")
    role_map: Mapped[dict] = mapped_column(JSON, default=dict)  # group -> role
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    organisation: Mapped[Organisation] = relationship(back_populates="idp")

    def public_view(self) -> dict:
        """What may be shown or audited: everything but the secret."""
        return {
            "issuer": self.issuer,
            "client_id": self.client_id,
            "scopes": self.scopes,
            "groups_claim": self.groups_claim,
            "role_map": dict(self.role_map or {}),
            "enabled": self.enabled,
        }


class User(UserMixin, Base):
    """A person, identified by (issuer, subject) of the IdP that vouches for them."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("issuer", "subject", name="uq_users_issuer_subject"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    issuer: Mapped[str] = mapped_column(String(500))
    subject: Mapped[str] = mapped_column(String(255))
    email: Mapped[str] = mapped_column(String(320), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="user", cascade="all, delete-orphan"
    )

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.active

    @property
    def display_name(self) -> str:
        """The name if the IdP gave one, else the e-mail."""
        return self.name or self.email


class Membership(Base):
    """One role of a user in an organisation. `source` tells whether it comes from the
    IdP's groups (re-derived at every sign-in) or was granted by hand."""

    __tablename__ = "memberships"
    __table_args__ = (
        UniqueConstraint("user_id", "organisation_id", "role", name="uq_memberships_role"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(16), default="manual")  # idp | manual
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship(back_populates="memberships")
    organisation: Mapped[Organisation] = relationship()


class Invitation(Base):
    """A role granted to an e-mail address before its owner first signs in; applied (and
    consumed) when they sign in through their organisation's IdP."""

    __tablename__ = "invitations"
    __table_args__ = (
        UniqueConstraint("email", "organisation_id", "role", name="uq_invitations_role"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str] = mapped_column(String(320), index=True)
    role: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


DELEGATION_SCOPES = ("quote", "order", "billing")


class Delegation(Base):
    """A customer's grant to a partner organisation: its users may act for the customer
    within `scopes` until `expires_at`, or until revoked."""

    __tablename__ = "delegations"
    __table_args__ = (Index("ix_delegations_partner", "partner_id", "revoked_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(  # the customer
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    partner_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    scopes: Mapped[list] = mapped_column(JSON, default=list)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    customer: Mapped[Organisation] = relationship(foreign_keys=[organisation_id])
    partner: Mapped[Organisation] = relationship(foreign_keys=[partner_id])

    def is_live(self, now: dt.datetime) -> bool:
        """Neither revoked nor expired at `now`."""
        return self.revoked_at is None and self.expires_at > now


class AccountManagerAssignment(Base):
    """An operator account manager in charge of a customer organisation."""

    __tablename__ = "account_manager_assignments"
    __table_args__ = (
        UniqueConstraint("organisation_id", "user_id", name="uq_account_manager_assignments"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(  # the customer
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    customer: Mapped[Organisation] = relationship()
    user: Mapped[User] = relationship()


class ApiKey(Base):
    """A key an organisation's systems use for the TMF APIs (`Authorization: Bearer`).
    Only the SHA-256 of the secret is kept; the token is shown once."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(32))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)  # shown to tell keys apart
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    organisation: Mapped[Organisation] = relationship()
