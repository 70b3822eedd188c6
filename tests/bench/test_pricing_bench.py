"""Pricing engine timings on a generated 1,000-site configuration of 10,000 lines, next to a
baseline measured in the same run (`make bench`).

The baseline is the least any engine must do: a plain loop summing the 10,000 Decimal list
prices times quantities. Prints the median of several runs, lines per second and the ratio
to the baseline. No time limits: these machines are noisy; compare the ratios across runs.
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
import time
from decimal import Decimal

from portal.catalog.pricing import LineRequest, price_configuration
from portal.catalog.rules import check_configuration
from portal.catalog.schema import ApprovalPolicy, Catalog, Offering, Promotion, VolumeTier

SITES = 1_000
OFFERINGS = 10
ROUNDS = 7
DAY = dt.date(2025, 3, 15)
COUNTRIES = ("DE", "FR", "GB", "NL")


def _catalog() -> Catalog:
    offerings = {}
    for n in range(OFFERINGS):
        code = f"OFF-{n:02d}"
        offerings[code] = Offering(
            code=code, name=f"Offering {n}", family="mobile", fulfilment="mobile-bss",
            recurring=Decimal(f"{9 + 7 * n}.{(n * 37) % 100:02d}"),
            one_off=Decimal(f"{n * 5}.50"),
            volume_tiers=(VolumeTier(1, Decimal("0")), VolumeTier(500, Decimal("0.05")),
                          VolumeTier(2_000, Decimal("0.10")),
                          VolumeTier(10_000, Decimal("0.175"))),
            terms={12: Decimal("0"), 24: Decimal("0.05"), 36: Decimal("0.075")},
            promotions=(Promotion("SIX-FREE", 6, dt.date(2025, 1, 1), dt.date(2025, 6, 30)),
                        Promotion("OLD-TWELVE", 12, None, dt.date(2024, 12, 31)),
                        Promotion("THREE-FREE", 3)) if n % 3 == 0 else (),
            available_in=COUNTRIES)
    return Catalog(currency="EUR",
                   approval=ApprovalPolicy(Decimal("0.05"), Decimal("0.15"), Decimal("0.30")),
                   quote_validity_days=30,
                   tax_rates={"DE": Decimal("0.19"), "FR": Decimal("0.20")},
                   offerings=offerings)


def _lines() -> list[LineRequest]:
    """Every site takes every offering, with varied quantities, terms and discounts."""
    terms = (12, 24, 36)
    discounts = (Decimal("0"), Decimal("0"), Decimal("0.03"), Decimal("0.125"))
    return [LineRequest(f"OFF-{n:02d}", 1 + (site * 7 + n * 3) % 40, terms[(site + n) % 3],
                        site, discounts[(site * n) % 4])
            for site in range(SITES) for n in range(OFFERINGS)]


def _median_ms(function, rounds: int = ROUNDS) -> float:
    function()  # warm-up
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        function()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def test_pricing_timings():
    catalog, lines = _catalog(), _lines()
    sites = {site: COUNTRIES[site % 4] for site in range(SITES)}
    offerings = catalog.offerings

    def baseline() -> Decimal:
        total = Decimal(0)
        for line in lines:
            total += offerings[line.offering_code].recurring * line.quantity
        return total

    result = price_configuration(catalog, lines, "DE", DAY)
    rows = [
        ("baseline: sum of recurring x quantity", _median_ms(baseline)),
        ("price_configuration (live pricing)", _median_ms(
            lambda: price_configuration(catalog, lines, "DE", DAY))),
        # What saving a quote adds: every line's breakdown, then JSON-safe data.
        ("price + every line's steps", _median_ms(
            lambda: [p.steps for p in price_configuration(catalog, lines, "DE", DAY).lines])),
        ("price + steps + as_dict (freeze a quote)", _median_ms(
            lambda: price_configuration(catalog, lines, "DE", DAY).as_dict())),
        ("check_configuration", _median_ms(
            lambda: check_configuration(catalog, lines, sites, DAY))),
    ]
    # Last: the frozen data is 100,000 dicts, and every collection of the garbage
    # collector would walk them while the rows above are timed.
    frozen = result.as_dict()
    rows.append(("json.dumps of the frozen data", _median_ms(lambda: json.dumps(frozen))))
    base = rows[0][1]
    width = max(len(label) for label, _ in rows) + 2
    print(f"\n{SITES:,} sites, {len(lines):,} lines, {OFFERINGS} offerings "
          f"(median of {ROUNDS} runs)")
    print(f"{'step':<{width}}{'median ms':>10}{'lines/s':>12}{'x baseline':>12}")
    for label, ms in rows:
        print(f"{label:<{width}}{ms:>10.1f}{len(lines) / ms * 1000:>12,.0f}{ms / base:>12.1f}")
    print(f"frozen as JSON: {len(json.dumps(frozen)) / 1e6:.1f} MB; "
          f"total MRC {result.total_mrc} EUR, TCV {result.total_tcv} EUR, "
          f"with tax {result.tcv_with_tax} EUR")
    assert len(result.lines) == len(lines)
    assert result.total_mrc == sum(line.mrc for line in result.lines)
    assert check_configuration(catalog, lines, sites, DAY) == []
