"""What pages and commands ask of usage and offers: the evaluation of every organisation's
offers (`offers evaluate`), and an organisation's usage page, a fixed number of queries
whatever the data size."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session, contains_eager

from accounts.estate.models import Service, Site
from portal.catalog.store import current_catalog
from portal.usage.models import Offer, UsageRecord
from portal.usage.notices import OFFER_ROLES, Audience
from portal.usage.offers import expire_stale, open_offers
from portal.usage.recommendations import evaluate_recommendations
from portal.usage.rules import current_rules
from portal.usage.upgrades import evaluate_upgrades

PERIODS_SHOWN = 6
PAGE_SIZE = 50
OFFERS_SHOWN = 50


@dataclass
class Evaluation:
    """What one evaluation did."""

    recommendations: int = 0
    upgrades: int = 0
    expired: int = 0
    catalog: bool = True

    def summary(self) -> str:
        """One sentence for a terminal."""
        if not self.catalog:
            return "No catalog is loaded: no offer can be priced, nothing was done."
        return (f"{self.recommendations} plan recommendation"
                f"{'s' if self.recommendations != 1 else ''}, {self.upgrades} upgrade offer"
                f"{'s' if self.upgrades != 1 else ''} made; {self.expired} open offer"
                f"{'s' if self.expired != 1 else ''} expired.")


def evaluate_offers(session: Session, day: dt.date, actor_label: str) -> Evaluation:
    """Expire the open offers that no longer apply, then make the recommendations and the
    upgrade offers due on `day` for every organisation. Running it again the same day makes
    nothing new. The caller commits."""
    found = current_catalog(session)
    if found is None:
        return Evaluation(catalog=False)
    catalog = found[1]
    rules = current_rules(session)
    audience = Audience(session, OFFER_ROLES)
    done = Evaluation()
    done.expired = expire_stale(session, catalog, day, actor_label)
    session.flush()
    done.recommendations = len(evaluate_recommendations(session, rules, catalog, day, audience,
                                                        actor_label))
    done.upgrades = len(evaluate_upgrades(session, rules, catalog, day, audience, actor_label))
    return done


@dataclass
class UsagePage:
    """One page of an organisation's usage: the services (with their site) that have usage
    in the periods shown, newest period first, and each one's records by period."""

    periods: list[str]
    services: list[Service]
    records: dict[tuple[int, str], UsageRecord]
    total: int
    page: int
    offers: list[Offer] = field(default_factory=list)
    size: int = PAGE_SIZE

    @property
    def pages(self) -> int:
        """How many pages there are (at least one)."""
        return max((self.total + self.size - 1) // self.size, 1)


def usage_page(session: Session, organisation_id: int, page: int = 1) -> UsagePage:
    """The organisation's usage in its last PERIODS_SHOWN periods with data, PAGE_SIZE
    services a page by site, and its open offers (five queries)."""
    periods = list(session.scalars(
        select(UsageRecord.period).distinct()
        .where(UsageRecord.organisation_id == organisation_id)
        .order_by(UsageRecord.period.desc()).limit(PERIODS_SHOWN)))
    offers = open_offers(session, organisation_id, OFFERS_SHOWN)
    if not periods:
        return UsagePage([], [], {}, 0, 1, offers)
    with_usage = select(UsageRecord.service_id).where(
        UsageRecord.organisation_id == organisation_id, UsageRecord.period.in_(periods))
    total = session.scalar(select(func.count(distinct(UsageRecord.service_id))).where(
        UsageRecord.organisation_id == organisation_id, UsageRecord.period.in_(periods))) or 0
    services = list(session.scalars(
        select(Service).join(Site, Site.id == Service.site_id)
        .options(contains_eager(Service.site))
        .where(Service.id.in_(with_usage), Service.organisation_id == organisation_id)
        .order_by(Site.code, Service.offering_code, Service.id)
        .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)))
    records = {(r.service_id, r.period): r for r in session.scalars(
        select(UsageRecord).where(UsageRecord.service_id.in_([s.id for s in services]),
                                  UsageRecord.period.in_(periods)))} if services else {}
    return UsagePage(periods, services, records, total, page, offers)
