"""Consolidated bills: one statement per organisation and period over all its bills (every
billing account and source system), and the finance views over its bill history.

Every figure comes from SQL group-bys, so a statement costs the same few queries whatever
the number of bills, lines or sites. Amounts are summed as whole cents (`round(amount *
100)`): exact on PostgreSQL's numeric and on SQLite, which keeps decimals as binary floats.

Totals are the source bills' own totals (a bill's tax is its `tax_amount`, never
recomputed); subtotals by site, product family and cost centre are sums of lines, before tax.

Currencies are never added together: an organisation billed in EUR and GBP gets one section
per currency in every statement, history and chart (`CurrencySection`), each with its own
totals. Almost every organisation has one.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import Select, case, func, literal_column, select
from sqlalchemy.orm import Session

from accounts.estate.models import BillingAccount, Site
from portal.billing.models import Bill, BillLine, LineKind

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
NO_SITE = "No site"
NO_ACCOUNT = "No billing account"
NO_COST_CENTRE = "No cost centre"
NO_FAMILY = "Other"
CREDIT_KINDS = (LineKind.CREDIT, LineKind.ADJUSTMENT)
CHART_MONTHS = 12
TOP_CHANGES = 10
_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


class InvalidPeriod(ValueError):
    """A period that is not `YYYY-MM`."""


def parse_period(text: str) -> str:
    """`text` if it is a period `YYYY-MM` (month 01 to 12); InvalidPeriod otherwise."""
    if not isinstance(text, str) or not _PERIOD.fullmatch(text) or text < "1900-01":
        raise InvalidPeriod(f"{text!r} is not a period YYYY-MM")
    return text


def previous_period(period: str) -> str:
    """The calendar month before `period`: `2026-01` -> `2025-12`."""
    year, month = int(period[:4]), int(period[5:7])
    return f"{year - 1}-12" if month == 1 else f"{year}-{month - 1:02d}"


def period_label(period: str) -> str:
    """`2026-10` -> `October 2026`."""
    return dt.date(int(period[:4]), int(period[5:7]), 1).strftime("%B %Y")


def cents_sum(expr):
    """SUM of an amount column as whole cents: integers add up exactly on every backend
    (SQLite keeps decimals as floats). Read the result with `money_from_cents`."""
    return func.sum(func.round(expr * 100))


def money_from_cents(cents) -> Decimal:
    """A `cents_sum` result (an int, float or Decimal of whole cents) as exact money."""
    return (Decimal(int(cents or 0)) / 100).quantize(CENT)


@dataclass
class Subtotal:
    """One row of a summary: what it groups (`label`, with `detail` such as a site's name),
    the amount this period and in the previous one, and how many lines or bills it has.
    Bill-level rows (billing account, source system) also carry tax and the amount
    including tax; line-level rows (site, family, cost centre) are before tax."""

    key: str
    label: str
    detail: str = ""
    amount: Decimal = ZERO
    previous: Decimal = ZERO
    count: int = 0
    tax: Decimal | None = None
    incl: Decimal | None = None
    previous_incl: Decimal | None = None

    @property
    def change(self) -> Decimal:
        """This period's amount less the previous period's."""
        return self.amount - self.previous


@dataclass
class CreditLine:
    """A credit or adjustment line of the period, with the bill and site it is on."""

    bill_id: int
    bill_number: str
    source_system: str
    kind: str
    description: str
    site_code: str
    amount: Decimal
    tax_amount: Decimal


@dataclass
class CurrencySection:
    """Everything a statement says about the bills of one currency."""

    currency: str
    excl: Decimal = ZERO
    tax: Decimal = ZERO
    incl: Decimal = ZERO
    previous_excl: Decimal = ZERO
    previous_tax: Decimal = ZERO
    previous_incl: Decimal = ZERO
    bill_count: int = 0
    line_count: int = 0
    by_account: list[Subtotal] = field(default_factory=list)
    by_source: list[Subtotal] = field(default_factory=list)
    by_site: list[Subtotal] = field(default_factory=list)
    by_family: list[Subtotal] = field(default_factory=list)
    by_cost_centre: list[Subtotal] = field(default_factory=list)
    credits: list[CreditLine] = field(default_factory=list)

    @property
    def change_incl(self) -> Decimal:
        """The change of the total due (including tax) from the previous period."""
        return self.incl - self.previous_incl

    @property
    def change_excl(self) -> Decimal:
        """The change of the total before tax from the previous period."""
        return self.excl - self.previous_excl

    @property
    def credits_total(self) -> Decimal:
        """The sum of the credits and adjustments, before tax."""
        return sum((c.amount for c in self.credits), ZERO)


@dataclass
class BillRow:
    """A source bill as the statement lists it."""

    id: int
    bill_number: str
    source_system: str
    account_number: str
    account_name: str
    currency: str
    bill_date: dt.date
    due_date: dt.date | None
    period_start: dt.date
    period_end: dt.date
    excl: Decimal
    tax: Decimal
    incl: Decimal


@dataclass
class Statement:
    """A consolidated bill: the organisation's bills of one period (or one bill of it, for
    a source bill's own document), summed per currency. `compared` says whether the
    previous period's figures were read."""

    organisation_id: int
    period: str
    previous_period: str
    compared: bool
    bills: list[BillRow] = field(default_factory=list)
    sections: list[CurrencySection] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """True when there is no bill in the period."""
        return not self.bills

    @property
    def line_count(self) -> int:
        """The number of lines of every bill of the statement."""
        return sum(s.line_count for s in self.sections)

    @property
    def label(self) -> str:
        """`October 2026`."""
        return period_label(self.period)


def _bills_where(stmt: Select, organisation_id: int, periods: list[str],
                 bill_id: int | None) -> Select:
    stmt = stmt.where(Bill.organisation_id == organisation_id, Bill.period.in_(periods))
    return stmt.where(Bill.id == bill_id) if bill_id is not None else stmt


def cost_centre_expr():
    """A line's cost centre, else its billing account's (empty when neither has one)."""
    empty = literal_column("''")  # a literal, not a parameter: PostgreSQL groups by it
    return func.coalesce(func.nullif(BillLine.cost_centre, empty),
                         BillingAccount.cost_centre, empty)


class _Grouper:
    """Fold (period, currency, key) rows of the two periods into Subtotals per currency."""

    def __init__(self, period: str):
        self.period = period
        self.rows: dict[str, dict[str, Subtotal]] = {}

    def add(self, period: str, currency: str, key, label: str, detail: str,
            amount, count: int, tax=None, incl=None) -> None:
        """Add one SQL result row (amounts in cents)."""
        by_key = self.rows.setdefault(currency, {})
        key = "" if key is None else str(key)
        row = by_key.get(key)
        if row is None:
            row = by_key[key] = Subtotal(key=key, label=label, detail=detail)
        if period == self.period:
            row.amount, row.count = money_from_cents(amount), count
            if tax is not None:
                row.tax, row.incl = money_from_cents(tax), money_from_cents(incl)
            row.label, row.detail = label, detail  # the current names win
        else:
            row.previous = money_from_cents(amount)
            if incl is not None:
                row.previous_incl = money_from_cents(incl)

    def sorted(self, currency: str, last_keys=("",)) -> list[Subtotal]:
        """The rows of `currency` by label, the "none" row (key "") last."""
        rows = self.rows.get(currency, {}).values()
        return sorted(rows, key=lambda r: (r.key in last_keys, r.label.lower(), r.key))


_LINE_SUM = (cents_sum(BillLine.amount), func.count(BillLine.id))


def _site_grouper(session: Session, organisation_id: int, period: str, periods: list[str],
                  bill_id: int | None = None) -> _Grouper:
    sites = _Grouper(period)
    q = (select(Bill.period, Bill.currency, BillLine.site_id, Site.code, Site.name,
                *_LINE_SUM)
         .join(Bill, Bill.id == BillLine.bill_id)
         .outerjoin(Site, Site.id == BillLine.site_id)
         .group_by(Bill.period, Bill.currency, BillLine.site_id, Site.code, Site.name))
    for per, cur, site_id, code, name, amount, count in session.execute(
            _bills_where(q, organisation_id, periods, bill_id)):
        sites.add(per, cur, site_id, code or NO_SITE, name or "", amount, count)
    return sites


def site_subtotals(session: Session, organisation_id: int,
                   period: str) -> dict[str, list[Subtotal]]:
    """Spend by site (before tax) in `period` with the previous period's, per currency:
    one query. Sites billed only in the previous period have an amount of zero."""
    period = parse_period(period)
    sites = _site_grouper(session, organisation_id, period, [period, previous_period(period)])
    return {currency: sites.sorted(currency) for currency in sorted(sites.rows)}


def _bill_rows(session: Session, organisation_id: int, period: str,
               bill_id: int | None) -> list[BillRow]:
    q = (select(Bill, BillingAccount.number, BillingAccount.name)
         .outerjoin(BillingAccount, BillingAccount.id == Bill.billing_account_id)
         .order_by(Bill.currency, BillingAccount.number, Bill.source_system, Bill.bill_number))
    return [BillRow(bill.id, bill.bill_number, bill.source_system, number or "",
                    name or NO_ACCOUNT, bill.currency, bill.bill_date, bill.due_date,
                    bill.period_start, bill.period_end, bill.amount_excl_tax, bill.tax_amount,
                    bill.amount_incl_tax)
            for bill, number, name in session.execute(
                _bills_where(q, organisation_id, [period], bill_id))]


_BILL_SUMS = (cents_sum(Bill.amount_excl_tax), cents_sum(Bill.tax_amount),
              cents_sum(Bill.amount_incl_tax), func.count(Bill.id))


def _bill_groupers(session: Session, organisation_id: int, period: str, periods: list[str],
                   bill_id: int | None) -> tuple[_Grouper, _Grouper]:
    """Whole bills summed by billing account and by source system: two queries."""
    accounts, sources = _Grouper(period), _Grouper(period)
    q = (select(Bill.period, Bill.currency, Bill.billing_account_id, BillingAccount.number,
                BillingAccount.name, *_BILL_SUMS)
         .outerjoin(BillingAccount, BillingAccount.id == Bill.billing_account_id)
         .group_by(Bill.period, Bill.currency, Bill.billing_account_id, BillingAccount.number,
                   BillingAccount.name))
    for per, cur, acc_id, number, name, excl, tax, incl, count in session.execute(
            _bills_where(q, organisation_id, periods, bill_id)):
        accounts.add(per, cur, acc_id, number or NO_ACCOUNT, name or "", excl, count, tax,
                     incl)
    q = (select(Bill.period, Bill.currency, Bill.source_system, *_BILL_SUMS)
         .group_by(Bill.period, Bill.currency, Bill.source_system))
    for per, cur, system, excl, tax, incl, count in session.execute(
            _bills_where(q, organisation_id, periods, bill_id)):
        sources.add(per, cur, system, system, "", excl, count, tax, incl)
    return accounts, sources


def _line_groupers(session: Session, organisation_id: int, period: str, periods: list[str],
                   bill_id: int | None) -> tuple[_Grouper, _Grouper]:
    """Lines summed by product family and by cost centre: two queries."""
    families, centres = _Grouper(period), _Grouper(period)
    q = (select(Bill.period, Bill.currency, BillLine.product_family, *_LINE_SUM)
         .join(Bill, Bill.id == BillLine.bill_id)
         .group_by(Bill.period, Bill.currency, BillLine.product_family))
    for per, cur, family, amount, count in session.execute(
            _bills_where(q, organisation_id, periods, bill_id)):
        families.add(per, cur, family, family or NO_FAMILY, "", amount, count)
    q = (select(Bill.period, Bill.currency, cost_centre_expr().label("cost_centre"),
                *_LINE_SUM)
         .join(Bill, Bill.id == BillLine.bill_id)
         .outerjoin(BillingAccount, BillingAccount.id == Bill.billing_account_id)
         .group_by(Bill.period, Bill.currency, cost_centre_expr()))
    for per, cur, name, amount, count in session.execute(
            _bills_where(q, organisation_id, periods, bill_id)):
        centres.add(per, cur, name, name or NO_COST_CENTRE, "", amount, count)
    return families, centres


def _credits(session: Session, organisation_id: int, period: str,
             bill_id: int | None) -> dict[str, list[CreditLine]]:
    """The period's credit and adjustment lines per currency: one query."""
    credits: dict[str, list[CreditLine]] = {}
    q = (select(Bill.id, Bill.bill_number, Bill.source_system, Bill.currency, BillLine.kind,
                BillLine.description, Site.code, BillLine.amount, BillLine.tax_amount)
         .join(Bill, Bill.id == BillLine.bill_id)
         .outerjoin(Site, Site.id == BillLine.site_id)
         .where(BillLine.kind.in_(CREDIT_KINDS))
         .order_by(Bill.source_system, Bill.bill_number, BillLine.position, BillLine.id))
    for b_id, number, system, cur, kind, text, code, amount, tax in session.execute(
            _bills_where(q, organisation_id, [period], bill_id)):
        credits.setdefault(cur, []).append(
            CreditLine(b_id, number, system, kind, text, code or "", amount, tax))
    return credits


def consolidated(session: Session, organisation_id: int, period: str,
                 bill_id: int | None = None, compare: bool = True) -> Statement:
    """The consolidated statement of the organisation for `period`: every bill of every
    billing account and source system (or only bill `bill_id`), summarised per currency,
    with the previous period's figures when `compare`. Seven queries, whatever the size."""
    period = parse_period(period)
    previous = previous_period(period)
    periods = [period, previous] if compare else [period]
    statement = Statement(organisation_id, period, previous, compare,
                          bills=_bill_rows(session, organisation_id, period, bill_id))
    accounts, sources = _bill_groupers(session, organisation_id, period, periods, bill_id)
    sites = _site_grouper(session, organisation_id, period, periods, bill_id)
    families, centres = _line_groupers(session, organisation_id, period, periods, bill_id)
    credits = _credits(session, organisation_id, period, bill_id)

    for currency in sorted(accounts.rows):
        section = CurrencySection(
            currency, by_account=accounts.sorted(currency), by_source=sources.sorted(currency),
            by_site=sites.sorted(currency), by_family=families.sorted(currency),
            by_cost_centre=centres.sorted(currency), credits=credits.get(currency, []))
        # The totals are the bills' own: the sum of the per-account sums of whole bills.
        for row in section.by_account:
            section.excl += row.amount
            section.tax += row.tax or ZERO
            section.incl += row.incl or ZERO
            section.previous_excl += row.previous
            section.previous_incl += row.previous_incl or ZERO
            section.bill_count += row.count
        section.previous_tax = section.previous_incl - section.previous_excl
        section.line_count = sum(r.count for r in section.by_family)
        # A currency billed only in the previous period has no place in this period's bill.
        if section.bill_count:
            statement.sections.append(section)
    return statement


def detail_query(organisation_id: int, period: str, bill_id: int | None = None) -> Select:
    """The lines of the statement, one row each with their bill, billing account and site,
    in the order every document shows them: by currency, by site (lines without a site
    last), then by source system, bill and position."""
    no_site_last = case((BillLine.site_id.is_(None), 1), else_=0)
    q = (select(Bill.id.label("bill_id"), Bill.period, Bill.currency, Bill.bill_number,
                Bill.source_system, BillingAccount.number.label("account_number"),
                BillLine.site_id, Site.code.label("site_code"), Site.name.label("site_name"),
                BillLine.id.label("line_id"), BillLine.position, BillLine.kind,
                BillLine.description, BillLine.service_ref, BillLine.offering_code,
                BillLine.product_family, cost_centre_expr().label("cost_centre"),
                BillLine.period_start, BillLine.period_end, BillLine.quantity,
                BillLine.amount, BillLine.tax_rate, BillLine.tax_amount)
         .join(Bill, Bill.id == BillLine.bill_id)
         .outerjoin(BillingAccount, BillingAccount.id == Bill.billing_account_id)
         .outerjoin(Site, Site.id == BillLine.site_id)
         .order_by(Bill.currency, no_site_last, Site.code, BillLine.site_id,
                   Bill.source_system, Bill.bill_number, BillLine.position, BillLine.id))
    return _bills_where(q, organisation_id, [parse_period(period)], bill_id)


def detail_page(session: Session, organisation_id: int, period: str, page: int,
                per_page: int, bill_id: int | None = None) -> list:
    """One page (from 1) of the statement's lines, in `detail_query` order: one query."""
    q = detail_query(organisation_id, period, bill_id)
    return list(session.execute(q.limit(per_page).offset((max(page, 1) - 1) * per_page)))
