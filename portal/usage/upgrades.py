"""Upgrade offers: when an active service's minimum term ends within the rules' number of days
(`upgrade_days_before_end`), the next plan up of its family is offered, once per contract. The
next plan up is the cheapest offering of the same family with a higher list price per unit
(`recurring`) than the current one, sold today where the service's site is; a family without
one (the top plan) gets no offer."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from accounts.estate.models import Service
from portal.catalog.schema import Catalog, Offering
from portal.orders.changes import MODIFIABLE_FAMILIES, term_end
from portal.usage.alerts import service_name
from portal.usage.models import Offer, OfferKind, OfferRules
from portal.usage.notices import Audience
from portal.usage.offers import Proposal, make_offer, price_change, taken


def next_plan_up(catalog: Catalog, current: Offering, country: str,
                 day: dt.date) -> Offering | None:
    """The cheapest plan of `current`'s family priced above it, sold on `day` in `country`."""
    higher = [o for o in catalog.sold_on(day)
              if o.family == current.family and o.recurring > current.recurring
              and (not o.available_in or country in o.available_in)]
    return min(higher, key=lambda o: o.recurring) if higher else None


def evaluate_upgrades(session: Session, rules: OfferRules, catalog: Catalog, day: dt.date,
                      audience: Audience, actor_label: str,
                      organisation_ids=None) -> list[Offer]:
    """Offer upgrades to the active services whose contract ends within the rules' days of
    `day` (that day included), unless already offered for this contract end. Returns the
    offers made."""
    if not rules.upgrades_enabled:
        return []
    codes = [o.code for o in catalog.offerings.values() if o.family in MODIFIABLE_FAMILIES]
    stmt = select(Service).options(joinedload(Service.site)).where(
        Service.status == "active", Service.offering_code.in_(codes))
    if organisation_ids is not None:
        stmt = stmt.where(Service.organisation_id.in_(list(organisation_ids)))
    last_day = day + dt.timedelta(days=rules.upgrade_days_before_end)
    ending = [(s, term_end(s)) for s in session.scalars(stmt.order_by(Service.id))]
    ending = [(s, end) for s, end in ending if day <= end <= last_day]
    if not ending:
        return []
    open_now, made = taken(session, [s.id for s, _ in ending], OfferKind.UPGRADE)
    offers = []
    for service, end in ending:
        evidence = f"contract ends {end.isoformat()}"
        if service.id in open_now or (service.id, evidence) in made:
            continue
        current = catalog.offerings[service.offering_code]
        target = next_plan_up(catalog, current, service.site.country, day)
        preview = price_change(session, service, target, catalog, day) if target else None
        if preview is None:
            continue
        reason = (f"The contract of {service_name(service, catalog)} at {service.site.code} "
                  f"ends on {end:%d %b %Y}. Move up to {target.name} now.")
        offers.append(make_offer(session, Proposal(service, OfferKind.UPGRADE, target, preview,
                                                   reason, evidence, valid_until=end),
                                 audience, actor_label))
    return offers
