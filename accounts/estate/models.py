"""Sites, billing accounts and the service inventory of customer organisations."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Index, Integer, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from accounts.models import Organisation
from portal.db import Base, UTCDateTime, utcnow

SITE_STATUSES = ("active", "closed")
SERVICE_STATUSES = ("active", "suspended", "ceased")
SOURCE_SYSTEMS = ("mobile-bss", "fixed-bss", "tv-bss", "portal")
DELIVERY_PREFERENCES = ("portal", "email", "post")


class BillingAccount(Base):
    """Where a customer's bills go; its country decides the tax rate."""

    __tablename__ = "billing_accounts"
    __table_args__ = (
        UniqueConstraint("organisation_id", "number", name="uq_billing_accounts_number"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    address: Mapped[str] = mapped_column(String(300), default="")
    postcode: Mapped[str] = mapped_column(String(16), default="")
    city: Mapped[str] = mapped_column(String(100), default="")
    country: Mapped[str] = mapped_column(String(2))
    payment_terms_days: Mapped[int] = mapped_column(Integer, default=30)
    cost_centre: Mapped[str] = mapped_column(String(64), default="")
    delivery: Mapped[str] = mapped_column(String(16), default="portal")
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    organisation: Mapped[Organisation] = relationship()


class Site(Base):
    """A customer location: an office, a shop, a warehouse."""

    __tablename__ = "sites"
    __table_args__ = (
        UniqueConstraint("organisation_id", "code", name="uq_sites_code"),
        Index("ix_sites_org_name", "organisation_id", "name"),
        Index("ix_sites_org_country_status", "organisation_id", "country", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(300))
    postcode: Mapped[str] = mapped_column(String(16))
    city: Mapped[str] = mapped_column(String(100))
    country: Mapped[str] = mapped_column(String(2))
    contact_name: Mapped[str] = mapped_column(String(200), default="")
    contact_email: Mapped[str] = mapped_column(String(320), default="")
    contact_phone: Mapped[str] = mapped_column(String(32), default="")
    status: Mapped[str] = mapped_column(String(16), default="active")
    billing_account_id: Mapped[int | None] = mapped_column(
        ForeignKey("billing_accounts.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    organisation: Mapped[Organisation] = relationship()
    billing_account: Mapped[BillingAccount | None] = relationship()


class Service(Base):
    """A product in the customer's inventory at a site, wherever it is fulfilled."""

    __tablename__ = "services"
    __table_args__ = (
        UniqueConstraint("source_system", "source_ref", name="uq_services_source"),
        Index("ix_services_org_status", "organisation_id", "status"),
        Index("ix_services_org_offering", "organisation_id", "offering_code"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="RESTRICT"), index=True)
    billing_account_id: Mapped[int | None] = mapped_column(
        ForeignKey("billing_accounts.id", ondelete="SET NULL"), index=True
    )
    offering_code: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(200), default="")
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(16), default="active")
    start_date: Mapped[dt.date] = mapped_column(Date)
    term_months: Mapped[int] = mapped_column(Integer, default=12)
    end_date: Mapped[dt.date | None] = mapped_column(Date)
    promotion_code: Mapped[str] = mapped_column(String(32), default="")
    monthly_charge: Mapped[Decimal | None] = mapped_column(  # as billed by the source system
        Numeric(12, 2)
    )
    source_system: Mapped[str] = mapped_column(String(16), default="portal")
    source_ref: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    site: Mapped[Site] = relationship()
    billing_account: Mapped[BillingAccount | None] = relationship()
