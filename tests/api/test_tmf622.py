"""TMF622 Product Ordering: orders placed (add, modify, delete) and followed through the API
by the same change services as the pages; every answer validated against the official v4
spec."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from conftest import count_queries
from sqlalchemy import func, select
from support.order_world import accepted_order
from support.quoting import CATALOG

from accounts.estate.models import Service, Site
from portal.catalog.store import load_version
from portal.db import utcnow
from portal.extensions import db
from portal.orders.changes import months_left
from portal.orders.models import Order, OrderItem, OrderPart, OutboxMessage
from portal.orders.services import ItemSpec, apply_event, place_order
from portal.security import ROLE_PERMISSIONS, Permission, Role
from quotes.models import Quote, QuoteVersion

ORDERS = "/tmf-api/productOrderingManagement/v4/productOrder"
LITE_PLAN = """
  - code: MOB-LITE
    name: Business Mobile Lite
    family: mobile
    fulfilment: mobile-bss
    recurring: "15.00"
    one_off: "0.00"
    terms: {12: "0", 24: "0.05"}
    available_in: [DE, FR]
"""



def add_item(site_id, code="MOB-UNL", quantity=10, term: int | None = 24) -> dict:
    """An add item as DESIGN.md names its parts (term optional)."""
    product = {"place": [{"id": str(site_id), "role": "installationAddress",
                          "@referredType": "GeographicSite"}], "@type": "Product"}
    if term is not None:
        product["productTerm"] = [{"duration": {"amount": term, "units": "month"}}]
    return {"id": "1", "action": "add", "quantity": quantity, "productOffering": {"id": code},
            "product": product}


def change_item(action: str, product_id, **product) -> dict:
    return {"id": "1", "action": action, "product": {"id": str(product_id), **product}}


def penalty(value, unit="EUR") -> list[dict]:
    """The itemPrice that accepts an early-termination charge."""
    return [{"priceType": "penalty", "price": {"dutyFreeAmount": {"value": value,
                                                                  "unit": unit}}}]


@pytest.fixture
def buyer_key(quoting, make_key):
    return make_key(quoting.org, "buyer")


@pytest.fixture
def api(api_client):
    """`api(token).get(path)`, `.post(body)`: calls with a key."""
    return lambda token: api_client(token, ORDERS)


@pytest.fixture
def inventory(app, quoting) -> dict:
    """Services of the customer (added directly): mobile inside its term, fibre past it, a
    ceased one; and Globex's site and service."""
    today = utcnow().date()
    with app.app_context():
        sites = quoting.sites
        rows = {
            "mobile": Service(organisation_id=quoting.org, site_id=sites["DE-001"],
                              billing_account_id=quoting.account, offering_code="MOB-UNL",
                              description="Business Mobile Unlimited", quantity=10,
                              status="active", start_date=today - dt.timedelta(days=100),
                              term_months=24, monthly_charge=Decimal("237.50"),
                              source_system="portal", source_ref="inv-1"),
            "fibre": Service(organisation_id=quoting.org, site_id=sites["DE-002"],
                             billing_account_id=quoting.account, offering_code="FIBRE",
                             description="Business Fibre", quantity=1, status="active",
                             start_date=dt.date(2020, 1, 1), term_months=24,
                             monthly_charge=Decimal("80.00"), source_system="portal",
                             source_ref="inv-2"),
            "ceased": Service(organisation_id=quoting.org, site_id=sites["DE-001"],
                              offering_code="MOB-UNL", quantity=2, status="ceased",
                              start_date=dt.date(2020, 1, 1), end_date=dt.date(2023, 1, 1),
                              term_months=12, monthly_charge=Decimal("50.00"),
                              source_system="portal", source_ref="inv-3"),
        }
        site = Site(organisation_id=quoting.other_org, code="G-1", name="Globex site",
                    address="Weg 1", postcode="20095", city="Hamburg", country="DE")
        db.session.add(site)
        db.session.flush()
        rows["theirs"] = Service(organisation_id=quoting.other_org, site_id=site.id,
                                 offering_code="MOB-UNL", quantity=1, status="active",
                                 start_date=dt.date(2020, 1, 1), term_months=12,
                                 monthly_charge=Decimal("25.00"), source_system="portal",
                                 source_ref="inv-g")
        db.session.add_all(rows.values())
        db.session.commit()
        ids = {name: service.id for name, service in rows.items()}
        ids["their_site"] = site.id
        mobile = rows["mobile"]
        ids["charge"] = (mobile.monthly_charge * months_left(mobile, today)).quantize(
            Decimal("0.01"))
    return ids


