"""The notifications page: a person's own notifications, newest first, unread ones marked and
counted in the menu bar, marked read one by one or all at once."""

from __future__ import annotations

import datetime as dt
import re

from conftest import count_queries, csrf_token
from sqlalchemy import select

from portal.db import utcnow
from portal.extensions import db
from portal.notifications.models import Notification

UNREAD = re.compile(r'data-testid="unread-count">(\d+)<')


def _notify(app, user_id, count=1, link="/dashboard", prefix="Note") -> list[int]:
    """`count` notifications for the user, one minute apart (the last is the newest)."""
    with app.app_context():
        start = utcnow() - dt.timedelta(hours=1)
        rows = [Notification(user_id=user_id, subject=f"{prefix} {n}", body=f"Body {n}",
                             link=link, created_at=start + dt.timedelta(minutes=n))
                for n in range(count)]
        db.session.add_all(rows)
        db.session.commit()
        return [row.id for row in rows]


def _unread_badge(html: str) -> int:
    match = UNREAD.search(html)
    return int(match.group(1)) if match else 0


def _read_at(app, notification_id):
    with app.app_context():
        return db.session.get(Notification, notification_id).read_at


def test_the_list_is_newest_first_with_unread_ones_marked(app, client, signed_in):
    _, user_id = signed_in("buyer")
    ids = _notify(app, user_id, 3)
    with app.app_context():
        db.session.get(Notification, ids[0]).read_at = utcnow()
        db.session.commit()
    html = client.get("/notifications").get_data(as_text=True)
    assert html.index("Note 2") < html.index("Note 1") < html.index("Note 0")
    assert html.count("data-unread") == 2
    assert _unread_badge(html) == 2
    # The count is in the menu bar of every page.
    assert _unread_badge(client.get("/dashboard").get_data(as_text=True)) == 2


def test_nobody_sees_another_persons_notifications(app, client, signed_in, factory):
    org_id, user_id = signed_in("buyer")
    colleague = factory.user(org_id, "buyer")
    [theirs] = _notify(app, colleague, prefix="Private")
    html = client.get("/notifications").get_data(as_text=True)
    assert "Private" not in html and _unread_badge(html) == 0
    assert "Nothing yet" in html
    response = client.post(f"/notifications/{theirs}/read",
                           data={"csrf_token": csrf_token(client, "/notifications")})
    assert response.status_code == 404
    assert _read_at(app, theirs) is None


def test_open_marks_read_and_goes_to_the_link(app, client, signed_in):
    _, user_id = signed_in("buyer")
    [note] = _notify(app, user_id, link="/dashboard")
    token = csrf_token(client, "/notifications")
    response = client.post(f"/notifications/{note}/read", data={"csrf_token": token,
                                                                 "open": "1"})
    assert response.status_code == 302 and response.headers["Location"] == "/dashboard"
    assert _read_at(app, note) is not None


def test_a_link_outside_the_portal_is_not_followed(app, client, signed_in):
    _, user_id = signed_in("buyer")
    [note] = _notify(app, user_id, link="//evil.test/phish")
    response = client.post(f"/notifications/{note}/read", data={
        "csrf_token": csrf_token(client, "/notifications"), "open": "1"})
    assert response.headers["Location"].startswith("/notifications")


def test_mark_read_and_mark_all_read(app, client, signed_in):
    _, user_id = signed_in("buyer")
    ids = _notify(app, user_id, 3)
    token = csrf_token(client, "/notifications")
    response = client.post(f"/notifications/{ids[1]}/read", data={"csrf_token": token},
                           follow_redirects=True)
    assert _unread_badge(response.get_data(as_text=True)) == 2
    response = client.post("/notifications/read-all", data={"csrf_token": token},
                           follow_redirects=True)
    html = response.get_data(as_text=True)
    assert "2 notifications marked read." in html
    assert _unread_badge(html) == 0 and "data-unread" not in html
    with app.app_context():
        assert all(db.session.scalars(select(Notification.read_at)))


def test_posts_need_a_csrf_token(app, client, signed_in):
    _, user_id = signed_in("buyer")
    [note] = _notify(app, user_id)
    assert client.post(f"/notifications/{note}/read").status_code == 400
    assert client.post("/notifications/read-all").status_code == 400
    assert _read_at(app, note) is None


def test_pages_of_fifty_in_a_fixed_number_of_queries(app, client, signed_in):
    _, user_id = signed_in("buyer")
    _notify(app, user_id, 1, prefix="Old")

    def queries(path="/notifications") -> int:
        client.get(path)  # warm up (session row, caches)
        with count_queries(app) as statements:
            assert client.get(path).status_code == 200
        return len(statements)

    one = queries()
    _notify(app, user_id, 60, prefix="Note")
    assert queries() == one
    first = client.get("/notifications").get_data(as_text=True)
    assert first.count('data-testid="notification"') == 50 and "Page 1 of 2" in first
    second = client.get("/notifications?page=2").get_data(as_text=True)
    assert second.count('data-testid="notification"') == 11 and "Old 0" in second
    assert _unread_badge(second) == 61
