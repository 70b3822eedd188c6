"""Self-serve changes from the inventory: eligibility (with the reason where a change is not
possible), the price impact previewed with the pricing engine, consent to an early-termination
charge, and the order placed on confirmation, priced again on the server."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from conftest import csrf_token, login_as
from sqlalchemy import func, select
from support.quoting import CATALOG

from accounts.estate.models import Service, Site
from portal.catalog.pricing import LineRequest, price_configuration
from portal.catalog.store import current_catalog, load_version
from portal.extensions import db
from portal.orders.models import Order, OrderItem, OutboxMessage

# The test catalog plus a second mobile plan and a second fibre, so that "modify" has
# somewhere to go.
MORE = """
  - code: MOB-20GB
    name: Business Mobile 20 GB
    family: mobile
    fulfilment: mobile-bss
    recurring: "15.00"
    one_off: "5.00"
    volume_tiers: [{min: 1, discount: "0"}, {min: 50, discount: "0.10"}]
    terms: {12: "0", 24: "0.05"}
    available_in: [DE, FR]
  - code: MOB-DE-ONLY
    name: Mobile Germany only
    family: mobile
    fulfilment: mobile-bss
    recurring: "12.00"
    one_off: "0.00"
    available_in: [DE]
"""


def today() -> dt.date:
    return dt.date.today()


def months_ago(months: int) -> dt.date:
    day = today()
    month = day.month - 1 - months
    return dt.date(day.year + month // 12, month % 12 + 1, min(day.day, 28))


@pytest.fixture
def world(app, quoting):
    """The quoting customer with a wider catalog, signed in as the buyer."""
    with app.app_context():
        load_version(db.session, CATALOG + MORE, "more.yaml", "test")
        db.session.commit()
    return quoting


def add_service(app, q, code="MOB-UNL", site="DE-001", status="active", quantity=10,
                start=None, term=24, charge="237.50", org=None) -> int:
    """A service in the customer's inventory (as imported from a legacy system)."""
    with app.app_context():
        service = Service(organisation_id=org or q.org, site_id=q.sites[site] if org is None
                          else site, billing_account_id=q.account if org is None else None,
                          offering_code=code, description=code, quantity=quantity,
                          status=status, start_date=start or months_ago(3), term_months=term,
                          monthly_charge=Decimal(charge), source_system="mobile-bss",
                          source_ref=f"MOB-{code}-{site}-{status}")
        db.session.add(service)
        db.session.commit()
        return service.id


def orders_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Order))


def buyer(client, q):
    login_as(client, q.buyer, q.org)


def post_change(client, service_id, **data):
    data = {"csrf_token": csrf_token(client, f"/inventory/{service_id}/change"), **data}
    return client.post(f"/inventory/{service_id}/change", data=data)


def option_reason(html: str, action: str) -> str | None:
    match = re.search(rf'data-testid="reason-{action}">([^<]*)<', html)
    return match.group(1) if match else None


def test_the_change_page_offers_what_an_active_service_can_do(client, app, world):
    service_id = add_service(app, world)
    buyer(client, world)
    html = client.get(f"/inventory/{service_id}/change").get_data(as_text=True)
    assert option_reason(html, "suspend") is None
    assert option_reason(html, "cease") is None
    assert option_reason(html, "modify") is None
    assert option_reason(html, "move") is None
    assert option_reason(html, "resume") == "Only a suspended service can be resumed."
    # Modify offers the other mobile plans sold at this German site, never broadband.
    modify = html.split('id="modify-offering"')[1].split("</select>")[0]
    assert "MOB-20GB" in modify and "MOB-DE-ONLY" in modify
    assert "FIBRE" not in modify and 'value="MOB-UNL"' not in modify
    # Move offers the other active sites.
    move = html.split('id="move-site"')[1].split("</select>")[0]
    assert "DE-002" in move and "FR-001" in move and "DE-001" not in move


