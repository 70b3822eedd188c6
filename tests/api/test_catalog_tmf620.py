"""TMF620 Product Catalog Management: offerings and prices of the catalog in force (or of a
version), validated against the official v4 spec."""

from __future__ import annotations

import datetime as dt

import pytest
import yaml
from conftest import count_queries

from portal.catalog.store import load_version
from portal.extensions import db

API = "/tmf-api/productCatalogManagement/v4"
OFFERINGS = f"{API}/productOffering"
PRICES = f"{API}/productOfferingPrice"
TODAY = dt.datetime.now(dt.UTC).date()
LATER = TODAY + dt.timedelta(days=40)


def catalog(recurring: str = "25.00", extra: int = 0) -> str:
    """A catalog with an offering on sale (with tiers, terms, a promotion), one scheduled,
    one ended, a device with plans and accessories; `extra` more mobile offerings."""
    offerings = [
        {"code": "MOB-UNL", "name": "Business Mobile Unlimited", "family": "mobile",
         "description": "Unlimited calls and data.", "fulfilment": "mobile-bss",
         "recurring": recurring, "one_off": "10.00",
         "volume_tiers": [{"min": 1, "discount": "0"}, {"min": 50, "discount": "0.10"}],
         "terms": {12: "0", 24: "0.05"},
         "promotions": [{"code": "SIX-FREE", "months_free": 6},
                        {"code": "SPRING", "months_free": 3, "valid_from": LATER,
                         "valid_to": LATER + dt.timedelta(days=60)}],
         "available_in": ["DE", "FR"]},
        {"code": "BB-FIBRE-1G", "name": "Business Fibre 1 Gbit/s", "family": "broadband",
         "fulfilment": "fixed-bss", "recurring": "89.00", "one_off": "99.00",
         "terms": {24: "0", 36: "0.10"}, "available_in": ["DE"]},
        {"code": "SDWAN-EDGE", "name": "SD-WAN edge", "family": "sdwan",
         "fulfilment": "fixed-bss", "recurring": "120.00", "one_off": "250.00",
         "requires": ["BB-FIBRE-1G"], "excludes": ["BB-DSL"], "valid_from": LATER,
         "available_in": ["DE"]},
        {"code": "BB-DSL", "name": "Business DSL", "family": "broadband",
         "fulfilment": "fixed-bss", "recurring": "29.00", "one_off": "0",
         "valid_to": "2020-12-31"},
        {"code": "DEV-PHONE", "name": "Smartphone", "family": "device",
         "fulfilment": "mobile-bss", "recurring": "0", "one_off": "499.00",
         "plans": ["MOB-UNL"], "accessories": ["ACC-CASE"]},
        {"code": "ACC-CASE", "name": "Phone case", "family": "accessory",
         "fulfilment": "mobile-bss", "recurring": "0", "one_off": "19.00"},
    ]
    offerings += [{"code": f"MOB-X{n}", "name": f"Extra {n}", "family": "mobile",
                   "fulfilment": "mobile-bss", "recurring": "1.00", "one_off": "0"}
                  for n in range(extra)]
    return yaml.safe_dump({
        "currency": "EUR",
        "approval": {"auto_max": "0.05", "account_manager_max": "0.15",
                     "sales_director_max": "0.30"},
        "tax_rates": {"DE": "0.19"}, "offerings": offerings}, sort_keys=False)


def load(app, text: str) -> int:
    with app.app_context():
        version = load_version(db.session, text, "catalog.yaml", "test")
        db.session.commit()
        return version.number


@pytest.fixture
def token(app, factory, make_key):
    load(app, catalog())
    return make_key(factory.org("acme"), "viewer")


def get(client, token, path, **params):
    return client.get(path, query_string=params, headers={"Authorization": f"Bearer {token}"})


def test_offerings_validate_against_the_official_spec(client, token, assert_tmf):
    response = get(client, token, OFFERINGS)
    assert response.status_code == 200
    items = response.get_json()
    assert [item["id"] for item in items] == ["MOB-UNL", "BB-FIBRE-1G", "SDWAN-EDGE", "BB-DSL",
                                              "DEV-PHONE", "ACC-CASE"]
    for item in items:
        assert_tmf("TMF620", "ProductOffering", item)
        assert item["@type"] == "ProductOffering"
        assert item["href"] == f"http://localhost{OFFERINGS}/{item['id']}"
        for price in item["productOfferingPrice"]:
            assert_tmf("TMF620", "ProductOfferingPriceRefOrValue", price)
    assert [item["lifecycleStatus"] for item in items] == [
        "Launched", "Launched", "Active", "Retired", "Launched", "Launched"]


