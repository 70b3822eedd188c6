"""`POST /hooks/order-backend`: state events from the order backend (DESIGN.md, "Order
backend"). Authenticated by an HMAC-SHA256 signature of the raw body with
PORTAL_ORDER_WEBHOOK_SECRET, compared in constant time; an event already seen (by eventId)
changes nothing; a part never moves backwards nor out of a final state."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging

from flask import Blueprint, current_app, jsonify, request

from portal.extensions import csrf, db
from portal.orders.services import EventError, apply_event
from portal.security import public

bp = Blueprint("order_hooks", __name__)
csrf.exempt(bp)  # machine-to-machine: authenticated by its signature, no cookies
log = logging.getLogger(__name__)
MAX_BODY = 64 * 1024
SIGNATURE_HEADER = "X-Portal-Signature"


def signature_of(secret: str, body: bytes) -> str:
    """The header value the backend sends for `body`: `sha256=<hex HMAC>`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _refuse(status: int, message: str):
    return jsonify({"code": str(status), "reason": message, "message": message}), status


@bp.post("/hooks/order-backend")
@public  # the signature is the authentication
def order_backend():
    """Apply one state-change event of the order backend."""
    if (request.content_length or 0) > MAX_BODY:
        return _refuse(413, "The event is too large.")
    body = request.get_data(cache=False)
    if len(body) > MAX_BODY:
        return _refuse(413, "The event is too large.")
    secret = current_app.config["ORDER_WEBHOOK_SECRET"] or ""
    given = request.headers.get(SIGNATURE_HEADER, "")
    if not secret or not hmac.compare_digest(given.encode(), signature_of(secret, body).encode()):
        log.warning("order backend event with a missing or wrong signature refused")
        return _refuse(401, "Missing or wrong signature.")
    try:
        event = json.loads(body)
        outcome = apply_event(db.session, event)
    except (ValueError, EventError) as exc:
        db.session.rollback()
        return _refuse(400, str(exc) if isinstance(exc, EventError) else "The body is not JSON.")
    db.session.commit()
    return jsonify({"status": outcome}), 200
