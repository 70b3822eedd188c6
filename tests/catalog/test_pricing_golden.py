"""Golden prices worked out by hand (the arithmetic is in the comments), for the rules of
DESIGN.md, "Pricing": volume tiers across sites, terms, negotiated discounts, promotions and
their windows, tax by billing country, and half-up rounding at exact half cents."""

from __future__ import annotations

import datetime as dt
import json
from decimal import ROUND_HALF_EVEN, Decimal

import pytest

from portal.catalog.pricing import (
    LineRequest,
    PricingError,
    approval_path,
    price_configuration,
)
from portal.catalog.schema import ApprovalPolicy, Catalog, Offering, Promotion, VolumeTier
from portal.rules import RuleError

D = Decimal
IN_SIX_FREE = dt.date(2025, 3, 15)  # SIX-FREE runs 1 January to 30 June 2025
NO_PROMOTION = dt.date(2025, 8, 1)


def golden_catalog() -> Catalog:
    return Catalog(
        currency="EUR",
        approval=ApprovalPolicy(D("0.05"), D("0.15"), D("0.30")),
        quote_validity_days=30,
        tax_rates={"DE": D("0.19"), "FR": D("0.20"), "GB": D("0.20"), "NL": D("0.21")},
        offerings={
            "MOB-UNL": Offering(
                code="MOB-UNL", name="Business Mobile Unlimited", family="mobile",
                fulfilment="mobile-bss", recurring=D("25.00"), one_off=D("10.00"),
                volume_tiers=(VolumeTier(1, D("0")), VolumeTier(50, D("0.10")),
                              VolumeTier(200, D("0.18"))),
                terms={12: D("0"), 24: D("0.05"), 36: D("0.10")},
                promotions=(
                    Promotion("SIX-FREE", 6, dt.date(2025, 1, 1), dt.date(2025, 6, 30)),
                    # More months, but only in spring 2024.
                    Promotion("SPRING-9", 9, dt.date(2024, 3, 1), dt.date(2024, 5, 31)),
                )),
            "FIBRE-1G": Offering(
                code="FIBRE-1G", name="Business Fibre 1 Gbit/s", family="broadband",
                fulfilment="fixed-bss", recurring=D("89.00"), one_off=D("199.00"),
                volume_tiers=(VolumeTier(1, D("0")), VolumeTier(10, D("0.05"))),
                terms={24: D("0"), 36: D("0.08")}),
            "VOICE-SIP": Offering(
                code="VOICE-SIP", name="Business SIP trunk", family="voice",
                fulfilment="fixed-bss", recurring=D("24.70"), one_off=D("0.50"),
                terms={12: D("0"), 24: D("0.05")}),
            "TV-BAR": Offering(
                code="TV-BAR", name="TV for bars", family="tv", fulfilment="tv-bss",
                recurring=D("19.99"), one_off=D("0.00"), terms={12: D("0")},
                promotions=(Promotion("WELCOME-18", 18),)),  # longer than the term
        },
    )


CATALOG = golden_catalog()


def price(lines, country="DE", day=IN_SIX_FREE):
    return price_configuration(CATALOG, lines, country, day)


def test_tiers_cross_when_two_sites_together_reach_fifty():
    result = price([LineRequest("MOB-UNL", 30, 24, site_id=1),
                    LineRequest("MOB-UNL", 25, 24, site_id=2)])
    a, b = result.lines
    # 30 + 25 = 55 units of MOB-UNL: the 50 tier (10 %) for both lines.
    assert (a.volume_tier_min, a.volume_discount) == (50, D("0.10"))
    assert (b.volume_tier_min, b.volume_discount) == (50, D("0.10"))
    # A: 25.00 x 30 = 750.00; x 0.90 = 675.00; x 0.95 (24 months) = 641.25
    assert a.mrc == D("641.25")
    # B: 25.00 x 25 = 625.00; x 0.90 = 562.50; x 0.95 = 534.375 -> 534.38 (half up)
    assert b.mrc == D("534.38")
    # NRC: 10.00 x 30 = 300.00; 10.00 x 25 = 250.00
    assert (a.nrc, b.nrc) == (D("300.00"), D("250.00"))
    # SIX-FREE: 24 - 6 = 18 months charged.
    # A: 300.00 + 641.25 x 18 = 300.00 + 11542.50 = 11842.50
    # B: 250.00 + 534.38 x 18 = 250.00 + 9618.84 = 9868.84
    assert (a.tcv, b.tcv) == (D("11842.50"), D("9868.84"))
    # 641.25 + 534.38 = 1175.63; 300.00 + 250.00 = 550.00; 11842.50 + 9868.84 = 21711.34
    assert (result.total_mrc, result.total_nrc, result.total_tcv) == (
        D("1175.63"), D("550.00"), D("21711.34"))


