"""The configurator's saved cart, and quotes: numbered, versioned, frozen prices, approvals."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import (
    JSON,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from accounts.estate.models import BillingAccount, Site
from accounts.models import User
from portal.db import Base, UTCDateTime, utcnow


class Cart(Base):
    """A configuration being built for an organisation; kept until it becomes a quote."""

    __tablename__ = "carts"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    billing_account_id: Mapped[int | None] = mapped_column(
        ForeignKey("billing_accounts.id", ondelete="SET NULL")
    )
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    billing_account: Mapped[BillingAccount | None] = relationship()
    lines: Mapped[list[CartLine]] = relationship(
        back_populates="cart", cascade="all, delete-orphan", order_by="CartLine.id"
    )


class CartLine(Base):
    """An offering at a site: quantity, contract term and any negotiated discount."""

    __tablename__ = "cart_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    cart_id: Mapped[int] = mapped_column(ForeignKey("carts.id", ondelete="CASCADE"), index=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    offering_code: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    term_months: Mapped[int] = mapped_column(Integer, default=24)
    negotiated_discount: Mapped[Decimal] = mapped_column(Numeric(5, 4), default=Decimal("0"))

    cart: Mapped[Cart] = relationship(back_populates="lines")
    site: Mapped[Site] = relationship()


class QuoteState:
    """TMF648 states of a quote version."""

    IN_PROGRESS = "inProgress"  # a draft: lines and discounts may change
    PENDING = "pending"  # waiting for an approver
    APPROVED = "approved"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    ALL = (IN_PROGRESS, PENDING, APPROVED, ACCEPTED, REJECTED, CANCELLED)
    FINAL = (ACCEPTED, REJECTED, CANCELLED)


class Quote(Base):
    """A numbered quote of an organisation; its content lives in its versions."""

    __tablename__ = "quotes"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[str] = mapped_column(String(32), unique=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    external_id: Mapped[str | None] = mapped_column(String(100))  # the customer's reference
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    latest_version: Mapped[int] = mapped_column(Integer, default=1)

    created_by: Mapped[User | None] = relationship()
    versions: Mapped[list[QuoteVersion]] = relationship(
        back_populates="quote", cascade="all, delete-orphan", order_by="QuoteVersion.version"
    )


class QuoteVersion(Base):
    """One version of a quote: its state, its frozen prices and totals, its approval path.

    Prices are computed once, when the version is made or its lines change, and kept here
    and on its lines; they never follow later catalog changes. `content_hash` fingerprints
    the frozen content; an approval is bound to the hash it saw. `row_version` makes two
    approvers acting at once conflict instead of both winning.
    """

    __tablename__ = "quote_versions"
    __table_args__ = (UniqueConstraint("quote_id", "version"),
                      Index("ix_quote_versions_state_stage", "state", "approval_stage"))

    id: Mapped[int] = mapped_column(primary_key=True)
    quote_id: Mapped[int] = mapped_column(ForeignKey("quotes.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    based_on: Mapped[int | None] = mapped_column(Integer)  # the version it was made from
    state: Mapped[str] = mapped_column(String(16), default=QuoteState.IN_PROGRESS)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    catalog_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("catalog_versions.id", ondelete="RESTRICT"))
    catalog_number: Mapped[int] = mapped_column(Integer)
    # The billing account as it was when quoted (the account may change or close later).
    billing_account_id: Mapped[int | None] = mapped_column(
        ForeignKey("billing_accounts.id", ondelete="SET NULL"))
    billing_account_number: Mapped[str] = mapped_column(String(64))
    billing_account_name: Mapped[str] = mapped_column(String(200))
    billing_address: Mapped[str] = mapped_column(String(500), default="")
    billing_country: Mapped[str] = mapped_column(String(2))
    currency: Mapped[str] = mapped_column(String(3))
    tax_rate: Mapped[Decimal] = mapped_column(Numeric(6, 4))
    total_mrc: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    total_nrc: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    total_tcv: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    tax_mrc: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    tax_nrc: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    tax_tcv: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    priced_on: Mapped[dt.date] = mapped_column(Date)
    valid_until: Mapped[dt.date] = mapped_column(Date)
    max_discount: Mapped[Decimal] = mapped_column(Numeric(5, 4), default=Decimal("0"))
    # "auto", "account_manager" or "sales_director" (decided when submitted).
    approval_path: Mapped[str | None] = mapped_column(String(16))
    # While pending: the level whose decision is awaited.
    approval_stage: Mapped[str | None] = mapped_column(String(16))
    content_hash: Mapped[str] = mapped_column(String(64))
    submitted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    submitted_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    accepted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    accepted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    accepted_by_name: Mapped[str | None] = mapped_column(String(200))
    purchase_order: Mapped[str | None] = mapped_column(String(100))
    row_version: Mapped[int] = mapped_column(Integer, nullable=False)

    __mapper_args__ = {"version_id_col": row_version}

    quote: Mapped[Quote] = relationship(back_populates="versions")
    lines: Mapped[list[QuoteLine]] = relationship(
        back_populates="quote_version", cascade="all, delete-orphan", order_by="QuoteLine.position"
    )
    approvals: Mapped[list[QuoteApproval]] = relationship(
        back_populates="quote_version", cascade="all, delete-orphan", order_by="QuoteApproval.id"
    )

    @property
    def is_latest(self) -> bool:
        """Whether no newer version of the quote exists."""
        return self.version == self.quote.latest_version

    def is_expired(self, today: dt.date) -> bool:
        """Whether the promise has run out (the last valid day is `valid_until`)."""
        return today > self.valid_until


class QuoteLine(Base):
    """A frozen line: the offering at a site, with the figures and breakdown it was priced
    with (the site and offering are copied so the line reads the same after they change)."""

    __tablename__ = "quote_lines"
    __table_args__ = (Index("ix_quote_lines_version_position", "quote_version_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    quote_version_id: Mapped[int] = mapped_column(
        ForeignKey("quote_versions.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id", ondelete="SET NULL"))
    site_code: Mapped[str] = mapped_column(String(64))
    site_name: Mapped[str] = mapped_column(String(200))
    site_city: Mapped[str] = mapped_column(String(100), default="")
    site_country: Mapped[str] = mapped_column(String(2))
    offering_code: Mapped[str] = mapped_column(String(64))
    offering_name: Mapped[str] = mapped_column(String(200))
    family: Mapped[str] = mapped_column(String(32))
    fulfilment: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[int] = mapped_column(Integer)
    term_months: Mapped[int] = mapped_column(Integer)
    negotiated_discount: Mapped[Decimal] = mapped_column(Numeric(5, 4), default=Decimal("0"))
    justification: Mapped[str] = mapped_column(String(1000), default="")
    mrc: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    nrc: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    tcv: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    promotion_code: Mapped[str | None] = mapped_column(String(64))
    months_free: Mapped[int] = mapped_column(Integer, default=0)
    breakdown: Mapped[dict] = mapped_column(JSON)  # LinePrice.as_dict()

    quote_version: Mapped[QuoteVersion] = relationship(back_populates="lines")


class QuoteApproval(Base):
    """A decision on a version: by whom, at which level, why, and on which exact content."""

    __tablename__ = "quote_approvals"

    id: Mapped[int] = mapped_column(primary_key=True)
    quote_version_id: Mapped[int] = mapped_column(
        ForeignKey("quote_versions.id", ondelete="CASCADE"), index=True)
    level: Mapped[str] = mapped_column(String(16))  # auto | account_manager | sales_director
    decision: Mapped[str] = mapped_column(String(16))  # approved | rejected
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor_label: Mapped[str] = mapped_column(String(320))
    comment: Mapped[str] = mapped_column(String(2000), default="")
    content_hash: Mapped[str] = mapped_column(String(64))
    decided_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    quote_version: Mapped[QuoteVersion] = relationship(back_populates="approvals")
    user: Mapped[User | None] = relationship()
