"""Offers made to customers: writing one (with its notification and audit event), the open
ones of an organisation, accepting one (a change order placed with the engine's price of
today) or dismissing it, and retiring those that no longer apply."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session, joinedload

from accounts.estate.models import Service
from portal import audit
from portal.catalog.schema import Catalog, Offering
from portal.db import utcnow
from portal.orders.changes import ChangePreview, place_change, preview_change
from portal.orders.models import Order
from portal.rules import RuleError
from portal.usage.models import Offer, OfferKind, OfferStatus
from portal.usage.notices import Audience

DASHBOARD_LINK = "/dashboard"


class OfferError(RuleError):
    """An offer that cannot be accepted or dismissed (the message says why); nothing
    changed."""


@dataclass
class Proposal:
    """An offer to make: the plan, the engine's preview of the change, why, and the
    evidence it rests on."""

    service: Service
    kind: str
    target: Offering
    preview: ChangePreview
    reason: str
    evidence: str
    valid_until: dt.date | None = None


def taken(session: Session, service_ids, kind: str) -> tuple[set[int], set[tuple[int, str]]]:
    """For these services: those with an open offer of `kind`, and every (service, evidence)
    an offer of `kind` was ever made for (one query)."""
    rows = session.execute(select(Offer.service_id, Offer.evidence, Offer.status).where(
        Offer.service_id.in_(list(service_ids)), Offer.kind == kind)).all()
    return ({r.service_id for r in rows if r.status == OfferStatus.OPEN},
            {(r.service_id, r.evidence) for r in rows})


def price_change(session: Session, service: Service, target: Offering, catalog: Catalog,
                 day: dt.date) -> ChangePreview | None:
    """The engine's preview of changing `service` to `target` today; None when that change
    is not possible now (not sold there, another change still open, ...)."""
    try:
        return preview_change(session, service.organisation_id, service.id, "modify", catalog,
                              day, offering_code=target.code)
    except RuleError:
        return None


def make_offer(session: Session, proposal: Proposal, audience: Audience,
               actor_label: str) -> Offer:
    """Write an open offer, tell the organisation's admins and buyers, audit it."""
    service, preview = proposal.service, proposal.preview
    offer = Offer(organisation_id=service.organisation_id, service_id=service.id,
                  kind=proposal.kind, evidence=proposal.evidence[:200],
                  from_offering_code=service.offering_code,
                  offering_code=proposal.target.code, offering_name=proposal.target.name,
                  mrc_before=preview.mrc_before, mrc_after=preview.mrc_after,
                  monthly_difference=preview.mrc_change, currency=preview.currency,
                  reason=proposal.reason, valid_until=proposal.valid_until,
                  status=OfferStatus.OPEN)
    session.add(offer)
    session.flush()
    change = f"{preview.mrc_change:+} {preview.currency}"
    what = "A better-fitting plan" if proposal.kind == OfferKind.RECOMMENDATION \
        else "An upgrade"
    audience.tell(service.organisation_id,
                  f"{what} for {service.site.code}: {proposal.target.name}",
                  f"{proposal.reason} The monthly charge would change by {change} (from "
                  f"{preview.mrc_before} to {preview.mrc_after} {preview.currency}). Accept "
                  "or dismiss the offer on your dashboard.", DASHBOARD_LINK)
    audit.record(session, "offer:create", organisation_id=service.organisation_id,
                 target=offer, actor_label=actor_label,
                 after={"service_id": service.id, "kind": offer.kind,
                        "from": offer.from_offering_code, "to": offer.offering_code,
                        "monthly_difference": str(offer.monthly_difference),
                        "evidence": offer.evidence})
    return offer


def open_offers(session: Session, organisation_id: int, limit: int) -> list[Offer]:
    """The organisation's open offers, newest first, with their service and site (one
    query)."""
    return list(session.scalars(
        select(Offer).options(joinedload(Offer.service).joinedload(Service.site))
        .where(Offer.organisation_id == organisation_id, Offer.status == OfferStatus.OPEN)
        .order_by(Offer.created_at.desc(), Offer.id.desc()).limit(limit)))


