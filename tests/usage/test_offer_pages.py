"""Offers in the portal: on the dashboard (accept, dismiss) and the usage page; accepting
places the change order priced again, or says why it cannot and leaves the offer open;
another organisation's offer answers 404; the pages run a fixed number of queries."""

from __future__ import annotations

import re
from decimal import Decimal

from conftest import count_queries, csrf_token, login_as
from sqlalchemy import func, select
from support.order_world import wait_for_order

from accounts.estate.models import Service
from portal.audit import AuditEvent
from portal.extensions import db
from portal.orders.dispatcher import Dispatcher
from portal.orders.models import Order, OrderItem, OutboxMessage
from portal.orders.services import ItemSpec, place_order
from portal.usage.models import Offer
from usage.usage_data import (
    add_service,
    periods,
    ref_of,
    run_import,
    setup_usage_world,
    usage_csv,
)

D = Decimal


def offered(app, q, site="DE-001", quantity=10) -> tuple[int, int]:
    """A MOB-5GB service over its allowance two months of three: (service id, offer id)
    for MOB-20GB at +57.00 a month (10 SIMs)."""
    service = add_service(app, q, site=site, quantity=quantity,
                          ref=f"M-{site}-{quantity}-{len(periods())}")
    ref = ref_of(app, service)
    run_import(app, usage_csv(*((ref, month, str(used * quantity)) for month, used in
                                zip(periods(), (6, 12, 3), strict=True))))
    with app.app_context():
        offer = db.session.scalars(select(Offer).where(Offer.service_id == service)).one()
        return service, offer.id


def offer_state(app, offer_id) -> tuple:
    with app.app_context():
        offer = db.session.get(Offer, offer_id)
        return offer.status, offer.order_id, offer.decided_by_id


def post(client, path, back="dashboard"):
    return client.post(path, data={"csrf_token": csrf_token(client, "/dashboard"),
                                   "back": back})


def test_the_dashboard_shows_offers_to_accept_or_dismiss(app, client, world):
    q = world.q
    service, offer_id = offered(app, q)
    login_as(client, q.buyer, q.org)
    html = client.get("/dashboard").get_data(as_text=True)
    card = html.split('id="offers-card"')[1].split("</section>")[0]
    assert card.count('data-testid="offer"') == 1
    assert "Mobile 20 GB" in card and "better fit" in card
    assert "Monthly charge 85.50 → 142.50 EUR: <strong>+57.00 EUR</strong> a month" in card
    assert f'action="/offers/{offer_id}/accept"' in card
    assert f'action="/offers/{offer_id}/dismiss"' in card
    assert f"/inventory/{service}/change?action=modify&amp;offering_code=MOB-20GB" in card
    # A viewer sees the offer, without the buttons; and may not post them.
    login_as(client, q.viewer, q.org)
    card = client.get("/dashboard").get_data(as_text=True).split('id="offers-card"')[1]
    assert "Mobile 20 GB" in card and "/accept" not in card
    assert post(client, f"/offers/{offer_id}/accept").status_code == 403
    assert offer_state(app, offer_id) == ("open", None, None)


def test_accepting_places_the_change_order_priced_again(app, client, world):
    q = world.q
    service, offer_id = offered(app, q)
    login_as(client, q.buyer, q.org)
    response = post(client, f"/offers/{offer_id}/accept")
    assert response.status_code == 302
    assert re.fullmatch(r"/orders/\d+", response.headers["Location"])
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "was placed: Change Mobile 5 GB at DE-001 to Mobile 20 GB" in page
    with app.app_context():
        order = db.session.scalars(select(Order)).one()
        [item] = db.session.scalars(select(OrderItem)).all()
        assert (order.source, order.created_by_id, order.organisation_id) == \
            ("change", q.buyer, q.org)
        assert (item.action, item.service_id, item.target["offering_code"]) == \
            ("modify", service, "MOB-20GB")
        assert (item.mrc, item.mrc_change, item.term_months) == (D("142.50"), D("57.00"), 24)
        assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 1
        [event] = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "offer:accept")).all()
        assert event.after == {"status": "accepted", "order": order.number, "to": "MOB-20GB",
                               "monthly_difference": "57.00"}
        assert event.actor_user_id == q.buyer
        order_id = order.id
    assert offer_state(app, offer_id) == ("accepted", order_id, q.buyer)
    # Accepted offers leave the dashboard; accepting again is refused.
    assert 'id="offers-card"' not in client.get("/dashboard").get_data(as_text=True)
    again = post(client, f"/offers/{offer_id}/accept")
    assert "This offer is already accepted." in client.get(
        again.headers["Location"]).get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Order)) == 1


def test_an_offer_that_cannot_be_accepted_now_stays_open(app, client, world):
    q = world.q
    service, offer_id = offered(app, q)
    with app.app_context():  # another change of the service is still with the backend
        busy = place_order(db.session, q.org, [ItemSpec(
            "suspend", "MOB-5GB", "Mobile 5 GB", "mobile-bss", q.sites["DE-001"], 10, 24,
            service_id=service)], source="change", user_id=q.admin)
        db.session.commit()
        busy_number = busy.number
    login_as(client, q.buyer, q.org)
    response = post(client, f"/offers/{offer_id}/accept", back="usage")
    assert response.status_code == 302 and response.headers["Location"] == "/usage"
    html = client.get("/usage").get_data(as_text=True)
    assert (f"This offer cannot be accepted now: Order {busy_number} is still changing this "
            "service; wait until it completes. The offer stays open.") in html
    assert offer_state(app, offer_id) == ("open", None, None)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Order)) == 1