def _error(response, status: int, *words: str) -> str:
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert body["code"] == str(status) and body["reason"]
    for word in words:
        assert word in body["message"], body["message"]
    return body["message"]


def _counts(app) -> tuple[int, int, int]:
    with app.app_context():
        return tuple(db.session.scalar(select(func.count()).select_from(model))
                     for model in (Order, OrderItem, OutboxMessage))


def _money(price: dict) -> Decimal:
    return Decimal(str(price["price"]["dutyFreeAmount"]["value"]))


def _report(app, part_external_id: str, state: str, event: str) -> None:
    """What the order backend's webhook would report for a part."""
    with app.app_context():
        assert apply_event(db.session, {
            "eventId": event, "eventType": "ProductOrderStateChangeEvent",
            "event": {"productOrder": {"id": f"B-{part_external_id}",
                                       "externalId": part_external_id, "state": state}}},
        ) == "applied"
        db.session.commit()


def _parts(app, order_id) -> dict[str, str]:
    with app.app_context():
        return {p.fulfilment: p.external_id for p in db.session.scalars(
            select(OrderPart).where(OrderPart.order_id == int(order_id)))}


# -- placing orders --------------------------------------------------------------------------

def test_an_add_order_is_placed_and_listed_with_its_parts_states(app, api, quoting, buyer_key,
                                                                 assert_tmf):
    sites = quoting.sites
    before = _counts(app)
    response = api(buyer_key).post({
        "externalId": "ERP-4711", "description": "Two new sites",
        "productOrderItem": [add_item(sites["DE-001"], "MOB-UNL", 10, 24),
                             add_item(sites["DE-002"], "FIBRE", 1, None)]})
    assert response.status_code == 201, response.get_json()
    order = response.get_json()
    assert_tmf("TMF622", "ProductOrder", order)
    assert response.headers["Location"] == f"http://localhost{ORDERS}/{order['id']}"
    assert order["href"] == response.headers["Location"]
    assert (order["externalId"], order["description"], order["state"], order["category"]) == (
        "ERP-4711", "Two new sites", "pending", "api")
    assert order["relatedParty"][0]["id"] == str(quoting.org)
    assert order["note"][0]["id"] == "orderNumber"
    assert order["note"][0]["text"].startswith("O-")
    assert order["billingAccount"]["id"] == str(quoting.account)
    assert _counts(app) == (before[0] + 1, before[1] + 2, before[2] + 2)
    # Numbered by part: fixed-bss (FIBRE) before mobile-bss.
    fibre, mobile = order["productOrderItem"]
    assert [fibre["action"], mobile["action"]] == ["add", "add"]
    assert mobile["productOffering"]["id"] == "MOB-UNL" and mobile["quantity"] == 10
    assert mobile["product"]["place"][0] == {
        "id": str(sites["DE-001"]), "name": "Site 1", "role": "installationAddress",
        "@referredType": "GeographicSite"}
    assert mobile["product"]["productTerm"][0]["duration"] == {"amount": 24, "units": "month"}
    assert fibre["product"]["productTerm"][0]["duration"] == {"amount": 24, "units": "month"}
    assert "id" not in mobile["product"]
    # 10 x 25.00 less 5 % for 24 months; the one-off 10 x 10.00.
    assert [(p["priceType"], _money(p)) for p in mobile["itemPrice"]] == [
        ("recurring", Decimal("237.50")), ("oneTime", Decimal("100.00"))]
    assert mobile["itemPrice"][0]["priceAlteration"][0]["name"] == "THREE-FREE"
    assert mobile["itemPrice"][0]["productOfferingPrice"]["id"] == "MOB-UNL-MRC"
    assert [(p["priceType"], _money(p)) for p in fibre["itemPrice"]] == [
        ("recurring", Decimal("80.00")), ("oneTime", Decimal("100.00"))]
    assert [_money(p) for p in order["orderTotalPrice"]] == [Decimal("317.50"),
                                                             Decimal("200.00")]

    parts = _parts(app, order["id"])
    _report(app, parts["mobile-bss"], "inProgress", "e1")
    listed = api(buyer_key).get().get_json()
    assert [o["id"] for o in listed] == [order["id"]]
    for item in listed:
        assert_tmf("TMF622", "ProductOrder", item)
    assert listed[0]["state"] == "inProgress"
    assert [(i["productOffering"]["id"], i["state"]) for i in listed[0]["productOrderItem"]] \
        == [("FIBRE", "pending"), ("MOB-UNL", "inProgress")]

    _report(app, parts["mobile-bss"], "completed", "e2")
    _report(app, parts["fixed-bss"], "completed", "e3")
    done = api(buyer_key).get(f"{ORDERS}/{order['id']}").get_json()
    assert_tmf("TMF622", "ProductOrder", done)
    assert done["state"] == "completed" and done["completionDate"]
    with app.app_context():
        made = dict(db.session.execute(select(Service.offering_code, Service.id).where(
            Service.organisation_id == quoting.org)).all())
    assert [i["product"]["id"] for i in done["productOrderItem"]] == [
        str(made["FIBRE"]), str(made["MOB-UNL"])]