def test_an_offering_maps_prices_terms_places_and_discounts(client, token, assert_tmf):
    item = get(client, token, f"{OFFERINGS}/MOB-UNL").get_json()
    assert_tmf("TMF620", "ProductOffering", item)
    assert item["name"] == "Business Mobile Unlimited"
    assert item["description"] == "Unlimited calls and data."
    assert item["version"] == "1" and item["isSellable"] is True
    assert item["category"] == [{"id": "mobile", "name": "Mobile", "@referredType": "Category"}]
    assert [p["id"] for p in item["place"]] == ["DE", "FR"]
    assert item["place"][1]["name"] == "France"
    assert [t["duration"] for t in item["productOfferingTerm"]] == [
        {"amount": 12, "units": "month"}, {"amount": 24, "units": "month"}]
    monthly, once = item["productOfferingPrice"]
    assert monthly["id"] == "MOB-UNL-MRC" and monthly["priceType"] == "recurring"
    assert monthly["price"]["dutyFreeAmount"] == {"unit": "EUR", "value": 25.0}
    assert monthly["recurringChargePeriod"] == "month"
    assert once["id"] == "MOB-UNL-NRC" and once["priceType"] == "oneTime"
    assert once["price"]["dutyFreeAmount"]["value"] == 10.0
    alterations = {a["name"]: a for a in monthly["priceAlteration"]}
    assert alterations["Volume discount from 50 units"]["price"] == {"percentage": 10.0}
    assert alterations["24-month term"]["price"] == {"percentage": 5.0}
    assert alterations["SIX-FREE"]["applicationDuration"] == {"amount": 6, "units": "month"}
    assert alterations["SIX-FREE"]["price"] == {"percentage": 100.0}
    assert alterations["SPRING"]["validFor"]["startDateTime"] == f"{LATER}T00:00:00Z"


def test_rules_and_guided_selling_are_relationships(client, token, assert_tmf):
    sdwan = get(client, token, f"{OFFERINGS}/SDWAN-EDGE").get_json()
    assert [(r["id"], r["relationshipType"]) for r in sdwan["productOfferingRelationship"]] == [
        ("BB-FIBRE-1G", "requires"), ("BB-DSL", "excludes")]
    assert sdwan["validFor"] == {"startDateTime": f"{LATER}T00:00:00Z"}
    phone = get(client, token, f"{OFFERINGS}/DEV-PHONE").get_json()
    assert [(r["id"], r["relationshipType"], r["name"])
            for r in phone["productOfferingRelationship"]] == [
        ("MOB-UNL", "plan", "Business Mobile Unlimited"), ("ACC-CASE", "accessory", "Phone case")]
    assert phone["productOfferingRelationship"][0]["href"] == f"http://localhost{OFFERINGS}/MOB-UNL"
    ended = get(client, token, f"{OFFERINGS}/BB-DSL").get_json()
    assert ended["validFor"] == {"endDateTime": "2020-12-31T23:59:59Z"}


def test_prices_validate_against_the_official_spec(client, token, assert_tmf):
    response = get(client, token, PRICES)
    items = response.get_json()
    assert response.headers["X-Total-Count"] == "12"
    assert [item["id"] for item in items[:4]] == ["MOB-UNL-MRC", "MOB-UNL-NRC",
                                                  "BB-FIBRE-1G-MRC", "BB-FIBRE-1G-NRC"]
    for item in items:
        assert_tmf("TMF620", "ProductOfferingPrice", item)
        assert item["href"] == f"http://localhost{PRICES}/{item['id']}"
    monthly = get(client, token, f"{PRICES}/MOB-UNL-MRC").get_json()
    assert monthly["priceType"] == "recurring" and monthly["recurringChargePeriodType"] == "month"
    assert monthly["recurringChargePeriodLength"] == 1
    assert monthly["price"] == {"unit": "EUR", "value": 25.0}
    assert [t["description"] for t in monthly["productOfferingTerm"]] == [
        "No term discount", "5 % off the monthly price"]
    assert "from 50: 10 %" in monthly["description"] and "SIX-FREE" in monthly["description"]
    once = get(client, token, f"{PRICES}/SDWAN-EDGE-NRC").get_json()
    assert_tmf("TMF620", "ProductOfferingPrice", once)
    assert (once["priceType"], once["recurringChargePeriodLength"]) == ("oneTime", 0)
    assert once["price"]["value"] == 250.0 and once["lifecycleStatus"] == "Active"


@pytest.mark.parametrize("path", [f"{OFFERINGS}/MOB-XX", f"{PRICES}/MOB-UNL",
                                  f"{PRICES}/MOB-UNL-XRC", f"{PRICES}/MOB-XX-MRC",
                                  f"{PRICES}/-MRC"])
def test_unknown_ids_answer_404_json(client, token, path):
    response = get(client, token, path)
    assert response.status_code == 404
    assert response.get_json()["code"] == "404"


