"""The finance overview over an organisation's consolidated bills: bill history (every
period with its totals), spend per month for a chart, spend by site, and the largest changes
since the previous period. A fixed number of queries whatever the history's length; amounts
are per currency, never added across currencies (see portal.billing.statements)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.billing.models import Bill, BillLine
from portal.billing.statements import (
    CHART_MONTHS,
    NO_FAMILY,
    TOP_CHANGES,
    ZERO,
    Subtotal,
    cents_sum,
    money_from_cents,
    parse_period,
    previous_period,
    site_subtotals,
)


@dataclass
class PeriodTotal:
    """The consolidated totals of one period in one currency."""

    period: str
    currency: str
    excl: Decimal
    tax: Decimal
    incl: Decimal
    bills: int


def history(session: Session, organisation_id: int) -> list[PeriodTotal]:
    """Every period the organisation has bills for, newest first, with its totals per
    currency (the sums of the bills' own totals): one query."""
    q = (select(Bill.period, Bill.currency, cents_sum(Bill.amount_excl_tax),
                cents_sum(Bill.tax_amount), cents_sum(Bill.amount_incl_tax),
                func.count(Bill.id))
         .where(Bill.organisation_id == organisation_id)
         .group_by(Bill.period, Bill.currency)
         .order_by(Bill.period.desc(), Bill.currency))
    return [PeriodTotal(period, currency, money_from_cents(excl), money_from_cents(tax),
                        money_from_cents(incl), count)
            for period, currency, excl, tax, incl, count in session.execute(q)]


def has_bills(session: Session, organisation_id: int, period: str) -> bool:
    """Whether the organisation has any bill in `period`: one query."""
    q = (select(Bill.id).where(Bill.organisation_id == organisation_id,
                               Bill.period == parse_period(period)).limit(1))
    return session.scalar(q) is not None


def months_ending(period: str, count: int = CHART_MONTHS) -> list[str]:
    """The `count` calendar months ending with `period`, oldest first."""
    months = [parse_period(period)]
    while len(months) < count:
        months.append(previous_period(months[-1]))
    return months[::-1]


def spend_per_month(totals: list[PeriodTotal],
                    count: int = CHART_MONTHS) -> dict[str, list[tuple[str, Decimal]]]:
    """Spend before tax per month for a chart, per currency: the `count` months ending with
    the latest period billed, zero for a month without bills."""
    if not totals:
        return {}
    months = months_ending(max(t.period for t in totals), count)
    by_key = {(t.currency, t.period): t.excl for t in totals}
    currencies = sorted({t.currency for t in totals if t.period in months})
    return {cur: [(m, by_key.get((cur, m), ZERO)) for m in months] for cur in currencies}


@dataclass
class Bar:
    """One bar of the spend chart, in the SVG's user units."""

    period: str
    amount: Decimal
    x: float
    y: float
    width: float
    height: float
    label: str


CHART_WIDTH, CHART_HEIGHT, CHART_BOTTOM = 720, 240, 200
TOP_SITES = 15


def bar_chart(points: list[tuple[str, Decimal]]) -> list[Bar]:
    """Bars for `points` (period, amount) scaled into a CHART_WIDTH x CHART_HEIGHT picture
    whose baseline is at CHART_BOTTOM; a net credit month draws no bar."""
    top = max((amount for _, amount in points), default=ZERO)
    slot = CHART_WIDTH / max(len(points), 1)
    bars = []
    for n, (period, amount) in enumerate(points):
        height = float(amount / top) * (CHART_BOTTOM - 20) if top > 0 and amount > 0 else 0.0
        bars.append(Bar(period, amount, round(n * slot + slot * 0.15, 1),
                        round(CHART_BOTTOM - height, 1), round(slot * 0.7, 1),
                        round(height, 1), period[2:4] + "/" + period[5:7]))
    return bars


@dataclass
class Change:
    """What changed most between two periods: a site or an offering, in one currency."""

    currency: str
    label: str
    detail: str
    previous: Decimal
    amount: Decimal

    @property
    def change(self) -> Decimal:
        """This period's amount less the previous period's."""
        return self.amount - self.previous


def _largest(changes: list[Change], limit: int) -> list[Change]:
    moved = [c for c in changes if c.change]
    return sorted(moved, key=lambda c: (-abs(c.change), c.currency, c.label))[:limit]


def offering_changes(session: Session, organisation_id: int, period: str,
                     limit: int = TOP_CHANGES) -> list[Change]:
    """The offerings (lines without an offering code: their product family) whose spend
    before tax changed most from the previous period, largest first: one query."""
    period = parse_period(period)
    periods = [period, previous_period(period)]
    q = (select(Bill.period, Bill.currency, BillLine.offering_code, BillLine.product_family,
                cents_sum(BillLine.amount))
         .join(Bill, Bill.id == BillLine.bill_id)
         .where(Bill.organisation_id == organisation_id, Bill.period.in_(periods))
         .group_by(Bill.period, Bill.currency, BillLine.offering_code,
                   BillLine.product_family))
    found: dict[tuple, Change] = {}
    for per, cur, code, family, cents in session.execute(q):
        label = code or f"Other {family or NO_FAMILY.lower()} charges"
        change = found.setdefault((cur, code, family),
                                  Change(cur, label, family or "", ZERO, ZERO))
        if per == period:
            change.amount = money_from_cents(cents)
        else:
            change.previous = money_from_cents(cents)
    return _largest(list(found.values()), limit)


def site_changes(by_site: dict[str, list[Subtotal]], limit: int = TOP_CHANGES) -> list[Change]:
    """The sites whose spend changed most, largest first, from `site_subtotals`."""
    return _largest([Change(cur, row.label, row.detail, row.previous, row.amount)
                     for cur, rows in by_site.items() for row in rows], limit)


@dataclass
class Overview:
    """The finance overview of an organisation: `latest` is the newest period billed (None
    when there are no bills)."""

    latest: str | None
    history: list[PeriodTotal] = field(default_factory=list)
    charts: dict[str, list[Bar]] = field(default_factory=dict)
    by_site: dict[str, list[Subtotal]] = field(default_factory=dict)  # the TOP_SITES largest
    site_counts: dict[str, int] = field(default_factory=dict)  # all sites, per currency
    site_changes: list[Change] = field(default_factory=list)
    offering_changes: list[Change] = field(default_factory=list)


def overview(session: Session, organisation_id: int) -> Overview:
    """History, chart, spend by site of the latest period and the largest changes since the
    period before it: three queries (one without bills)."""
    totals = history(session, organisation_id)
    if not totals:
        return Overview(None)
    latest = totals[0].period
    by_site = site_subtotals(session, organisation_id, latest)
    # The page lists the largest sites; the consolidated bill has every one.
    top = {cur: sorted(rows, key=lambda r: (-r.amount, r.label))[:TOP_SITES]
           for cur, rows in by_site.items()}
    return Overview(
        latest=latest, history=totals,
        charts={cur: bar_chart(points) for cur, points in spend_per_month(totals).items()},
        by_site=top, site_counts={cur: len(rows) for cur, rows in by_site.items()},
        site_changes=site_changes(by_site),
        offering_changes=offering_changes(session, organisation_id, latest))
