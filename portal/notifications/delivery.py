"""E-mailing notifications soon after the change that made them is committed.

The session remembers the notifications it flushed; when its transaction commits, they
become due. At the end of a request that committed some, their e-mails are sent once the
response has gone to the browser (`call_on_close`), in a session of their own: a slow or
broken mail server never delays or fails the user's request, and a failure stays recorded
on the row for `flask --app app notifications send` to try again.
"""

from __future__ import annotations

import logging

from flask import Flask, current_app, g
from sqlalchemy import event
from sqlalchemy.orm import Session

from portal.notifications.models import Notification
from portal.notifications.services import deliver_pending

log = logging.getLogger(__name__)

FLUSHED = "portal.notifications.flushed"
COMMITTED = "portal.notifications.committed"


def _after_flush(session: Session, _context) -> None:
    # Ids are known after the flush; `session.new` still lists what it inserted.
    new = [obj.id for obj in session.new if isinstance(obj, Notification)]
    if new:
        session.info.setdefault(FLUSHED, set()).update(new)


def _after_commit(session: Session) -> None:
    flushed = session.info.pop(FLUSHED, None)
    if flushed:
        session.info.setdefault(COMMITTED, set()).update(flushed)


def _after_rollback(session: Session) -> None:
    session.info.pop(FLUSHED, None)


def committed_notifications(session: Session) -> list[int]:
    """Take the ids of the notifications the session committed since last asked."""
    return sorted(session.info.pop(COMMITTED, ()))


def _listen() -> None:
    for name, handler in (("after_flush", _after_flush), ("after_commit", _after_commit),
                          ("after_rollback", _after_rollback)):
        if not event.contains(Session, name, handler):
            event.listen(Session, name, handler)


def deliver_after_response(app: Flask, ids: list[int]) -> None:
    """Send the e-mails of `ids` in a session of its own; logs, never raises."""
    try:
        with app.app_context():
            session = app.extensions["portal_db"].new_session()
            try:
                deliver_pending(session, app.config, limit=len(ids), ids=ids)
            finally:
                session.close()
    except Exception:  # the response is gone: nobody else would see this
        log.exception("notification e-mails after the response failed")


def _after_request(response):
    session = g.get("db_session")
    ids = committed_notifications(session) if session is not None else []
    if ids:
        app = current_app._get_current_object()
        response.call_on_close(lambda: deliver_after_response(app, ids))
    return response


def init_app(app: Flask) -> None:
    """Send the e-mails of the notifications a request committed, after its response."""
    _listen()
    app.after_request(_after_request)