def test_without_the_other_site_the_tier_is_not_reached():
    (line,) = price([LineRequest("MOB-UNL", 30, 24, site_id=1)]).lines
    # 30 units: the 1 tier (0 %). 25.00 x 30 = 750.00; x 0.95 = 712.50
    assert (line.volume_tier_min, line.volume_discount, line.mrc) == (1, D("0"), D("712.50"))


def test_highest_tier():
    (line,) = price([LineRequest("MOB-UNL", 120, 36, 1), LineRequest("MOB-UNL", 80, 36, 2)],
                    day=NO_PROMOTION).lines[:1]
    # 120 + 80 = 200: the 200 tier (18 %). 25.00 x 120 = 3000.00; x 0.82 = 2460.00;
    # x 0.90 (36 months) = 2214.00; TCV = 1200.00 + 2214.00 x 36 = 1200.00 + 79704.00
    assert (line.volume_tier_min, line.mrc, line.nrc, line.tcv) == (
        200, D("2214.00"), D("1200.00"), D("80904.00"))


@pytest.mark.parametrize(("term", "mrc", "tcv"), [
    # 25.00 x 10 = 250.00 (no tier, no promotion); NRC 10.00 x 10 = 100.00
    (12, D("250.00"), D("3100.00")),  # x 1.00; 100.00 + 250.00 x 12 = 3100.00
    (24, D("237.50"), D("5800.00")),  # x 0.95; 100.00 + 237.50 x 24 = 5800.00
    (36, D("225.00"), D("8200.00")),  # x 0.90; 100.00 + 225.00 x 36 = 8200.00
])
def test_each_term(term, mrc, tcv):
    (line,) = price([LineRequest("MOB-UNL", 10, term, 1)], day=NO_PROMOTION).lines
    assert (line.mrc, line.nrc, line.tcv) == (mrc, D("100.00"), tcv)
    assert (line.promotion_code, line.months_free) == (None, 0)


def test_negotiated_discount():
    a, b = price([LineRequest("MOB-UNL", 30, 24, 1, negotiated_discount=D("0.07")),
                  LineRequest("MOB-UNL", 25, 24, 2)]).lines
    # A: 750.00 x 0.90 x 0.95 = 641.25; x 0.93 = 596.3625 -> 596.36
    assert a.mrc == D("596.36")
    # A: 300.00 + 596.36 x 18 = 300.00 + 10734.48 = 11034.48
    assert a.tcv == D("11034.48")
    assert b.mrc == D("534.38")  # the discount of A changes nothing for B


@pytest.mark.parametrize(("day", "code", "months", "tcv"), [
    # 25.00 x 10 x 0.95 = 237.50 a month, 24 months, NRC 100.00
    (dt.date(2025, 1, 1), "SIX-FREE", 6, D("4375.00")),  # 100.00 + 237.50 x 18
    (dt.date(2025, 6, 30), "SIX-FREE", 6, D("4375.00")),  # last day still counts
    (dt.date(2025, 7, 1), None, 0, D("5800.00")),  # 100.00 + 237.50 x 24
    (dt.date(2024, 12, 31), None, 0, D("5800.00")),
    # Spring 2024: SPRING-9 is the only one valid. 100.00 + 237.50 x 15 = 3662.50
    (dt.date(2024, 4, 1), "SPRING-9", 9, D("3662.50")),
])
def test_promotion_only_within_its_window(day, code, months, tcv):
    (line,) = price([LineRequest("MOB-UNL", 10, 24, 1)], day=day).lines
    assert (line.promotion_code, line.months_free, line.tcv) == (code, months, tcv)
    assert line.mrc == D("237.50")  # a promotion never changes the monthly charge


def test_promotion_longer_than_the_term_makes_the_whole_term_free():
    (line,) = price([LineRequest("TV-BAR", 3, 12, 1)]).lines
    # 19.99 x 3 = 59.97 a month; WELCOME-18 frees all 12 months: TCV = NRC = 0.00
    assert (line.mrc, line.months_free, line.tcv) == (D("59.97"), 12, D("0.00"))


