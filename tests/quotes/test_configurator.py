"""The configurator: sites picked by hand, by country or all; live prices and totals;
rule problems on the line they concern; guided selling; the cart kept between visits."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from conftest import count_queries, csrf_token, login_as
from sqlalchemy import func, select

from accounts.estate.models import BillingAccount, Site
from portal.catalog.store import load_version
from portal.extensions import db
from quotes.models import Cart, CartLine

CATALOG = """
currency: EUR
approval: {auto_max: "0.05", account_manager_max: "0.15", sales_director_max: "0.30"}
quote_validity_days: 30
tax_rates: {DE: "0.19", FR: "0.20"}
offerings:
  - code: MOB-UNL
    name: Business Mobile Unlimited
    family: mobile
    fulfilment: mobile-bss
    recurring: "25.00"
    one_off: "10.00"
    volume_tiers: [{min: 1, discount: "0"}, {min: 50, discount: "0.10"}]
    terms: {12: "0", 24: "0.05"}
    available_in: [DE, FR]
  - code: FIBRE
    name: Business Fibre
    family: broadband
    fulfilment: fixed-bss
    recurring: "80.00"
    one_off: "100.00"
    terms: {24: "0"}
    available_in: [DE]
  - code: SDWAN
    name: SD-WAN edge
    family: sdwan
    fulfilment: fixed-bss
    recurring: "50.00"
    one_off: "0"
    terms: {24: "0"}
    requires: [FIBRE]
    available_in: [DE]
  - code: PHONE
    name: Phone Pro
    family: device
    fulfilment: mobile-bss
    recurring: "0"
    one_off: "300.00"
    terms: {24: "0"}
    plans: [MOB-UNL]
    accessories: [CASE]
    available_in: [DE, FR]
  - code: CASE
    name: Phone case
    family: accessory
    fulfilment: mobile-bss
    recurring: "0"
    one_off: "20.00"
    terms: {12: "0", 24: "0"}
    available_in: [DE, FR]
