"""Bill-shock alerts: a service that used a threshold's share of its allowance (80 %, 100 %:
the rules say which) is reported to its organisation's admins, buyers and finance users, once
per service, period and threshold. Only a service's newest period alerts: a file of past
months is history, not news."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from accounts.estate.models import Service
from portal import audit
from portal.catalog.schema import Catalog
from portal.usage.measures import amount_text, percent_of, percent_text
from portal.usage.models import OfferRules, UsageAlert, UsageRecord
from portal.usage.notices import Audience

USAGE_LINK = "/usage"


def service_name(service: Service, catalog: Catalog | None) -> str:
    """The offering's name (else the service's description), for messages."""
    offering = catalog.offerings.get(service.offering_code) if catalog else None
    return offering.name if offering else (service.description or service.offering_code)


def raise_alerts(session: Session, records: list[UsageRecord], rules: OfferRules,
                 catalog: Catalog | None, audience: Audience, actor_label: str) -> int:
    """Alert about the thresholds `records` crossed that were not alerted yet; returns how
    many services were reported. A record crossing several thresholds at once is reported
    once, naming the highest (each threshold is still marked as alerted)."""
    if not rules.alerts_enabled or not records:
        return 0
    ids = {record.service_id for record in records}
    newest = dict(session.execute(
        select(UsageRecord.service_id, func.max(UsageRecord.period))
        .where(UsageRecord.service_id.in_(ids)).group_by(UsageRecord.service_id)).all())
    done = {tuple(row) for row in session.execute(
        select(UsageAlert.service_id, UsageAlert.period, UsageAlert.threshold)
        .where(UsageAlert.service_id.in_(ids)))}
    audience.load({record.organisation_id for record in records})
    reported = 0
    for record in records:
        if record.period != newest.get(record.service_id) or record.share is None:
            continue
        crossed = [t for t in rules.thresholds if record.used >= t * record.allowance
                   and (record.service_id, record.period, t) not in done]
        if not crossed:
            continue
        for threshold in crossed:
            session.add(UsageAlert(organisation_id=record.organisation_id,
                                   service_id=record.service_id, period=record.period,
                                   threshold=threshold, used=record.used,
                                   allowance=record.allowance, unit=record.unit))
            done.add((record.service_id, record.period, threshold))
        _tell(session, record, crossed[-1], catalog, audience, actor_label)
        reported += 1
    return reported


def _tell(session: Session, record: UsageRecord, threshold, catalog: Catalog | None,
          audience: Audience, actor_label: str) -> None:
    service = record.service
    name = service_name(service, catalog)
    share = percent_of(record.share)
    subject = f"{percent_text(threshold)} % of the data allowance used: {name} at " \
              f"{service.site.code}"
    body = (f"In {record.period}, {name} at site {service.site.code} used "
            f"{amount_text(record.used)} {record.unit} of its monthly allowance of "
            f"{amount_text(record.allowance)} {record.unit} ({share} %). Data beyond the "
            "allowance can be charged on top of the plan. Your usage page shows every service "
            "and month, and any plan that would fit better.")
    audience.tell(record.organisation_id, subject, body, USAGE_LINK)
    audit.record(session, "usage:alert", organisation_id=record.organisation_id,
                 target=service, actor_label=actor_label,
                 after={"period": record.period, "threshold": str(threshold),
                        "used": str(record.used), "allowance": str(record.allowance),
                        "unit": record.unit})
