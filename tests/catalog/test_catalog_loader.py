"""The catalog file: a valid file read into a `Catalog`, and every kind of mistake named in
plain words with its offering and field, all of them at once."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from catalog_data import base, offering, to_yaml

from portal.catalog.demo import DEMO_CATALOG
from portal.catalog.loader import CatalogError, load_catalog_yaml
from portal.catalog.schema import Promotion, VolumeTier
from portal.rules import RuleError

D = Decimal


def errors_of(text: str) -> list[str]:
    with pytest.raises(CatalogError) as caught:
        load_catalog_yaml(text)
    return caught.value.errors


def test_a_valid_file_becomes_the_catalog():
    catalog = load_catalog_yaml(to_yaml(base()))
    assert catalog.currency == "EUR"
    assert catalog.approval.account_manager_max == D("0.15")
    assert catalog.quote_validity_days == 30
    assert catalog.tax_rates == {"DE": D("0.19"), "FR": D("0.20")}
    assert list(catalog.offerings) == ["MOB-UNL", "BB-FIBRE-1G", "SDWAN-EDGE", "DEV-PHONE",
                                       "ACC-CASE"]
    mobile = catalog.offerings["MOB-UNL"]
    assert (mobile.recurring, mobile.one_off) == (D("25.00"), D("10.00"))
    assert mobile.volume_tiers == (VolumeTier(1, D("0")), VolumeTier(50, D("0.10")))
    assert mobile.terms == {12: D("0"), 24: D("0.05")}
    assert mobile.promotions == (Promotion("SIX-FREE", 6),)
    assert mobile.available_in == ("DE", "FR")
    assert catalog.offerings["SDWAN-EDGE"].requires == ("BB-FIBRE-1G",)
    assert catalog.offerings["SDWAN-EDGE"].max_quantity == 2
    phone = catalog.offerings["DEV-PHONE"]
    assert (phone.plans, phone.accessories) == (("MOB-UNL",), ("ACC-CASE",))


def test_defaults_for_what_a_file_leaves_out():
    data = base()
    del data["quote_validity_days"]
    catalog = load_catalog_yaml(to_yaml(data))
    case = catalog.offerings["ACC-CASE"]
    assert catalog.quote_validity_days == 30
    assert case.volume_tiers == (VolumeTier(1, D("0")),)
    assert case.terms == {12: D("0")}
    assert case.promotions == case.requires == case.excludes == case.available_in == ()
    assert (case.min_quantity, case.max_quantity) == (1, None)
    assert (case.valid_from, case.valid_to, case.description) == (None, None, "")


def test_numbers_dates_and_anchors_as_yaml_writes_them():
    text = """
currency: EUR
approval: {auto_max: 0.05, account_manager_max: 0.15, sales_director_max: 0.3}
tax_rates: {DE: 0.19}
x-shared:
  - &terms {12: 0, "24": 0.05}
offerings:
  - code: VOICE-SIP
    name: SIP trunk channels
    description: Concurrent call channels.
    family: voice
    fulfilment: fixed-bss
    recurring: 6.5
    one_off: 5
    terms: *terms
    min_quantity: 2
    max_quantity: "500"
    valid_from: 2030-01-01
    valid_to: "2030-12-31"
    promotions: [{code: SPRING, months_free: 3, valid_from: 2030-03-01, valid_to: 2030-05-31}]
