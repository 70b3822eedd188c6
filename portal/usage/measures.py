"""Amounts of data and periods: unit conversion (decimal units, 1 GB = 1000 MB), calendar
month arithmetic on `YYYY-MM` periods, and the words alerts and offers use."""

from __future__ import annotations

import datetime as dt
import re
from decimal import ROUND_HALF_UP, Decimal

from portal.catalog.schema import Allowance

# The size in GB of each of the catalog's ALLOWANCE_UNITS.
UNIT_SIZE = {"MB": Decimal("0.001"), "GB": Decimal("1"), "TB": Decimal("1000")}
DATA_PLACES = Decimal("0.001")
PERIOD_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
# What one unit of a service is called, by family (a mobile service counts SIMs).
UNIT_NAMES = {"mobile": "SIM"}


def convert(amount: Decimal, unit: str, to_unit: str) -> Decimal:
    """`amount` of `unit` in `to_unit`, to three decimals (rounded half up)."""
    return (amount * UNIT_SIZE[unit] / UNIT_SIZE[to_unit]).quantize(DATA_PLACES, ROUND_HALF_UP)


def in_gb(amount: Decimal, unit: str) -> Decimal:
    """`amount` of `unit` in GB, exactly (for comparisons)."""
    return amount * UNIT_SIZE[unit]


def service_allowance(allowance: Allowance, quantity: int, unit: str) -> Decimal | None:
    """A service's monthly allowance in `unit`: the offering's per unit times the service's
    quantity; None when unlimited."""
    if allowance.unlimited:
        return None
    return convert(allowance.amount * quantity, allowance.unit, unit)


def is_period(text: str) -> bool:
    """Whether `text` is a month written YYYY-MM."""
    return bool(PERIOD_RE.match(text))


def period_of(day: dt.date) -> str:
    """The period (YYYY-MM) `day` is in."""
    return f"{day.year:04d}-{day.month:02d}"


def shift(period: str, months: int) -> str:
    """The period `months` later (earlier when negative)."""
    year, month = int(period[:4]), int(period[5:7])
    index = year * 12 + month - 1 + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def window(newest: str, count: int) -> list[str]:
    """The `count` periods ending with `newest`, oldest first."""
    return [shift(newest, -n) for n in range(count - 1, -1, -1)]


def amount_text(amount: Decimal) -> str:
    """Data without trailing zeros: 20.000 -> 20, 17.250 -> 17.25."""
    return f"{amount.normalize():f}"


def percent_of(share: Decimal) -> int:
    """A share (1 is all) in whole percent, rounded half up."""
    return int((share * 100).quantize(Decimal("1"), ROUND_HALF_UP))


def percent_text(share: Decimal) -> str:
    """A fraction in percent as written: 0.80 -> 80, 0.825 -> 82.5."""
    return f"{(share * 100).normalize():f}"


def unit_name(family: str) -> str:
    """What one unit of a service of `family` is called (SIM, unit)."""
    return UNIT_NAMES.get(family, "unit")
