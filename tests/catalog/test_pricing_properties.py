"""Invariants of the pricing engine over generated catalogs and configurations, checked
against an independent oracle in exact fractions (no Decimal context involved)."""

from __future__ import annotations

import datetime as dt
import json
import math
from decimal import Decimal
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from portal.catalog.pricing import LineRequest, price_configuration
from portal.catalog.schema import ApprovalPolicy, Catalog, Offering, Promotion, VolumeTier

# Deterministic for CI: the same examples on every run, nothing stored between runs.
PROPERTY = settings(max_examples=100, derandomize=True, deadline=None, database=None)
DAY = dt.date(2025, 3, 15)
CODES = ("OFF-A", "OFF-B", "OFF-C")
codes = st.sampled_from(CODES)


def scaled(low: int, high: int, places: int) -> st.SearchStrategy[Decimal]:
    """Decimals low/10^places .. high/10^places with exactly `places` decimal places."""
    return st.integers(low, high).map(lambda n: Decimal(n).scaleb(-places))


# Strategies are built once: building them inside a draw makes generation several times slower.
# Prices in cents, and sometimes with four places (per-minute rates, odd list prices).
prices = st.one_of(scaled(0, 100_000, 2), scaled(0, 1_000_000, 4))
rates = st.one_of(st.just(Decimal("0")), scaled(0, 60, 2), scaled(0, 9_999, 4))
negotiated = st.one_of(st.just(Decimal("0")), scaled(0, 9_999, 4))
quantities = st.integers(1, 400)
sites = st.integers(1, 5)
window_ends = st.none() | st.integers(-30, 30).map(lambda days: DAY + dt.timedelta(days))
promotions = st.builds(Promotion, st.sampled_from(["PROMO-A", "PROMO-B"]), st.integers(0, 72),
                       window_ends, window_ends)
first_tier_mins = st.sampled_from([1, 1, 1, 3])
later_tier_mins = st.sets(st.integers(2, 400), max_size=3)
term_tables = st.dictionaries(st.sampled_from([1, 12, 24, 36, 60]), rates, min_size=1,
                              max_size=3)


@st.composite
def offerings(draw, code: str) -> Offering:
    # Tiers with larger minimums never give smaller discounts (a sane catalog); the first
    # tier does not always start at 1, so that sometimes no tier applies.
    mins = sorted(draw(later_tier_mins) | {draw(first_tier_mins)})
    discounts = sorted(draw(st.lists(rates, min_size=len(mins), max_size=len(mins))))
    return Offering(
        code=code, name=f"Offering {code}", family="mobile", fulfilment="mobile-bss",
        recurring=draw(prices), one_off=draw(prices),
        volume_tiers=tuple(VolumeTier(m, d) for m, d in zip(mins, discounts, strict=True)),
        terms=draw(term_tables), promotions=tuple(draw(st.lists(promotions, max_size=3))))


@st.composite
def catalogs(draw) -> Catalog:
    return Catalog(
        currency="EUR", approval=ApprovalPolicy(Decimal("0.05"), Decimal("0.15"),
                                                Decimal("0.30")),
        quote_validity_days=30,
        tax_rates={"XX": draw(scaled(0, 3_000, 4)), "DE": Decimal("0.19")},
        offerings={code: draw(offerings(code)) for code in CODES})


@st.composite
def lines_for(draw, catalog: Catalog, min_size: int = 1, max_size: int = 12):
    terms = {code: st.sampled_from(sorted(o.terms)) for code, o in catalog.offerings.items()}
    lines = []
    for _ in range(draw(st.integers(min_size, max_size))):
        code = draw(codes)
        lines.append(LineRequest(code, draw(quantities), draw(terms[code]), draw(sites),
                                 draw(negotiated)))
    return lines


@st.composite
def configurations(draw):
    catalog = draw(catalogs())
    return catalog, draw(lines_for(catalog))


def half_up(amount: Fraction) -> Decimal:
    """`amount` (not negative) rounded half-up to cents, without Decimal arithmetic."""
    return Decimal(math.floor(amount * 100 + Fraction(1, 2))).scaleb(-2)


def oracle(catalog: Catalog, lines: list[LineRequest]) -> list[tuple[Decimal, Decimal, Decimal]]:
    """(MRC, NRC, TCV) of each line, straight from DESIGN.md, in exact fractions."""
    totals: dict[str, int] = {}
    for line in lines:
        totals[line.offering_code] = totals.get(line.offering_code, 0) + line.quantity
    out = []
    for line in lines:
        offering = catalog.offerings[line.offering_code]
        reached = [t for t in offering.volume_tiers if t.min <= totals[offering.code]]
        v = Fraction(max(reached, key=lambda t: t.min).discount) if reached else Fraction(0)
        t = Fraction(offering.terms[line.term_months])
        d = Fraction(line.negotiated_discount)
        mrc = half_up(Fraction(offering.recurring) * line.quantity * (1 - v) * (1 - t) * (1 - d))
        nrc = half_up(Fraction(offering.one_off) * line.quantity)
        valid = [p.months_free for p in offering.promotions if p.is_valid_on(DAY)]
        charged = max(line.term_months - max(valid, default=0), 0)
        out.append((mrc, nrc, nrc + mrc * charged))
    return out