def test_several_sites_and_offerings():
    result = price(_estate_lines())
    # MOB-UNL as above: 641.25 and 534.38, TCV 11842.50 and 9868.84.
    # FIBRE-1G, 2 units in all (no tier), 36 months: 89.00 x 0.92 = 81.88 a month;
    # NRC 199.00; TCV 199.00 + 81.88 x 36 = 199.00 + 2947.68 = 3146.68 per site.
    assert [line.mrc for line in result.lines] == [
        D("641.25"), D("81.88"), D("534.38"), D("81.88")]
    assert [line.tcv for line in result.lines] == [
        D("11842.50"), D("3146.68"), D("9868.84"), D("3146.68")]
    # MRC 641.25 + 81.88 + 534.38 + 81.88 = 1339.39
    # NRC 300.00 + 199.00 + 250.00 + 199.00 = 948.00
    # TCV 11842.50 + 3146.68 + 9868.84 + 3146.68 = 28004.70
    assert (result.total_mrc, result.total_nrc, result.total_tcv) == (
        D("1339.39"), D("948.00"), D("28004.70"))
    assert result.currency == "EUR"


@pytest.mark.parametrize(("country", "rate", "tax", "with_tax"), [
    # MRC 1339.39 x 0.19 = 254.4841 -> 254.48; NRC 948.00 x 0.19 = 180.12;
    # TCV 28004.70 x 0.19 = 5320.893 -> 5320.89
    ("DE", D("0.19"), (D("254.48"), D("180.12"), D("5320.89")),
     (D("1593.87"), D("1128.12"), D("33325.59"))),
    # x 0.20: 267.878 -> 267.88; 189.60; 5600.94
    ("FR", D("0.20"), (D("267.88"), D("189.60"), D("5600.94")),
     (D("1607.27"), D("1137.60"), D("33605.64"))),
    # x 0.21: 281.2719 -> 281.27; 199.08; 5880.987 -> 5880.99
    ("NL", D("0.21"), (D("281.27"), D("199.08"), D("5880.99")),
     (D("1620.66"), D("1147.08"), D("33885.69"))),
])
def test_tax_by_billing_country(country, rate, tax, with_tax):
    result = price(_estate_lines(), country=country)
    assert (result.billing_country, result.tax_rate) == (country, rate)
    assert (result.tax_mrc, result.tax_nrc, result.tax_tcv) == tax
    # 1339.39 + tax, 948.00 + tax, 28004.70 + tax
    assert (result.mrc_with_tax, result.nrc_with_tax, result.tcv_with_tax) == with_tax


def test_exact_half_cents_round_up():
    result = price([LineRequest("VOICE-SIP", 1, 24, 1)], country="NL", day=NO_PROMOTION)
    (line,) = result.lines
    # 24.70 x 0.95 = 23.465 exactly: half up gives 23.47, where banker's rounding and
    # float (24.70 * 0.95 == 23.464999...) both give 23.46.
    assert line.mrc == D("23.47")
    assert D("23.465").quantize(D("0.01"), ROUND_HALF_EVEN) == D("23.46")
    assert round(24.70 * 0.95, 2) == 23.46
    # Tax: NRC 0.50 x 0.21 = 0.105 -> 0.11 (banker's and float: 0.10).
    assert result.tax_nrc == D("0.11")
    assert round(0.50 * 0.21, 2) == 0.1
    # TCV 0.50 + 23.47 x 24 = 0.50 + 563.28 = 563.78; tax 563.78 x 0.21 = 118.3938 -> 118.39
    assert (line.tcv, result.tax_tcv) == (D("563.78"), D("118.39"))


def test_breakdown_shows_every_step():
    a, _ = price([LineRequest("MOB-UNL", 30, 24, 1, negotiated_discount=D("0.07")),
                  LineRequest("MOB-UNL", 25, 24, 2)]).lines
    assert [(step.key, step.amount) for step in a.steps] == [
        ("list", D("750.00")),  # 25.00 x 30
        ("volume", D("675.00")),  # x 0.90
        ("term", D("641.25")),  # x 0.95
        ("negotiated", D("596.3625")),  # x 0.93, not rounded yet
        ("mrc", D("596.36")),
        ("nrc", D("300.00")),
        ("promotion", D("-3578.16")),  # 6 free months: 596.36 x 6
        ("tcv", D("11034.48")),  # 300.00 + 596.36 x 24 - 3578.16
    ]
    labels = [step.label for step in a.steps]
    assert labels[0] == "List price: 30 x 25.00 a month"
    assert labels[1] == "Volume discount 10 % (from 50 units; 55 in this configuration)"
    assert labels[2] == "Term discount 5 % (24 months)"
    assert labels[3] == "Negotiated discount 7 %"
    assert labels[6] == "Promotion SIX-FREE: first 6 months free"
    assert labels[7] == "Total contract value: one-off + 18 months x monthly (24-month term)"


