"""An independent statement of the bill run's rules, written the plain way (Python dates,
one service at a time), to check the set-based SQL against and to time the row-by-row
approach it replaces."""

from __future__ import annotations

import calendar
import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day `months` later, or that month's last day when it is shorter."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def rate(service, catalog, period_start: dt.date) -> tuple[Decimal, Decimal] | None:
    """(recurring, one-off) of `service` for the month starting `period_start`, or None when
    the service does not exist in that month."""
    days = calendar.monthrange(period_start.year, period_start.month)[1]
    period_end = period_start.replace(day=days)
    if service.status == "ceased" and service.end_date is None:
        return None
    first = max(service.start_date, period_start)
    # Only a ceased service's end date ends its billing (else it is the contract's end).
    ended = service.end_date if service.status == "ceased" else None
    last = min(ended or period_end, period_end)
    if first > last:
        return None
    offering = catalog.offerings.get(service.offering_code)
    months_free = 0
    if offering is not None:
        months_free = next((p.months_free for p in offering.promotions
                            if p.code == service.promotion_code), 0)
    free_until = add_months(service.start_date, months_free)  # first day charged
    charged = sum(1 for n in range((last - first).days + 1)
                  if first + dt.timedelta(days=n) >= free_until)
    monthly = service.monthly_charge
    if monthly is None:
        monthly = offering.recurring * service.quantity if offering else Decimal("0")
    recurring = (Decimal(monthly) * charged / days).quantize(CENT, ROUND_HALF_UP)
    one_off = Decimal("0.00")
    if offering is not None and period_start <= service.start_date <= period_end:
        one_off = (offering.one_off * service.quantity).quantize(CENT)
    return recurring, one_off
