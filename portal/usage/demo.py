"""Demo usage for the demo customer acme: three months of data for a few mobile services, so
that the demo shows a bill-shock alert, a plan recommendation and a service with unlimited
data. Goes through the real import (alerts, recommendations, notifications)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from accounts.estate.models import Service
from accounts.models import Organisation
from portal.db import utcnow
from portal.usage.imports import ImportResult, import_usage
from portal.usage.measures import period_of, shift
from portal.usage.models import UsageRecord

DEMO_ACTOR = "demo"
# Per SIM and month, oldest first: (offering, GB used in the last three months).
SCENARIOS = [
    ("MOB-20GB", ("22.4", "19.1", "24.8")),  # over twice: MOB-UNL is recommended; 100 % alert
    ("MOB-20GB", ("12.0", "14.5", "17.2")),  # 86 % last month: an 80 % alert
    ("MOB-UNL", ("31.5", "28.0", "35.2")),  # unlimited: shown, never alerted
]
ALLOWANCE_GB = {"MOB-20GB": Decimal("20"), "MOB-UNL": None}


def load_demo_usage(session: Session) -> ImportResult | None:
    """Add the demo usage to acme's first active mobile services (and alert and recommend as
    an import does), unless acme has usage already. None when there is nothing to do."""
    acme = session.scalars(select(Organisation).where(Organisation.slug == "acme")).first()
    if acme is None or session.scalar(select(func.count()).select_from(UsageRecord).where(
            UsageRecord.organisation_id == acme.id)):
        return None
    services = session.scalars(select(Service).where(
        Service.organisation_id == acme.id, Service.status == "active",
        Service.offering_code.in_(list(ALLOWANCE_GB))).order_by(Service.id)).all()
    last = shift(period_of(utcnow().date()), -1)
    rows = ["source_system,service_ref,period,used,allowance,unit"]
    taken: set[int] = set()
    for code, per_sim in SCENARIOS:
        service = next((s for s in services if s.offering_code == code and s.id not in taken),
                       None)
        if service is None:
            continue
        taken.add(service.id)
        allowance = ALLOWANCE_GB[code]
        for back, used in zip((2, 1, 0), per_sim, strict=True):
            total = Decimal(used) * service.quantity
            given = "unlimited" if allowance is None else f"{allowance * service.quantity}"
            rows.append(f"{service.source_system},{service.source_ref},{shift(last, -back)},"
                        f"{total},{given},GB")
    if len(rows) == 1:
        return None
    return import_usage(session, ("\n".join(rows) + "\n").encode(), DEMO_ACTOR,
                        filename="demo-usage.csv")
