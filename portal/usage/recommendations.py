"""Plan recommendations: a service over its allowance in at least `min_periods_exceeded` of
the last `lookback_periods` months (the rules) is offered the cheapest plan of its family
whose allowance fits the most it used per unit in those months, sold today where its site
is. The price and the monthly difference come from the pricing engine (the same preview as
a "modify" change). No plan fits: no offer."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from accounts.estate.models import Service
from portal.catalog.schema import Catalog, Offering
from portal.usage.alerts import service_name
from portal.usage.measures import amount_text, in_gb, unit_name, window
from portal.usage.models import Offer, OfferKind, OfferRules, UsageRecord
from portal.usage.notices import Audience
from portal.usage.offers import Proposal, make_offer, price_change, taken


def evaluate_recommendations(session: Session, rules: OfferRules, catalog: Catalog,
                             day: dt.date, audience: Audience, actor_label: str,
                             service_ids: Iterable[int] | None = None) -> list[Offer]:
    """Recommend plans to the active services (those of `service_ids`, or every service with
    usage) that qualify and have neither an open recommendation nor one made for the same
    evidence. Returns the offers made."""
    if not rules.recommendations_enabled:
        return []
    newest_stmt = select(UsageRecord.service_id, func.max(UsageRecord.period)) \
        .group_by(UsageRecord.service_id)
    if service_ids is not None:
        newest_stmt = newest_stmt.where(UsageRecord.service_id.in_(list(service_ids)))
    newest = dict(session.execute(newest_stmt).all())
    if not newest:
        return []
    first = min(window(period, rules.lookback_periods)[0] for period in newest.values())
    records: dict[int, list[UsageRecord]] = defaultdict(list)
    for record in session.scalars(select(UsageRecord).where(
            UsageRecord.service_id.in_(list(newest)), UsageRecord.period >= first)):
        records[record.service_id].append(record)
    services = session.scalars(select(Service).options(joinedload(Service.site)).where(
        Service.id.in_(list(newest)), Service.status == "active")).all()
    open_now, made = taken(session, newest, OfferKind.RECOMMENDATION)
    offers = []
    for service in sorted(services, key=lambda s: s.id):
        periods = window(newest[service.id], rules.lookback_periods)
        recent = [r for r in records[service.id] if r.period in periods]
        over = sorted(r.period for r in recent
                      if r.allowance is not None and r.used > r.allowance)
        if len(over) < rules.min_periods_exceeded or service.id in open_now:
            continue
        evidence = f"over the allowance in {', '.join(over)}"
        if (service.id, evidence) in made:
            continue
        proposal = _proposal(session, service, recent, over, periods, catalog, day, evidence)
        if proposal is not None:
            offers.append(make_offer(session, proposal, audience, actor_label))
    return offers


def _proposal(session: Session, service: Service, recent: list[UsageRecord], over: list[str],
              periods: list[str], catalog: Catalog, day: dt.date,
              evidence: str) -> Proposal | None:
    current = catalog.offerings.get(service.offering_code)
    if current is None or service.quantity < 1:
        return None
    # The most data one unit (one SIM) used in a month of the window, in GB.
    peak = max(in_gb(r.used, r.unit) for r in recent) / service.quantity
    priced = []
    for target in fitting_plans(catalog, current, service.site.country, peak, day):
        preview = price_change(session, service, target, catalog, day)
        if preview is not None:
            priced.append((preview.mrc_after, len(priced), target, preview))
    if not priced:
        return None
    _, _, target, preview = min(priced)
    per = unit_name(current.family)
    reason = (f"{service_name(service, catalog)} at {service.site.code} went over its data "
              f"allowance in {len(over)} of the last {len(periods)} months ({', '.join(over)}), "
              f"using up to {amount_text(peak.quantize(Decimal('0.01')))} GB per {per}. "
              + (f"{target.name} has unlimited data." if target.allowance.unlimited
                 else f"{target.name} includes {target.allowance} per {per} a month."))
    return Proposal(service, OfferKind.RECOMMENDATION, target, preview, reason, evidence)


def fitting_plans(catalog: Catalog, current: Offering, country: str, peak_gb: Decimal,
                  day: dt.date) -> list[Offering]:
    """The other plans of `current`'s family, sold on `day` in `country`, whose allowance
    per unit covers `peak_gb` (unlimited covers anything), in catalog order."""
    return [o for o in catalog.sold_on(day)
            if o.family == current.family and o.code != current.code
            and o.allowance is not None
            and (not o.available_in or country in o.available_in)
            and (o.allowance.unlimited or in_gb(o.allowance.amount, o.allowance.unit) >= peak_gb)]