def test_a_suspend_order_for_a_service(app, api, inventory, buyer_key, assert_tmf):
    response = api(buyer_key).post({"productOrderItem": [
        change_item("modify", inventory["mobile"], status="suspended")]})
    assert response.status_code == 201, response.get_json()
    order = response.get_json()
    assert_tmf("TMF622", "ProductOrder", order)
    (item,) = order["productOrderItem"]
    assert item["action"] == "modify" and item["state"] == "pending"
    assert item["product"]["id"] == str(inventory["mobile"])
    assert item["product"]["status"] == "suspended"
    assert item["product"]["href"].endswith(f"/productInventory/v4/product/"
                                            f"{inventory['mobile']}")
    assert [(p["priceType"], _money(p)) for p in item["itemPrice"]] == [
        ("recurring", Decimal("237.50")), ("oneTime", Decimal("0"))]
    with app.app_context():
        (placed,) = db.session.scalars(select(OrderItem)).all()
        assert (placed.action, placed.service_id) == ("suspend", inventory["mobile"])
    # The service now has a change open: another one waits until it ends.
    again = api(buyer_key).post({"productOrderItem": [
        change_item("delete", inventory["mobile"])]})
    _error(again, 422, "productOrderItem[0].product.id", "still changing")


def test_a_move_is_a_modify_with_another_place(app, api, quoting, inventory, buyer_key):
    target = quoting.sites["DE-003"]
    response = api(buyer_key).post({"productOrderItem": [
        change_item("modify", inventory["fibre"], place=[{"id": str(target),
                                                          "role": "installationAddress"}])]})
    assert response.status_code == 201, response.get_json()
    (item,) = response.get_json()["productOrderItem"]
    assert item["product"]["place"][0]["id"] == str(target)
    with app.app_context():
        (placed,) = db.session.scalars(select(OrderItem)).all()
        assert (placed.action, placed.target) == ("move", {"site_id": target})


