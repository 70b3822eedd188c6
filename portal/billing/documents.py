"""Bill PDFs: the consolidated bill of an organisation and period, and one source bill in
the same look. Summary first (total due, then subtotals), then every line grouped by site.
Rendered by WeasyPrint from `templates/pdf/bill.html` (inside an app context)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from flask import render_template
from sqlalchemy.orm import Session

from accounts.models import Organisation
from portal.billing import statements
from portal.billing.models import Bill
from portal.billing.statements import NO_SITE, ZERO, Statement
from portal.db import utcnow
from portal.pdf import render_pdf, safe_filename

BRAND = "Carrier Business"
KIND_LABELS = {"recurring": "Recurring", "one_off": "One-off", "usage": "Usage",
               "credit": "Credit", "adjustment": "Adjustment"}


class NoBills(LookupError):
    """There is no bill to put in the document (no bill in the period, or not the
    organisation's bill)."""


def money(value) -> str:
    """1234.5 -> `1,234.50`, -10 -> `-10.00` (amounts are already exact cents)."""
    return f"{Decimal(value).quantize(statements.CENT):,.2f}"


def signed(value) -> str:
    """A change: `+12.00`, `-3.50`, `0.00`."""
    value = Decimal(value)
    return ("+" if value > 0 else "") + money(value)


def quantity(value) -> str:
    """1.000 -> `1`, 2.500 -> `2.5`, 10 -> `10` (never `1E+1`)."""
    return f"{Decimal(value).normalize():f}"


@dataclass
class SiteLines:
    """The detail lines of one site (in one currency) and their sum before tax."""

    currency: str
    code: str
    name: str
    lines: list = field(default_factory=list)
    amount: Decimal = ZERO
    tax: Decimal = ZERO


def group_by_site(rows) -> list[SiteLines]:
    """Detail rows (in `statements.detail_query` order) cut into one group per currency
    and site."""
    groups: list[SiteLines] = []
    current_key = None
    for row in rows:
        key = (row.currency, row.site_id)
        if key != current_key:
            groups.append(SiteLines(row.currency, row.site_code or NO_SITE, row.site_name or ""))
            current_key = key
        group = groups[-1]
        group.lines.append(row)
        group.amount += row.amount
        group.tax += row.tax_amount
    return groups


def _render(session: Session, organisation: Organisation, statement: Statement,
            bill: Bill | None) -> bytes:
    if statement.empty:
        raise NoBills(f"no bill of {organisation.slug} for {statement.period}")
    rows = session.execute(statements.detail_query(
        organisation.id, statement.period, bill.id if bill else None))
    html = render_template(
        "pdf/bill.html", brand=BRAND, organisation=organisation, statement=statement,
        bill=bill, groups=group_by_site(rows), kind_labels=KIND_LABELS, money=money,
        signed=signed, quantity=quantity, generated_on=utcnow().date(), no_site=NO_SITE)
    return render_pdf(html)


def consolidated_pdf(session: Session, organisation: Organisation, period: str) -> bytes:
    """The consolidated bill of `organisation` for `period` (`YYYY-MM`) as a PDF: every bill
    of every billing account and source system. NoBills when the period has none;
    statements.InvalidPeriod for a malformed period."""
    statement = statements.consolidated(session, organisation.id, period)
    return _render(session, organisation, statement, None)


def consolidated_pdf_filename(organisation: Organisation, period: str) -> str:
    """`consolidated-bill-acme-2026-10.pdf`."""
    return safe_filename(f"consolidated-bill-{organisation.slug}-{period}.pdf",
                         default=f"consolidated-bill-{period}.pdf")


def bill_pdf(session: Session, organisation: Organisation, bill: Bill) -> bytes:
    """One source bill of `organisation` as a PDF, in the consolidated bill's look. NoBills
    when the bill is not the organisation's."""
    if bill.organisation_id != organisation.id:
        raise NoBills(f"bill {bill.id} is not a bill of {organisation.slug}")
    statement = statements.consolidated(session, organisation.id, bill.period,
                                        bill_id=bill.id, compare=False)
    return _render(session, organisation, statement, bill)


def bill_pdf_filename(bill: Bill) -> str:
    """`bill-mobile-bss-MB-2026-10-0001.pdf`: source system and bill number."""
    return safe_filename(f"bill-{bill.source_system}-{bill.bill_number}.pdf",
                         default=f"bill-{bill.id}.pdf")
