"""Server-side sessions: the cookie is only a token; idle and absolute timeouts; ending a
session or deactivating a user takes effect on the next request."""

from __future__ import annotations

import datetime as dt

from conftest import login_as
from sqlalchemy import select

from accounts.models import User
from accounts.services import set_user_active
from portal.extensions import db
from portal.sessions import WebSession


def _rows(app):
    with app.app_context():
        rows = db.session.scalars(select(WebSession)).all()
        db.session.expunge_all()  # keep the loaded values readable after the context
        return rows


def _shift(app, column: str, delta: dt.timedelta):
    with app.app_context():
        for row in db.session.scalars(select(WebSession)).all():
            setattr(row, column, getattr(row, column) - delta)
        db.session.commit()


def test_the_cookie_holds_only_an_opaque_token(client, signed_in):
    signed_in("admin")
    response = client.get("/dashboard")
    assert response.status_code == 200
    cookie = client.get_cookie("portal_session")
    assert cookie is not None and cookie.http_only and cookie.same_site == "Lax"
    assert len(cookie.value) < 60 and "." not in cookie.value  # no signed payload
    rows = _rows(client.application)
    assert len(rows) == 1 and rows[0].user_id is not None
    assert rows[0].id != cookie.value  # stored hashed


def test_an_idle_session_expires(client, signed_in, app):
    signed_in("admin")
    assert client.get("/dashboard").status_code == 200
    _shift(app, "last_seen_at", dt.timedelta(minutes=app.config["SESSION_IDLE_MINUTES"] + 1))
    response = client.get("/dashboard")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert all(row.user_id is None for row in _rows(app))


def test_an_active_session_still_ends_at_the_absolute_timeout(client, signed_in, app):
    signed_in("admin")
    _shift(app, "created_at", dt.timedelta(hours=app.config["SESSION_ABSOLUTE_HOURS"],
                                           minutes=1))
    response = client.get("/dashboard")
    assert response.status_code == 302


def test_activity_within_the_idle_time_keeps_the_session(client, signed_in, app):
    signed_in("admin")
    _shift(app, "last_seen_at", dt.timedelta(minutes=app.config["SESSION_IDLE_MINUTES"] - 2))
    assert client.get("/dashboard").status_code == 200
    # The visit moved last_seen forward, so the session is fresh again.
    row = _rows(app)[0]
    assert dt.datetime.now(dt.UTC) - row.last_seen_at < dt.timedelta(minutes=1)


def test_deactivating_a_user_ends_their_live_sessions(client, signed_in, app):
    _, user_id = signed_in("buyer")
    assert client.get("/dashboard").status_code == 200
    with app.app_context():
        set_user_active(db.session, db.session.get(User, user_id), False)
        db.session.commit()
    assert _rows(app) == []
    assert client.get("/dashboard").status_code == 302


def test_a_forged_cookie_is_an_anonymous_session(client, signed_in):
    signed_in("admin")
    client.set_cookie("portal_session", "forged-token", domain="localhost")
    assert client.get("/dashboard").status_code == 302


def test_anonymous_visits_that_store_nothing_create_no_session(client, app):
    client.get("/healthz")
    client.get("/signed-out")
    assert _rows(app) == []


def test_a_user_whose_last_role_is_gone_is_signed_out(client, factory, app):
    org_id = factory.org("acme")
    user_id = factory.user(org_id, "buyer")
    login_as(client, user_id, org_id)
    assert client.get("/dashboard").status_code == 200
    with app.app_context():
        user = db.session.get(User, user_id)
        user.memberships.clear()
        db.session.commit()
    assert client.get("/dashboard").status_code == 302
    assert all(row.user_id is None for row in _rows(app))