"""


@pytest.fixture
def shop(app, factory, client):
    """A customer with 3 German and 2 French sites, a German billing account, a buyer
    signed in, and the catalog above loaded."""
    org_id = factory.org("acme")
    buyer = factory.user(org_id, "buyer", email="bob@acme.test")
    with app.app_context():
        account = BillingAccount(organisation_id=org_id, number="BA-1", name="Acme DE",
                                 country="DE")
        db.session.add(account)
        sites = [Site(organisation_id=org_id, code=f"{c}-{n}", name=f"{c} site {n}",
                      address="Street 1", postcode="10000", city="City", country=c)
                 for c, n in [("DE", 1), ("DE", 2), ("DE", 3), ("FR", 1), ("FR", 2)]]
        db.session.add_all(sites)
        load_version(db.session, CATALOG, "test.yaml", "test")
        db.session.commit()
        site_ids = {s.code: s.id for s in sites}
    login_as(client, buyer, org_id)
    return {"org": org_id, "buyer": buyer, "sites": site_ids, "account": account.id}


def add(client, offering, quantity=1, term=24, scope="selected", sites=(), country="",
        fetch=False):
    data = {"csrf_token": csrf_token(client, "/configurator"), "offering_code": offering,
            "quantity": str(quantity), "term_months": str(term), "scope": scope,
            "country": country, "site_id": [str(s) for s in sites]}
    headers = {"X-Requested-With": "fetch"} if fetch else {}
    return client.post("/configurator/lines", data=data, headers=headers)


def lines(app):
    with app.app_context():
        return sorted((line.site.code, line.offering_code, line.quantity, line.term_months)
                      for line in db.session.scalars(select(CartLine)))


def total(page: str, name: str) -> str:
    return re.search(rf'data-testid="{name}">([^<]+)<', page).group(1).strip()


def test_looking_at_the_configurator_writes_nothing(client, shop, app):
    page = client.get("/configurator").get_data(as_text=True)
    assert "The cart is empty" in page and 'data-testid="site-picker"' in page
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Cart)) == 0


def test_adding_at_ticked_sites_prices_each_line(client, shop, app):
    response = add(client, "MOB-UNL", quantity=10, sites=[shop["sites"]["DE-1"],
                                                          shop["sites"]["DE-2"]])
    assert response.status_code == 302
    assert lines(app) == [("DE-1", "MOB-UNL", 10, 24), ("DE-2", "MOB-UNL", 10, 24)]
    page = client.get("/configurator").get_data(as_text=True)
    # 25.00 x 10 x (1 - 0.05 term) = 237.50 per line; 20 units stay below the 50 tier.
    assert page.count(">237.50<") == 2
    assert total(page, "total-mrc") == "475.00 EUR"
    assert total(page, "total-nrc") == "200.00 EUR"
    # TCV = 200.00 + 475.00 x 24 = 11600.00; tax at the German account's 19 %.
    assert total(page, "total-tcv") == "11600.00 EUR"
    assert total(page, "tax-tcv") == "2204.00 EUR"


def test_every_site_of_a_country_or_all_sites(client, shop, app):
    add(client, "MOB-UNL", quantity=20, scope="country", country="FR")
    assert [code for code, *_ in lines(app)] == ["FR-1", "FR-2"]
    add(client, "MOB-UNL", quantity=5, scope="all")
    assert lines(app) == [("DE-1", "MOB-UNL", 5, 24), ("DE-2", "MOB-UNL", 5, 24),
                          ("DE-3", "MOB-UNL", 5, 24), ("FR-1", "MOB-UNL", 25, 24),
                          ("FR-2", "MOB-UNL", 25, 24)]


def test_the_volume_tier_counts_the_offering_across_all_sites(client, shop):
    add(client, "MOB-UNL", quantity=24, scope="country", country="FR")
    page = client.get("/configurator").get_data(as_text=True)
    # 48 units in all, below the 50 tier: 24 x 25.00 x 0.95 = 570.00 per line.
    assert page.count(">570.00<") == 2
    add(client, "MOB-UNL", quantity=2, sites=[shop["sites"]["DE-1"]])
    page = client.get("/configurator").get_data(as_text=True)
    # 50 units now: 10 % off every line. 24 x 25 x 0.9 x 0.95 = 513.00; 2 x ... = 42.75
    assert page.count(">513.00<") == 2 and ">42.75<" in page


def test_a_change_answers_with_the_cart_fragment_for_the_script(client, shop, app):
    response = add(client, "MOB-UNL", quantity=2, sites=[shop["sites"]["DE-1"]], fetch=True)
    assert response.status_code == 200
    fragment = response.get_data(as_text=True)
    assert fragment.lstrip().startswith('<section aria-labelledby="cart-heading"')
    assert total(fragment, "total-mrc") == "47.50 EUR"
    with app.app_context():
        line_id = db.session.scalars(select(CartLine.id)).one()
    response = client.post(f"/configurator/lines/{line_id}", headers={
        "X-Requested-With": "fetch"}, data={"csrf_token": csrf_token(client, "/configurator"),
                                           "quantity": "4", "term_months": "12"})
    assert total(response.get_data(as_text=True), "total-mrc") == "100.00 EUR"


def test_rule_problems_show_on_the_line_they_concern(client, shop):
    add(client, "SDWAN", sites=[shop["sites"]["DE-1"]])
    add(client, "FIBRE", scope="country", country="FR")  # fibre is sold in Germany only
    page = client.get("/configurator").get_data(as_text=True)
    rows = {m.group(1): m.group(0) for m in re.finditer(
        r'<tr data-line="\d+"[^>]*>\s*<td>([A-Z]{2}-\d)<br>.*?</tr>', page, re.S)}
    assert "table-warning" in rows["DE-1"] and "Business Fibre" in rows["DE-1"]
    assert "table-warning" in rows["FR-1"] and "FR" in rows["FR-1"]
    add(client, "FIBRE", sites=[shop["sites"]["DE-1"]])
    page = client.get("/configurator").get_data(as_text=True)
    de_row = re.search(r'<tr data-line="\d+"[^>]*>\s*<td>DE-1<br>.*?</tr>', page, re.S).group(0)
    assert "table-warning" not in de_row


def test_bad_additions_are_refused_with_the_reason_and_change_nothing(client, shop, app):
    cases = [
        ({"offering": "NOPE", "sites": [shop["sites"]["DE-1"]]}, "Not a valid choice"),
        ({"offering": "FIBRE", "term": 12, "sites": [shop["sites"]["DE-1"]]},
         "offered for 24 months, not 12"),
        ({"offering": "MOB-UNL", "quantity": 0, "sites": [shop["sites"]["DE-1"]]},
         "Number must be between"),
        ({"offering": "MOB-UNL", "sites": []}, "Choose at least one site"),
    ]
    for kwargs, message in cases:
        response = add(client, **kwargs)
        assert response.status_code == 422
        assert message in response.get_data(as_text=True), kwargs
    assert lines(app) == []


def test_sites_of_another_organisation_cannot_be_added(client, shop, factory, app):
    other = factory.org("globex")
    with app.app_context():
        site = Site(organisation_id=other, code="GLX-1", name="Globex", address="x",
                    postcode="1", city="x", country="DE")
        db.session.add(site)
        db.session.commit()
        site_id = site.id
    response = add(client, "MOB-UNL", sites=[site_id])
    assert response.status_code == 422 and "not active sites of this organisation" in (
        response.get_data(as_text=True))
    assert lines(app) == []


def test_guided_selling_offers_plans_then_accessories(client, shop, app):
    add(client, "PHONE", quantity=3, scope="country", country="DE")
    page = client.get("/configurator").get_data(as_text=True)
    assert "Goes with Phone Pro:" in page and "Add Business Mobile Unlimited" in page
    token = csrf_token(client, "/configurator")
    client.post("/configurator/companions", data={
        "csrf_token": token, "device_code": "PHONE", "companion_code": "MOB-UNL"})
    page = client.get("/configurator").get_data(as_text=True)
    assert "Add Phone case" in page and "Add Business Mobile Unlimited" not in page
    client.post("/configurator/companions", data={
        "csrf_token": token, "device_code": "PHONE", "companion_code": "CASE"})
    assert ("DE-2", "CASE", 3, 24) in lines(app) and ("DE-3", "MOB-UNL", 3, 24) in lines(app)
    assert "Goes with Phone Pro" not in client.get("/configurator").get_data(as_text=True)


def test_the_cart_is_kept_for_the_next_visit(client, shop, app):
    add(client, "MOB-UNL", sites=[shop["sites"]["DE-1"]])
    again = app.test_client()
    login_as(again, shop["buyer"], shop["org"])
    assert "DE-1" in again.get("/configurator").get_data(as_text=True)


def test_a_line_can_be_removed_and_the_cart_emptied(client, shop, app):
    add(client, "MOB-UNL", scope="all")
    with app.app_context():
        first = db.session.scalars(select(CartLine.id)).first()
    client.post(f"/configurator/lines/{first}/delete",
                data={"csrf_token": csrf_token(client, "/configurator")})
    assert len(lines(app)) == 4
    client.post("/configurator/clear", data={"csrf_token": csrf_token(client, "/configurator")})
    assert lines(app) == []


def test_the_billing_account_sets_the_tax_country(client, shop, app):
    with app.app_context():
        fr = BillingAccount(organisation_id=shop["org"], number="BA-FR", name="Acme FR",
                            country="FR")
        db.session.add(fr)
        db.session.commit()
        fr_id = fr.id
    add(client, "MOB-UNL", quantity=4, sites=[shop["sites"]["FR-1"]])
    client.post("/configurator/billing-account", data={
        "csrf_token": csrf_token(client, "/configurator"), "billing_account_id": str(fr_id)})
    page = client.get("/configurator").get_data(as_text=True)
    # 4 x 25 x 0.95 = 95.00 a month; TCV 40.00 + 95.00 x 24 = 2320.00; 20 % = 464.00
    assert total(page, "tax-tcv") == "464.00 EUR" and "(FR, 20.0 %)" in page


def test_without_a_catalog_the_configurator_says_so(client, factory):
    org = factory.org("acme")
    login_as(client, factory.user(org, "buyer"), org)
    page = client.get("/configurator").get_data(as_text=True)
    assert 'data-testid="no-catalog"' in page
    response = client.post("/configurator/lines", follow_redirects=True, data={
        "csrf_token": csrf_token(client, "/configurator"), "offering_code": "X"})
    assert "The catalog is not available yet" in response.get_data(as_text=True)


def test_the_cart_page_runs_a_fixed_number_of_queries(client, shop, app):
    add(client, "MOB-UNL", scope="all")
    client.get("/configurator")
    with count_queries(app) as few:
        client.get("/configurator")
    add(client, "PHONE", scope="all")
    add(client, "CASE", term=12, scope="all")
    client.get("/configurator")
    with count_queries(app) as more:
        client.get("/configurator")
    assert len(more) == len(few)


def test_prices_are_exact_decimals(client, shop):
    add(client, "MOB-UNL", quantity=3, term=12, sites=[shop["sites"]["DE-1"]])
    page = client.get("/configurator").get_data(as_text=True)
    assert Decimal(total(page, "total-mrc").split()[0]) == Decimal("75.00")


def test_a_line_of_another_cart_answers_404_and_stays(client, shop, factory, app):
    other_org = factory.org("globex")
    other_buyer = factory.user(other_org, "buyer")
    with app.app_context():
        site = Site(organisation_id=other_org, code="GLX-1", name="Globex", address="x",
                    postcode="1", city="x", country="DE")
        cart = Cart(organisation_id=other_org, created_by_id=other_buyer)
        cart.lines.append(CartLine(site=site, offering_code="MOB-UNL", quantity=7,
                                   term_months=24))
        db.session.add(cart)
        db.session.commit()
        line_id = cart.lines[0].id
    token = csrf_token(client, "/configurator")
    assert client.post(f"/configurator/lines/{line_id}", data={
        "csrf_token": token, "quantity": "1", "term_months": "24"}).status_code == 404
    assert client.post(f"/configurator/lines/{line_id}/delete",
                       data={"csrf_token": token}).status_code == 404
    assert lines(app) == [("GLX-1", "MOB-UNL", 7, 24)]


@pytest.mark.parametrize("scopes,status", [(["quote"], 200), (["order", "billing"], 403)])
def test_a_partner_configures_for_a_customer_only_with_the_quote_scope(
    app, factory, shop, scopes, status
):
    import datetime as dt

    from accounts.models import Delegation
    from portal.db import utcnow

    partner = factory.org("northwind", kind="partner")
    agent = factory.user(partner, "partner_agent", email="paul@northwind.test")
    with app.app_context():
        db.session.add(Delegation(organisation_id=shop["org"], partner_id=partner,
                                  scopes=scopes, expires_at=utcnow() + dt.timedelta(days=9)))
        db.session.commit()
    client = app.test_client()
    login_as(client, agent, shop["org"])
    assert client.get("/configurator").status_code == status
    if status == 200:
        add(client, "MOB-UNL", scope="country", country="DE")
        assert [code for code, *_ in lines(app)] == ["DE-1", "DE-2", "DE-3"]
        with app.app_context():
            cart = db.session.scalars(select(Cart)).one()
            assert (cart.organisation_id, cart.created_by_id) == (shop["org"], agent)