def test_suspending_a_ceased_service_is_refused_and_nothing_is_written(client, app, world):
    service_id = add_service(app, world, status="ceased")
    buyer(client, world)
    html = client.get(f"/inventory/{service_id}/change").get_data(as_text=True)
    reason = "This service has been ceased; it cannot be changed."
    assert all(option_reason(html, a) == reason
               for a in ("suspend", "resume", "modify", "move", "cease"))
    preview = client.get(f"/inventory/{service_id}/change?action=suspend")
    assert preview.status_code == 422
    assert reason in preview.get_data(as_text=True)
    response = post_change(client, service_id, action="suspend")
    assert response.status_code == 302
    assert reason in client.get(response.headers["Location"]).get_data(as_text=True)
    assert orders_count(app) == 0


def test_only_a_suspended_service_can_be_resumed(client, app, world):
    suspended = add_service(app, world, status="suspended")
    active = add_service(app, world, site="DE-002")
    buyer(client, world)
    html = client.get(f"/inventory/{suspended}/change").get_data(as_text=True)
    assert option_reason(html, "resume") is None
    assert option_reason(html, "suspend").startswith("Only an active service can be suspended")
    post_change(client, active, action="resume")
    assert orders_count(app) == 0
    response = post_change(client, suspended, action="resume")
    assert response.status_code == 302 and "/orders/" in response.headers["Location"]
    with app.app_context():
        item = db.session.scalars(select(OrderItem)).one()
        assert (item.action, item.service_id) == ("resume", suspended)


def test_suspending_places_an_order_with_its_outbox_message(client, app, world):
    service_id = add_service(app, world)
    buyer(client, world)
    html = client.get(f"/inventory/{service_id}/change?action=suspend").get_data(as_text=True)
    assert 'data-testid="preview"' in html
    assert "The monthly charge continues while the service is suspended." in html
    assert 'name="accept_charge"' not in html
    response = post_change(client, service_id, action="suspend")
    order_id = int(response.headers["Location"].rsplit("/", 1)[1])
    page = client.get(f"/orders/{order_id}").get_data(as_text=True)
    assert "Suspend Business Mobile Unlimited at DE-001" in page
    with app.app_context():
        order = db.session.get(Order, order_id)
        assert (order.source, order.organisation_id, order.created_by_id) == (
            "change", world.org, world.buyer)
        assert [p.fulfilment for p in order.parts] == ["mobile-bss"]
        message = db.session.scalars(select(OutboxMessage)).one()
        item = message.payload["productOrderItem"][0]
        assert item["action"] == "modify"
        assert item["product"]["status"] == "suspended"
        # The inventory changes only when the backend completes the order.
        assert db.session.get(Service, service_id).status == "active"


def test_ceasing_inside_the_minimum_term_shows_the_charge_and_needs_consent(client, app,
                                                                           world):
    service_id = add_service(app, world, start=months_ago(3), term=24, charge="237.50")
    buyer(client, world)
    html = client.get(f"/inventory/{service_id}/change?action=cease").get_data(as_text=True)
    with app.app_context():
        from portal.orders.changes import months_left, term_end

        service = db.session.get(Service, service_id)
        left, end = months_left(service, today()), term_end(service)
    assert left in (20, 21, 22)
    charge = Decimal("237.50") * left
    assert f'data-testid="etc">{charge:,.2f} EUR' in html
    assert end.isoformat() in html
    assert 'name="accept_charge"' in html and "required" in html
    assert 'data-testid="mrc-after">0.00 EUR' in html

    # Without ticking the box: refused, nothing written, back at the preview.
    response = post_change(client, service_id, action="cease")
    assert response.status_code == 302 and "action=cease" in response.headers["Location"]
    again = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "early-termination charge" in again and "tick the box" in again
    assert orders_count(app) == 0

    response = post_change(client, service_id, action="cease", accept_charge="y")
    assert "/orders/" in response.headers["Location"]
    with app.app_context():
        item = db.session.scalars(select(OrderItem)).one()
        assert (item.action, item.nrc, item.mrc_change) == ("cease", charge,
                                                            Decimal("-237.50"))


