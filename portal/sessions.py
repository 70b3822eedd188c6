"""Server-side sessions.

The cookie holds only a random token; the session's data lives in the `web_sessions` table
under the token's SHA-256. Deleting the row ends the session at once (logout, deactivation),
so a copied or replayed cookie is worthless afterwards. Sessions expire after an idle time
and after an absolute lifetime, whatever the activity.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets

from flask import Flask
from flask.sessions import SessionInterface, SessionMixin
from sqlalchemy import JSON, ForeignKey, String, delete, insert, select, update
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.datastructures import CallbackDict

from portal.db import Base, UTCDateTime, utcnow

# Writing last_seen on every request would turn every page view into a write; a minute's
# precision is plenty for an idle timeout counted in tens of minutes.
LAST_SEEN_PRECISION = dt.timedelta(seconds=60)


class WebSession(Base):
    """One browser session; `user_id` is set once someone has signed in."""

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of the token
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ServerSession(CallbackDict, SessionMixin):
    """The session dict of one request, with what is needed to save it."""

    def __init__(self, initial=None, token: str | None = None, row: dict | None = None):
        def on_update(_self):
            _self.modified = True

        super().__init__(initial, on_update)
        self.token = token
        self.row = row
        self.modified = False
        self.regenerate_requested = False
        self.ended = False

    def regenerate(self) -> None:
        """Move the data to a new token (at sign-in), so a token planted before it is
        useless afterwards."""
        self.regenerate_requested = True
        self.modified = True

    def end(self) -> None:
        """Delete this session for good (sign-out)."""
        self.clear()
        self.ended = True
        self.modified = True


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _json_safe(data: dict) -> dict:
    # Flask-WTF and Authlib keep only JSON-compatible values in the session.
    return json.loads(json.dumps(data))


class DatabaseSessionInterface(SessionInterface):
    """Keeps session data in the database; see the module docstring."""

    def _engine(self, app: Flask):
        return app.extensions["portal_db"].engine

    def _limits(self, app: Flask) -> tuple[dt.timedelta, dt.timedelta]:
        return (
            dt.timedelta(minutes=app.config["SESSION_IDLE_MINUTES"]),
            dt.timedelta(hours=app.config["SESSION_ABSOLUTE_HOURS"]),
        )

    def open_session(self, app: Flask, request) -> ServerSession:
        """Load the session the cookie names, or start an empty one if it is unknown or
        expired."""
        token = request.cookies.get(self.get_cookie_name(app))
        if not token or len(token) > 128:
            return ServerSession()
        with self._engine(app).connect() as conn:
            row = conn.execute(
                select(WebSession.__table__).where(WebSession.id == _hash(token))
            ).mappings().first()
        if row is None:
            return ServerSession()
        row = dict(row)
        idle, absolute = self._limits(app)
        now = utcnow()
        if now - row["last_seen_at"] > idle or now - row["created_at"] > absolute:
            self._delete(app, row["id"])
            return ServerSession()
        return ServerSession(row["data"] or {}, token=token, row=row)

    def save_session(self, app: Flask, session: ServerSession, response) -> None:
        """Write what changed and set or clear the cookie."""
        cookie = self.get_cookie_name(app)
        options = {
            "domain": self.get_cookie_domain(app),
            "path": self.get_cookie_path(app),
            "secure": self.get_cookie_secure(app),
            "httponly": self.get_cookie_httponly(app),
            "samesite": self.get_cookie_samesite(app),
        }
        if session.ended or (not session and session.modified):
            if session.row is not None:
                self._delete(app, session.row["id"])
            if session.token:
                response.delete_cookie(cookie, **options)
            return
        if not session.modified and session.row is None:
            return  # nothing to keep: no row, no cookie
        response.vary.add("Cookie")
        now = utcnow()
        data = _json_safe(dict(session))
        user_id = _user_id(data)
        if session.row is None or session.regenerate_requested:
            if session.row is not None:
                self._delete(app, session.row["id"])
            token = secrets.token_urlsafe(32)
            with self._engine(app).begin() as conn:
                conn.execute(
                    insert(WebSession.__table__).values(
                        id=_hash(token),
                        user_id=user_id,
                        data=data,
                        created_at=now,
                        last_seen_at=now,
                    )
                )
            response.set_cookie(cookie, token, **options)
            return
        changes: dict = {}
        if session.modified:
            changes.update(data=data, user_id=user_id)
        if now - session.row["last_seen_at"] > LAST_SEEN_PRECISION:
            changes["last_seen_at"] = now
        if changes:
            with self._engine(app).begin() as conn:
                result = conn.execute(
                    update(WebSession.__table__)
                    .where(WebSession.id == session.row["id"])
                    .values(**changes)
                )
            if result.rowcount == 0:
                # Ended meanwhile (sign-out elsewhere, deactivation): do not resurrect it.
                response.delete_cookie(cookie, **options)

    def _delete(self, app: Flask, session_id: str) -> None:
        with self._engine(app).begin() as conn:
            conn.execute(delete(WebSession.__table__).where(WebSession.id == session_id))


def _user_id(data: dict) -> int | None:
    value = data.get("_user_id")
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def end_sessions_of_user(db_session, user_id: int) -> int:
    """End every session of a user at once (deactivation); returns how many ended.

    Runs in the caller's transaction, so it commits together with the change that
    caused it.
    """
    result = db_session.execute(delete(WebSession).where(WebSession.user_id == user_id))
    return result.rowcount


def purge_expired(db_session, idle: dt.timedelta, absolute: dt.timedelta) -> int:
    """Delete expired sessions; returns how many."""
    now = utcnow()
    result = db_session.execute(
        delete(WebSession).where(
            (WebSession.last_seen_at < now - idle) | (WebSession.created_at < now - absolute)
        )
    )
    return result.rowcount
