"""Property-based tests of the API from its own OpenAPI document (schemathesis): with a
valid key, no request the document allows makes the portal fail, and every answer (status,
headers, body) is one the document describes. Bounded: a few examples per operation."""

from __future__ import annotations

import re

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from accounts.apikeys import create_api_key
from accounts.models import Organisation
from portal.api.openapi import PATHS
from portal.catalog.demo import load_demo_catalog
from portal.extensions import db

from .conftest import add_bill, add_estate


@pytest.fixture
def api_app(make_app):
    # Room for every generated request and the checks' own calls within one minute.
    return make_app(API_RATE_LIMIT="100000 per minute")


@pytest.fixture
def api_tokens(api_app, factory):
    """A viewer key and a finance key (bills) of an organisation with an estate and bills
    (ids 1.. exist, so some generated ids hit real accounts, products and bills), and the
    demo catalog."""
    org_id = factory.org("acme")
    with api_app.app_context():
        estate = add_estate(db.session, org_id, "acme", services=6)
        for n in range(3):
            add_bill(db.session, org_id, estate["account"], f"ST-{n}", lines=2)
        load_demo_catalog(db.session)
        org = db.session.get(Organisation, org_id)
        tokens = {role: create_api_key(db.session, org, f"schemathesis {role}", role)[1]
                  for role in ("viewer", "finance")}
        db.session.commit()
    return tokens


# The bills are not for viewers: they are read with a finance key.
BILLS = "/tmf-api/customerBillManagement/"


def _operations(app):
    schema = schemathesis.openapi.from_wsgi("/tmf-api/openapi.json", app)
    return [result.ok() for result in schema.get_all_operations()]


# Driven with Hypothesis directly: schemathesis.pytest.from_fixture reaches into pytest's
# private Node._nodeid, which pytest 9 no longer has.
@pytest.mark.parametrize("mode", list(schemathesis.GenerationMode), ids=str)
def test_the_api_keeps_the_promises_of_its_openapi_document(api_app, api_tokens, mode):
    operations = _operations(api_app)
    assert len(operations) == sum(len(methods) for methods in PATHS.values())
    for operation in operations:
        role = "finance" if operation.path.startswith(BILLS) else "viewer"
        auth = {"Authorization": f"Bearer {api_tokens[role]}"}

        @given(case=operation.as_strategy(generation_mode=mode, headers=auth))
        @settings(max_examples=20, deadline=None, database=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
        def run(case):
            case.call_and_validate()

        run()


def test_the_document_is_public_and_lists_the_endpoints(client):
    response = client.get("/tmf-api/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    assert document["openapi"].startswith("3.")
    assert set(document["paths"]) == {
        "/tmf-api/accountManagement/v4/billingAccount",
        "/tmf-api/accountManagement/v4/billingAccount/{id}",
        "/tmf-api/productInventory/v4/product",
        "/tmf-api/productInventory/v4/product/{id}",
        "/tmf-api/productCatalogManagement/v4/productOffering",
        "/tmf-api/productCatalogManagement/v4/productOffering/{id}",
        "/tmf-api/productCatalogManagement/v4/productOfferingPrice",
        "/tmf-api/productCatalogManagement/v4/productOfferingPrice/{id}",
        "/tmf-api/quoteManagement/v4/quote",
        "/tmf-api/quoteManagement/v4/quote/{id}",
        "/tmf-api/quoteManagement/v4/quote/{id}/pdf",
        "/tmf-api/productOrderingManagement/v4/productOrder",
        "/tmf-api/productOrderingManagement/v4/productOrder/{id}",
        "/tmf-api/customerBillManagement/v4/customerBill",
        "/tmf-api/customerBillManagement/v4/customerBill/{id}",
        "/tmf-api/customerBillManagement/v4/customerBill/{id}/document",
        "/tmf-api/customerBillManagement/v4/appliedCustomerBillingRate",
        "/tmf-api/customerBillManagement/v4/appliedCustomerBillingRate/{id}",
    }
    listing = document["paths"]["/tmf-api/productInventory/v4/product"]["get"]
    assert {"offset", "limit", "fields", "status", "place.id", "productOffering.id",
            "billingAccount.id"} <= {p["name"] for p in listing["parameters"]}
    assert set(listing["responses"]) == {"200", "400", "401", "403", "429"}
    assert set(listing["responses"]["200"]["headers"]) == {"X-Total-Count", "X-Result-Count"}
    assert document["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"


def test_every_api_route_is_in_the_document(app):
    """A new API route must be described (and so run by the schemathesis test above)."""
    described = {path.replace("{id}", "{}") for path in PATHS}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/tmf-api/") and rule.rule != "/tmf-api/openapi.json":
            assert re.sub(r"<[^>]+>", "{}", rule.rule) in described, rule.rule