def test_breakdown_leaves_out_discounts_that_are_zero():
    (line,) = price([LineRequest("MOB-UNL", 10, 12, 1)], day=NO_PROMOTION).lines
    assert [step.key for step in line.steps] == ["list", "mrc", "nrc", "tcv"]


def test_as_dict_is_json_safe_and_exact():
    result = price(_estate_lines(), country="FR")
    data = json.loads(json.dumps(result.as_dict()))
    assert data["total_tcv"] == "28004.70"
    assert data["tax_rate"] == "0.20"
    assert data["priced_on"] == "2025-03-15"
    line = data["lines"][0]
    assert line["request"] == {"offering_code": "MOB-UNL", "quantity": 30, "term_months": 24,
                               "site_id": 1, "negotiated_discount": "0"}
    assert (line["mrc"], line["volume_tier_min"], line["promotion_code"]) == (
        "641.25", 50, "SIX-FREE")
    assert line["steps"][-1] == {
        "key": "tcv", "amount": "11842.50",
        "label": "Total contract value: one-off + 18 months x monthly (24-month term)"}


def test_no_lines_price_to_zero():
    result = price([])
    assert (result.total_mrc, result.tax_tcv, result.tcv_with_tax) == (
        D("0.00"), D("0.00"), D("0.00"))


@pytest.mark.parametrize(("line", "message"), [
    (LineRequest("MOB-XXX", 1, 12), "Line 2: MOB-XXX is not in the catalog."),
    (LineRequest("MOB-UNL", 1, 18),
     "Line 2 (Business Mobile Unlimited, MOB-UNL): a term of 18 months is not offered; "
     "choose 12, 24 or 36 months."),
    (LineRequest("MOB-UNL", 0, 12),
     "Line 2 (Business Mobile Unlimited, MOB-UNL): the quantity must be at least 1."),
    (LineRequest("MOB-UNL", 1, 12, negotiated_discount=D("1")),
     "Line 2 (Business Mobile Unlimited, MOB-UNL): the negotiated discount must be at "
     "least 0 % and below 100 %."),
    (LineRequest("MOB-UNL", 1, 12, negotiated_discount=D("-0.01")),
     "Line 2 (Business Mobile Unlimited, MOB-UNL): the negotiated discount must be at "
     "least 0 % and below 100 %."),
    (LineRequest("MOB-UNL", 1, 12, negotiated_discount=D("NaN")),
     "Line 2 (Business Mobile Unlimited, MOB-UNL): the negotiated discount must be at "
     "least 0 % and below 100 %."),
])
def test_lines_that_cannot_be_priced(line, message):
    with pytest.raises(PricingError) as caught:
        price([LineRequest("FIBRE-1G", 1, 24), line])
    assert str(caught.value) == message
    assert (caught.value.line, caught.value.offering_code) == (2, line.offering_code)
    assert isinstance(caught.value, RuleError)


def test_unknown_billing_country():
    with pytest.raises(PricingError, match="billing country 'US'"):
        price(_estate_lines(), country="US")


@pytest.mark.parametrize("line", [
    LineRequest("MOB-UNL", 2.0, 12),
    LineRequest("MOB-UNL", 2, 12, negotiated_discount=0.05),
])
def test_floats_are_refused(line):
    with pytest.raises(TypeError):
        price([line])


def test_an_int_zero_discount_is_taken_as_decimal_zero():
    (line,) = price([LineRequest("MOB-UNL", 10, 12, 1, negotiated_discount=0)]).lines
    assert line.negotiated_discount == D("0") and isinstance(line.negotiated_discount, D)
    assert line.mrc == D("250.00")


POLICY = CATALOG.approval


@pytest.mark.parametrize(("discounts", "path"), [
    ([], "auto"),
    ([D("0")], "auto"),
    ([D("0.05")], "auto"),  # "up to 5 %": inclusive
    ([D("0.0501")], "account_manager"),
    ([D("0.15")], "account_manager"),
    ([D("0.1501")], "sales_director"),
    ([D("0.30")], "sales_director"),
    ([D("0.3001")], "refused"),
    ([D("0.01"), D("0.20"), D("0.03")], "sales_director"),  # the largest decides
])
def test_approval_path(discounts, path):
    assert approval_path(POLICY, discounts) == path
    assert approval_path(POLICY, iter(discounts)) == path  # any iterable


def _estate_lines():
    return [LineRequest("MOB-UNL", 30, 24, site_id=1), LineRequest("FIBRE-1G", 1, 36, 1),
            LineRequest("MOB-UNL", 25, 24, site_id=2), LineRequest("FIBRE-1G", 1, 36, 2)]