def test_ceasing_after_the_minimum_term_has_no_charge(client, app, world):
    service_id = add_service(app, world, start=months_ago(30), term=24)
    buyer(client, world)
    html = client.get(f"/inventory/{service_id}/change?action=cease").get_data(as_text=True)
    assert 'data-testid="etc"' not in html
    assert 'name="accept_charge"' not in html
    assert 'data-testid="one-off">0.00 EUR' in html
    response = post_change(client, service_id, action="cease")
    assert "/orders/" in response.headers["Location"]


def test_modify_is_priced_by_the_engine_and_only_within_the_family(client, app, world):
    service_id = add_service(app, world, quantity=10, term=24)
    buyer(client, world)
    html = client.get(f"/inventory/{service_id}/change?action=modify"
                      f"&offering_code=MOB-20GB").get_data(as_text=True)
    with app.app_context():
        _, catalog = current_catalog(db.session)
        expected = price_configuration(catalog, [LineRequest("MOB-20GB", 10, 24)], "DE",
                                       today()).lines[0].mrc
    assert expected == Decimal("142.50")  # 15.00 x 10 x (1 - 5 % for 24 months)
    assert f'data-testid="mrc-after">{expected:,.2f} EUR' in html
    assert 'data-testid="mrc-before">237.50 EUR' in html
    assert f'data-testid="mrc-change">{expected - Decimal("237.50"):,.2f} EUR' in html

    refused = client.get(f"/inventory/{service_id}/change?action=modify&offering_code=FIBRE")
    assert refused.status_code == 422
    assert "Choose another mobile offering." in refused.get_data(as_text=True)
    post_change(client, service_id, action="modify", offering_code="FIBRE")
    assert orders_count(app) == 0

    # Prices are never taken from the form: only the choice is posted.
    post_change(client, service_id, action="modify", offering_code="MOB-20GB",
                mrc="0.01", mrc_after="0.01")
    with app.app_context():
        item = db.session.scalars(select(OrderItem)).one()
        assert item.target["offering_code"] == "MOB-20GB"
        assert item.mrc == expected
        assert item.mrc_change == expected - Decimal("237.50")


def test_modify_to_an_offering_not_sold_in_the_sites_country_is_refused(client, app, world):
    service_id = add_service(app, world, site="FR-001")
    buyer(client, world)
    html = client.get(f"/inventory/{service_id}/change").get_data(as_text=True)
    modify = html.split('id="modify-offering"')[1].split("</select>")[0]
    assert "MOB-20GB" in modify and "MOB-DE-ONLY" not in modify
    post_change(client, service_id, action="modify", offering_code="MOB-DE-ONLY")
    assert orders_count(app) == 0


def test_move_only_to_another_active_site(client, app, world):
    service_id = add_service(app, world)
    with app.app_context():
        closed = db.session.get(Site, world.sites["DE-003"])
        closed.status = "closed"
        db.session.commit()
    buyer(client, world)
    html = client.get(f"/inventory/{service_id}/change").get_data(as_text=True)
    move = html.split('id="move-site"')[1].split("</select>")[0]
    assert "DE-003" not in move
    for site in ("DE-003", "DE-001"):
        post_change(client, service_id, action="move", site_id=str(world.sites[site]))
    assert orders_count(app) == 0
    preview = client.get(f"/inventory/{service_id}/change?action=move"
                         f"&site_id={world.sites['FR-001']}").get_data(as_text=True)
    assert "Move Business Mobile Unlimited at DE-001 to FR-001" in preview
    post_change(client, service_id, action="move", site_id=str(world.sites["FR-001"]))
    with app.app_context():
        item = db.session.scalars(select(OrderItem)).one()
        assert item.target == {"site_id": world.sites["FR-001"]}


def test_a_site_of_another_organisation_is_no_move_target(client, app, world):
    service_id = add_service(app, world)
    with app.app_context():
        theirs = Site(organisation_id=world.other_org, code="GLX-1", name="Theirs",
                      address="1", postcode="1", city="Berlin", country="DE")
        db.session.add(theirs)
        db.session.commit()
        their_site = theirs.id
    buyer(client, world)
    assert "GLX-1" not in client.get(f"/inventory/{service_id}/change").get_data(as_text=True)
    post_change(client, service_id, action="move", site_id=str(their_site))
    assert orders_count(app) == 0