def test_a_change_of_plan_is_priced_with_the_catalog_in_force(app, api, inventory,
                                                             buyer_key, assert_tmf):
    with app.app_context():
        load_version(db.session, CATALOG + LITE_PLAN, "test-2.yaml", "test")
        db.session.commit()
    response = api(buyer_key).post({"productOrderItem": [
        {**change_item("modify", inventory["mobile"]), "productOffering": {"id": "MOB-LITE"}}]})
    assert response.status_code == 201, response.get_json()
    order = response.get_json()
    assert_tmf("TMF622", "ProductOrder", order)
    (item,) = order["productOrderItem"]
    assert (item["action"], item["productOffering"]["id"]) == ("modify", "MOB-LITE")
    # 10 x 15.00 less 5 % for the service's 24 months, instead of 237.50.
    monthly, once = item["itemPrice"]
    assert _money(monthly) == Decimal("142.50")
    assert monthly["description"] == "The monthly charge changes by -95.00 EUR"
    assert monthly["productOfferingPrice"]["id"] == "MOB-LITE-MRC"
    with app.app_context():
        (placed,) = db.session.scalars(select(OrderItem)).all()
        assert placed.target == {"offering_code": "MOB-LITE",
                                 "offering_name": "Business Mobile Lite"}
    other_family = api(buyer_key).post({"productOrderItem": [
        {**change_item("modify", inventory["fibre"]), "productOffering": {"id": "MOB-LITE"}}]})
    _error(other_family, 422, "productOrderItem[0].productOffering.id", "broadband")


def test_a_cease_inside_the_term_needs_the_charge_accepted(app, api, inventory, buyer_key,
                                                           assert_tmf):
    charge = inventory["charge"]
    assert charge > 0
    before = _counts(app)
    refused = api(buyer_key).post({"productOrderItem": [
        change_item("delete", inventory["mobile"])]})
    message = _error(refused, 422, "productOrderItem[0]", f"{charge} EUR", '"penalty"')
    assert "early-termination charge" in message
    wrong = api(buyer_key).post({"productOrderItem": [
        {**change_item("delete", inventory["mobile"]), "itemPrice": penalty(1.0)}]})
    _error(wrong, 422, "productOrderItem[0].itemPrice[0].price.dutyFreeAmount.value",
           f"{charge} EUR")
    assert _counts(app) == before

    placed = api(buyer_key).post({"productOrderItem": [
        {**change_item("delete", inventory["mobile"]), "itemPrice": penalty(float(charge))}]})
    assert placed.status_code == 201, placed.get_json()
    order = placed.get_json()
    assert_tmf("TMF622", "ProductOrder", order)
    (item,) = order["productOrderItem"]
    assert item["action"] == "delete"
    assert [(p["priceType"], _money(p)) for p in item["itemPrice"]] == [
        ("recurring", Decimal("0")), ("penalty", charge)]
    assert [_money(p) for p in order["orderTotalPrice"]] == [Decimal("0"), charge]


def test_a_cease_after_the_term_needs_no_acceptance(api, inventory, buyer_key):
    placed = api(buyer_key).post({"productOrderItem": [
        change_item("delete", inventory["fibre"])]})
    assert placed.status_code == 201, placed.get_json()
    (item,) = placed.get_json()["productOrderItem"]
    assert [(p["priceType"], _money(p)) for p in item["itemPrice"]] == [
        ("recurring", Decimal("0")), ("oneTime", Decimal("0"))]


def test_items_of_two_fulfilment_systems_form_one_order_in_two_parts(app, api, quoting,
                                                                      inventory, buyer_key,
                                                                      assert_tmf):
    before = _counts(app)
    response = api(buyer_key).post({"productOrderItem": [
        add_item(quoting.sites["DE-003"], "MOB-UNL", 5, 12),
        change_item("modify", inventory["fibre"], status="suspended")]})
    assert response.status_code == 201, response.get_json()
    order = response.get_json()
    assert_tmf("TMF622", "ProductOrder", order)
    assert _counts(app) == (before[0] + 1, before[1] + 2, before[2] + 2)
    assert sorted(_parts(app, order["id"])) == ["fixed-bss", "mobile-bss"]
    assert [(i["id"], i["action"], i["productOffering"]["id"])
            for i in order["productOrderItem"]] == [("1", "modify", "FIBRE"),
                                                    ("2", "add", "MOB-UNL")]


