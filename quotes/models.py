"""The configurator's saved cart: lines of offerings at sites, with quantity and term."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import ForeignKey, Integer, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from accounts.estate.models import BillingAccount, Site
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
