"""Audit events, written in the same transaction as the change they record.

`record(...)` only adds the event to the session; the caller's commit writes it together
with the change, and a rollback drops both.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import g, has_request_context, request
from flask_login import current_user
from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, Session, mapped_column

from portal.db import Base, UTCDateTime, utcnow


class AuditEvent(Base):
    """Who did what, for which organisation, when and from where; with before and after."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_org_time", "organisation_id", "occurred_at"),
        Index("ix_audit_events_action", "action"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    action: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16), default="success")
    reason: Mapped[str | None] = mapped_column(Text)
    actor_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    actor_label: Mapped[str | None] = mapped_column(String(320))
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE")
    )
    # Set when the actor belongs to another organisation than the one acted for: a partner
    # on behalf of a customer, an account manager for an assigned customer.
    actor_org_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL")
    )
    target_type: Mapped[str | None] = mapped_column(String(64))
    target_id: Mapped[str | None] = mapped_column(String(64))
    before: Mapped[dict | None] = mapped_column(JSON)
    after: Mapped[dict | None] = mapped_column(JSON)
    ip_address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    request_id: Mapped[str | None] = mapped_column(String(64))


def record(
    session: Session,
    action: str,
    *,
    organisation_id: int | None = None,
    target: Any = None,
    before: dict | None = None,
    after: dict | None = None,
    outcome: str = "success",
    reason: str | None = None,
    actor_user_id: int | None = None,
    actor_label: str | None = None,
) -> AuditEvent:
    """Add an audit event for `action` (a tag like `sso:update`) to `session`.

    The actor defaults to the signed-in user and the organisation to the one they act for;
    the address, user agent and request id come from the current request, if any. A CLI
    change passes its own `actor_label`.
    """
    if actor_user_id is None and has_request_context():
        api_key = g.get("api_key")
        if api_key is not None:  # a system calling the API with the organisation's key
            actor_label = actor_label or f"API key {api_key.prefix} ({api_key.name})"
        elif current_user.is_authenticated:
            actor_user_id = current_user.id
            actor_label = actor_label or current_user.email
    actor_org_id = None
    if has_request_context():
        if organisation_id is None:
            organisation_id = g.get("current_org_id")
        if organisation_id == g.get("current_org_id"):
            actor_org_id = g.get("acting_via_org_id")
    if target is not None and getattr(target, "id", None) is None:
        session.flush()  # give a new target its id
    event = AuditEvent(
        action=action,
        outcome=outcome,
        reason=reason,
        actor_user_id=actor_user_id,
        actor_label=actor_label,
        organisation_id=organisation_id,
        actor_org_id=actor_org_id,
        target_type=type(target).__name__ if target is not None else None,
        target_id=str(target.id) if target is not None and target.id is not None else None,
        before=before,
        after=after,
    )
    if has_request_context():
        event.ip_address = request.remote_addr
        event.user_agent = (request.user_agent.string or "")[:512]
        event.request_id = g.get("request_id")
    session.add(event)
    return event
