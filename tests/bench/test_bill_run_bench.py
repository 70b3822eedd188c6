"""Bill run throughput (`make bench`; the figure that matters is on PostgreSQL): 100,000
services over 1,000 billing accounts in four countries, rated by `run_bills` (set-based SQL),
next to a baseline measured in the same run: the same rules applied one service at a time
in Python (tests/support/bill_reference.py) with the lines written through the ORM, over a
10,000-service sample. Prints services per second and the ratio; asserts only that both
give the same lines, never a time.

    PORTAL_TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/postgres \\
        make bench PYTEST_ARGS="-k bill_run"
"""

from __future__ import annotations

import datetime as dt
import random
import time
from decimal import Decimal
from pathlib import Path

from sqlalchemy import func, insert, select, text
from support.bill_reference import rate

from accounts.estate.models import BillingAccount, Service, Site
from portal.billing.models import Bill, BillLine
from portal.billing.run import run_bills
from portal.catalog.store import current_catalog, load_version
from portal.extensions import db

SERVICES = 100_000
ACCOUNTS = 1_000
SAMPLE = 10_000
COUNTRIES = ("DE", "FR", "GB", "NL")
CATALOG = Path(__file__).parents[2] / "portal" / "demo_data" / "catalog.yaml"
PERIOD = dt.date(2026, 9, 1)


def _estate(org: int) -> None:
    """1,000 billing accounts with a site each and 100 services per site: a mix of whole
    months, starts and ends inside the month, promotions and catalog-priced services."""
    rng = random.Random(7)
    db.session.execute(insert(BillingAccount), [
        dict(organisation_id=org, number=f"BA-{n:04d}", name=f"Account {n}",
             country=COUNTRIES[n % 4], currency="EUR") for n in range(ACCOUNTS)])
    accounts = db.session.scalars(select(BillingAccount.id).order_by(BillingAccount.id)).all()
    db.session.execute(insert(Site), [
        dict(organisation_id=org, code=f"S-{n:04d}", name=f"Site {n}", address="Street 1",
             postcode="1", city="City", country=COUNTRIES[n % 4], billing_account_id=account)
        for n, account in enumerate(accounts)])
    sites = db.session.scalars(select(Site.id).order_by(Site.id)).all()
    offerings = [("MOB-UNL", "SIX-FREE"), ("MOB-20GB", ""), ("BB-FIBRE-300", ""),
                 ("VOICE-SIP", ""), ("SDWAN-EDGE", "")]
    rows = []
    for n in range(SERVICES):
        code, promotion = offerings[n % len(offerings)]
        start = PERIOD + dt.timedelta(days=rng.randint(-400, 29))
        end = (PERIOD + dt.timedelta(days=rng.randint(0, 29))) if n % 17 == 0 else None
        rows.append(dict(organisation_id=org, site_id=sites[n % ACCOUNTS],
                         offering_code=code, quantity=rng.randint(1, 20),
                         status="ceased" if end else "active", start_date=start, end_date=end,
                         promotion_code=promotion if n % 3 == 0 else "",
                         monthly_charge=(Decimal(rng.randint(100, 20000)) / 100
                                         if n % 4 else None),
                         source_system="portal", source_ref=f"SVC-{n}"))
    for chunk in range(0, SERVICES, 10_000):
        db.session.execute(insert(Service), rows[chunk:chunk + 10_000])
    db.session.commit()
    if db.session.get_bind().dialect.name == "postgresql":
        # What autovacuum does to a table this size soon after it is filled.
        db.session.execute(text("ANALYZE"))
        db.session.commit()


def _row_by_row(catalog, services: list[Service]) -> float:
    """The baseline: rate each service in Python and add its lines through the ORM into a
    bill of their own; seconds taken (rolled back afterwards)."""
    started = time.perf_counter()
    bill = Bill(organisation_id=services[0].organisation_id, source_system="baseline",
                bill_number="BASELINE", period="2026-09", period_start=PERIOD,
                period_end=dt.date(2026, 9, 30), bill_date=dt.date(2026, 10, 1),
                currency="EUR", amount_excl_tax=0, tax_amount=0, amount_incl_tax=0,
                source_format="bill-run")
    db.session.add(bill)
    position = 0
    for service in services:
        rated = rate(service, catalog, PERIOD)
        if rated is None:
            continue
        for kind, amount in zip(("recurring", "one_off"), rated, strict=True):
            if kind == "recurring" or amount:
                position += 1
                bill.lines.append(BillLine(position=position, kind=kind, description=kind,
                                           service_id=service.id, amount=amount))
    db.session.flush()
    seconds = time.perf_counter() - started
    db.session.rollback()
    return seconds


def test_bill_run_throughput(app_ctx, factory, database_url):
    org = factory.org("acme")
    load_version(db.session, CATALOG.read_text(), "catalog.yaml", "bench")
    started = time.perf_counter()
    _estate(org)
    setup = time.perf_counter() - started

    started = time.perf_counter()
    result = run_bills(db.session, "2026-09")
    db.session.commit()
    seconds = time.perf_counter() - started

    catalog = current_catalog(db.session)[1]
    sample = db.session.scalars(select(Service).order_by(Service.id).limit(SAMPLE)).all()
    baseline = _row_by_row(catalog, sample)

    # Both ways give the same lines for the sample.
    ids = [s.id for s in sample]
    written = dict(db.session.execute(
        select(BillLine.service_id, func.sum(BillLine.amount))
        .where(BillLine.service_id.in_(ids)).group_by(BillLine.service_id)).all())
    expected = {}
    for service in sample:
        rated = rate(service, catalog, PERIOD)
        if rated is not None:
            expected[service.id] = rated[0] + rated[1]
    assert written == expected
    assert len(result.bills) == ACCOUNTS

    rate_set, rate_rows = result.services / seconds, SAMPLE / baseline
    print(f"\n{SERVICES:,} services, {ACCOUNTS:,} billing accounts, "
          f"{'PostgreSQL' if database_url.startswith('postgresql') else 'SQLite'} "
          f"(estate written in {setup:.1f} s)")
    print(f"{'way':<44}{'services':>10}{'seconds':>9}{'services/s':>12}")
    print(f"{'bill run (set-based SQL)':<44}{result.services:>10,}{seconds:>9.2f}"
          f"{rate_set:>12,.0f}")
    print(f"{'baseline: one at a time, Python + ORM':<44}{SAMPLE:>10,}{baseline:>9.2f}"
          f"{rate_rows:>12,.0f}")
    print(f"set-based / one at a time: {rate_set / rate_rows:.1f}x; "
          f"{result.lines:,} lines, {result.total_excl_tax} EUR before tax")
