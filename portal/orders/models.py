"""Orders as the customer sees them, split into parts by the backend system that fulfils
them, each part delivered through the transactional outbox.

An order (from an accepted quote or a self-serve change) holds items; the items of one
fulfilment system form a part; each part is one TMF622 productOrder at the order backend,
with its own `external_id` (also its Idempotency-Key). Every outbound request is an
`OutboxMessage` written in the same transaction as the order; the dispatcher sends it.
`OrderEvent` is the timeline, and (by `event_id`) the record of backend events already seen.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import JSON, ForeignKey, Index, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base, UTCDateTime, utcnow


class PartState:
    """TMF622 states of a part, as the backend reports them, plus `pending` (not yet
    acknowledged by the backend)."""

    PENDING = "pending"
    ACKNOWLEDGED = "acknowledged"
    HELD = "held"
    IN_PROGRESS = "inProgress"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    FINAL = (COMPLETED, FAILED, CANCELLED, REJECTED)
    # How far along each state is: a part never moves to a lower rank, nor out of a final
    # state (events arrive late, twice, or out of order).
    RANK = {PENDING: 0, ACKNOWLEDGED: 1, HELD: 1, "assessingCancellation": 1,
            "pendingCancellation": 1, IN_PROGRESS: 2, COMPLETED: 3, FAILED: 3, CANCELLED: 3,
            REJECTED: 3}


class Delivery:
    """Where the part's request to the backend stands."""

    QUEUED = "queued"  # in the outbox, waiting for (another) attempt
    DELIVERED = "delivered"  # the backend accepted it
    ATTENTION = "attention"  # every attempt failed: an operator must look at it
    REFUSED = "refused"  # the backend refused it (4xx): it will not be sent again
    WITHDRAWN = "withdrawn"  # cancelled before it was sent


class Order(Base):
    """One order as the customer sees it: where it came from and where it stands."""

    __tablename__ = "orders"
    __table_args__ = (Index("ix_orders_org_created", "organisation_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[str] = mapped_column(String(32), unique=True)
    source: Mapped[str] = mapped_column(String(16))  # "quote", "change" or "api"
    quote_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("quote_versions.id", ondelete="RESTRICT"), unique=True
    )
    description: Mapped[str] = mapped_column(String(300), default="")
    external_id: Mapped[str | None] = mapped_column(String(100))  # the customer's reference
    # TMF622 ProductOrderStateType, derived from the parts (see orders.services.order_state).
    state: Mapped[str] = mapped_column(String(24), default="pending")
    cancel_requested_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    purchase_order: Mapped[str | None] = mapped_column(String(100))
    billing_account_id: Mapped[int | None] = mapped_column(
        ForeignKey("billing_accounts.id", ondelete="SET NULL"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    parts: Mapped[list[OrderPart]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="OrderPart.id")
    items: Mapped[list[OrderItem]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="OrderItem.position")
    events: Mapped[list[OrderEvent]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="OrderEvent.id")


class OrderPart(Base):
    """The items of an order that one backend system fulfils: one productOrder there."""

    __tablename__ = "order_parts"
    __table_args__ = (Index("ix_order_parts_delivery", "delivery"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"),
                                          index=True)
    fulfilment: Mapped[str] = mapped_column(String(64))
    external_id: Mapped[str] = mapped_column(String(64), unique=True)
    backend_id: Mapped[str | None] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(24), default=PartState.PENDING)
    delivery: Mapped[str] = mapped_column(String(16), default=Delivery.QUEUED)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    applied_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # to the inventory

    order: Mapped[Order] = relationship(back_populates="parts")
    items: Mapped[list[OrderItem]] = relationship(back_populates="part",
                                                  order_by="OrderItem.position")


class OrderItem(Base):
    """One change: add an offering at a site, or change an existing service (modify,
    suspend, resume, move, cease), with its price and price impact as previewed."""

    __tablename__ = "order_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"),
                                          index=True)
    part_id: Mapped[int | None] = mapped_column(ForeignKey("order_parts.id",
                                                           ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(16))  # add|modify|suspend|resume|move|cease
    offering_code: Mapped[str] = mapped_column(String(64))
    offering_name: Mapped[str] = mapped_column(String(200), default="")
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id", ondelete="SET NULL"))
    service_id: Mapped[int | None] = mapped_column(ForeignKey("services.id",
                                                              ondelete="SET NULL"), index=True)
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    term_months: Mapped[int | None] = mapped_column(Integer)
    # What the change leads to: {"offering_code": ...} (modify), {"site_id": ...} (move).
    target: Mapped[dict] = mapped_column(JSON, default=dict)
    mrc: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=Decimal("0"))
    nrc: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=Decimal("0"))
    mrc_change: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=Decimal("0"))
    promotion_code: Mapped[str | None] = mapped_column(String(64))

    order: Mapped[Order] = relationship(back_populates="items")
    part: Mapped[OrderPart | None] = relationship(back_populates="items")


class OutboxMessage(Base):
    """A request for the order backend, written with the change that needs it and sent
    by the dispatcher: `kind` "create" (POST productOrder) or "cancel" (POST
    cancelProductOrder). A claim (`claim_token` until `claimed_until`) keeps other
    dispatchers off it while one sends; a dispatcher that dies lets the claim lapse, and the
    next one sends again with the same Idempotency-Key."""

    __tablename__ = "order_outbox"
    __table_args__ = (Index("ix_order_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    part_id: Mapped[int] = mapped_column(ForeignKey("order_parts.id", ondelete="CASCADE"),
                                         index=True)
    kind: Mapped[str] = mapped_column(String(16), default="create")
    idempotency_key: Mapped[str] = mapped_column(String(100), unique=True)
    payload: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|sent|dead|dropped
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    claim_token: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    part: Mapped[OrderPart] = relationship()


class OrderEvent(Base):
    """A step on an order's timeline: made by the portal (created, sent, retry, attention,
    cancel requested) or reported by the backend (`event_id` set: each is applied once)."""

    __tablename__ = "order_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"),
                                          index=True)
    part_id: Mapped[int | None] = mapped_column(ForeignKey("order_parts.id",
                                                           ondelete="CASCADE"))
    event_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(24))
    state: Mapped[str | None] = mapped_column(String(24))
    detail: Mapped[str] = mapped_column(Text, default="")
    applied: Mapped[bool] = mapped_column(default=True)  # False: late, left the state alone
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    order: Mapped[Order] = relationship(back_populates="events")
    part: Mapped[OrderPart | None] = relationship()