"""
    catalog = load_catalog_yaml(text)
    sip = catalog.offerings["VOICE-SIP"]
    assert (sip.recurring, sip.one_off) == (D("6.50"), D("5.00"))
    assert sip.terms == {12: D("0"), 24: D("0.05")}
    assert catalog.approval.sales_director_max == D("0.3")
    assert (sip.min_quantity, sip.max_quantity) == (2, 500)
    assert (sip.valid_from, sip.valid_to) == (dt.date(2030, 1, 1), dt.date(2030, 12, 31))
    assert sip.promotions == (Promotion("SPRING", 3, dt.date(2030, 3, 1), dt.date(2030, 5, 31)),)
    assert sip.description == "Concurrent call channels."
    assert not sip.is_sold_on(dt.date(2029, 12, 31)) and sip.is_sold_on(dt.date(2030, 6, 1))


def _set(code, key, value):
    def change(data):
        offering(data, code)[key] = value
    return change


def _drop(code, key):
    def change(data):
        del offering(data, code)[key]
    return change


def _top(key, value):
    def change(data):
        data[key] = value
    return change


def _approval(**values):
    def change(data):
        data["approval"].update(values)
    return change


def _rename(position, code):
    def change(data):
        data["offerings"][position - 1]["code"] = code
    return change


def _without_code(position):
    def change(data):
        del data["offerings"][position - 1]["code"]
    return change


BROKEN = [
    # amounts
    ("amount-text", _set("MOB-UNL", "recurring", "abc"),
     'offering MOB-UNL: recurring: "abc" is not an amount'),
    ("amount-negative", _set("MOB-UNL", "one_off", "-1.00"),
     'offering MOB-UNL: one_off: "-1.00" must not be negative'),
    ("amount-cents", _set("MOB-UNL", "recurring", "25.001"),
     'offering MOB-UNL: recurring: "25.001" has more than two decimals (cents)'),
    ("amount-yes-no", _set("MOB-UNL", "recurring", True),
     "offering MOB-UNL: recurring: true is not an amount"),
    ("amount-list", _set("MOB-UNL", "recurring", [1]),
     "offering MOB-UNL: recurring: a list is not an amount"),
    ("amount-missing", _drop("BB-FIBRE-1G", "one_off"), "offering BB-FIBRE-1G: one_off is missing"),
    ("amount-infinite", _set("MOB-UNL", "recurring", ".inf"),
     'offering MOB-UNL: recurring: ".inf" is not an amount'),
    # codes
    ("code-missing", _without_code(3), "offering #3: code is missing"),
    ("code-duplicate", _rename(2, "MOB-UNL"),
     "offering #2: code: MOB-UNL is already the code of offering #1"),
    ("code-format", _rename(1, "mob unl"),
     'offering #1: code: "mob unl" is not a code (capital letters, digits, . _ -; at most 64)'),
    # required fields and families
    ("name-missing", _drop("MOB-UNL", "name"), "offering MOB-UNL: name is missing"),
    ("name-blank", _set("MOB-UNL", "name", "  "), "offering MOB-UNL: name is missing"),
    ("name-long", _set("MOB-UNL", "name", "x" * 201),
     "offering MOB-UNL: name: is longer than 200 characters"),
    ("family-unknown", _set("MOB-UNL", "family", "telepathy"),
     'offering MOB-UNL: family: "telepathy" is not a family (mobile | broadband | sdwan | '
     'voice | tv | content | device | accessory)'),
    ("family-missing", _drop("MOB-UNL", "family"), "offering MOB-UNL: family is missing"),
    ("fulfilment-unknown", _set("MOB-UNL", "fulfilment", "mobile-bs"),
     'offering MOB-UNL: fulfilment: "mobile-bs" is not a fulfilment system (mobile-bss | '
     'fixed-bss | tv-bss)'),
    ("fulfilment-missing", _drop("MOB-UNL", "fulfilment"),
     "offering MOB-UNL: fulfilment is missing"),
    # typos
    ("offering-typo", _set("MOB-UNL", "recuring", "25.00"),
     'offering MOB-UNL: unknown key "recuring" (did you mean recurring?)'),
    ("top-typo", _top("tax_rate", {}), 'unknown key "tax_rate" (did you mean tax_rates?)'),
    ("approval-typo", _approval(auto_maxi="0.05"),
     'approval: unknown key "auto_maxi" (did you mean auto_max?)'),
    ("tier-typo", _set("MOB-UNL", "volume_tiers", [{"min": 1, "discont": "0"}]),
     'offering MOB-UNL: volume_tiers: tier 1: unknown key "discont" (did you mean discount?)'),
    ("promotion-typo", _set("MOB-UNL", "promotions", [{"code": "X", "months": 6}]),
     'offering MOB-UNL: promotions: X: unknown key "months" (did you mean months_free?)'),
    # discounts and rates
    ("tier-discount-above-1", _set("MOB-UNL", "volume_tiers",
                                   [{"min": 1, "discount": "0"}, {"min": 50, "discount": "1.5"}]),
     'offering MOB-UNL: volume_tiers: tier 2: discount: "1.5" is outside 0..1 (write 0.05 '
     'for 5 %)'),
    ("term-discount-negative", _set("MOB-UNL", "terms", {12: "0", 24: "-0.05"}),
     'offering MOB-UNL: terms: 24 months: "-0.05" is outside 0..1 (write 0.05 for 5 %)'),
    ("term-discount-text", _set("MOB-UNL", "terms", {12: "five percent"}),
     'offering MOB-UNL: terms: 12 months: "five percent" is not a number (write 0.05 for 5 %)'),
    ("rate-precision", _set("MOB-UNL", "terms", {12: "0.123456"}),
     'offering MOB-UNL: terms: 12 months: "0.123456" has more than four decimals'),
    # volume tiers
    ("tiers-start", _set("MOB-UNL", "volume_tiers", [{"min": 5, "discount": "0"}]),
     "offering MOB-UNL: volume_tiers: tier 1: min: 5: the first tier must start at min 1"),
    ("tiers-not-increasing", _set("MOB-UNL", "volume_tiers", [
        {"min": 1, "discount": "0"}, {"min": 50, "discount": "0.1"},
        {"min": 50, "discount": "0.2"}]),
     "offering MOB-UNL: volume_tiers: tier 3: min: 50 must be above the previous tier's min "
     "(50)"),
    ("tiers-cheaper-with-less", _set("MOB-UNL", "volume_tiers", [
        {"min": 1, "discount": "0.1"}, {"min": 50, "discount": "0.05"}]),
     "offering MOB-UNL: volume_tiers: tier 2: discount: 0.05 is lower than the previous "
     "tier's (0.1): more units never cost more"),
    ("tier-missing-min", _set("MOB-UNL", "volume_tiers", [{"discount": "0"}]),
     "offering MOB-UNL: volume_tiers: tier 1: min is missing"),
    ("tiers-empty", _set("MOB-UNL", "volume_tiers", []),
     'offering MOB-UNL: volume_tiers: is empty: leave it out, or start with {min: 1, '
     'discount: "0"}'),
    ("tiers-not-a-list", _set("MOB-UNL", "volume_tiers", "50: 10 %"),
     'offering MOB-UNL: volume_tiers: "50: 10 %" must be a list, like [A, B]'),
    # terms
    ("term-zero", _set("MOB-UNL", "terms", {0: "0", 12: "0"}),
     "offering MOB-UNL: terms: 0 is not a number of months (1 to 120)"),
    ("term-words", _set("MOB-UNL", "terms", {"24m": "0"}),
     'offering MOB-UNL: terms: "24m" is not a number of months (1 to 120)'),
    ("term-negative", _set("MOB-UNL", "terms", {-12: "0"}),
     "offering MOB-UNL: terms: -12 is not a number of months (1 to 120)"),
    ("terms-empty", _set("MOB-UNL", "terms", {}),
     "offering MOB-UNL: terms: is empty: name at least one contract term in months"),
    ("terms-list", _set("MOB-UNL", "terms", [12, 24]),
     'offering MOB-UNL: terms: a list must be a mapping, like {12: "0", 24: "0.05"}'),
    # promotions
    ("promotion-months-zero", _set("MOB-UNL", "promotions", [{"code": "X", "months_free": 0}]),
     "offering MOB-UNL: promotions: X: months_free: 0 must be from 1 to 120"),
    ("promotion-longer-than-terms", _set("MOB-UNL", "promotions",
                                         [{"code": "X", "months_free": 24}]),
     "offering MOB-UNL: promotions: X: months_free: 24 must be shorter than the longest term "
     "(24 months)"),
    ("promotion-code-missing", _set("MOB-UNL", "promotions", [{"months_free": 3}]),
     "offering MOB-UNL: promotions: #1: code is missing"),
    ("promotion-twice", _set("MOB-UNL", "promotions", [{"code": "X", "months_free": 3},
                                                       {"code": "X", "months_free": 6}]),
     "offering MOB-UNL: promotions: X: code: X is given twice for this offering"),
    ("promotion-dates", _set("MOB-UNL", "promotions", [
        {"code": "X", "months_free": 3, "valid_from": dt.date(2030, 5, 1),
         "valid_to": dt.date(2030, 4, 1)}]),
     "offering MOB-UNL: promotions: X: valid_to: 2030-04-01 is before valid_from (2030-05-01)"),
    # countries
    ("country-unknown", _set("MOB-UNL", "available_in", ["DE", "XX"]),
     'offering MOB-UNL: available_in: "XX" is not a country code (ISO 3166 alpha-2, like DE)'),
    ("country-lower-case", _set("MOB-UNL", "available_in", ["de"]),
     'offering MOB-UNL: available_in: "de" is not a country code (ISO 3166 alpha-2, like DE)'),
    ("country-twice", _set("MOB-UNL", "available_in", ["DE", "DE"]),
     "offering MOB-UNL: available_in: DE is listed twice"),
    ("countries-empty", _set("MOB-UNL", "available_in", []),
     "offering MOB-UNL: available_in: is empty: name the countries where it is sold, or leave "
     "it out to sell it everywhere"),
    ("country-stranded", _set("SDWAN-EDGE", "available_in", ["DE", "GB"]),
     "offering SDWAN-EDGE: available_in: GB: BB-FIBRE-1G is not sold there, so this offering "
     "could not be either"),
    # requires / excludes
    ("requires-unknown", _set("SDWAN-EDGE", "requires", ["BB-FIBRE-10G"]),
     "offering SDWAN-EDGE: requires: BB-FIBRE-10G is not an offering of this catalog"),
    ("excludes-unknown", _set("MOB-UNL", "excludes", ["MOB-XX"]),
     "offering MOB-UNL: excludes: MOB-XX is not an offering of this catalog"),
    ("requires-itself", _set("SDWAN-EDGE", "requires", ["SDWAN-EDGE"]),
     "offering SDWAN-EDGE: requires: an offering cannot name itself (SDWAN-EDGE)"),
    ("requires-and-excludes", _set("SDWAN-EDGE", "excludes", ["BB-FIBRE-1G"]),
     "offering SDWAN-EDGE: excludes: BB-FIBRE-1G is also in requires"),
    ("required-excludes-it", _set("BB-FIBRE-1G", "excludes", ["SDWAN-EDGE"]),
     "offering SDWAN-EDGE: requires: BB-FIBRE-1G excludes SDWAN-EDGE, so SDWAN-EDGE could "
     "never be sold"),
    ("requires-twice", _set("SDWAN-EDGE", "requires", ["BB-FIBRE-1G", "BB-FIBRE-1G"]),
     "offering SDWAN-EDGE: requires: BB-FIBRE-1G is listed twice"),
    ("requires-not-a-list", _set("SDWAN-EDGE", "requires", "BB-FIBRE-1G"),
     'offering SDWAN-EDGE: requires: "BB-FIBRE-1G" must be a list, like [A, B]'),
    # guided selling
    ("plan-unknown", _set("DEV-PHONE", "plans", ["MOB-XX"]),
     "offering DEV-PHONE: plans: MOB-XX is not an offering of this catalog"),
    ("plan-is-accessory", _set("DEV-PHONE", "plans", ["ACC-CASE"]),
     "offering DEV-PHONE: plans: ACC-CASE is an accessory, not a plan"),
    ("accessory-is-a-plan", _set("DEV-PHONE", "accessories", ["MOB-UNL"]),
     "offering DEV-PHONE: accessories: MOB-UNL is not an accessory (it is mobile)"),
    ("plans-on-a-plan", _set("MOB-UNL", "plans", ["BB-FIBRE-1G"]),
     "offering MOB-UNL: plans: only device offerings have plans (MOB-UNL is mobile)"),
    # quantities
    ("min-quantity-zero", _set("MOB-UNL", "min_quantity", 0),
     "offering MOB-UNL: min_quantity: 0 must be from 1 to 100000"),
    ("max-below-min", _set("SDWAN-EDGE", "min_quantity", 3),
     "offering SDWAN-EDGE: max_quantity: 2 is below min_quantity (3)"),
    ("quantity-words", _set("MOB-UNL", "max_quantity", "many"),
     'offering MOB-UNL: max_quantity: "many" is not a whole number'),
    # dates
    ("valid-to-before-from", _set("MOB-UNL", "valid_to", dt.date(2024, 1, 1)),
     None),  # filled in below with valid_from
    ("date-impossible", _set("MOB-UNL", "valid_from", "2025-13-01"),
     'offering MOB-UNL: valid_from: "2025-13-01" is not a date (write it as 2025-01-31)'),
    ("date-with-time", _set("MOB-UNL", "valid_from", dt.datetime(2030, 1, 1, 9, 0)),
     "offering MOB-UNL: valid_from: 2030-01-01 09:00:00 is not a date (write it as "
     "2025-01-31)"),
    # the catalog's own settings
    ("approval-order", _approval(auto_max="0.15", account_manager_max="0.10"),
     "approval: account_manager_max (0.10) must not be below auto_max (0.15)"),
    ("approval-director-order", _approval(sales_director_max="0.10"),
     "approval: sales_director_max (0.10) must not be below account_manager_max (0.15)"),
    ("approval-above-1", _approval(sales_director_max="1.30"),
     'approval: sales_director_max: "1.30" is outside 0..1 (write 0.05 for 5 %)'),
    ("approval-missing-level", lambda d: d["approval"].pop("auto_max"),
     "approval: auto_max is missing"),
    ("approval-missing", lambda d: d.pop("approval"), "approval is missing"),
    ("currency-short", _top("currency", "EU"),
     'currency: "EU" is not a currency code (3 capital letters, like EUR)'),
    ("currency-word", _top("currency", "euro"),
     'currency: "euro" is not a currency code (3 capital letters, like EUR)'),
    ("currency-missing", lambda d: d.pop("currency"), "currency is missing"),
    ("tax-country", _top("tax_rates", {"Germany": "0.19"}),
     'tax_rates: "Germany" is not a country code (ISO 3166 alpha-2, like DE)'),
    ("tax-rate-1", _top("tax_rates", {"DE": "1"}),
     'tax_rates: DE: "1" must be below 1 (write 0.19 for 19 %)'),
    ("tax-rate-percent", _top("tax_rates", {"DE": "19"}),
     'tax_rates: DE: "19" is outside 0..1 (write 0.05 for 5 %)'),
    ("tax-rates-empty", _top("tax_rates", {}),
     "tax_rates: name the rate of at least one billing country"),
    ("tax-rates-missing", lambda d: d.pop("tax_rates"), "tax_rates is missing"),
    ("validity-days", _top("quote_validity_days", 0),
     "quote_validity_days: 0 must be from 1 to 365"),
    ("offerings-empty", _top("offerings", []), "offerings: the catalog has no offerings"),
    ("offerings-missing", lambda d: d.pop("offerings"), "offerings is missing"),
    ("offerings-mapping", _top("offerings", {"MOB-UNL": {}}),
     "offerings: a mapping must be a list of offerings"),
    ("offering-not-a-mapping", lambda d: d["offerings"].append("MOB-5GB"),
     'offering #6: "MOB-5GB" must be a mapping of fields (code, name, ...)'),
]


@pytest.mark.parametrize("change,expected", [case[1:] for case in BROKEN],
                         ids=[case[0] for case in BROKEN])
def test_each_mistake_is_named_with_its_offering_and_field(change, expected):
    data = base()
    change(data)
    if expected is None:  # valid_to before valid_from
        offering(data, "MOB-UNL")["valid_from"] = dt.date(2024, 6, 1)
        expected = "offering MOB-UNL: valid_to: 2024-01-01 is before valid_from (2024-06-01)"
    errors = errors_of(to_yaml(data))
    assert expected in errors, "\n".join(errors)


@pytest.mark.parametrize("text,expected", [
    ("currency: EUR\noffering: [\n", "the file is not valid YAML (line 3, column 1): "),
    ("currency: EUR\ncurrency: GBP\n", "line 2: currency is given twice"),
    ("", "the file is empty"),
    ("# only a comment\n", "the file is empty"),
    ("- MOB-UNL\n", "the file must be a mapping with currency, approval, tax_rates and "
                   "offerings at the top"),
    ("currency: EUR\ntax_rates: {NO: '0.25'}\n",
     'tax_rates: false is read as yes/no: put the country code in quotes, like "NO"'),
    ("currency: !!python/object:os.system [echo]\n", "the file is not valid YAML"),
], ids=["syntax", "duplicate-key", "empty", "comment", "list", "norway", "python-tag"])
def test_mistakes_of_the_yaml_itself(text, expected):
    errors = errors_of(text)
    assert any(error.startswith(expected) for error in errors), errors


def test_every_mistake_is_reported_at_once():
    data = base()
    data["currency"] = "EU"
    data["approval"]["account_manager_max"] = "0.01"
    offering(data, "MOB-UNL")["recurring"] = "abc"
    offering(data, "MOB-UNL")["recuring"] = "25.00"
    offering(data, "DEV-PHONE")["plans"] = ["MOB-XX"]
    del data["offerings"][2]["code"]
    errors = errors_of(to_yaml(data))
    assert errors == [
        'currency: "EU" is not a currency code (3 capital letters, like EUR)',
        "approval: account_manager_max (0.01) must not be below auto_max (0.05)",
        'offering MOB-UNL: unknown key "recuring" (did you mean recurring?)',
        'offering MOB-UNL: recurring: "abc" is not an amount',
        "offering #3: code is missing",
        "offering DEV-PHONE: plans: MOB-XX is not an offering of this catalog",
    ]


def test_the_error_is_a_rule_error_with_every_message():
    data = base()
    data["currency"] = "EU"
    offering(data, "MOB-UNL")["family"] = "x"
    with pytest.raises(RuleError) as caught:
        load_catalog_yaml(to_yaml(data))
    assert str(caught.value).startswith("The catalog file has 2 problems: currency:")


def test_the_demo_catalog_is_valid_and_sells_what_the_demo_estate_holds():
    catalog = load_catalog_yaml(DEMO_CATALOG.read_text(encoding="utf-8"))
    assert {"MOB-UNL", "MOB-20GB", "BB-FIBRE-1G", "BB-FIBRE-300", "SDWAN-EDGE", "VOICE-SIP",
            "TV-BUSINESS"} <= set(catalog.offerings)
    assert catalog.tax_rates == {"DE": D("0.19"), "FR": D("0.20"), "GB": D("0.20"),
                                 "NL": D("0.21"), "AT": D("0.20"), "BE": D("0.21")}
    assert catalog.approval.auto_max == D("0.05")
    assert Promotion("SIX-FREE", 6) in catalog.offerings["MOB-UNL"].promotions
    families = {o.family for o in catalog.offerings.values()}
    assert families == {"mobile", "broadband", "sdwan", "voice", "tv", "content", "device",
                        "accessory"}
    assert "FR" not in catalog.offerings["TV-BUSINESS"].available_in
    assert catalog.offerings["TV-STREAM"].requires == ("TV-BUSINESS",)
    phones = [o for o in catalog.offerings.values() if o.family == "device" and o.plans]
    assert len(phones) >= 4 and all(o.accessories for o in phones if "PHONE" in o.code)
    assert {12, 24, 36} <= set(catalog.offerings["MOB-UNL"].terms)


def test_the_documentation_shows_the_demo_catalog_as_it_is():
    doc = (DEMO_CATALOG.parents[2] / "docs" / "CATALOG.md").read_text(encoding="utf-8")
    assert "```yaml\n" + DEMO_CATALOG.read_text(encoding="utf-8") + "```\n" in doc
