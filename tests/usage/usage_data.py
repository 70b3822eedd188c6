"""Usage tests' world: the quoting customer (support.quoting) with a catalog of metered mobile
plans and fibre lines, services in its inventory, usage files, and the e-mail outbox."""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from accounts.estate.models import Service
from portal.catalog.store import load_version
from portal.db import utcnow
from portal.extensions import db
from portal.notifications.models import Notification
from portal.usage.imports import import_usage
from portal.usage.measures import period_of, shift
from portal.usage.models import Offer

# Prices per unit and month; terms {12: 0 %, 24: 5 %}. MOB-40GB-FR is cheaper than MOB-20GB
# but sold in France only; MOB-OLD is no longer sold.
CATALOG = """
currency: EUR
approval: {auto_max: "0.05", account_manager_max: "0.15", sales_director_max: "0.30"}
tax_rates: {DE: "0.19", FR: "0.20"}
x-terms: &terms {12: "0", 24: "0.05"}
offerings:
  - {code: MOB-5GB, name: Mobile 5 GB, family: mobile, fulfilment: mobile-bss,
     recurring: "9.00", one_off: "10.00", terms: *terms, available_in: [DE, FR],
     allowance: {amount: "5", unit: GB}}
  - {code: MOB-20GB, name: Mobile 20 GB, family: mobile, fulfilment: mobile-bss,
     recurring: "15.00", one_off: "10.00", terms: *terms, available_in: [DE, FR],
     allowance: {amount: "20", unit: GB}}
  - {code: MOB-40GB-FR, name: Mobile 40 GB France, family: mobile, fulfilment: mobile-bss,
     recurring: "12.00", one_off: "10.00", terms: *terms, available_in: [FR],
     allowance: {amount: "40", unit: GB}}
  - {code: MOB-OLD, name: Mobile 30 GB (old), family: mobile, fulfilment: mobile-bss,
     recurring: "7.00", one_off: "0.00", terms: *terms, valid_to: 2020-12-31,
     allowance: {amount: "30", unit: GB}}
  - {code: MOB-UNL, name: Mobile Unlimited, family: mobile, fulfilment: mobile-bss,
     recurring: "25.00", one_off: "10.00", terms: *terms, available_in: [DE, FR],
     volume_tiers: [{min: 1, discount: "0"}, {min: 50, discount: "0.10"}],
     allowance: unlimited}
  - {code: FIBRE-100, name: Fibre 100, family: broadband, fulfilment: fixed-bss,
     recurring: "30.00", one_off: "99.00", terms: {24: "0"}}
  - {code: FIBRE-500, name: Fibre 500, family: broadband, fulfilment: fixed-bss,
     recurring: "50.00", one_off: "99.00", terms: {24: "0"}}
  - {code: FIBRE-1G, name: Fibre 1G, family: broadband, fulfilment: fixed-bss,
     recurring: "80.00", one_off: "99.00", terms: {24: "0"}}
"""
HEADER = "source_system,service_ref,period,used,allowance,unit"


def today():
    """The portal's today (UTC)."""
    return utcnow().date()


def periods(count: int = 3) -> list[str]:
    """The last `count` complete months, oldest first."""
    last = shift(period_of(today()), -1)
    return [shift(last, -n) for n in range(count - 1, -1, -1)]


@dataclass
class UsageWorld:
    """The quoting customer (`q`), its finance user, and the catalog above in force."""

    q: object
    finance: int


def setup_usage_world(app, factory, quoting) -> UsageWorld:
    """Load the catalog above over the quoting customer's and add a finance user."""
    with app.app_context():
        load_version(db.session, CATALOG, "usage.yaml", "test")
        db.session.commit()
    finance = factory.user(quoting.org, "finance", email="fay@acme.test")
    return UsageWorld(quoting, finance)


def add_service(app, q, code="MOB-5GB", site="DE-001", quantity=10, term=24, charge=None,
                start=None, status="active", ref=None, org=None) -> int:
    """A service of the customer (as a legacy system knows it); its monthly charge is the
    engine's price by default (10 x 9.00 - 5 % = 85.50 for the defaults)."""
    if charge is None:
        charge = {"MOB-5GB": "85.50", "MOB-20GB": "142.50", "MOB-UNL": "237.50",
                  "FIBRE-100": "30.00", "FIBRE-500": "50.00", "FIBRE-1G": "80.00"}.get(
            code, "0.00")
    with app.app_context():
        service = Service(organisation_id=org or q.org, site_id=q.sites[site],
                          billing_account_id=q.account, offering_code=code, description=code,
                          quantity=quantity, status=status,
                          start_date=start or today().replace(day=1), term_months=term,
                          monthly_charge=Decimal(charge), source_system="mobile-bss",
                          source_ref=ref or f"M-{code}-{site}-{quantity}")
        db.session.add(service)
        db.session.commit()
        return service.id


def usage_csv(*rows) -> bytes:
    """A usage file: rows of (service_ref, period, used[, allowance[, unit]])."""
    lines = [HEADER]
    for row in rows:
        ref, period, used, allowance, unit = [*row, *["", "GB"][len(row) - 3:]]
        lines.append(f"mobile-bss,{ref},{period},{used},{allowance},{unit}")
    return ("\n".join(lines) + "\n").encode()


def run_import(app, data: bytes, day=None):
    """Import `data` through the service and commit; the result."""
    with app.app_context():
        result = import_usage(db.session, data, "test", "usage.csv", day=day)
        db.session.commit()
        return result


def ref_of(app, service_id: int) -> str:
    """The service's reference in its source system."""
    with app.app_context():
        return db.session.get(Service, service_id).source_ref


def notifications(app, user_id: int | None = None) -> list[Notification]:
    """Notifications (of one user), oldest first."""
    with app.app_context():
        stmt = select(Notification).order_by(Notification.id)
        if user_id is not None:
            stmt = stmt.where(Notification.user_id == user_id)
        found = list(db.session.scalars(stmt))
        db.session.expunge_all()  # detached but loaded: the context's end expires nothing
        return found


def outbox(app) -> list[email.message.EmailMessage]:
    """The e-mails the file outbox holds."""
    folder = Path(app.instance_path) / "mail"
    return [email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            for path in sorted(folder.glob("*.eml"))] if folder.exists() else []


def offers(app) -> list[Offer]:
    """Every offer, oldest first, detached so a test can read them after the context."""
    with app.app_context():
        found = list(db.session.scalars(select(Offer).order_by(Offer.id)))
        db.session.expunge_all()
        return found
