"""Bills for tests: source bills written through the models (one at a time, totals taken
from their lines unless given), lines in bulk (one set-based INSERT, for the query-count
tests and the million-line benchmark), and a ready-made world of two periods."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from accounts.estate.models import BillingAccount, Site
from portal.billing.models import Bill, BillLine

_numbers = itertools.count(1)


def line(amount: str, tax: str = "0.00", kind: str = "recurring", **extra) -> dict:
    """The columns of one bill line (amounts as strings of exact decimals)."""
    return {"kind": kind, "description": extra.pop("description", f"{kind} charge"),
            "amount": Decimal(amount), "tax_amount": Decimal(tax), **extra}


def add_account(session: Session, org_id: int, number: str, cost_centre: str = "",
                currency: str = "EUR", country: str = "DE") -> int:
    """A billing account of the organisation; returns its id."""
    account = BillingAccount(organisation_id=org_id, number=number, name=f"Account {number}",
                             country=country, currency=currency, cost_centre=cost_centre)
    session.add(account)
    session.flush()
    return account.id


def add_sites(session: Session, org_id: int, count: int, prefix: str = "S") -> list[int]:
    """`count` sites coded PREFIX-001...; returns their ids in code order."""
    sites = [Site(organisation_id=org_id, code=f"{prefix}-{n:03d}", name=f"Office {prefix}{n}",
                  address=f"{n} Main Street", postcode="10115", city="Berlin", country="DE")
             for n in range(1, count + 1)]
    session.add_all(sites)
    session.flush()
    return [s.id for s in sites]


def add_bill(session: Session, org_id: int, account_id: int | None, lines: list[dict],
             period: str = "2026-10", system: str = "mobile-bss", number: str | None = None,
             currency: str = "EUR", tax: str | None = None) -> int:
    """A source bill with `lines`; its totals are the sums of the lines, except its tax when
    `tax` is given (a billing system may round tax on the bill, not per line)."""
    year, month = int(period[:4]), int(period[5:7])
    start = dt.date(year, month, 1)
    end = (start + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    excl = sum((ln["amount"] for ln in lines), Decimal("0.00"))
    tax_amount = Decimal(tax) if tax is not None else sum(
        (ln["tax_amount"] for ln in lines), Decimal("0.00"))
    bill = Bill(organisation_id=org_id, billing_account_id=account_id, source_system=system,
                bill_number=number or f"{system[:2].upper()}-{period}-{next(_numbers):05d}",
                period=period, period_start=start, period_end=end,
                bill_date=end + dt.timedelta(days=3), due_date=end + dt.timedelta(days=33),
                currency=currency, amount_excl_tax=excl, tax_amount=tax_amount,
                amount_incl_tax=excl + tax_amount, source_format="csv", imported_by="test")
    for position, values in enumerate(lines, start=1):
        bill.lines.append(BillLine(position=position, **values))
    session.add(bill)
    session.flush()
    return bill.id


def bulk_amount_cents(i: int) -> tuple[int, int]:
    """The amount and tax, in cents, of the i-th bulk line (from 1): 1.00 to 3.45 with
    20 % tax, multiples of 5 cents so the tax is whole cents."""
    amount = 100 + (i % 50) * 5
    return amount, amount // 5


def add_bulk_lines(session: Session, bill_id: int, count: int, site_ids: list[int],
                   families=("mobile", "broadband")) -> tuple[Decimal, Decimal]:
    """`count` lines on bill `bill_id`, spread over `site_ids` (contiguous ids) and
    `families`, written by one INSERT ... SELECT; the bill's totals are set to their sums.
    Returns (amount before tax, tax)."""
    first = min(site_ids)
    assert sorted(site_ids) == list(range(first, first + len(site_ids))), "contiguous ids"
    start = session.scalar(select(func.coalesce(func.max(BillLine.position), 0))
                           .where(BillLine.bill_id == bill_id))
    if session.get_bind().dialect.name == "postgresql":
        numbers = "SELECT generate_series(1, :count) AS i"
    else:
        numbers = ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
                   "WHERE i < :count) SELECT i FROM n")
    family = "CASE WHEN i % 2 = 0 THEN :f0 ELSE :f1 END"
    session.execute(text(
        "INSERT INTO bill_lines (bill_id, position, kind, description, site_id, service_ref, "
        "offering_code, product_family, cost_centre, quantity, amount, tax_rate, tax_amount) "
        f"SELECT :bill, :start + i, 'usage', 'Usage line ' || CAST(i AS VARCHAR(12)), "
        f":first + (i % :sites), '', 'USE-' || CAST(i % 7 AS VARCHAR(2)), {family}, '', 1, "
        "(100 + (i % 50) * 5) * 0.01, 0.2, (20 + (i % 50)) * 0.01 "
        f"FROM ({numbers}) AS numbers"),
        {"bill": bill_id, "start": start, "first": first, "sites": len(site_ids),
         "count": count, "f0": families[0], "f1": families[-1]})
    # Summed without a list, to keep the benchmark's memory for the export itself; every
    # line's tax is exactly a fifth of its amount in cents.
    cents = sum(bulk_amount_cents(i)[0] for i in range(1, count + 1))
    excl, tax = Decimal(cents) / 100, Decimal(cents // 5) / 100
    bill = session.get(Bill, bill_id)
    bill.amount_excl_tax += excl
    bill.tax_amount += tax
    bill.amount_incl_tax += excl + tax
    session.flush()
    return excl, tax


def bills_world(session: Session, org_id: int) -> dict:
    """Two billing accounts (one with cost centre CC-DE), three sites, and bills of two
    source systems in 2026-09 and 2026-10, with a credit and an adjustment in 2026-10.
    Returns ids and the expected figures of 2026-10 (see the numbers below)."""
    de = add_account(session, org_id, "ACME-DE-01", cost_centre="CC-DE")
    fr = add_account(session, org_id, "ACME-FR-01")
    s1, s2, s3 = add_sites(session, org_id, 3, prefix="ACM")
    sept_mobile = add_bill(session, org_id, de, [
        line("100.00", "19.00", site_id=s1, product_family="mobile", offering_code="MOB-UNL"),
        line("50.00", "9.50", site_id=s2, product_family="mobile", offering_code="MOB-UNL"),
    ], period="2026-09", system="mobile-bss", number="MB-2026-09")
    sept_fixed = add_bill(session, org_id, fr, [
        line("89.00", "17.80", site_id=s3, product_family="broadband",
             offering_code="BB-FIBRE-1G", cost_centre="CC-FR"),
    ], period="2026-09", system="fixed-bss", number="FX-2026-09")
    oct_mobile = add_bill(session, org_id, de, [
        line("100.00", "19.00", site_id=s1, product_family="mobile", offering_code="MOB-UNL"),
        line("75.00", "14.25", site_id=s2, product_family="mobile", offering_code="MOB-UNL"),
        line("12.34", "2.34", kind="usage", product_family="mobile",
             description="Roaming usage"),
        line("-20.00", "-3.80", kind="credit", site_id=s2, product_family="mobile",
             description="Goodwill credit"),
    ], period="2026-10", system="mobile-bss", number="MB-2026-10")
    oct_fixed = add_bill(session, org_id, fr, [
        line("89.00", "17.80", site_id=s3, product_family="broadband",
             offering_code="BB-FIBRE-1G", cost_centre="CC-FR"),
        line("100.00", "20.00", kind="one_off", site_id=s3, product_family="broadband",
             offering_code="BB-FIBRE-1G", cost_centre="CC-FR",
             description="Router installation"),
        line("-5.01", "-1.00", kind="adjustment", site_id=s3, product_family="broadband",
             cost_centre="CC-FR", description="Price correction"),
    ], period="2026-10", system="fixed-bss", number="FX-2026-10", tax="36.81")
    session.flush()
    return {
        "accounts": {"de": de, "fr": fr}, "sites": [s1, s2, s3],
        "bills": {"sept_mobile": sept_mobile, "sept_fixed": sept_fixed,
                  "oct_mobile": oct_mobile, "oct_fixed": oct_fixed},
        # 2026-10: mobile 167.34 + tax 31.79 = 199.13; fixed 183.99 + 36.81 (the bill's own
        # tax, one cent more than its lines' 36.80) = 220.80.
        "oct": {"excl": Decimal("351.33"), "tax": Decimal("68.60"), "incl": Decimal("419.93")},
        # 2026-09: 150.00 + 28.50 and 89.00 + 17.80.
        "sept": {"excl": Decimal("239.00"), "tax": Decimal("46.30"),
                 "incl": Decimal("285.30")},
    }
