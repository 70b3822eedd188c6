"""Telling people: `notify` adds a notification in the caller's transaction (so a rolled-back
change tells nobody); `deliver_pending` e-mails what is committed and not yet sent."""

from __future__ import annotations

from sqlalchemy.orm import Session

from portal.notifications.models import Notification


def notify(session: Session, user_id: int, organisation_id: int | None, subject: str,
           body: str, link: str = "") -> Notification:
    """Add a notification for `user_id` about `organisation_id`; the caller commits."""
    notification = Notification(user_id=user_id, organisation_id=organisation_id,
                                subject=subject[:200], body=body, link=link[:500])
    session.add(notification)
    return notification
