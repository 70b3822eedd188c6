"""Usage per service and period, the alerts it raised, the offer rules (one row of data the
operator edits) and the offers made to customers."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from accounts.estate.models import Service
from portal.db import Base, UTCDateTime, utcnow


class UsageRecord(Base):
    """The data a service used in one period (a calendar month) against its allowance. One
    per service and period: a corrected figure replaces the record."""

    __tablename__ = "usage_records"
    __table_args__ = (UniqueConstraint("service_id", "period"),
                      Index("ix_usage_records_org_period", "organisation_id", "period"))

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"))
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"))
    period: Mapped[str] = mapped_column(String(7))  # YYYY-MM
    used: Mapped[Decimal] = mapped_column(Numeric(14, 3))
    allowance: Mapped[Decimal | None] = mapped_column(Numeric(14, 3))  # None: unlimited
    unit: Mapped[str] = mapped_column(String(2))  # MB | GB | TB, of both figures
    imported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    imported_by: Mapped[str] = mapped_column(String(320), default="")

    service: Mapped[Service] = relationship()

    @property
    def share(self) -> Decimal | None:
        """Used / allowance (1 is the whole allowance); None when unlimited."""
        if self.allowance is None or self.allowance <= 0:
            return None
        return self.used / self.allowance


class UsageAlert(Base):
    """A bill-shock threshold a service crossed in a period; at most one per service, period
    and threshold, so each is told once."""

    __tablename__ = "usage_alerts"
    __table_args__ = (UniqueConstraint("service_id", "period", "threshold"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"))
    period: Mapped[str] = mapped_column(String(7))
    threshold: Mapped[Decimal] = mapped_column(Numeric(6, 4))  # 0.8 is 80 %
    used: Mapped[Decimal] = mapped_column(Numeric(14, 3))  # the figures that crossed it
    allowance: Mapped[Decimal] = mapped_column(Numeric(14, 3))
    unit: Mapped[str] = mapped_column(String(2))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class OfferRules(Base):
    """The rules of alerts and offers, as data the operator's admins edit. One row (id 1);
    before the first edit the defaults of portal.usage.rules apply."""

    __tablename__ = "offer_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    alerts_enabled: Mapped[bool] = mapped_column(Boolean)
    alert_thresholds: Mapped[list] = mapped_column(JSON)  # fractions as text: ["0.80", "1.00"]
    recommendations_enabled: Mapped[bool] = mapped_column(Boolean)
    lookback_periods: Mapped[int] = mapped_column(Integer)
    min_periods_exceeded: Mapped[int] = mapped_column(Integer)
    upgrades_enabled: Mapped[bool] = mapped_column(Boolean)
    upgrade_days_before_end: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    updated_by: Mapped[str] = mapped_column(String(320), default="")

    @property
    def thresholds(self) -> list[Decimal]:
        """The alert thresholds as fractions, lowest first."""
        return sorted(Decimal(t) for t in self.alert_thresholds or ())


class OfferKind:
    """Why an offer is made."""

    RECOMMENDATION = "recommendation"  # the allowance is too small, again and again
    UPGRADE = "upgrade"  # the contract ends soon
    ALL = (RECOMMENDATION, UPGRADE)


class OfferStatus:
    """Where an offer stands; only open offers can be accepted or dismissed."""

    OPEN = "open"
    ACCEPTED = "accepted"
    DISMISSED = "dismissed"
    EXPIRED = "expired"  # no longer applies (the service changed, the contract ended)
    ALL = (OPEN, ACCEPTED, DISMISSED, EXPIRED)


class Offer(Base):
    """A plan offered for one service: change it to `offering_code`, at `monthly_difference`
    a month. At most one open offer per service and kind; an offer is made once for the same
    evidence (the periods over the allowance, the contract end), so a dismissed one does not
    come back unless the evidence changes."""

    __tablename__ = "offers"
    __table_args__ = (
        UniqueConstraint("service_id", "kind", "evidence"),
        Index("ix_offers_open", "service_id", "kind", unique=True,
              sqlite_where=text("status = 'open'"), postgresql_where=text("status = 'open'")),
        Index("ix_offers_org_status", "organisation_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"))
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # OfferKind
    evidence: Mapped[str] = mapped_column(String(200))
    from_offering_code: Mapped[str] = mapped_column(String(64))
    offering_code: Mapped[str] = mapped_column(String(64))  # the plan offered
    offering_name: Mapped[str] = mapped_column(String(200))
    mrc_before: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    mrc_after: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    monthly_difference: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    currency: Mapped[str] = mapped_column(String(3))
    reason: Mapped[str] = mapped_column(Text)
    valid_until: Mapped[dt.date | None] = mapped_column(Date)  # an upgrade: the contract end
    status: Mapped[str] = mapped_column(String(16), default=OfferStatus.OPEN)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decided_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"))

    service: Mapped[Service] = relationship()