def test_filters(client, token):
    launched = get(client, token, OFFERINGS, lifecycleStatus="Launched")
    assert [i["id"] for i in launched.get_json()] == ["MOB-UNL", "BB-FIBRE-1G", "DEV-PHONE",
                                                      "ACC-CASE"]
    assert launched.headers["X-Total-Count"] == "4"
    assert [i["id"] for i in get(client, token, OFFERINGS, **{"category.id": "broadband"})
            .get_json()] == ["BB-FIBRE-1G", "BB-DSL"]
    assert [i["id"] for i in get(client, token, OFFERINGS, name="Phone case").get_json()] == [
        "ACC-CASE"]
    assert get(client, token, OFFERINGS, lifecycleStatus="Obsolete").get_json() == []
    one_off = get(client, token, PRICES, priceType="oneTime", lifecycleStatus="Retired")
    assert [i["id"] for i in one_off.get_json()] == ["BB-DSL-NRC"]
    for path, params in ((OFFERINGS, {"lifecycleStatus": "launched"}),
                         (PRICES, {"priceType": "monthly"}), (OFFERINGS, {"colour": "red"})):
        response = get(client, token, path, **params)
        assert response.status_code == 400, params
        assert next(iter(params)) in response.get_json()["message"]


def test_pagination_headers_and_fields(client, token):
    first = get(client, token, OFFERINGS, limit=2)
    assert first.headers["X-Total-Count"] == "6" and first.headers["X-Result-Count"] == "2"
    second = get(client, token, OFFERINGS, limit=2, offset=2)
    assert [i["id"] for i in second.get_json()] == ["SDWAN-EDGE", "BB-DSL"]
    past = get(client, token, PRICES, offset=50)
    assert past.get_json() == [] and past.headers["X-Total-Count"] == "12"
    assert get(client, token, OFFERINGS, limit=0).status_code == 400
    item = get(client, token, f"{OFFERINGS}/MOB-UNL", fields="name").get_json()
    assert set(item) == {"id", "href", "@type", "name"}


def test_another_version_by_number(app, client, token):
    load(app, catalog(recurring="27.00"))
    now = get(client, token, f"{PRICES}/MOB-UNL-MRC").get_json()
    assert now["price"]["value"] == 27.0 and now["version"] == "2"
    before = get(client, token, f"{PRICES}/MOB-UNL-MRC", version="1").get_json()
    assert before["price"]["value"] == 25.0 and before["version"] == "1"
    listed = get(client, token, OFFERINGS, version="1").get_json()
    assert listed[0]["productOfferingPrice"][0]["price"]["dutyFreeAmount"]["value"] == 25.0
    for value, status in (("abc", 400), ("-1", 400), ("1.5", 400), ("0", 404), ("3", 404),
                          ("99999999999999999999", 404)):
        for path in (OFFERINGS, f"{OFFERINGS}/MOB-UNL", PRICES, f"{PRICES}/MOB-UNL-MRC"):
            response = get(client, token, path, version=value)
            assert response.status_code == status, (path, value)
            assert response.get_json()["code"] == str(status)


def test_before_the_first_catalog_lists_are_empty(client, factory, make_key):
    token = make_key(factory.org("acme"), "viewer")
    response = get(client, token, OFFERINGS)
    assert response.status_code == 200 and response.get_json() == []
    assert response.headers["X-Total-Count"] == "0"
    assert get(client, token, PRICES).get_json() == []
    assert get(client, token, f"{OFFERINGS}/MOB-UNL").status_code == 404


def test_keys_need_the_catalog_permission(client, factory, make_key, app):
    load(app, catalog())
    assert client.get(OFFERINGS).status_code == 401
    assert get(client, "pk_nope_nope", PRICES).status_code == 401
    # A finance key sees the estate and bills; a partner agent's sees the catalog.
    finance = make_key(factory.org("acme"), "finance")
    assert get(client, finance, OFFERINGS).status_code == 200
    partner = make_key(factory.org("northwind", kind="partner"), "partner_agent")
    assert get(client, partner, OFFERINGS).status_code == 200


def test_a_key_whose_role_lacks_the_permission_gets_403(client, factory, make_key, app,
                                                         monkeypatch):
    from portal.security import ROLE_PERMISSIONS, Permission, Role

    load(app, catalog())
    token = make_key(factory.org("acme"), "viewer")
    monkeypatch.setitem(ROLE_PERMISSIONS, Role.VIEWER,
                        ROLE_PERMISSIONS[Role.VIEWER] - {Permission.CATALOG_VIEW})
    for path in (OFFERINGS, f"{OFFERINGS}/MOB-UNL", PRICES, f"{PRICES}/MOB-UNL-MRC"):
        response = get(client, token, path)
        assert response.status_code == 403, path
        assert "catalog:view" in response.get_json()["message"]


def test_lists_run_a_fixed_number_of_queries(app, client, factory, make_key):
    load(app, catalog())
    token = make_key(factory.org("acme"), "viewer")
    get(client, token, OFFERINGS)  # the key's first use writes last_used_at; not counted
    with count_queries(app) as few:
        assert get(client, token, OFFERINGS).status_code == 200
    load(app, catalog(extra=40))
    get(client, token, PRICES)  # the new version is parsed once; not counted
    with count_queries(app) as many:
        response = get(client, token, OFFERINGS, limit=200)
    assert len(response.get_json()) == 46
    assert len(many) == len(few) <= 3, many
    with count_queries(app) as prices:
        assert len(get(client, token, PRICES, limit=200).get_json()) == 92
    assert len(prices) == len(few)