# -- refusals --------------------------------------------------------------------------------

def _bad_items(quoting, inventory) -> dict[str, tuple[dict, int, str]]:
    """An invalid second item, the status it answers and the words the message holds."""
    site = quoting.sites["DE-002"]
    return {
        "unknown offering": (add_item(site, "NOPE"), 422, "productOffering.id"),
        "another organisation's site": (add_item(inventory["their_site"]), 422,
                                        "product.place[0].id"),
        "another organisation's product": (
            change_item("modify", inventory["theirs"], status="suspended"), 422,
            "product.id"),
        "a ceased product": (change_item("delete", inventory["ceased"]), 422,
                             "product.id: This service has been ceased"),
        "a ceased product resumed": (change_item("modify", inventory["ceased"],
                                                 status="active"), 422, "product.id"),
        "missing action": ({k: v for k, v in add_item(site).items() if k != "action"}, 400,
                           ".action: is required"),
        "unknown action": ({**add_item(site), "action": "create"}, 400, ".action"),
        "bad term": (add_item(site, "FIBRE", 1, 18), 422,
                     "product.productTerm[0].duration.amount"),
        "term in years": ({**add_item(site), "product": {
            **add_item(site)["product"],
            "productTerm": [{"duration": {"amount": 2, "units": "year"}}]}}, 400,
            "duration.units"),
        "quantity 0": (add_item(site, quantity=0), 422, ".quantity: must be at least 1"),
        "quantity text": (add_item(site, quantity="ten"), 400, ".quantity"),
        "new product with an id": ({**add_item(site), "product": {
            **add_item(site)["product"], "id": str(inventory["fibre"])}}, 422,
            "product.id"),
        "no site": ({**add_item(site), "product": {}}, 400, "product.place: is required"),
        "product id not digits": (change_item("delete", "abc"), 400, "product.id"),
        "nothing to change": (change_item("modify", inventory["fibre"], status="active"), 422,
                              "nothing to change"),
        "two changes in one item": (
            {**change_item("modify", inventory["fibre"], status="suspended",
                           place=[{"id": str(quoting.sites["DE-003"])}])}, 422,
            "one change per item"),
        "the same product twice": (change_item("delete", inventory["mobile"]), 422,
                                   "already changed by productOrderItem[0]"),
        "a price on an add": ({**add_item(site), "itemPrice": penalty(1)}, 422, "itemPrice"),
        "move to another organisation's site": (
            change_item("modify", inventory["fibre"],
                        place=[{"id": str(inventory["their_site"])}]), 422,
            "product.place[0].id"),
        "noChange": ({**change_item("noChange", inventory["fibre"])}, 422, ".action"),
    }


BAD = ["unknown offering", "another organisation's site", "another organisation's product",
       "a ceased product", "a ceased product resumed", "missing action", "unknown action",
       "bad term", "term in years", "quantity 0", "quantity text", "new product with an id",
       "no site", "product id not digits", "nothing to change", "two changes in one item",
       "the same product twice", "a price on an add", "move to another organisation's site",
       "noChange"]


@pytest.mark.parametrize("case", BAD)
def test_a_bad_item_names_the_item_and_creates_nothing(app, api, quoting, inventory,
                                                       buyer_key, case):
    bad, status, words = _bad_items(quoting, inventory)[case]
    before = _counts(app)
    first = change_item("modify", inventory["mobile"], status="suspended")
    response = api(buyer_key).post({"productOrderItem": [first, bad]})
    _error(response, status, "productOrderItem[1]", words)
    assert _counts(app) == before


