"""A customer's accounts in the legacy systems, and the look-alikes an operator decides on."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from accounts.models import Organisation, User
from portal.db import Base, UTCDateTime, utcnow

LEGACY_SYSTEMS = ("mobile-bss", "fixed-bss", "tv-bss")

# matched:   the same company as its organisation, by registration or VAT number or by an
#            operator's confirmation
# unmatched: resembled no organisation; the import created one for it
# proposed:  resembles an organisation; waits for an operator (its services are held)
# rejected:  an operator said it is none of the look-alikes; it got its own organisation
ACCOUNT_STATUSES = ("matched", "unmatched", "proposed", "rejected")
# How an account came to its organisation.
MATCHED_BY = ("registration", "vat", "operator", "created", "separate")
PROPOSAL_STATUSES = ("open", "confirmed", "rejected", "superseded")


class LegacyAccount(Base):
    """A customer account in one legacy system, as its last export describes it, and the
    organisation it belongs to (none while an operator has to decide)."""

    __tablename__ = "legacy_accounts"
    __table_args__ = (
        UniqueConstraint("system", "external_id", name="uq_legacy_accounts_ref"),
        Index("ix_legacy_accounts_status", "status"),
        Index("ix_legacy_accounts_vat", "vat"),
        Index("ix_legacy_accounts_registration_key", "registration_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    system: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(64))  # the customer's id in that system
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    # Identifiers normalised ("HRB123456", "DE811234567"), '' when the export has none. A
    # registration number is unique in its country only: its key is "DE:HRB123456".
    registration: Mapped[str] = mapped_column(String(64), default="")
    registration_key: Mapped[str] = mapped_column(String(72), default="")
    vat: Mapped[str] = mapped_column(String(32), default="")
    address: Mapped[str] = mapped_column(String(300), default="")
    postcode: Mapped[str] = mapped_column(String(16), default="")
    city: Mapped[str] = mapped_column(String(100), default="")
    country: Mapped[str] = mapped_column(String(2))
    status: Mapped[str] = mapped_column(String(16))
    matched_by: Mapped[str] = mapped_column(String(16), default="")
    # The services of the last export, held while the account waits for a decision.
    held_rows: Mapped[list | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    organisation: Mapped[Organisation | None] = relationship()
    proposals: Mapped[list[MatchProposal]] = relationship(
        back_populates="account", cascade="all, delete-orphan", order_by="MatchProposal.id"
    )

    @property
    def label(self) -> str:
        """"system id" as people quote it."""
        return f"{self.system} {self.external_id}"

    @property
    def held_sites(self) -> list[str]:
        """The addresses of the held services, as the export spells them, once each."""
        seen = {f"{row['site']['street']}, {row['site']['postcode']} {row['site']['city']}"
                for row in self.held_rows or []}
        return sorted(seen)


class MatchProposal(Base):
    """"This legacy account may be that organisation": a look-alike by name and postcode,
    with its score and reasons, for an operator admin to confirm or reject."""

    __tablename__ = "legacy_match_proposals"
    __table_args__ = (
        UniqueConstraint("legacy_account_id", "organisation_id",
                         name="uq_legacy_match_proposals_pair"),
        Index("ix_legacy_match_proposals_status", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    legacy_account_id: Mapped[int] = mapped_column(
        ForeignKey("legacy_accounts.id", ondelete="CASCADE"), index=True
    )
    organisation_id: Mapped[int] = mapped_column(  # the candidate
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    score: Mapped[int] = mapped_column(Integer)  # per cent
    reasons: Mapped[list] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decided_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    decided_by_label: Mapped[str] = mapped_column(String(320), default="")

    account: Mapped[LegacyAccount] = relationship(back_populates="proposals")
    organisation: Mapped[Organisation] = relationship()
    decided_by: Mapped[User | None] = relationship()
