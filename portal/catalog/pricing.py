"""The pricing engine (DESIGN.md, "Pricing"): pure functions from a catalog and a configuration
to prices, with the breakdown that a quote keeps. No database, no Flask.

Every figure is a Decimal. Products are computed exactly and rounded half-up to cents once, at
the points DESIGN.md names (line MRC, line NRC, tax); nothing is ever a float.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import (
    MAX_EMAX,
    MAX_PREC,
    MIN_EMIN,
    ROUND_HALF_UP,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
    localcontext,
)
from functools import cached_property, lru_cache
from typing import Any, NamedTuple

from portal.catalog.schema import ApprovalPolicy, Catalog, Offering, VolumeTier
from portal.rules import RuleError

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
_ONE = Decimal(1)
APPROVAL_PATHS = ("auto", "account_manager", "sales_director", "refused")

# The context of every calculation here. A precision this large makes every product of
# catalog figures exact (the default 28 digits could round a long product silently, before
# the one rounding DESIGN.md allows). Only multiplication, addition and quantize run in it;
# a division here would try to expand to MAX_PREC digits, so there is none.
_EXACT = Context(prec=MAX_PREC, rounding=ROUND_HALF_UP, Emax=MAX_EMAX, Emin=MIN_EMIN,
                 traps=[InvalidOperation, DivisionByZero, Overflow])


class PricingError(RuleError):
    """A configuration that cannot be priced. `line` is the 1-based position of the line at
    fault (None when the fault is not one line's), `offering_code` its offering."""

    def __init__(self, message: str, line: int | None = None,
                 offering_code: str | None = None) -> None:
        super().__init__(message)
        self.line = line
        self.offering_code = offering_code


@dataclass(frozen=True)
class LineRequest:
    """One line of a configuration: `quantity` units of an offering on a site, for a term of
    `term_months`, with a negotiated discount (a fraction: Decimal("0.07") is 7 %)."""

    offering_code: str
    quantity: int
    term_months: int
    site_id: int | None = None
    negotiated_discount: Decimal = Decimal("0")

    def as_dict(self) -> dict[str, Any]:
        """The request as JSON-safe data (Decimals as strings)."""
        return {"offering_code": self.offering_code, "quantity": self.quantity,
                "term_months": self.term_months, "site_id": self.site_id,
                "negotiated_discount": str(self.negotiated_discount)}


class PriceStep(NamedTuple):
    """One step of a line's price breakdown, as shown to the customer.

    `key` names the step for programs: "list", "volume", "term", "negotiated" (running monthly
    amounts, exact, before rounding; the three discounts appear only when they are not zero),
    "mrc", "nrc" (rounded to cents), "promotion" (only when one applies: the value of the free
    months, negative) and "tcv" (= nrc + mrc x term + promotion)."""

    key: str
    label: str
    amount: Decimal

    def as_dict(self) -> dict[str, str]:
        """The step as JSON-safe data."""
        return {"key": self.key, "label": self.label, "amount": str(self.amount)}


@dataclass(frozen=True)
class LinePrice:
    """The price of one line and how it was reached. Discounts are fractions;
    `volume_quantity` is the total quantity of the offering across the configuration, which
    chose the tier whose `min` is `volume_tier_min` (None when no tier reaches it);
    `months_free` is the number of months the promotion actually makes free (at most the
    term; 0 without a promotion). `mrc`, `nrc` and `tcv` have exactly two decimal places."""

    request: LineRequest
    offering_name: str
    list_unit_recurring: Decimal
    list_unit_one_off: Decimal
    volume_quantity: int
    volume_tier_min: int | None
    volume_discount: Decimal
    term_discount: Decimal
    negotiated_discount: Decimal
    mrc: Decimal
    nrc: Decimal
    promotion_code: str | None
    months_free: int
    tcv: Decimal

    @cached_property
    def steps(self) -> tuple[PriceStep, ...]:
        """The breakdown of this price, step by step, as shown to the customer and kept with
        the quote line (see PriceStep). Every amount follows from the fields above, so it is
        worked out when first asked for: pricing a configuration live does not pay for it."""
        return _steps(self)

    def as_dict(self) -> dict[str, Any]:
        """The line price and its steps as JSON-safe data (Decimals as strings), to be frozen
        with a quote."""
        return {
            "request": self.request.as_dict(),
            "offering_name": self.offering_name,
            "list_unit_recurring": str(self.list_unit_recurring),
            "list_unit_one_off": str(self.list_unit_one_off),
            "volume_quantity": self.volume_quantity,
            "volume_tier_min": self.volume_tier_min,
            "volume_discount": str(self.volume_discount),
            "term_discount": str(self.term_discount),
            "negotiated_discount": str(self.negotiated_discount),
            "mrc": str(self.mrc),
            "nrc": str(self.nrc),
            "promotion_code": self.promotion_code,
            "months_free": self.months_free,
            "tcv": str(self.tcv),
            "steps": [step.as_dict() for step in self.steps],
        }


@dataclass(frozen=True)
class PriceResult:
    """The priced configuration: its lines in request order, totals (sums of the line
    figures), tax on each total at the billing country's rate, and totals with tax. Every
    money figure has exactly two decimal places. `priced_on` is the day whose promotions
    applied."""

    lines: tuple[LinePrice, ...]
    currency: str
    total_mrc: Decimal
    total_nrc: Decimal
    total_tcv: Decimal
    billing_country: str
    tax_rate: Decimal
    tax_mrc: Decimal
    tax_nrc: Decimal
    tax_tcv: Decimal
    mrc_with_tax: Decimal
    nrc_with_tax: Decimal
    tcv_with_tax: Decimal
    priced_on: dt.date

    def as_dict(self) -> dict[str, Any]:
        """The result as JSON-safe data (Decimals as strings, the day in ISO format)."""
        return {
            "currency": self.currency,
            "billing_country": self.billing_country,
            "priced_on": self.priced_on.isoformat(),
            "tax_rate": str(self.tax_rate),
            **{name: str(getattr(self, name)) for name in (
                "total_mrc", "total_nrc", "total_tcv", "tax_mrc", "tax_nrc", "tax_tcv",
                "mrc_with_tax", "nrc_with_tax", "tcv_with_tax")},
            "lines": [line.as_dict() for line in self.lines],
        }


def price_configuration(catalog: Catalog, lines: Sequence[LineRequest], billing_country: str,
                        day: dt.date) -> PriceResult:
    """Price `lines` as DESIGN.md says, with the promotions valid on `day` and tax at the rate
    of `billing_country` (a key of `catalog.tax_rates`).

    The volume tier of a line depends on the total quantity of its offering across all the
    lines. Of the promotions valid on `day`, the one with the most free months applies (the
    first in catalog order on a tie). Raises PricingError for an unknown billing country and
    for the first line that cannot be priced (unknown offering, a term the offering does not
    offer, quantity below 1, negotiated discount outside [0, 1)); a quantity that is not an
    int, or a discount that is neither a Decimal nor an int (a float, say), is a programming
    error (TypeError).
    Availability, sales windows and site rules are not checked here: see
    portal.catalog.rules.check_configuration.
    """
    tax_rate = catalog.tax_rates.get(billing_country)
    if tax_rate is None:
        raise PricingError(f"The catalog has no tax rate for the billing country "
                           f"{billing_country!r}.")
    offerings = catalog.offerings
    # One context for the whole call: switching contexts per figure is measurably slow.
    with localcontext(_EXACT):
        # Pass 1: validate and total the quantity of each offering (the volume bundle).
        totals: dict[str, int] = {}
        for position, line in enumerate(lines, 1):
            offering = offerings.get(line.offering_code)
            _check_line(position, line, offering)
            totals[line.offering_code] = totals.get(line.offering_code, 0) + line.quantity
        plans = {code: _OfferingPlan(offerings[code], total, day)
                 for code, total in totals.items()}
        # Pass 2: price each line with its offering's precomputed figures.
        priced = tuple([_price_line(line, plans[line.offering_code]) for line in lines])
        total_mrc = sum([p.mrc for p in priced], ZERO)
        total_nrc = sum([p.nrc for p in priced], ZERO)
        total_tcv = sum([p.tcv for p in priced], ZERO)
        tax_mrc = _round_cents(total_mrc * tax_rate)
        tax_nrc = _round_cents(total_nrc * tax_rate)
        tax_tcv = _round_cents(total_tcv * tax_rate)
        return PriceResult(
            lines=priced, currency=catalog.currency, total_mrc=total_mrc,
            total_nrc=total_nrc, total_tcv=total_tcv, billing_country=billing_country,
            tax_rate=tax_rate, tax_mrc=tax_mrc, tax_nrc=tax_nrc, tax_tcv=tax_tcv,
            mrc_with_tax=total_mrc + tax_mrc, nrc_with_tax=total_nrc + tax_nrc,
            tcv_with_tax=total_tcv + tax_tcv, priced_on=day)


def approval_path(policy: ApprovalPolicy, discounts: Iterable[Decimal]) -> str:
    """Who must approve a quote, decided on the largest of its lines' negotiated discounts:
    "auto" up to `auto_max`, "account_manager" up to `account_manager_max`,
    "sales_director" (after the account manager) up to `sales_director_max`, "refused"
    above. Each bound is inclusive; no lines (or no discount) is "auto"."""
    largest = max(discounts, default=Decimal(0))
    if largest <= policy.auto_max:
        return "auto"
    if largest <= policy.account_manager_max:
        return "account_manager"
    if largest <= policy.sales_director_max:
        return "sales_director"
    return "refused"


def _round_cents(amount: Decimal) -> Decimal:
    """`amount` rounded half-up to cents (always two decimal places)."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


@lru_cache(maxsize=1024)  # a catalog has few distinct rates; breakdowns repeat them
def _percent(rate: Decimal) -> str:
    """A rate as the customer reads it: Decimal("0.075") -> "7.5 %"."""
    text = f"{rate * 100:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text} %"


def _check_line(position: int, line: LineRequest, offering: Offering | None) -> None:
    """Raise PricingError (or TypeError) if `line`, the `position`-th, cannot be priced."""
    if offering is None:
        raise PricingError(f"Line {position}: {line.offering_code} is not in the catalog.",
                           position, line.offering_code)
    quantity, discount = line.quantity, line.negotiated_discount
    problem = None
    if not isinstance(quantity, int) or isinstance(quantity, bool):
        raise TypeError(f"Line {position}: the quantity must be an int, not {quantity!r}")
    # An int is exact (and only 0 is in range); a float never is.
    if not isinstance(discount, Decimal | int) or isinstance(discount, bool):
        raise TypeError(f"Line {position}: the negotiated discount must be a Decimal, "
                        f"not {discount!r}")
    if line.term_months not in offering.terms:
        terms = _words([str(months) for months in sorted(offering.terms)])
        problem = (f"a term of {line.term_months} months is not offered; choose {terms} "
                   f"months.")
    elif quantity < 1:
        problem = "the quantity must be at least 1."
    # NaN first: comparing it would raise InvalidOperation.
    elif (isinstance(discount, Decimal) and not discount.is_finite()) or not 0 <= discount < 1:
        problem = "the negotiated discount must be at least 0 % and below 100 %."
    if problem:
        raise PricingError(f"Line {position} ({offering.name}, {offering.code}): {problem}",
                           position, offering.code)


class _Term(NamedTuple):
    """What a line's offering and term decide, the same for all such lines."""

    discount: Decimal
    unit: Decimal  # recurring x (1 - v) x (1 - t), exact
    months_free: int
    months_charged: int


class _OfferingPlan:
    """The figures of one offering in one configuration, computed once for all its lines."""

    def __init__(self, offering: Offering, total: int, day: dt.date) -> None:
        self.offering = offering
        self.total = total
        self.tier = _tier(offering.volume_tiers, total)
        self.tier_min = self.tier.min if self.tier else None
        self.volume_discount = self.tier.discount if self.tier else Decimal(0)
        valid = [p for p in offering.promotions if p.is_valid_on(day)]
        # max() keeps the first of equals: on a tie, the catalog's order decides.
        self.promotion = max(valid, key=lambda p: p.months_free) if valid else None
        self.promotion_code = self.promotion.code if self.promotion else None
        self.terms: dict[int, _Term] = {}

    def term(self, months: int) -> _Term:
        found = self.terms.get(months)
        if found is None:
            discount = self.offering.terms[months]
            unit = self.offering.recurring * (_ONE - self.volume_discount) * (_ONE - discount)
            free = min(max(self.promotion.months_free, 0), months) if self.promotion else 0
            found = self.terms[months] = _Term(discount, unit, free, months - free)
        return found


def _price_line(line: LineRequest, plan: _OfferingPlan) -> LinePrice:
    # The inner loop of 10,000-line configurations: everything that does not depend on the
    # line itself is in `plan`, and the breakdown waits until it is asked for. Multiplying
    # the precomputed unit factor is exact, so the MRC is the one rounding of the full
    # product that DESIGN.md prescribes.
    offering = plan.offering
    quantity = line.quantity
    discount = line.negotiated_discount
    if discount.__class__ is int:  # an int 0: the figures are Decimals all the same
        discount = Decimal(discount)
    term = plan.term(line.term_months)
    exact = term.unit * quantity
    if discount:
        exact *= _ONE - discount
    mrc = exact.quantize(CENT, rounding=ROUND_HALF_UP)
    nrc = (offering.one_off * quantity).quantize(CENT, rounding=ROUND_HALF_UP)
    return LinePrice(
        line, offering.name, offering.recurring, offering.one_off, plan.total, plan.tier_min,
        plan.volume_discount, term.discount, discount, mrc, nrc, plan.promotion_code,
        term.months_free, nrc + mrc * term.months_charged)


def _steps(price: LinePrice) -> tuple[PriceStep, ...]:
    """The breakdown of `price` (see PriceStep), recomputed exactly from its fields."""
    quantity, months = price.request.quantity, price.request.term_months
    with localcontext(_EXACT):
        amount = price.list_unit_recurring * quantity
        steps = [PriceStep("list", f"List price: {quantity} x {price.list_unit_recurring} "
                                   f"a month", _tidy(amount))]
        if price.volume_discount:
            amount *= _ONE - price.volume_discount
            steps.append(PriceStep(
                "volume", f"Volume discount {_percent(price.volume_discount)} (from "
                          f"{price.volume_tier_min} units; {price.volume_quantity} in this "
                          f"configuration)", _tidy(amount)))
        if price.term_discount:
            amount *= _ONE - price.term_discount
            steps.append(PriceStep(
                "term", f"Term discount {_percent(price.term_discount)} ({months} months)",
                _tidy(amount)))
        if price.negotiated_discount:
            amount *= _ONE - price.negotiated_discount
            steps.append(PriceStep(
                "negotiated", f"Negotiated discount {_percent(price.negotiated_discount)}",
                _tidy(amount)))
        steps.append(PriceStep("mrc", "Monthly recurring charge (rounded to the cent)",
                               price.mrc))
        steps.append(PriceStep("nrc", f"One-off charge: {quantity} x "
                                      f"{price.list_unit_one_off}", price.nrc))
        if price.promotion_code is not None:
            # ZERO - x, not -x: a zero saving must read 0.00, not -0.00.
            steps.append(PriceStep(
                "promotion", f"Promotion {price.promotion_code}: first "
                             f"{_months(price.months_free)} free",
                ZERO - price.mrc * price.months_free))
        steps.append(PriceStep(
            "tcv", f"Total contract value: one-off + {_months(months - price.months_free)} "
                   f"x monthly ({months}-month term)", price.tcv))
    return tuple(steps)


def _tier(tiers: Sequence[VolumeTier], total: int) -> VolumeTier | None:
    """The tier with the largest `min` not above `total` (tiers may come in any order)."""
    best = None
    for tier in tiers:
        if tier.min <= total and (best is None or tier.min > best.min):
            best = tier
    return best


def _tidy(amount: Decimal) -> Decimal:
    """An exact intermediate amount without the trailing zeros that multiplying by rates
    leaves (675.0000 -> 675.00, 534.375000 -> 534.375), keeping at least cents; never
    rounds."""
    cents = amount.quantize(CENT)
    return cents if cents == amount else amount.normalize()


def _months(count: int) -> str:
    return "1 month" if count == 1 else f"{count} months"


def _words(items: list[str]) -> str:
    """"12, 24 or 36"."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} or {items[-1]}"
