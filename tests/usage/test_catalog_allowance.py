"""The catalog's optional `allowance` of an offering: read, defaulted (not metered), its
mistakes named with the offering and field, shown in the diff, and set on the demo mobile
plans."""

from __future__ import annotations

from decimal import Decimal

import pytest
import yaml

from portal.catalog.demo import DEMO_CATALOG
from portal.catalog.diff import diff
from portal.catalog.loader import CatalogError, load_catalog_yaml
from portal.catalog.schema import Allowance

BASE = {
    "currency": "EUR",
    "approval": {"auto_max": "0.05", "account_manager_max": "0.15",
                 "sales_director_max": "0.30"},
    "tax_rates": {"DE": "0.19"},
    "offerings": [
        {"code": "MOB-UNL", "name": "Mobile", "family": "mobile", "fulfilment": "mobile-bss",
         "recurring": "25.00", "one_off": "10.00"},
        {"code": "BB-FIBRE-1G", "name": "Fibre", "family": "broadband",
         "fulfilment": "fixed-bss", "recurring": "89.00", "one_off": "99.00"},
    ],
}


def _with_allowance(value=None):
    data = {**BASE, "offerings": [dict(o) for o in BASE["offerings"]]}
    if value is not None:
        data["offerings"][0]["allowance"] = value
    return yaml.safe_dump(data, sort_keys=False)


def test_an_allowance_is_read_and_leaving_it_out_means_not_metered():
    catalog = load_catalog_yaml(_with_allowance({"amount": "20", "unit": "GB"}))
    assert catalog.offerings["MOB-UNL"].allowance == Allowance(Decimal("20"), "GB")
    assert str(catalog.offerings["MOB-UNL"].allowance) == "20 GB"
    assert catalog.offerings["BB-FIBRE-1G"].allowance is None
    unlimited = load_catalog_yaml(_with_allowance("unlimited")).offerings["MOB-UNL"].allowance
    assert unlimited.unlimited and str(unlimited) == "unlimited"
    small = load_catalog_yaml(_with_allowance({"amount": 500.5, "unit": "MB"}))
    assert small.offerings["MOB-UNL"].allowance == Allowance(Decimal("500.5"), "MB")


@pytest.mark.parametrize("value,expected", [
    ("lots", 'offering MOB-UNL: allowance: "lots" must be unlimited or a mapping, like '
             '{amount: "20", unit: GB}'),
    ({"amount": "20"}, "offering MOB-UNL: allowance: unit is missing"),
    ({"unit": "GB"}, "offering MOB-UNL: allowance: amount is missing"),
    ({"amount": "0", "unit": "GB"}, 'offering MOB-UNL: allowance: amount: "0" is not a '
                                    "positive amount of data (write unlimited for no limit)"),
    ({"amount": "-5", "unit": "GB"}, 'offering MOB-UNL: allowance: amount: "-5" is not a '
                                     "positive amount of data (write unlimited for no limit)"),
    ({"amount": "1.2345", "unit": "GB"}, 'offering MOB-UNL: allowance: amount: "1.2345" has '
                                         "more than three decimals"),
    ({"amount": "20", "unit": "gb"}, 'offering MOB-UNL: allowance: unit: "gb" is not a unit of '
                                     "data (MB | GB | TB)"),
    ({"amount": "20", "unit": "GB", "per": "SIM"},
     'offering MOB-UNL: allowance: unknown key "per" (known: amount, unit)'),
])
def test_each_allowance_mistake_is_named_with_its_offering_and_field(value, expected):
    with pytest.raises(CatalogError) as caught:
        load_catalog_yaml(_with_allowance(value))
    assert caught.value.errors == [expected]


def test_the_diff_shows_an_allowance_given_and_changed():
    before = load_catalog_yaml(_with_allowance())
    after = load_catalog_yaml(_with_allowance({"amount": "20", "unit": "GB"}))
    assert [str(c) for c in diff(before, after)] == [
        "offering MOB-UNL: allowance: not metered → 20 GB"]
    unlimited = load_catalog_yaml(_with_allowance("unlimited"))
    assert [str(c) for c in diff(after, unlimited)] == [
        "offering MOB-UNL: allowance: 20 GB → unlimited"]


def test_the_demo_mobile_plans_have_their_allowances():
    catalog = load_catalog_yaml(DEMO_CATALOG.read_text(encoding="utf-8"))
    assert catalog.offerings["MOB-5GB"].allowance == Allowance(Decimal("5"), "GB")
    assert catalog.offerings["MOB-20GB"].allowance == Allowance(Decimal("20"), "GB")
    assert catalog.offerings["MOB-UNL"].allowance.unlimited
    assert catalog.offerings["BB-FIBRE-1G"].allowance is None