def test_dismissing_takes_the_offer_off_the_dashboard(app, client, world):
    q = world.q
    _, offer_id = offered(app, q)
    login_as(client, q.admin, q.org)
    response = post(client, f"/offers/{offer_id}/dismiss")
    assert response.headers["Location"] == "/dashboard"
    html = client.get("/dashboard").get_data(as_text=True)
    assert "The offer of Mobile 20 GB was dismissed." in html
    assert 'id="offers-card"' not in html
    assert offer_state(app, offer_id) == ("dismissed", None, q.admin)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "offer:dismiss")) == 1


def test_another_organisations_offer_answers_404_and_stays_as_it_is(app, client, factory, world):
    q = world.q
    _, offer_id = offered(app, q)
    stranger = factory.user(q.other_org, "admin", email="gus@globex.test")
    login_as(client, stranger, q.other_org)
    for action in ("accept", "dismiss"):
        assert post(client, f"/offers/{offer_id}/{action}").status_code == 404
    assert offer_state(app, offer_id) == ("open", None, None)
    assert 'id="offers-card"' not in client.get("/dashboard").get_data(as_text=True)
    assert "No usage has been reported" in client.get("/usage").get_data(as_text=True)


def test_a_post_without_its_csrf_token_is_refused(app, client, world):
    q = world.q
    _, offer_id = offered(app, q)
    login_as(client, q.buyer, q.org)
    assert client.post(f"/offers/{offer_id}/accept", data={}).status_code == 400
    assert offer_state(app, offer_id) == ("open", None, None)


def test_the_usage_page_shows_used_against_allowance(app, client, world):
    q = world.q
    service, offer_id = offered(app, q)
    unlimited = add_service(app, q, "MOB-UNL", site="DE-002", quantity=2)
    older, middle, newest = periods()
    run_import(app, usage_csv((ref_of(app, unlimited), newest, "41.5")))
    login_as(client, q.viewer, q.org)
    html = client.get("/usage").get_data(as_text=True)
    assert html.count('data-testid="offer"') == 1 and "/accept" not in html
    rows = html.split('data-testid="usage-row"')[1:]
    assert len(rows) == 2
    first = rows[0]  # DE-001 before DE-002
    assert f'data-service-id="{service}"' in first
    assert re.search(rf'data-period="{middle}">\s*120 / 50 GB\s*<span class="badge '
                     r'text-bg-danger" data-testid="usage-share">240 %', first)
    assert re.search(rf'data-period="{newest}">\s*30 / 50 GB\s*<span class="badge '
                     r'text-bg-light" data-testid="usage-share">60 %', first)
    assert f'data-service-id="{unlimited}"' in rows[1]
    assert "41.5 GB <span class=\"small text-muted\">of unlimited" in rows[1]
    assert re.search(rf'data-period="{older}">\s*<span class="text-muted">—', rows[1])


def _queries(app, client, path) -> int:
    client.get(path)  # warm up (session row, caches)
    with count_queries(app) as statements:
        assert client.get(path).status_code == 200
    return len(statements)


def test_the_dashboard_and_usage_page_run_a_fixed_number_of_queries(app, client, world):
    q = world.q
    offered(app, q, quantity=10)
    login_as(client, q.buyer, q.org)
    few = {path: _queries(app, client, path) for path in ("/dashboard", "/usage")}
    for quantity in range(11, 19):
        offered(app, q, site="DE-002", quantity=quantity)
    for n in range(55):
        service = add_service(app, q, "MOB-UNL", site="DE-003", quantity=1, ref=f"U-{n}")
        run_import(app, usage_csv((ref_of(app, service), periods()[2], "1")))
    many = {path: _queries(app, client, path) for path in ("/dashboard", "/usage")}
    assert many == few
    html = client.get("/dashboard").get_data(as_text=True)
    assert html.count('data-testid="offer"') == 5 and "More offers on the usage page" in html
    page = client.get("/usage").get_data(as_text=True)
    assert "64 services with usage" in page and "Page 1 of 2" in page
    assert page.count('data-testid="offer"') == 9


def test_an_accepted_offer_changes_the_plan_once_the_backend_completes(order_world, factory):
    world = order_world()
    app, q = world.app, world.quoting
    setup_usage_world(app, factory, q)
    service, offer_id = offered(app, q)
    client = app.test_client()
    login_as(client, q.buyer, q.org)
    response = post(client, f"/offers/{offer_id}/accept")
    order_id = int(response.headers["Location"].rsplit("/", 1)[1])
    Dispatcher(app).run(until_empty=True)
    assert wait_for_order(app, order_id, {"completed"}) == "completed"
    with app.app_context():
        changed = db.session.get(Service, service)
        assert (changed.offering_code, changed.monthly_charge) == ("MOB-20GB", D("142.50"))
    assert offer_state(app, offer_id)[:2] == ("accepted", order_id)
