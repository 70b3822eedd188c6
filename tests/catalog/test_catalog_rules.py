"""The rules of a configuration (portal.catalog.rules): each rule on its own, both directions
of `excludes`, availability by the site's country, sales windows, quantities, and guided
selling."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from portal.catalog.pricing import LineRequest
from portal.catalog.rules import Violation, check_configuration, guided_selling
from portal.catalog.schema import ApprovalPolicy, Catalog, Offering
from portal.rules import RuleError

DAY = dt.date(2025, 3, 15)
SITES = {1: "DE", 2: "GB", 3: "FR"}


def offering(code: str, name: str, family: str = "broadband", **fields) -> Offering:
    fields.setdefault("terms", {12: Decimal("0"), 24: Decimal("0.05")})
    return Offering(code=code, name=name, family=family, fulfilment="fixed-bss",
                    recurring=Decimal("10.00"), one_off=Decimal("0.00"), **fields)


CATALOG = Catalog(
    currency="EUR",
    approval=ApprovalPolicy(Decimal("0.05"), Decimal("0.15"), Decimal("0.30")),
    quote_validity_days=30,
    tax_rates={"DE": Decimal("0.19")},
    offerings={o.code: o for o in [
        offering("FIBRE-1G", "Business Fibre 1 Gbit/s", available_in=("DE", "FR", "NL")),
        offering("ROUTER-M", "Managed router"),
        offering("SDWAN-EDGE", "SD-WAN edge", family="sdwan",
                 requires=("FIBRE-1G", "ROUTER-M")),
        # Only DSL declares the exclusion; the rule must hold from both sides.
        offering("DSL-100", "DSL 100", excludes=("FIBRE-1G",)),
        offering("VOICE-SIP", "Business SIP trunk", family="voice",
                 min_quantity=2, max_quantity=30),
        offering("TV-OLD", "TV classic", family="tv", valid_to=dt.date(2025, 3, 14)),
        offering("TV-NEW", "TV next", family="tv", valid_from=dt.date(2025, 3, 16)),
        offering("MOB-UNL", "Business Mobile Unlimited", family="mobile"),
        offering("MOB-BASIC", "Business Mobile Basic", family="mobile"),
        offering("MOB-OLD", "Business Mobile 2019", family="mobile",
                 valid_to=dt.date(2024, 12, 31)),
        offering("CASE-X", "Rugged case", family="accessory"),
        offering("CHARGER-X", "Fast charger", family="accessory",
                 valid_from=dt.date(2025, 4, 1)),
        offering("PHONE-X", "Phone X", family="device",
                 plans=("MOB-UNL", "MOB-OLD", "GONE-PLAN", "MOB-BASIC", "MOB-UNL"),
                 accessories=("CHARGER-X", "CASE-X")),
    ]},
)


def check(*lines: LineRequest, day: dt.date = DAY) -> list[Violation]:
    return check_configuration(CATALOG, list(lines), SITES, day)


def messages(*lines: LineRequest, day: dt.date = DAY) -> list[tuple[int | None, str]]:
    return [(v.line_index, v.message) for v in check(*lines, day=day)]


def test_a_valid_configuration_has_no_violations():
    assert check(LineRequest("FIBRE-1G", 1, 24, 1), LineRequest("ROUTER-M", 1, 24, 1),
                 LineRequest("SDWAN-EDGE", 1, 12, 1), LineRequest("VOICE-SIP", 2, 12, 1),
                 LineRequest("DSL-100", 1, 12, 2), LineRequest("MOB-UNL", 5, 24, 3)) == []


def test_unknown_offering_is_reported_and_nothing_else_checked():
    assert check(LineRequest("NOPE", 0, 99, 2)) == [
        Violation(0, 2, "NOPE", "NOPE is not in the catalog.")]


@pytest.mark.parametrize(("code", "day", "expected"), [
    ("TV-OLD", dt.date(2025, 3, 14), []),  # the last day is still a sales day
    ("TV-OLD", dt.date(2025, 3, 15),
     ["TV classic is no longer sold (it was sold until 14 March 2025)."]),
    ("TV-NEW", dt.date(2025, 3, 15), ["TV next is sold from 16 March 2025."]),
    ("TV-NEW", dt.date(2025, 3, 16), []),  # the first day counts
])
def test_sales_window(code, day, expected):
    assert [m for _, m in messages(LineRequest(code, 1, 12, 1), day=day)] == expected


def test_term_not_offered():
    assert messages(LineRequest("MOB-UNL", 1, 36, 1)) == [
        (0, "Business Mobile Unlimited is offered for 12 or 24 months, not 36.")]


@pytest.mark.parametrize(("quantity", "expected"), [
    (1, ["Business SIP trunk needs at least 2 per line (1 asked)."]),
    (2, []),
    (30, []),
    (31, ["Business SIP trunk allows at most 30 per line (31 asked)."]),
])
def test_min_and_max_quantity(quantity, expected):
    assert [m for _, m in messages(LineRequest("VOICE-SIP", quantity, 12, 1))] == expected


def test_quantity_below_the_default_minimum_of_one():
    assert messages(LineRequest("MOB-UNL", 0, 12, 1)) == [
        (0, "Business Mobile Unlimited needs at least 1 per line (0 asked).")]


@pytest.mark.parametrize(("site", "expected"), [
    (1, []),  # DE
    (3, []),  # FR
    (2, ["Business Fibre 1 Gbit/s is not available in GB (available in DE, FR and NL)."]),
    (7, ["Business Fibre 1 Gbit/s is on a site that is not one of this organisation's "
         "sites."]),
])
def test_availability_by_the_sites_country(site, expected):
    assert [m for _, m in messages(LineRequest("FIBRE-1G", 1, 24, site))] == expected


def test_empty_available_in_means_everywhere():
    assert check(LineRequest("ROUTER-M", 1, 12, 2)) == []  # GB


def test_requires_all_of_the_listed_offerings_on_the_same_site():
    assert messages(LineRequest("SDWAN-EDGE", 1, 12, 1)) == [
        (0, "SD-WAN edge needs Business Fibre 1 Gbit/s and Managed router on the same site.")]
    assert messages(LineRequest("SDWAN-EDGE", 1, 12, 1),
                    LineRequest("FIBRE-1G", 1, 24, 1)) == [
        (0, "SD-WAN edge needs Managed router on the same site.")]


def test_requires_is_met_by_any_line_of_the_site_in_any_order():
    assert check(LineRequest("SDWAN-EDGE", 1, 12, 1), LineRequest("ROUTER-M", 1, 12, 1),
                 LineRequest("FIBRE-1G", 1, 24, 1)) == []


def test_requires_is_not_met_from_another_site():
    violations = check(LineRequest("SDWAN-EDGE", 1, 12, 1), LineRequest("ROUTER-M", 1, 12, 3),
                       LineRequest("FIBRE-1G", 1, 24, 3))
    assert [(v.line_index, v.site_id, v.offering_code) for v in violations] == [
        (0, 1, "SDWAN-EDGE")]


def test_excludes_reported_on_the_later_line_when_the_earlier_declares_it():
    assert check(LineRequest("DSL-100", 1, 12, 1), LineRequest("FIBRE-1G", 1, 24, 1)) == [
        Violation(1, 1, "FIBRE-1G", "Business Fibre 1 Gbit/s cannot be on the same site as "
                                    "DSL 100.")]


def test_excludes_reported_on_the_later_line_when_the_later_declares_it():
    assert check(LineRequest("FIBRE-1G", 1, 24, 1), LineRequest("DSL-100", 1, 12, 1)) == [
        Violation(1, 1, "DSL-100", "DSL 100 cannot be on the same site as Business Fibre "
                                   "1 Gbit/s.")]


def test_excludes_only_on_the_same_site():
    assert check(LineRequest("FIBRE-1G", 1, 24, 1), LineRequest("DSL-100", 1, 12, 3)) == []


def test_each_later_conflicting_line_is_reported_once():
    violations = check(LineRequest("DSL-100", 1, 12, 1), LineRequest("FIBRE-1G", 1, 24, 1),
                       LineRequest("FIBRE-1G", 2, 24, 1))
    assert [v.line_index for v in violations] == [1, 2]


def test_a_line_without_a_site_skips_the_site_rules_only():
    assert check(LineRequest("SDWAN-EDGE", 1, 12), LineRequest("DSL-100", 1, 12),
                 LineRequest("FIBRE-1G", 1, 24)) == []
    assert messages(LineRequest("VOICE-SIP", 1, 36)) == [
        (0, "Business SIP trunk is offered for 12 or 24 months, not 36."),
        (0, "Business SIP trunk needs at least 2 per line (1 asked).")]


def test_violations_come_in_line_order_with_all_of_a_lines_faults():
    violations = check(LineRequest("MOB-UNL", 1, 12, 1), LineRequest("TV-OLD", 1, 36, 2),
                       LineRequest("NOPE", 1, 12, 1))
    assert [(v.line_index, v.offering_code) for v in violations] == [
        (1, "TV-OLD"), (1, "TV-OLD"), (2, "NOPE")]


def test_guided_selling_gives_plans_then_accessories_sold_on_the_day():
    plans, accessories = guided_selling(CATALOG, "PHONE-X", DAY)
    # In the device's order, once each; withdrawn (MOB-OLD), future (CHARGER-X) and
    # missing (GONE-PLAN) offerings left out.
    assert [o.code for o in plans] == ["MOB-UNL", "MOB-BASIC"]
    assert [o.code for o in accessories] == ["CASE-X"]
    _, later = guided_selling(CATALOG, "PHONE-X", dt.date(2025, 4, 1))
    assert [o.code for o in later] == ["CHARGER-X", "CASE-X"]


def test_guided_selling_of_an_offering_without_plans():
    assert guided_selling(CATALOG, "MOB-UNL", DAY) == ([], [])


def test_guided_selling_of_an_unknown_device():
    with pytest.raises(RuleError, match="PHONE-Z is not in the catalog"):
        guided_selling(CATALOG, "PHONE-Z", DAY)