def test_a_service_with_an_open_change_cannot_be_changed_again(client, app, world):
    service_id = add_service(app, world)
    buyer(client, world)
    post_change(client, service_id, action="suspend")
    assert orders_count(app) == 1
    html = client.get(f"/inventory/{service_id}/change").get_data(as_text=True)
    assert 'data-testid="open-change"' in html
    reason = option_reason(html, "cease")
    assert reason and "is still changing this service" in reason
    assert option_reason(html, "modify") == reason
    post_change(client, service_id, action="cease")
    assert orders_count(app) == 1


def test_a_service_of_another_organisation_answers_404(client, app, world):
    with app.app_context():
        theirs = Site(organisation_id=world.other_org, code="GLX-1", name="Theirs",
                      address="1", postcode="1", city="Berlin", country="DE")
        db.session.add(theirs)
        db.session.commit()
        site_id = theirs.id
    service_id = add_service(app, world, org=world.other_org, site=site_id)
    buyer(client, world)
    assert client.get(f"/inventory/{service_id}/change").status_code == 404
    assert client.get(f"/inventory/{service_id}/change?action=suspend").status_code == 404
    token = csrf_token(client, "/inventory")
    response = client.post(f"/inventory/{service_id}/change",
                           data={"csrf_token": token, "action": "suspend"})
    assert response.status_code == 404
    assert client.get(f"/sites/{site_id}/add-service").status_code == 404
    response = client.post(f"/sites/{site_id}/add-service",
                           data={"csrf_token": token, "offering_code": "MOB-UNL",
                                 "quantity": "1"})
    assert response.status_code == 404
    assert orders_count(app) == 0


def test_the_inventory_links_to_changes_for_buyers_only(client, app, world):
    active = add_service(app, world)
    ceased = add_service(app, world, site="DE-002", status="ceased")
    buyer(client, world)
    html = client.get("/inventory").get_data(as_text=True)
    assert f"/inventory/{active}/change" in html
    assert f"/inventory/{ceased}/change" not in html
    site = client.get(f"/sites/{world.sites['DE-001']}").get_data(as_text=True)
    assert f"/sites/{world.sites['DE-001']}/add-service" in site
    login_as(client, world.viewer, world.org)
    assert "/change" not in client.get("/inventory").get_data(as_text=True)
    assert client.get(f"/inventory/{active}/change").status_code == 403
    assert "add-service" not in client.get(f"/sites/{world.sites['DE-001']}").get_data(
        as_text=True)


# -- a new service at a site -------------------------------------------------------------------

def test_adding_a_service_previews_the_engines_price_then_places_the_order(client, app,
                                                                            world):
    site_id = world.sites["DE-002"]
    buyer(client, world)
    page = client.get(f"/sites/{site_id}/add-service").get_data(as_text=True)
    assert "MOB-DE-ONLY" in page and "FIBRE" in page
    html = client.get(f"/sites/{site_id}/add-service?offering_code=MOB-UNL&quantity=4"
                      f"&term_months=24").get_data(as_text=True)
    with app.app_context():
        _, catalog = current_catalog(db.session)
        line = price_configuration(catalog, [LineRequest("MOB-UNL", 4, 24)], "DE",
                                   today()).lines[0]
    assert f'data-testid="mrc-after">{line.mrc:,.2f} EUR' in html
    assert f'data-testid="one-off">{line.nrc:,.2f} EUR' in html
    assert "THREE-FREE: first 3 months free" in html
    token = csrf_token(client, f"/sites/{site_id}/add-service")
    response = client.post(f"/sites/{site_id}/add-service", data={
        "csrf_token": token, "offering_code": "MOB-UNL", "quantity": "4", "term_months": "24",
        "mrc": "0.00"})
    assert "/orders/" in response.headers["Location"]
    with app.app_context():
        item = db.session.scalars(select(OrderItem)).one()
        assert (item.action, item.site_id, item.quantity, item.term_months, item.mrc,
                item.nrc) == ("add", site_id, 4, 24, line.mrc, line.nrc)