@pytest.mark.parametrize(("body", "status", "words"), [
    ("[1, 2]", 400, "JSON object"),
    ({"productOrderItem": []}, 400, "productOrderItem"),
    ({"productOrderItem": "x"}, 400, "productOrderItem"),
    ({"productOrderItem": ["x"]}, 400, "productOrderItem[0]: must be an object"),
    ({"productOrderItem": [{"action": "add"}]}, 400, "productOrderItem[0].product"),
    ({"externalId": 7, "productOrderItem": [{"action": "add"}]}, 400, "externalId"),
    ({"quote": [{"id": "1"}], "productOrderItem": [{"action": "add"}]}, 422, "quote"),
    ({"billingAccount": {"id": "999999"}, "productOrderItem": [{"action": "add"}]}, 422,
     "billingAccount.id"),
    ({"billingAccount": [{"id": "1"}], "productOrderItem": [{"action": "add"}]}, 400,
     "billingAccount: must be an object"),
])
def test_a_bad_body_is_refused(app, api, quoting, buyer_key, body, status, words):
    before = _counts(app)
    _error(api(buyer_key).post(body), status, words)
    assert _counts(app) == before


def test_the_body_must_be_json(api, quoting, buyer_key):
    response = api(buyer_key).post("productOrderItem=1",
                                   content_type="application/x-www-form-urlencoded")
    _error(response, 415, "application/json")


def test_another_organisations_billing_account_is_refused(app, api, quoting, buyer_key):
    from accounts.estate.models import BillingAccount

    with app.app_context():
        theirs = BillingAccount(organisation_id=quoting.other_org, number="BA-G", name="G",
                                country="DE")
        db.session.add(theirs)
        db.session.commit()
        theirs_id = theirs.id
    response = api(buyer_key).post({"billingAccount": {"id": str(theirs_id)},
                                    "productOrderItem": [add_item(quoting.sites["DE-001"])]})
    _error(response, 422, "billingAccount.id")
    mine = api(buyer_key).post({"billingAccount": {"id": str(quoting.account)},
                                "productOrderItem": [add_item(quoting.sites["DE-001"])]})
    assert mine.status_code == 201
    assert mine.get_json()["billingAccount"]["id"] == str(quoting.account)


# -- reading orders --------------------------------------------------------------------------

def test_an_order_from_a_quote_names_the_quote(app, api, quoting, buyer_key, assert_tmf):
    order_id = accepted_order(app, quoting)
    with app.app_context():
        quote = db.session.scalars(select(Quote)).one()
        version = db.session.scalars(select(QuoteVersion)).one()
        lines = {line.offering_code: [line.mrc, line.nrc] for line in version.lines}
        quote_id, number = quote.id, quote.number
    order = api(buyer_key).get(f"{ORDERS}/{order_id}").get_json()
    assert_tmf("TMF622", "ProductOrder", order)
    assert order["category"] == "quote"
    assert order["quote"] == [{"id": str(quote_id), "href": f"http://localhost/tmf-api/"
                               f"quoteManagement/v4/quote/{quote_id}", "name": number,
                               "@referredType": "Quote"}]
    assert {"id": "purchaseOrder", "text": "PO-1"} in order["note"]
    for item in order["productOrderItem"]:
        assert [_money(p) for p in item["itemPrice"]] == lines[item["productOffering"]["id"]]
        assert item["itemPrice"][0]["price"]["dutyFreeAmount"]["unit"] == "EUR"


def _other_org_order(app, quoting) -> int:
    with app.app_context():
        site = Site(organisation_id=quoting.other_org, code="G-9", name="G", address="W 1",
                    postcode="20095", city="Hamburg", country="DE")
        db.session.add(site)
        db.session.flush()
        order = place_order(db.session, quoting.other_org, [ItemSpec(
            "add", "MOB-UNL", "Business Mobile Unlimited", "mobile-bss", site.id, 1, 12)],
            source="change", user_id=None)
        db.session.commit()
        return order.id


