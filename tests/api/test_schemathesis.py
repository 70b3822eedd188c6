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

from .conftest import add_estate


@pytest.fixture
def api_app(make_app):
    # Room for every generated request and the checks' own calls within one minute.
    return make_app(API_RATE_LIMIT="100000 per minute")


@pytest.fixture
def api_token(api_app, factory):
    """A viewer key of an organisation with an estate (ids 1.. exist, so some generated
    ids hit real accounts and products), and the demo catalog."""
    org_id = factory.org("acme")
    with api_app.app_context():
        add_estate(db.session, org_id, "acme", services=6)
        load_demo_catalog(db.session)
        _, token = create_api_key(db.session, db.session.get(Organisation, org_id),
                                  "schemathesis", "viewer")
        db.session.commit()
    return token


def _operations(app):
    schema = schemathesis.openapi.from_wsgi("/tmf-api/openapi.json", app)
    return [result.ok() for result in schema.get_all_operations()]


# Driven with Hypothesis directly: schemathesis.pytest.from_fixture reaches into pytest's
# private Node._nodeid, which pytest 9 no longer has.
@pytest.mark.parametrize("mode", list(schemathesis.GenerationMode), ids=str)
def test_the_api_keeps_the_promises_of_its_openapi_document(api_app, api_token, mode):
    operations = _operations(api_app)
    auth = {"Authorization": f"Bearer {api_token}"}
    assert len(operations) == sum(len(methods) for methods in PATHS.values())
    for operation in operations:

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
