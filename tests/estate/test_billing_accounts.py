"""Billing accounts: create, edit, list, detail with their sites and services."""

from __future__ import annotations

import re

import pytest
from conftest import csrf_token, login_as
from estate_data import add_account, add_services, add_sites
from sqlalchemy import select

from accounts.estate.models import BillingAccount
from portal.audit import AuditEvent
from portal.extensions import db

FORM = {"number": "BA-100", "name": "Head office", "currency": "EUR",
        "address": "1 Billing Street", "postcode": "75001", "city": "Paris", "country": "FR",
        "payment_terms_days": "45", "cost_centre": "CC-7", "delivery": "email"}


@pytest.fixture
def admin(client, factory):
    org_id = factory.org("acme")
    login_as(client, factory.user(org_id, "admin", email="admin@acme.test"), org_id)
    return org_id


def post(client, path, **changes):
    return client.post(path, data={**FORM, **changes,
                                   "csrf_token": csrf_token(client, "/billing-accounts/new")})


def page_text(response) -> str:
    return response.get_data(as_text=True).replace("&#39;", "'")


def test_an_admin_creates_and_edits_a_billing_account_with_audit_events(client, admin, app):
    response = post(client, "/billing-accounts/new")
    assert response.status_code == 302
    detail = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Head office" in detail and "45 days" in detail and "CC-7" in detail
    with app.app_context():
        account = db.session.scalars(select(BillingAccount)).one()
        assert (account.organisation_id, account.country, account.delivery) == (
            admin, "FR", "email")
        account_id = account.id
    form = client.get(f"/billing-accounts/{account_id}/edit").get_data(as_text=True)
    assert 'value="BA-100"' in form and 'value="45"' in form
    response = post(client, f"/billing-accounts/{account_id}/edit", payment_terms_days="0",
                    delivery="post")
    assert response.status_code == 302
    with app.app_context():
        events = {e.action: e for e in db.session.scalars(select(AuditEvent))}
        assert events["billing_account:create"].after["number"] == "BA-100"
        update = events["billing_account:update"]
        assert update.before == {"payment_terms_days": 45, "delivery": "email"}
        assert update.after == {"payment_terms_days": 0, "delivery": "post"}


@pytest.mark.parametrize("changes,message", [
    ({"number": ""}, "Account number is missing."),
    ({"number": "BA 1"}, "Account number 'BA 1' may only hold letters"),
    ({"name": "x" * 201}, "Field cannot be longer than 200 characters."),
    ({"currency": "XYZ"}, "Not a valid choice."),
    ({"country": ""}, "Country is missing."),
    ({"payment_terms_days": "181"}, "Number must be between 0 and 180."),
    ({"payment_terms_days": "soon"}, "Not a valid integer value."),
    ({"delivery": "pigeon"}, "Not a valid choice."),
    ({"address": "=SUM(A1)"}, "must not start with =, +, - or @"),
])
def test_invalid_billing_accounts_are_explained_and_not_saved(client, admin, app, changes,
                                                              message):
    response = post(client, "/billing-accounts/new", **changes)
    assert response.status_code == 200
    assert message in page_text(response)
    with app.app_context():
        assert db.session.scalars(select(BillingAccount)).all() == []


def test_account_numbers_are_unique_in_the_organisation_only(client, admin, factory, app):
    add_account(app, admin, "BA-100")
    add_account(app, factory.org("globex"), "BA-200")
    assert "'BA-100' is already used by another account" in page_text(
        post(client, "/billing-accounts/new"))
    assert post(client, "/billing-accounts/new", number="BA-200").status_code == 302


def test_the_detail_page_shows_the_sites_and_services_it_bills(client, admin, app):
    account = add_account(app, admin, "BA-1")
    other = add_account(app, admin, "BA-2")
    billed = add_sites(app, admin, 2, prefix="IN", account_id=account)
    add_sites(app, admin, 1, prefix="OUT", account_id=other)
    add_services(app, admin, billed[0], 3, account_id=account, offering="SDWAN-S")
    add_services(app, admin, billed[1], 1, account_id=other, offering="TV-BASIC")
    page = client.get(f"/billing-accounts/{account}").get_data(as_text=True)
    assert "IN-00000" in page and "IN-00001" in page and "OUT-00000" not in page
    assert "2 sites" in page and "3 services" in page
    assert page.count("<code>SDWAN-S</code>") == 3 and "TV-BASIC" not in page


def test_the_list_searches_sorts_and_counts(client, admin, app):
    first = add_account(app, admin, "BA-1", name="Zulu Retail", country="DE")
    add_account(app, admin, "BA-2", name="Alpha Logistics", country="AT")
    (site_id,) = add_sites(app, admin, 1, account_id=first)
    add_services(app, admin, site_id, 4, account_id=first)

    def numbers(query):
        html = client.get(f"/billing-accounts{query}").get_data(as_text=True)
        return re.findall(r'<a href="/billing-accounts/\d+">([^<]+)</a>', html)

    assert numbers("") == ["BA-1", "BA-2"]
    assert numbers("?sort=name") == ["BA-2", "BA-1"]
    assert numbers("?sort=number&dir=desc") == ["BA-2", "BA-1"]
    assert numbers("?q=logist") == ["BA-2"]
    row = re.search(r"BA-1</a>.*?</tr>", client.get("/billing-accounts").get_data(as_text=True),
                    re.S).group(0)
    assert re.findall(r'text-end">(\d+)<', row) == ["1", "4"]


def test_another_organisations_account_answers_404(client, admin, factory, app):
    theirs = add_account(app, factory.org("globex"), "G-1")
    assert client.get(f"/billing-accounts/{theirs}").status_code == 404
    assert client.get(f"/billing-accounts/{theirs}/edit").status_code == 404
    assert post(client, f"/billing-accounts/{theirs}/edit", name="Hijacked").status_code == 404
    assert "G-1" not in client.get("/billing-accounts").get_data(as_text=True)
    with app.app_context():
        assert db.session.get(BillingAccount, theirs).name == "Account G-1"


def test_partners_without_the_billing_scope_see_no_billing_accounts(client, factory, app):
    import datetime as dt

    from accounts.models import Delegation

    customer = factory.org("acme")
    partner = factory.org("northwind", kind="partner")
    account = add_account(app, customer, "BA-SECRET")
    add_sites(app, customer, 1, account_id=account)
    with app.app_context():
        db.session.add(Delegation(organisation_id=customer, partner_id=partner,
                                  scopes=["quote"], expires_at=dt.datetime.now(dt.UTC)
                                  + dt.timedelta(days=1)))
        db.session.commit()
    login_as(client, factory.user(partner, "partner_agent"), customer)
    sites = client.get("/sites")
    assert sites.status_code == 200 and "S-00000" in sites.get_data(as_text=True)
    assert "BA-SECRET" not in sites.get_data(as_text=True)
    assert client.get("/billing-accounts").status_code == 403
    export = client.get("/sites/export.csv").data.decode("utf-8-sig")
    assert "BA-SECRET" not in export and "billing_account" not in export.splitlines()[0]
