"""Acceptance: the customer takes up an approved promise, and an order is made from it."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy.orm import Session

from accounts.models import User
from portal import audit
from portal.db import utcnow
from portal.notifications.services import notify
from portal.orders.models import Order
from portal.orders.services import ItemSpec, place_order
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
    acceptance and places the order (its outbox messages go in the same transaction).
    Refused, with the reason, in every other case."""
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
    flush_version(session)
    order = place_order(session, org_id, [
        ItemSpec(action="add", offering_code=line.offering_code,
                 offering_name=line.offering_name, fulfilment=line.fulfilment,
                 site_id=line.site_id, quantity=line.quantity, term_months=line.term_months,
                 mrc=line.mrc, nrc=line.nrc, mrc_change=line.mrc,
                 promotion_code=line.promotion_code)
        for line in version.lines],
        source="quote", user_id=user.id if user else None, quote_version_id=version.id,
        purchase_order=purchase_order, billing_account_id=version.billing_account_id,
        description=f"Quote {version.quote.number} v{version.version}"
                    + (f": {version.quote.title}" if version.quote.title else ""))
    audit.record(session, "quote:accept", organisation_id=org_id, target=version,
                 before={"state": QuoteState.APPROVED},
                 after={"state": version.state, "purchase_order": purchase_order,
                        "accepted_by": signatory, "content_hash": version.content_hash})
    for manager_id in assigned_managers(session, org_id):
        notify(session, manager_id, org_id,
               f"Quote {version.quote.number} v{version.version} accepted",
               f"{signatory} accepted the quote with purchase order {purchase_order}; "
               f"order {order.number} was created.", quote_link(version))
    return order