def _decide(session: Session, offer: Offer, status: str, user_id: int | None,
            order_id: int | None = None) -> None:
    # Only an offer still open moves; a second accept racing the first finds it decided.
    moved = session.execute(
        update(Offer).where(Offer.id == offer.id, Offer.status == OfferStatus.OPEN)
        .values(status=status, decided_at=utcnow(), decided_by_id=user_id, order_id=order_id)
        .execution_options(synchronize_session=False)).rowcount
    if moved != 1:
        session.refresh(offer)
        raise OfferError(f"This offer is already {offer.status}.")
    session.refresh(offer)


def accept_offer(session: Session, offer: Offer, user_id: int | None, catalog: Catalog,
                 day: dt.date) -> Order:
    """Place the change order of an open offer, priced again now (the price of the day
    counts, not the one when the offer was made); the offer becomes accepted with the order.
    OfferError (and the offer stays open) when the change is no longer possible."""
    if offer.status != OfferStatus.OPEN:
        raise OfferError(f"This offer is already {offer.status}.")
    try:
        preview = preview_change(session, offer.organisation_id, offer.service_id, "modify",
                                 catalog, day, offering_code=offer.offering_code)
    except RuleError as exc:
        raise OfferError(f"This offer cannot be accepted now: {exc} The offer stays open."
                         ) from None
    order = place_change(session, offer.organisation_id, user_id, preview)
    _decide(session, offer, OfferStatus.ACCEPTED, user_id, order.id)
    audit.record(session, "offer:accept", organisation_id=offer.organisation_id, target=offer,
                 before={"status": OfferStatus.OPEN},
                 after={"status": offer.status, "order": order.number,
                        "to": offer.offering_code,
                        "monthly_difference": str(preview.mrc_change)})
    return order


def dismiss_offer(session: Session, offer: Offer, user_id: int | None) -> None:
    """Dismiss an open offer: it does not come back for the same evidence."""
    if offer.status != OfferStatus.OPEN:
        raise OfferError(f"This offer is already {offer.status}.")
    _decide(session, offer, OfferStatus.DISMISSED, user_id)
    audit.record(session, "offer:dismiss", organisation_id=offer.organisation_id, target=offer,
                 before={"status": OfferStatus.OPEN}, after={"status": offer.status})


def expire_stale(session: Session, catalog: Catalog, day: dt.date, actor_label: str,
                 organisation_ids=None) -> int:
    """Expire the open offers that no longer apply: the service changed plan or was ceased,
    the plan offered is no longer sold, or an upgrade's contract has ended. Returns how
    many."""
    stmt = select(Offer).options(joinedload(Offer.service)).where(
        Offer.status == OfferStatus.OPEN)
    if organisation_ids is not None:
        stmt = stmt.where(Offer.organisation_id.in_(list(organisation_ids)))
    expired = 0
    for offer in session.scalars(stmt):
        why = _stale(offer, catalog, day)
        if why is None:
            continue
        offer.status = OfferStatus.EXPIRED
        offer.decided_at = utcnow()
        audit.record(session, "offer:expire", organisation_id=offer.organisation_id,
                     target=offer, actor_label=actor_label, reason=why,
                     before={"status": OfferStatus.OPEN}, after={"status": offer.status})
        expired += 1
    return expired


def _stale(offer: Offer, catalog: Catalog, day: dt.date) -> str | None:
    service = offer.service
    if service.status == "ceased":
        return "the service was ceased"
    if service.offering_code != offer.from_offering_code:
        return f"the service changed to {service.offering_code}"
    target = catalog.offerings.get(offer.offering_code)
    if target is None or not target.is_sold_on(day):
        return f"{offer.offering_code} is no longer sold"
    if offer.valid_until is not None and day > offer.valid_until:
        return f"the contract ended on {offer.valid_until}"
    return None
