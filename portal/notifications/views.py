"""The signed-in user's notifications: the list, and marking them read. They belong to the
person, whatever organisation they act for."""

from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy.exc import SQLAlchemyError

from portal.extensions import db
from portal.notifications import services
from portal.security import signed_in

bp = Blueprint("notifications", __name__, url_prefix="/notifications")


def _page() -> int:
    return max(request.args.get("page", 1, type=int) or 1, 1)


@bp.get("")
@signed_in
def index():
    """The user's notifications, newest first, unread ones marked."""
    page = services.page_of(db.session, current_user.id, _page())
    return render_template("notifications/index.html", page=page)


def _safe_path(link: str) -> str | None:
    # Links are portal paths the services wrote; anything else is not followed.
    return link if link.startswith("/") and not link.startswith(("//", "/\\")) else None


@bp.post("/<int:notification_id>/read")
@signed_in
def read(notification_id: int):
    """Mark one notification read; with `open`, go on to what it is about."""
    notification = services.mark_read(db.session, current_user.id, notification_id)
    if notification is None:
        abort(404)
    db.session.commit()
    target = _safe_path(notification.link) if request.form.get("open") else None
    return redirect(target or url_for(".index", page=request.form.get("page", 1, type=int)))


@bp.post("/read-all")
@signed_in
def read_all():
    """Mark every notification of the user read."""
    count = services.mark_all_read(db.session, current_user.id)
    db.session.commit()
    flash(f"{count} notification{'' if count == 1 else 's'} marked read.", "success")
    return redirect(url_for(".index"))


def unread_badge() -> int:
    """The user's unread count for the navigation bar: one query, at most once a request,
    and only on pages that show the bar."""
    if "unread_notifications" not in g:
        count = 0
        if current_user.is_authenticated:
            try:
                count = services.unread_count(db.session, current_user.id)
            except SQLAlchemyError:
                # An error page after a database failure must still render.
                count = 0
        g.unread_notifications = count
    return g.unread_notifications


@bp.app_context_processor
def _navigation():
    return {"unread_notifications": unread_badge}