def money(result) -> list[Decimal]:
    figures = [result.total_mrc, result.total_nrc, result.total_tcv, result.tax_mrc,
               result.tax_nrc, result.tax_tcv, result.mrc_with_tax, result.nrc_with_tax,
               result.tcv_with_tax]
    for line in result.lines:
        figures += [line.mrc, line.nrc, line.tcv]
    return figures


@PROPERTY
@given(configurations())
def test_every_line_figure_is_the_half_up_rounding_of_the_exact_product(configuration):
    catalog, lines = configuration
    result = price_configuration(catalog, lines, "XX", DAY)
    assert [(p.mrc, p.nrc, p.tcv) for p in result.lines] == oracle(catalog, lines)


@PROPERTY
@given(configurations())
def test_totals_are_sums_of_lines_and_tax_is_the_rounded_total_times_rate(configuration):
    catalog, lines = configuration
    result = price_configuration(catalog, lines, "XX", DAY)
    rate = Fraction(catalog.tax_rates["XX"])
    for name in ("mrc", "nrc", "tcv"):
        total = getattr(result, f"total_{name}")
        assert total == sum(getattr(line, name) for line in result.lines)
        assert getattr(result, f"tax_{name}") == half_up(Fraction(total) * rate)
        assert getattr(result, f"{name}_with_tax") == total + getattr(result, f"tax_{name}")


@PROPERTY
@given(configurations())
def test_nothing_is_negative_and_every_figure_has_exactly_two_places(configuration):
    catalog, lines = configuration
    for figure in money(price_configuration(catalog, lines, "XX", DAY)):
        assert figure >= 0
        assert not figure.is_signed()  # no -0.00 either
        assert figure.as_tuple().exponent == -2, figure


@PROPERTY
@given(catalogs(), codes, st.integers(1, 450), st.integers(1, 450),
       st.data())
def test_a_larger_quantity_never_raises_the_unit_price(catalog, code, q1, q2, data):
    q1, q2 = sorted((q1, q2))
    offering = catalog.offerings[code]
    term = data.draw(st.sampled_from(sorted(offering.terms)))
    discount = data.draw(negotiated)
    (small,) = price_configuration(
        catalog, [LineRequest(code, q1, term, 1, discount)], "XX", DAY).lines
    (large,) = price_configuration(
        catalog, [LineRequest(code, q2, term, 1, discount)], "XX", DAY).lines
    assert large.volume_discount >= small.volume_discount
    # Per unit: large.mrc / q2 <= small.mrc / q1, give or take each MRC's own rounding
    # (at most half a cent either way), without dividing.
    assert large.mrc * q1 <= small.mrc * q2 + Decimal("0.005") * (q1 + q2)


@PROPERTY
@given(st.data())
def test_more_of_an_offering_elsewhere_never_raises_a_lines_price(data):
    catalog = data.draw(catalogs())
    lines = data.draw(lines_for(catalog))
    first = lines[0]
    extra = LineRequest(first.offering_code, data.draw(quantities),
                        first.term_months, site_id=99)
    before = price_configuration(catalog, lines, "XX", DAY).lines[0]
    after = price_configuration(catalog, [*lines, extra], "XX", DAY).lines[0]
    assert after.mrc <= before.mrc
    assert after.tcv <= before.tcv


@PROPERTY
@given(configurations())
def test_breakdown_adds_up(configuration):
    catalog, lines = configuration
    for price in price_configuration(catalog, lines, "XX", DAY).lines:
        steps = {step.key: step.amount for step in price.steps}
        assert steps["list"] == price.list_unit_recurring * price.request.quantity
        assert steps["mrc"] == price.mrc and steps["nrc"] == price.nrc
        term = price.request.term_months
        assert steps["tcv"] == price.nrc + price.mrc * term + steps.get("promotion", 0)
        assert ("promotion" in steps) == (price.promotion_code is not None)


@PROPERTY
@given(configurations())
def test_as_dict_round_trips_through_json_exactly(configuration):
    catalog, lines = configuration
    result = price_configuration(catalog, lines, "XX", DAY)
    data = json.loads(json.dumps(result.as_dict()))
    assert Decimal(data["tcv_with_tax"]) == result.tcv_with_tax
    assert data["tcv_with_tax"] == str(result.tcv_with_tax)  # same digits, not just value
    for frozen, line in zip(data["lines"], result.lines, strict=True):
        assert (frozen["mrc"], frozen["nrc"], frozen["tcv"]) == (
            str(line.mrc), str(line.nrc), str(line.tcv))
        assert [Decimal(step["amount"]) for step in frozen["steps"]] == [
            step.amount for step in line.steps]
