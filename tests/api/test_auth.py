"""Bearer API keys on the TMF APIs: 401 for no, unknown or revoked keys, 403 for a role
without the permission, the key's organisation as the tenant, last use, rate limits."""

from __future__ import annotations

import datetime as dt

import pytest
from conftest import login_as
from sqlalchemy import select

from accounts.apikeys import authenticate, create_api_key, revoke_api_key
from accounts.models import ApiKey, Organisation
from api.conftest import bearer
from portal.db import utcnow
from portal.extensions import db

ACCOUNTS = "/tmf-api/accountManagement/v4/billingAccount"
PRODUCTS = "/tmf-api/productInventory/v4/product"



def _assert_error(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json
    body = response.get_json()
    assert body["code"] == str(status) and body["reason"] and body["message"]
    return body


@pytest.mark.parametrize("headers", [
    {},
    {"Authorization": "Basic dXNlcjpwYXNz"},
    {"Authorization": "Bearer"},
    {"Authorization": "Bearer not-a-key"},
    {"Authorization": "Bearer pk_0123456789ab_" + "x" * 43},  # well-formed, unknown
])
@pytest.mark.parametrize("path", [ACCOUNTS, PRODUCTS, f"{ACCOUNTS}/1", f"{PRODUCTS}/1"])
def test_missing_or_unknown_keys_answer_401_with_a_challenge(client, estate, path, headers):
    response = client.get(path, headers=headers)
    _assert_error(response, 401)
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="tmf-api"')
    assert "Set-Cookie" not in response.headers


def test_a_key_with_a_wrong_secret_answers_401(client, estate, make_key):
    token = make_key(estate.org)
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    response = client.get(ACCOUNTS, headers=bearer(tampered))
    _assert_error(response, 401)
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_a_revoked_key_answers_401_at_once(app, client, estate, make_key):
    token = make_key(estate.org)
    assert client.get(ACCOUNTS, headers=bearer(token)).status_code == 200
    with app.app_context():
        key = authenticate(db.session, token)
        revoke_api_key(db.session, key, actor_label="test")
        db.session.commit()
    _assert_error(client.get(ACCOUNTS, headers=bearer(token)), 401)


def test_a_key_of_a_deactivated_organisation_answers_401(app, client, estate, make_key):
    token = make_key(estate.org)
    with app.app_context():
        key = authenticate(db.session, token)
        key.organisation.active = False
        db.session.commit()
    _assert_error(client.get(ACCOUNTS, headers=bearer(token)), 401)


@pytest.mark.parametrize("role,path,status", [
    ("viewer", ACCOUNTS, 200),
    ("viewer", PRODUCTS, 200),
    ("finance", ACCOUNTS, 200),
    ("buyer", PRODUCTS, 200),
])
def test_customer_roles_with_the_permission_read(client, estate, make_key, role, path, status):
    assert client.get(path, headers=bearer(make_key(estate.org, role))).status_code == status


@pytest.mark.parametrize("path", [ACCOUNTS, PRODUCTS, f"{ACCOUNTS}/1", f"{PRODUCTS}/1"])
def test_a_role_without_the_permission_gets_403(client, factory, make_key, path):
    """A partner agent in its own organisation may see neither billing accounts nor the
    inventory."""
    partner = factory.org("northwind", kind="partner")
    response = client.get(path, headers=bearer(make_key(partner, "partner_agent")))
    body = _assert_error(response, 403)
    assert "partner_agent" in body["message"]


def test_the_key_decides_the_tenant_not_a_session_cookie(client, factory, estate, make_key):
    """A browser session of another organisation's admin changes nothing: the API reads the
    key's organisation only."""
    globex_admin = factory.user(estate.other_org, "admin")
    login_as(client, globex_admin, estate.other_org)
    response = client.get(ACCOUNTS, headers=bearer(make_key(estate.org)))
    assert response.status_code == 200
    assert {item["id"] for item in response.get_json()} == {
        str(estate.accounts["mine"]), str(estate.accounts["spare"])}
    # Without a key the session cookie is not enough.
    _assert_error(client.get(ACCOUNTS), 401)


def test_last_use_is_written_at_most_once_a_minute(app, client, estate, make_key):
    token = make_key(estate.org)
    with app.app_context():
        assert db.session.scalars(select(ApiKey)).one().last_used_at is None
    assert client.get(ACCOUNTS, headers=bearer(token)).status_code == 200
    with app.app_context():
        first = db.session.scalars(select(ApiKey)).one().last_used_at
    assert first is not None and utcnow() - first < dt.timedelta(seconds=30)
    assert client.get(PRODUCTS, headers=bearer(token)).status_code == 200
    with app.app_context():
        assert db.session.scalars(select(ApiKey)).one().last_used_at == first
        # A minute later, the next call writes it again.
        key = db.session.scalars(select(ApiKey)).one()
        key.last_used_at = first - dt.timedelta(minutes=2)
        db.session.commit()
    assert client.get(PRODUCTS, headers=bearer(token)).status_code == 200
    with app.app_context():
        assert db.session.scalars(select(ApiKey)).one().last_used_at > first


def test_each_key_is_rate_limited_with_a_json_429(make_app, factory):
    app = make_app(API_RATE_LIMIT="3 per minute")
    client = app.test_client()
    org = factory.org("acme")
    with app.app_context():
        _, token = create_api_key(db.session, db.session.get(Organisation, org), "a", "viewer")
        _, other = create_api_key(db.session, db.session.get(Organisation, org), "b", "viewer")
        db.session.commit()
    # One budget per key across every endpoint of the API.
    for path in (ACCOUNTS, PRODUCTS, ACCOUNTS):
        assert client.get(path, headers=bearer(token)).status_code == 200
    response = client.get(PRODUCTS, headers=bearer(token))
    _assert_error(response, 429)
    assert "Retry-After" in response.headers
    # Another key of the same organisation has its own budget.
    assert client.get(ACCOUNTS, headers=bearer(other)).status_code == 200


def test_api_answers_are_never_cached(client, estate, make_key):
    response = client.get(ACCOUNTS, headers=bearer(make_key(estate.org)))
    assert response.headers["Cache-Control"] == "no-store"
