"""TMF666 Account Management: billing accounts, validated against the official v4 spec."""

from __future__ import annotations

import pytest
from conftest import count_queries
from sqlalchemy import select

from accounts.estate.models import BillingAccount
from portal.extensions import db

from .conftest import add_estate

ACCOUNTS = "/tmf-api/accountManagement/v4/billingAccount"


@pytest.fixture
def token(estate, make_key):
    return make_key(estate.org, "viewer")


def get(client, token, path, **params):
    return client.get(path, query_string=params, headers={"Authorization": f"Bearer {token}"})


def test_the_list_validates_against_the_official_spec(client, estate, token, assert_tmf,
                                                      tmf_spec):
    response = get(client, token, ACCOUNTS)
    assert response.status_code == 200
    items = response.get_json()
    assert [item["id"] for item in items] == [str(estate.accounts["mine"]),
                                               str(estate.accounts["spare"])]
    required = tmf_spec("TMF666")["definitions"]["BillingAccount"]["required"]
    for item in items:
        assert_tmf("TMF666", "BillingAccount", item)
        assert set(required) <= set(item)
        assert item["@type"] == "BillingAccount"
        assert item["href"] == f"http://localhost{ACCOUNTS}/{item['id']}"
        assert item["relatedParty"] == [{"id": str(estate.org), "name": "Acme",
                                         "role": "customer", "@referredType": "Organization"}]


def test_a_billing_account_maps_its_address_and_bill_settings(client, estate, token,
                                                              assert_tmf):
    response = get(client, token, f"{ACCOUNTS}/{estate.accounts['mine']}")
    assert response.status_code == 200
    item = response.get_json()
    assert_tmf("TMF666", "BillingAccount", item)
    assert item["name"] == "acme HQ"
    assert item["state"] == "active"
    assert "BA-acme" in item["description"] and "CC-7" in item["description"]
    medium = item["contact"][0]["contactMedium"][0]
    assert medium["mediumType"] == "postalAddress"
    assert medium["characteristic"] == {"contactType": "billing", "street1": "1 Main Street",
                                        "postCode": "10115", "city": "Berlin",
                                        "country": "DE"}
    assert item["billStructure"]["presentationMedia"] == [{"name": "email", "isRef": False}]
    assert item["billStructure"]["cycleSpecification"]["paymentDueDateOffset"] == 30


@pytest.mark.parametrize("which", ["theirs", "unknown", "not-a-number", "99999999999999999999"])
def test_other_organisations_and_unknown_ids_answer_404(client, estate, token, which):
    account_id = {"theirs": estate.accounts["theirs"], "unknown": 987654}.get(which, which)
    response = get(client, token, f"{ACCOUNTS}/{account_id}")
    assert response.status_code == 404
    body = response.get_json()
    assert body["code"] == "404" and body["reason"]


def test_the_list_never_shows_another_organisations_accounts(client, estate, token):
    ids = {item["id"] for item in get(client, token, ACCOUNTS, limit=200).get_json()}
    assert str(estate.accounts["theirs"]) not in ids


def test_pagination_headers_and_slices(client, estate, token):
    first = get(client, token, ACCOUNTS, limit=1)
    assert first.headers["X-Total-Count"] == "2"
    assert first.headers["X-Result-Count"] == "1"
    second = get(client, token, ACCOUNTS, limit=1, offset=1)
    assert second.headers["X-Result-Count"] == "1"
    assert first.get_json()[0]["id"] != second.get_json()[0]["id"]
    past = get(client, token, ACCOUNTS, offset=5)
    assert past.status_code == 200 and past.get_json() == []
    assert past.headers["X-Total-Count"] == "2" and past.headers["X-Result-Count"] == "0"


@pytest.mark.parametrize("params", [
    {"limit": "0"}, {"limit": "201"}, {"limit": "-1"}, {"limit": "ten"}, {"offset": "-1"},
    {"offset": "1.5"}, {"offset": "2147483648"}, {"limit": "9" * 40}, {"limit": "+5"},
])
def test_bad_pagination_values_answer_400(client, estate, token, params):
    response = get(client, token, ACCOUNTS, **params)
    assert response.status_code == 400
    body = response.get_json()
    assert body["code"] == "400" and next(iter(params)) in body["message"]


def test_filters_by_name_and_state(client, estate, token):
    by_state = get(client, token, ACCOUNTS, state="closed")
    assert [item["name"] for item in by_state.get_json()] == ["acme Spare"]
    assert by_state.headers["X-Total-Count"] == "1"
    by_name = get(client, token, ACCOUNTS, name="acme HQ")
    assert [item["id"] for item in by_name.get_json()] == [str(estate.accounts["mine"])]
    assert get(client, token, ACCOUNTS, name="globex HQ").get_json() == []


def test_fields_selects_attributes_but_keeps_the_mandatory_ones(client, estate, token,
                                                                assert_tmf):
    items = get(client, token, ACCOUNTS, fields="state").get_json()
    for item in items:
        assert set(item) == {"id", "href", "@type", "name", "relatedParty", "state"}
        assert_tmf("TMF666", "BillingAccount", item)
    one = get(client, token, f"{ACCOUNTS}/{estate.accounts['mine']}", fields="contact")
    assert "contact" in one.get_json() and "state" not in one.get_json()


def test_the_list_runs_a_fixed_number_of_queries(app, client, estate, token):
    get(client, token, ACCOUNTS)  # the key's first use writes last_used_at; not counted
    with count_queries(app) as few:
        assert get(client, token, ACCOUNTS).status_code == 200
    with app.app_context():
        for n in range(3):
            add_estate(db.session, estate.org, f"more{n}", services=0)
        db.session.commit()
        assert len(db.session.scalars(select(BillingAccount).where(
            BillingAccount.organisation_id == estate.org)).all()) == 8
    with count_queries(app) as many:
        response = get(client, token, ACCOUNTS)
    assert len(response.get_json()) == 8
    assert len(many) == len(few) <= 3, many
