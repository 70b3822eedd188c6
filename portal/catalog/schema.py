"""The catalog in memory: plain frozen dataclasses, built by the loader from the YAML file
(DESIGN.md, "Catalog file") and read by the rules and the pricing engine. Every amount and
rate is a Decimal."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

FAMILIES = ("mobile", "broadband", "sdwan", "voice", "tv", "content", "device", "accessory")
ALLOWANCE_UNITS = ("MB", "GB", "TB")  # decimal units: 1 GB = 1000 MB


@dataclass(frozen=True)
class VolumeTier:
    """From `min` units of an offering across the whole configuration, `discount` off."""

    min: int
    discount: Decimal


@dataclass(frozen=True)
class Promotion:
    """`months_free` first months free, for quotes made between `valid_from` and
    `valid_to` (inclusive; None: open)."""

    code: str
    months_free: int
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None

    def is_valid_on(self, day: dt.date) -> bool:
        """Whether the promotion can be used on `day`."""
        return (self.valid_from is None or self.valid_from <= day) and (
            self.valid_to is None or day <= self.valid_to)


@dataclass(frozen=True)
class Allowance:
    """A monthly data allowance per unit (per SIM, per line): `amount` of `unit`, or
    unlimited (`amount` None)."""

    amount: Decimal | None
    unit: str = ""

    @property
    def unlimited(self) -> bool:
        """Whether there is no limit."""
        return self.amount is None

    def __str__(self) -> str:
        return "unlimited" if self.amount is None else f"{self.amount:f} {self.unit}"


@dataclass(frozen=True)
class Offering:
    """Something the operator sells, with its prices and rules."""

    code: str
    name: str
    family: str
    fulfilment: str  # the backend system that fulfils it
    recurring: Decimal  # per unit per month
    one_off: Decimal  # per unit
    volume_tiers: tuple[VolumeTier, ...] = (VolumeTier(1, Decimal("0")),)
    terms: dict[int, Decimal] = field(default_factory=lambda: {12: Decimal("0")})
    promotions: tuple[Promotion, ...] = ()
    requires: tuple[str, ...] = ()  # offering codes that must be on the same site
    excludes: tuple[str, ...] = ()  # offering codes that may not be on the same site
    available_in: tuple[str, ...] = ()  # site countries (ISO 3166 alpha-2)
    min_quantity: int = 1  # per line
    max_quantity: int | None = None  # per line
    valid_from: dt.date | None = None  # sold from this day (inclusive)
    valid_to: dt.date | None = None  # sold until this day (inclusive)
    description: str = ""
    # Guided selling: for a device, the plans that go with it, then its accessories.
    plans: tuple[str, ...] = ()
    accessories: tuple[str, ...] = ()
    allowance: Allowance | None = None  # monthly data per unit; None: not metered

    def is_sold_on(self, day: dt.date) -> bool:
        """Whether the offering can be sold on `day`."""
        return (self.valid_from is None or self.valid_from <= day) and (
            self.valid_to is None or day <= self.valid_to)


@dataclass(frozen=True)
class ApprovalPolicy:
    """Up to `auto_max` approved at once, up to `account_manager_max` by an account manager,
    up to `sales_director_max` by an account manager then a sales director; above: refused.
    Applied to the largest negotiated discount of any line."""

    auto_max: Decimal
    account_manager_max: Decimal
    sales_director_max: Decimal


@dataclass(frozen=True)
class Catalog:
    """One version of the catalog."""

    currency: str
    approval: ApprovalPolicy
    quote_validity_days: int
    tax_rates: dict[str, Decimal]  # billing country -> rate
    offerings: dict[str, Offering]  # by code, in file order

    def sold_on(self, day: dt.date) -> list[Offering]:
        """The offerings that can be sold on `day`."""
        return [o for o in self.offerings.values() if o.is_sold_on(day)]