def test_adding_what_the_site_cannot_have_is_refused(client, app, world):
    buyer(client, world)
    fr = world.sites["FR-001"]
    refused = client.get(f"/sites/{fr}/add-service?offering_code=MOB-DE-ONLY&quantity=1")
    assert refused.status_code == 422
    assert "is not sold in FR" in refused.get_data(as_text=True)
    bad_term = client.get(f"/sites/{fr}/add-service?offering_code=FIBRE&quantity=1"
                          f"&term_months=12")
    assert "is offered for 24, 36 months" in bad_term.get_data(as_text=True)
    token = csrf_token(client, f"/sites/{fr}/add-service")
    response = client.post(f"/sites/{fr}/add-service", data={
        "csrf_token": token, "offering_code": "MOB-DE-ONLY", "quantity": "1"})
    assert response.status_code == 302
    assert "is not sold in FR" in client.get(response.headers["Location"]).get_data(
        as_text=True)
    with app.app_context():
        db.session.get(Site, world.sites["DE-003"]).status = "closed"
        db.session.commit()
    closed = client.get(f"/sites/{world.sites['DE-003']}/add-service")
    assert closed.status_code == 422 and "is closed" in closed.get_data(as_text=True)
    client.post(f"/sites/{world.sites['DE-003']}/add-service", data={
        "csrf_token": token, "offering_code": "MOB-UNL", "quantity": "1"})
    assert orders_count(app) == 0


def test_without_a_catalog_changes_say_so(client, app, quoting):
    with app.app_context():
        from portal.catalog.models import CatalogVersion

        db.session.execute(CatalogVersion.__table__.delete())
        db.session.commit()
    service_id = add_service(app, quoting)
    buyer(client, quoting)
    html = client.get(f"/inventory/{service_id}/change").get_data(as_text=True)
    assert "The catalog is not available" in html
    response = post_change(client, service_id, action="suspend")
    assert response.status_code == 302
    assert orders_count(app) == 0


def test_a_service_whose_offering_has_no_other_plans_cannot_be_modified(client, app, world):
    service_id = add_service(app, world, code="LEGACY-PBX")
    buyer(client, world)
    html = client.get(f"/inventory/{service_id}/change").get_data(as_text=True)
    assert option_reason(html, "modify") == "This offering has no other plans to change to."
    assert option_reason(html, "suspend") is None
    post_change(client, service_id, action="modify", offering_code="MOB-20GB")
    assert orders_count(app) == 0


RULES = """
  - code: SDWAN
    name: SD-WAN edge
    family: sdwan
    fulfilment: fixed-bss
    recurring: "50.00"
    one_off: "0"
    terms: {24: "0"}
    requires: [FIBRE]
    max_quantity: 2
    available_in: [DE]
"""


def test_a_new_service_follows_the_catalogs_rules_given_what_the_site_has(app, quoting):
    """`requires` is met by the site's existing services; quantity limits apply."""
    from portal.orders import changes
    from portal.orders.services import OrderError

    q = quoting
    with app.app_context():
        load_version(db.session, CATALOG + RULES, "rules.yaml", "test")
        db.session.commit()
        _, catalog = current_catalog(db.session)
        with pytest.raises(OrderError, match="SD-WAN edge needs"):
            changes.preview_add(db.session, q.org, q.sites["DE-001"], "SDWAN", 1, 24,
                                catalog, today())
        with pytest.raises(OrderError, match="at most 2"):
            changes.preview_add(db.session, q.org, q.sites["DE-001"], "SDWAN", 3, 24,
                                catalog, today())
    add_service(app, q, code="FIBRE", site="DE-001", quantity=1, charge="80.00")
    with app.app_context():
        _, catalog = current_catalog(db.session)
        preview = changes.preview_add(db.session, q.org, q.sites["DE-001"], "SDWAN", 1, 24,
                                      catalog, today())
        assert preview.mrc_after == Decimal("50.00")
