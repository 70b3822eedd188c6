"""Telling people: `notify` adds a notification in the caller's transaction (so a rolled-back
change tells nobody); `deliver_pending` e-mails what is committed and not yet sent.

A notification's e-mail state lives on its row:
- `emailed_at` NULL: still to be sent (`email_error` says why the last try failed, if one did);
- `emailed_at` set, `email_error` NULL: sent;
- `emailed_at` set, `email_error` "sending": a process is sending it now (a claim that is
  older than `STALE_CLAIM` was left by a process that died, and is sent again);
- `emailed_at` set, another `email_error`: given up (the server refused the address, or the
  user is deactivated); the notification stays in the portal.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from accounts.models import User
from portal.db import utcnow
from portal.mail import MailError, send_mail
from portal.notifications.models import Notification

log = logging.getLogger(__name__)

SENDING = "sending"
STALE_CLAIM = dt.timedelta(minutes=15)
PAGE_SIZE = 50


def notify(session: Session, user_id: int, organisation_id: int | None, subject: str,
           body: str, link: str = "") -> Notification:
    """Add a notification for `user_id` about `organisation_id`; the caller commits."""
    notification = Notification(user_id=user_id, organisation_id=organisation_id,
                                subject=subject[:200], body=body, link=link[:500])
    session.add(notification)
    return notification


# -- the portal's list -------------------------------------------------------------------------

def unread_count(session: Session, user_id: int) -> int:
    """How many of the user's notifications they have not marked read."""
    return session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == user_id, Notification.read_at.is_(None))) or 0


@dataclass
class NotificationPage:
    """One page of a user's notifications, newest first."""

    items: list[Notification]
    total: int
    page: int
    size: int = PAGE_SIZE

    @property
    def pages(self) -> int:
        """How many pages there are (at least one)."""
        return max((self.total + self.size - 1) // self.size, 1)


def page_of(session: Session, user_id: int, page: int = 1,
            size: int = PAGE_SIZE) -> NotificationPage:
    """The user's notifications, newest first, `size` a page (two queries)."""
    total = session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == user_id)) or 0
    items = list(session.scalars(
        select(Notification).where(Notification.user_id == user_id)
        .order_by(Notification.created_at.desc(), Notification.id.desc())
        .offset((page - 1) * size).limit(size)))
    return NotificationPage(items, total, page, size)


def mark_read(session: Session, user_id: int, notification_id: int) -> Notification | None:
    """Mark the user's notification read (it stays read); None when it is not theirs."""
    notification = session.get(Notification, notification_id)
    if notification is None or notification.user_id != user_id:
        return None
    if notification.read_at is None:
        notification.read_at = utcnow()
    return notification


def mark_all_read(session: Session, user_id: int) -> int:
    """Mark every unread notification of the user read; returns how many."""
    result = session.execute(
        update(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        .values(read_at=utcnow()).execution_options(synchronize_session=False))
    return result.rowcount


# -- e-mail ------------------------------------------------------------------------------------

@dataclass
class Delivery:
    """What one `deliver_pending` run did."""

    sent: int = 0
    failed: int = 0  # left for a later try
    given_up: int = 0  # not sent, and not to be tried again


def absolute_link(config, link: str) -> str:
    """A portal path (`/quotes/7`) as an address to open from a mail reader."""
    if link.startswith("/") and not link.startswith("//"):
        return config["BASE_URL"] + link
    return link


def email_text(config, name: str, subject: str, body: str, link: str) -> str:
    """The text of a notification's e-mail."""
    parts = [f"Hello {name}," if name else "Hello,", "", body]
    if link:
        parts += ["", f"Open it in the portal: {absolute_link(config, link)}"]
    parts += ["", "-- ", "Carrier Business portal",
              f"All your notifications: {config['BASE_URL']}/notifications"]
    return "\n".join(parts) + "\n"


def _due(now: dt.datetime):
    return or_(Notification.emailed_at.is_(None),
               and_(Notification.email_error == SENDING,
                    Notification.emailed_at < now - STALE_CLAIM))


def _set(session: Session, notification_id: int, condition=None, **values) -> bool:
    stmt = update(Notification).where(Notification.id == notification_id)
    if condition is not None:
        stmt = stmt.where(condition)
    result = session.execute(stmt.values(**values)
                             .execution_options(synchronize_session=False))
    session.commit()
    return result.rowcount == 1


def deliver_pending(session: Session, config, limit: int = 100,
                    ids: list[int] | None = None) -> Delivery:
    """E-mail up to `limit` committed notifications not yet sent (only those of `ids` when
    given), oldest first, each to its user's address with its link made absolute with
    `BASE_URL`. Each row is claimed before sending, so two processes never send the same
    one; a failure is recorded on the row (`email_error`) and the row is tried again later.
    Commits as it goes; never raises (a database failure is logged and ends the run)."""
    done = Delivery()
    try:
        now = utcnow()
        stmt = (select(Notification.id, Notification.subject, Notification.body,
                       Notification.link, User.email, User.name, User.active)
                .join(User, User.id == Notification.user_id)
                .where(_due(now)).order_by(Notification.id).limit(limit))
        if ids is not None:
            stmt = stmt.where(Notification.id.in_(ids))
        rows = session.execute(stmt).all()
        session.commit()
        for row in rows:
            _deliver_one(session, config, row, now, done)
    except SQLAlchemyError:
        log.exception("notification e-mails: the database failed; the rest waits")
        session.rollback()
    return done


def _deliver_one(session: Session, config, row, now: dt.datetime, done: Delivery) -> None:
    if not _set(session, row.id, _due(now), emailed_at=now, email_error=SENDING):
        return  # another process took it
    if not row.active or not row.email:
        _set(session, row.id, emailed_at=utcnow(),
             email_error="not sent: the user is deactivated or has no address")
        done.given_up += 1
        return
    name = row.name if row.name and row.name != row.email else ""
    try:
        send_mail(config, row.email, row.subject,
                  email_text(config, name, row.subject, row.body, row.link), to_name=name)
    except MailError as exc:
        log.warning("notification %s: e-mail not sent: %s", row.id, exc)
        if exc.permanent:
            _set(session, row.id, emailed_at=utcnow(), email_error=f"not sent: {exc}"[:500])
            done.given_up += 1
        else:
            _set(session, row.id, emailed_at=None, email_error=str(exc)[:500])
            done.failed += 1
        return
    _set(session, row.id, emailed_at=utcnow(), email_error=None)
    done.sent += 1