@pytest.mark.parametrize("which", ["theirs", "unknown", "abc", "99999999999"])
def test_other_organisations_and_unknown_ids_answer_404(app, api, quoting, buyer_key, which):
    order_id = {"theirs": _other_org_order(app, quoting), "unknown": 424242}.get(which, which)
    _error(api(buyer_key).get(f"{ORDERS}/{order_id}"), 404)
    assert api(buyer_key).get().get_json() == []


def test_filters_and_pages(app, api, quoting, inventory, buyer_key):
    key = api(buyer_key)
    first = key.post({"externalId": "A", "productOrderItem": [
        add_item(quoting.sites["DE-001"])]}).get_json()
    second = key.post({"externalId": "B", "productOrderItem": [
        change_item("modify", inventory["fibre"], status="suspended")]}).get_json()
    _report(app, _parts(app, second["id"])["fixed-bss"], "inProgress", "f1")

    def ids(**params):
        response = key.get(**params)
        assert response.status_code == 200, response.get_json()
        return [o["id"] for o in response.get_json()], response.headers["X-Total-Count"]

    assert ids() == ([first["id"], second["id"]], "2")
    assert ids(state="inProgress") == ([second["id"]], "1")
    assert ids(state="completed") == ([], "0")
    assert ids(externalId="A") == ([first["id"]], "1")
    assert ids(offset=1, limit=1) == ([second["id"]], "2")
    fields = key.get(fields="state").get_json()
    assert set(fields[0]) == {"id", "href", "@type", "productOrderItem", "state"}
    for params in ({"state": "done"}, {"limit": "0"}, {"sort": "id"}):
        _error(key.get(**params), 400)


def test_the_list_runs_a_fixed_number_of_queries(app, api, quoting, inventory, buyer_key):
    key = api(buyer_key)
    key.post({"productOrderItem": [add_item(quoting.sites["DE-001"])]})
    key.get()  # the key's first use writes last_used_at; not counted
    with count_queries(app) as few:
        assert len(key.get().get_json()) == 1
    key.post({"productOrderItem": [add_item(quoting.sites["DE-002"], "FIBRE", 1, 24),
                                   change_item("modify", inventory["fibre"],
                                               status="suspended")]})
    accepted_order(app, quoting)
    with count_queries(app) as many:
        assert len(key.get().get_json()) == 3
    assert len(many) <= len(few) + 1 <= 10, many  # + the quotes, now that one is named


# -- permissions -----------------------------------------------------------------------------

@pytest.mark.parametrize("role", ["admin", "buyer", "viewer", "finance"])
def test_permissions_follow_the_keys_role(app, api, quoting, make_key, role):
    permissions = ROLE_PERMISSIONS[Role(role)]
    key = api(make_key(quoting.org, role))
    listed = key.get()
    assert listed.status_code == (200 if Permission.ORDERS_VIEW in permissions else 403)
    before = _counts(app)
    placed = key.post({"productOrderItem": [add_item(quoting.sites["DE-001"])]})
    if Permission.ORDERS_CREATE in permissions:
        assert placed.status_code == 201
    else:
        _error(placed, 403, "orders:create")
        assert _counts(app) == before


def test_a_viewer_may_list_but_not_order(app, api, quoting, make_key, buyer_key):
    order = api(buyer_key).post({"productOrderItem": [
        add_item(quoting.sites["DE-001"])]}).get_json()
    viewer = api(make_key(quoting.org, "viewer"))
    assert [o["id"] for o in viewer.get().get_json()] == [order["id"]]
    assert viewer.get(f"{ORDERS}/{order['id']}").status_code == 200
    _error(viewer.post({"productOrderItem": [add_item(quoting.sites["DE-001"])]}), 403)


def test_no_key_answers_401(client, quoting):
    response = client.get(ORDERS)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
