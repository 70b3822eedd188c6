"""The consolidated bill as CSV, streamed: the lines are read from the database in batches
(`yield_per`, a server-side cursor on PostgreSQL) and written out in chunks, so a bill of a
million lines takes no more memory than one of a thousand.

Every row has a `record` column: `line` (a bill line), `rounding` (where a source bill's own
totals differ from the sum of its lines, as when a billing system rounds tax on the bill;
the difference, so the rows still add up), and one `total` row per currency at the end: the
sum of the source bills' own totals. Summing the `line` and `rounding` rows of a currency
gives its `total` row, to the cent. Columns are documented in docs/BILLS.md.
"""

from __future__ import annotations

import csv
import functools
import io
import operator
from collections.abc import Iterator
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from accounts.models import Organisation
from portal.billing import statements
from portal.billing.models import Bill, BillLine
from portal.billing.statements import cents_sum, money_from_cents, parse_period
from portal.pdf import safe_filename

COLUMNS = ("record", "period", "currency", "billing_account", "source_system", "bill_number",
           "site_code", "site_name", "kind", "description", "service_ref", "offering_code",
           "product_family", "cost_centre", "line_period_start", "line_period_end",
           "quantity", "amount_excl_tax", "tax_rate", "tax_amount", "amount_incl_tax")
BATCH = 1000  # rows fetched and written per chunk
_FORMULA_START = frozenset("=+-@\t\r")
# The detail query's columns each line row is made from, in the CSV's order.
_SOURCE = ("period", "currency", "account_number", "source_system", "bill_number",
           "site_code", "site_name", "kind", "description", "service_ref", "offering_code",
           "product_family", "cost_centre", "period_start", "period_end", "quantity", "amount",
           "tax_rate", "tax_amount")


def _text(value) -> str:
    # A text cell starting like a formula would run as one in a spreadsheet; a leading
    # apostrophe keeps it text (OWASP "CSV injection"). Amounts are never text cells.
    if not value:
        return ""
    return "'" + value if value[0] in _FORMULA_START else value


def _amount(value) -> str:
    return f"{Decimal(value):.2f}"


@functools.lru_cache(maxsize=256)
def _plain(value) -> str:
    # Quantities and tax rates take few distinct values: a million lines format a handful.
    return f"{Decimal(value).normalize():f}"


def _date(value) -> str:
    return value.isoformat() if value else ""


def csv_filename(organisation: Organisation, period: str) -> str:
    """`consolidated-bill-acme-2026-10.csv`."""
    return safe_filename(f"consolidated-bill-{organisation.slug}-{period}.csv",
                         default=f"consolidated-bill-{period}.csv")


def _line_row(values: tuple) -> tuple:
    (period, currency, account, system, number, site_code, site_name, kind, description,
     service_ref, offering, family, centre, start, end, quantity, amount, rate, tax) = values
    return ("line", period, currency, _text(account), _text(system), _text(number),
            _text(site_code), _text(site_name), kind, _text(description), _text(service_ref),
            _text(offering), _text(family), _text(centre), _date(start), _date(end),
            _plain(quantity), _amount(amount), _plain(rate), _amount(tax),
            _amount(amount + tax))


def _summary_rows(session: Session, organisation_id: int, period: str) -> list[list[str]]:
    """The rounding rows of bills whose totals are not the sums of their lines, and the
    total row of each currency (two queries)."""
    cents = cents_sum
    q = (select(Bill.id, Bill.currency, Bill.bill_number, Bill.source_system,
                Bill.amount_excl_tax, Bill.tax_amount, cents(BillLine.amount),
                cents(BillLine.tax_amount))
         .join(BillLine, BillLine.bill_id == Bill.id)
         .where(Bill.organisation_id == organisation_id, Bill.period == period)
         .group_by(Bill.id, Bill.currency, Bill.bill_number, Bill.source_system,
                   Bill.amount_excl_tax, Bill.tax_amount)
         .order_by(Bill.currency, Bill.source_system, Bill.bill_number))
    rows = []
    for _id, cur, number, system, excl, tax, line_excl, line_tax in session.execute(q):
        d_excl = excl - money_from_cents(line_excl)
        d_tax = tax - money_from_cents(line_tax)
        if d_excl or d_tax:
            rows.append(["rounding", period, cur, "", _text(system), _text(number), "", "",
                         "", f"Bill total less the sum of its lines (bill {number})", "", "",
                         "", "", "", "", "1", _amount(d_excl), "0", _amount(d_tax),
                         _amount(d_excl + d_tax)])
    q = (select(Bill.currency, cents(Bill.amount_excl_tax), cents(Bill.tax_amount),
                cents(Bill.amount_incl_tax), func.count(Bill.id))
         .where(Bill.organisation_id == organisation_id, Bill.period == period)
         .group_by(Bill.currency).order_by(Bill.currency))
    for cur, excl, tax, incl, count in session.execute(q):
        rows.append(["total", period, cur, "", "", "", "", "", "",
                     f"Total due in {cur}: {count} bill{'s' if count != 1 else ''}", "", "",
                     "", "", "", "", "", _amount(money_from_cents(excl)), "",
                     _amount(money_from_cents(tax)), _amount(money_from_cents(incl))])
    return rows


def consolidated_csv(session: Session, organisation_id: int, period: str,
                     batch: int = BATCH) -> Iterator[str]:
    """The consolidated bill of the organisation for `period` as CSV text, chunk by chunk:
    the header, every line (in the PDF's order), rounding rows, then a total row per
    currency. InvalidPeriod at once for a malformed period."""
    period = parse_period(period)
    return _chunks(session, organisation_id, period, batch)


def _chunks(session: Session, organisation_id: int, period: str,
            batch: int) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    # Core rows, not ORM ones: nothing here needs identity or objects, and a million rows
    # go through several times faster. stream_results: a server-side cursor on PostgreSQL.
    result = session.connection().execute(
        statements.detail_query(organisation_id, period),
        execution_options={"stream_results": True, "yield_per": batch})
    pick = operator.itemgetter(*(list(result.keys()).index(name) for name in _SOURCE))
    pending = 0
    for row in result:
        writer.writerow(_line_row(pick(row)))
        pending += 1
        if pending >= batch:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    writer.writerows(_summary_rows(session, organisation_id, period))
    yield buffer.getvalue()
