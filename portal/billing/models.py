"""Bills as the billing systems issue them (imported, or made by the portal's bill run):
one bill per source system, billing account and period, with its lines. A consolidated
bill is computed from these; nothing here is specific to one source."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Index, Integer, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base, UTCDateTime, utcnow


class LineKind:
    """What a bill line charges (credits and adjustments are negative amounts)."""

    RECURRING = "recurring"
    ONE_OFF = "one_off"
    USAGE = "usage"
    CREDIT = "credit"
    ADJUSTMENT = "adjustment"
    ALL = (RECURRING, ONE_OFF, USAGE, CREDIT, ADJUSTMENT)


class Bill(Base):
    """One bill of one source system for one billing account and period. Unique by source
    system and bill number: importing the same bill again changes nothing."""

    __tablename__ = "bills"
    __table_args__ = (UniqueConstraint("source_system", "bill_number"),
                      Index("ix_bills_org_period", "organisation_id", "period"),
                      Index("ix_bills_account_period", "billing_account_id", "period",
                            "source_system"))

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"))
    billing_account_id: Mapped[int | None] = mapped_column(
        ForeignKey("billing_accounts.id", ondelete="SET NULL"), index=True)
    source_system: Mapped[str] = mapped_column(String(32))  # e.g. mobile-bss, portal
    bill_number: Mapped[str] = mapped_column(String(64))
    period: Mapped[str] = mapped_column(String(7))  # YYYY-MM
    period_start: Mapped[dt.date] = mapped_column(Date)
    period_end: Mapped[dt.date] = mapped_column(Date)  # inclusive
    bill_date: Mapped[dt.date] = mapped_column(Date)
    due_date: Mapped[dt.date | None] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))
    amount_excl_tax: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    tax_amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    amount_incl_tax: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    source_format: Mapped[str] = mapped_column(String(16))  # tmf678 | csv | bill-run
    imported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    imported_by: Mapped[str] = mapped_column(String(320), default="")

    lines: Mapped[list[BillLine]] = relationship(
        back_populates="bill", cascade="all, delete-orphan", order_by="BillLine.position")


class BillLine(Base):
    """One charge of a bill (TMF678 appliedCustomerBillingRate): what, where, for which
    service and period, before tax, and its tax."""

    __tablename__ = "bill_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    bill_id: Mapped[int] = mapped_column(ForeignKey("bills.id", ondelete="CASCADE"),
                                         index=True)
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))  # LineKind
    description: Mapped[str] = mapped_column(String(300))
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id", ondelete="SET NULL"),
                                                index=True)
    service_id: Mapped[int | None] = mapped_column(
        ForeignKey("services.id", ondelete="SET NULL"), index=True)
    service_ref: Mapped[str] = mapped_column(String(64), default="")  # the source's id
    offering_code: Mapped[str] = mapped_column(String(64), default="")
    product_family: Mapped[str] = mapped_column(String(32), default="")
    cost_centre: Mapped[str] = mapped_column(String(64), default="")
    period_start: Mapped[dt.date | None] = mapped_column(Date)
    period_end: Mapped[dt.date | None] = mapped_column(Date)
    quantity: Mapped[Decimal] = mapped_column(Numeric(14, 3), default=Decimal("1"))
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))  # before tax
    tax_rate: Mapped[Decimal] = mapped_column(Numeric(6, 4), default=Decimal("0"))
    tax_amount: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=Decimal("0"))

    bill: Mapped[Bill] = relationship(back_populates="lines")
