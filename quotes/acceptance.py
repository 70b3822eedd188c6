"""Acceptance: the customer takes up an approved promise, and an order is made from it."""

from __future__ import annotations

import datetime as dt
import re
import uuid

from sqlalchemy.orm import Session

from accounts.models import User
from portal import audit
from portal.db import utcnow
from portal.notifications.services import notify
from portal.orders.models import Order
from quotes.approvals import approvals_valid, assigned_managers, flush_version, quote_link
from quotes.models import QuoteState, QuoteVersion
from quotes.services import QuoteError

_PRINTABLE = re.compile(r"^[^\x00-\x1f\x7f]+$")


def _text(value: str, what: str, limit: int) -> str:
    value = (value or "").strip()
    if not value:
        raise QuoteError(f"Enter {what}.")
    if len(value) > limit:
        raise QuoteError(f"{what[0].upper()}{what[1:]} is limited to {limit} characters.")
    if not _PRINTABLE.match(value):
        raise QuoteError(f"{what[0].upper()}{what[1:]} holds characters that cannot be "
                         f"printed.")
    return value


def accept(session: Session, version: QuoteVersion, user: User | None, purchase_order: str,
           signatory: str, today: dt.date) -> Order:
    """Accept the latest version, approved (of exactly this content) and unexpired, with
    the customer's purchase-order number and the name of the person accepting. Records the
    acceptance and creates the order, pending until it is routed. Refused, with the reason,
    in every other case."""
    purchase_order = _text(purchase_order, "the purchase-order number", 100)
    signatory = _text(signatory, "your name", 200)
    if not version.is_latest:
        raise QuoteError(f"Version {version.version} is not the latest version of quote "
                         f"{version.quote.number}; only the latest can be accepted.")
    if version.state != QuoteState.APPROVED:
        raise QuoteError(f"This version is {version.state}; only an approved version can be "
                         f"accepted.")
    if version.is_expired(today):
        raise QuoteError(f"This quote expired on {version.valid_until:%d %b %Y}; ask for a "
                         f"new version.")
    if not approvals_valid(version):
        # Defence in depth: state says approved, but no approval covers this content.
        raise QuoteError("The approval does not cover this content; submit it again.")
    org_id = version.quote.organisation_id
    version.state = QuoteState.ACCEPTED
    version.accepted_at = utcnow()
    version.accepted_by_id = user.id if user else None
    version.accepted_by_name = signatory
    version.purchase_order = purchase_order
    order = Order(organisation_id=org_id, number=f"new-{uuid.uuid4().hex[:24]}",
                  source="quote", quote_version_id=version.id, state="pending",
                  purchase_order=purchase_order, created_by_id=user.id if user else None)
    session.add(order)
    flush_version(session)
    order.number = f"O-{today.year}-{order.id:06d}"
    audit.record(session, "quote:accept", organisation_id=org_id, target=version,
                 before={"state": QuoteState.APPROVED},
                 after={"state": version.state, "purchase_order": purchase_order,
                        "accepted_by": signatory, "content_hash": version.content_hash})
    audit.record(session, "order:create", organisation_id=org_id, target=order,
                 after={"number": order.number, "source": "quote",
                        "quote": version.quote.number, "version": version.version})
    for manager_id in assigned_managers(session, org_id):
        notify(session, manager_id, org_id,
               f"Quote {version.quote.number} v{version.version} accepted",
               f"{signatory} accepted the quote with purchase order {purchase_order}; "
               f"order {order.number} was created.", quote_link(version))
    return order
