"""TMF637 Product Inventory: the services of the inventory as products, validated against
the official v4 spec."""

from __future__ import annotations

import pytest
from conftest import count_queries

from portal.extensions import db

from .conftest import add_estate

PRODUCTS = "/tmf-api/productInventory/v4/product"


@pytest.fixture
def token(estate, make_key):
    return make_key(estate.org, "viewer")


def get(client, token, path, **params):
    return client.get(path, query_string=params, headers={"Authorization": f"Bearer {token}"})


def test_every_product_validates_against_the_official_spec(client, estate, token, assert_tmf):
    response = get(client, token, PRODUCTS)
    assert response.status_code == 200
    items = response.get_json()
    assert [item["id"] for item in items] == [str(i) for i in estate.services["all"]]
    for item in items:
        assert_tmf("TMF637", "Product", item)
        assert {"id", "href", "name", "status", "startDate", "productOffering", "place",
                "relatedParty", "@type"} <= set(item)
        assert item["@type"] == "Product"
        assert item["href"] == f"http://localhost{PRODUCTS}/{item['id']}"
        assert "productRelationship" not in item
    for item in items:  # and one by one
        single = get(client, token, f"{PRODUCTS}/{item['id']}")
        assert single.status_code == 200
        assert single.get_json() == item


def test_a_service_maps_to_a_product(client, estate, token):
    active, suspended, ceased = (get(client, token, f"{PRODUCTS}/{i}").get_json()
                                 for i in estate.services["all"])
    assert [p["status"] for p in (active, suspended, ceased)] == [
        "active", "suspended", "terminated"]
    assert active["place"] == [{"id": str(estate.sites["one"]), "name": "acme site 1",
                                "role": "installationAddress",
                                "@referredType": "GeographicSite"}]
    assert active["productOffering"]["id"] == "MOB-UNL"
    assert active["productCharacteristic"] == [
        {"name": "quantity", "valueType": "integer", "value": 1}]
    assert active["productTerm"][0]["duration"] == {"amount": 24, "units": "month"}
    assert active["startDate"] == "2024-01-01T00:00:00Z"
    assert "terminationDate" not in active
    assert active["billingAccount"]["id"] == str(estate.accounts["mine"])
    assert active["productPrice"][0]["price"]["dutyFreeAmount"] == {"value": 25.5,
                                                                    "unit": "EUR"}
    assert active["relatedParty"][0]["id"] == str(estate.org)
    assert "billingAccount" not in suspended and "productPrice" not in suspended
    assert ceased["terminationDate"] == "2025-06-30T00:00:00Z"


@pytest.mark.parametrize("which", ["theirs", "unknown", "abc", "1e3"])
def test_other_organisations_and_unknown_ids_answer_404(client, estate, token, which):
    product_id = {"theirs": estate.services["theirs"][0], "unknown": 424242}.get(which, which)
    response = get(client, token, f"{PRODUCTS}/{product_id}")
    assert response.status_code == 404
    assert response.get_json()["code"] == "404"


def test_filters(client, estate, token):
    def ids(**params):
        response = get(client, token, PRODUCTS, **params)
        assert response.status_code == 200, response.get_json()
        assert response.headers["X-Total-Count"] == str(len(response.get_json()))
        return [int(item["id"]) for item in response.get_json()]

    first, second, third = estate.services["all"]
    assert ids(status="active") == [first]
    assert ids(status="terminated") == [third]
    assert ids(status="pendingActive") == []
    assert ids(**{"place.id": estate.sites["one"]}) == [first, third]
    assert ids(**{"place.id": estate.sites["theirs"]}) == []
    assert ids(**{"productOffering.id": "FIB-1G"}) == [second]
    assert ids(**{"billingAccount.id": estate.accounts["mine"]}) == [first, third]
    assert ids(**{"billingAccount.id": estate.accounts["mine"], "status": "active"}) == [first]


@pytest.mark.parametrize("params", [
    {"status": "ceased"}, {"place.id": "x"}, {"billingAccount.id": "-1"}, {"limit": "1000"},
])
def test_bad_filter_values_answer_400(client, estate, token, params):
    response = get(client, token, PRODUCTS, **params)
    assert response.status_code == 400
    assert response.get_json()["code"] == "400"


def test_pagination(client, estate, token):
    page = get(client, token, PRODUCTS, offset=1, limit=1)
    assert [item["id"] for item in page.get_json()] == [str(estate.services["all"][1])]
    assert page.headers["X-Total-Count"] == "3" and page.headers["X-Result-Count"] == "1"


def test_fields(client, estate, token):
    items = get(client, token, PRODUCTS, fields="status,place").get_json()
    assert all(set(item) == {"id", "href", "@type", "status", "place"} for item in items)


def test_the_list_runs_a_fixed_number_of_queries(app, client, estate, token):
    get(client, token, PRODUCTS)  # the key's first use writes last_used_at; not counted
    with count_queries(app) as few:
        assert len(get(client, token, PRODUCTS).get_json()) == 3
    with app.app_context():
        add_estate(db.session, estate.org, "more", services=12)
        db.session.commit()
    with count_queries(app) as many:
        assert len(get(client, token, PRODUCTS).get_json()) == 15
    assert len(many) == len(few) <= 3, many


@pytest.mark.parametrize("query", ["sort=name", "plac.id=1", "limit=1&limit=2",
                                   "status=active&status=suspended"])
def test_unknown_or_repeated_parameters_answer_400(client, estate, token, query):
    """A misspelt filter must not quietly answer the whole inventory."""
    response = client.get(f"{PRODUCTS}?{query}", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 400
    assert response.get_json()["code"] == "400"


@pytest.mark.parametrize("params", [
    {"place.id": "99999999999"}, {"billingAccount.id": "2147483648"},
    {"productOffering.id": "MOB\x00UNL"},
])
def test_values_no_row_can_hold_match_nothing(client, estate, token, params):
    response = get(client, token, PRODUCTS, **params)
    assert response.status_code == 200 and response.get_json() == []


def test_an_id_beyond_any_product_answers_404(client, estate, token):
    assert get(client, token, f"{PRODUCTS}/99999999999").status_code == 404
