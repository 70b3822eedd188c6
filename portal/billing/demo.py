"""Demo bills: the bill run over the demo inventory for the months before this one, so that
finance users find a history to look at (idempotent, like the bill run)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from portal.billing.run import run_bills

DEMO_MONTHS = 6


def recent_periods(today: dt.date, months: int = DEMO_MONTHS) -> list[str]:
    """The `months` whole months before `today`'s month, oldest first, as 'YYYY-MM'."""
    index = today.year * 12 + today.month - 1  # this month, counted from year 0
    return [f"{n // 12:04d}-{n % 12 + 1:02d}" for n in range(index - months, index)]


def load_demo_bills(session: Session, today: dt.date, actor_label: str) -> None:
    """Bill every demo customer for the last DEMO_MONTHS whole months."""
    for period in recent_periods(today):
        run_bills(session, period, actor_label=actor_label)
