"""The customer's order pages: the list (newest first, filtered by state, a fixed number of
queries), one order with its parts, delivery in words, items, price impact and a timeline per
part, and cancelling while no part is in progress."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from conftest import count_queries, csrf_token, login_as
from sqlalchemy import select
from support.order_world import accepted_order

from accounts.estate.models import Service
from portal.extensions import db
from portal.notifications.models import Notification
from portal.orders import services
from portal.orders.models import Delivery, Order, OrderPart, OutboxMessage
from portal.orders.services import ItemSpec, place_order


def add_service(app, q, site="DE-001", code="MOB-UNL") -> int:
    with app.app_context():
        service = Service(organisation_id=q.org, site_id=q.sites[site], offering_code=code,
                          description=code, quantity=5, status="active",
                          start_date=dt.date.today() - dt.timedelta(days=900),
                          term_months=12, monthly_charge=Decimal("125.00"),
                          source_system="mobile-bss", source_ref=f"MOB-{site}-{code}")
        db.session.add(service)
        db.session.commit()
        return service.id


def change_order(app, q, service_id: int, action: str = "suspend", org: int | None = None,
                 systems=("mobile-bss",)) -> int:
    """An order of a change of `service_id`, as placed by the buyer (one part per system)."""
    with app.app_context():
        items = [ItemSpec(action, "MOB-UNL", "Business Mobile Unlimited", system,
                          q.sites["DE-001"], 5, 12, service_id=service_id,
                          mrc=Decimal("125.00"), mrc_change=Decimal("0"))
                 for system in systems]
        order = place_order(db.session, org or q.org, items, source="change",
                            user_id=q.buyer,
                            description=f"{action.capitalize()} Business Mobile Unlimited at "
                                        f"DE-001")
        db.session.commit()
        return order.id


def event(part: OrderPart, state: str, event_id: str) -> dict:
    return {"eventId": event_id, "eventType": "ProductOrderStateChangeEvent",
            "event": {"productOrder": {"id": "BO-1", "externalId": part.external_id,
                                       "state": state}}}


def backend_reports(app, order_id: int, *states: str) -> None:
    """The backend accepted every part, then reported `states` in this order."""
    with app.app_context():
        order = db.session.get(Order, order_id)
        for part in order.parts:
            message = db.session.scalars(select(OutboxMessage).where(
                OutboxMessage.part_id == part.id)).one()
            message.status = "sent"
            part.delivery = Delivery.DELIVERED
            part.backend_id = "BO-1"
            services.move_part(db.session, part, "acknowledged", kind="sent",
                               detail="Sent to mobile-bss (backend order BO-1).")
        db.session.commit()
        parts = [p.external_id for p in order.parts]
    for external_id in parts:
        for n, state in enumerate(states):
            with app.app_context():
                part = db.session.scalars(select(OrderPart).where(
                    OrderPart.external_id == external_id)).one()
                services.apply_event(db.session, event(part, state, f"{external_id}-{n}"))
                db.session.commit()


def test_the_list_shows_orders_newest_first_with_their_source(client, app, quoting):
    q = quoting
    quote_order = accepted_order(app, q)
    service_id = add_service(app, q)
    change = change_order(app, q, service_id)
    login_as(client, q.viewer, q.org)
    html = client.get("/orders").get_data(as_text=True)
    assert html.count('data-testid="order-row"') == 2
    with app.app_context():
        numbers = {o.id: o.number for o in db.session.scalars(select(Order))}
    assert html.index(numbers[change]) < html.index(numbers[quote_order])
    assert "Suspend Business Mobile Unlimited at DE-001" in html
    assert "Quote <a href=\"/quotes/" in html
    assert 'data-testid="order-state">pending<' in html
    assert "bob@acme.test" in html
    # Two parts (mobile and fixed) for the quote, one for the change.
    rows = html.split('data-testid="order-row"')[1:]
    assert '<td class="text-end">1</td>' in rows[0]
    assert '<td class="text-end">2</td>' in rows[1]


def test_the_list_filters_by_state(client, app, quoting):
    q = quoting
    service_id = add_service(app, q)
    done = change_order(app, q, service_id)
    backend_reports(app, done, "inProgress", "completed")
    change_order(app, q, add_service(app, q, site="DE-002"))
    login_as(client, q.buyer, q.org)
    completed = client.get("/orders?state=completed").get_data(as_text=True)
    assert completed.count('data-testid="order-row"') == 1
    assert 'data-testid="order-state">completed<' in completed
    pending = client.get("/orders?state=pending").get_data(as_text=True)
    assert pending.count('data-testid="order-row"') == 1
    assert client.get("/orders?state=nonsense").get_data(as_text=True).count(
        'data-testid="order-row"') == 2
    assert "No orders match." in client.get("/orders?state=failed").get_data(as_text=True)


def test_the_list_runs_the_same_queries_for_2_or_25_orders(client, app, quoting):
    q = quoting
    service_id = add_service(app, q)
    accepted_order(app, q)
    change_order(app, q, service_id)
    login_as(client, q.buyer, q.org)
    client.get("/orders")  # warm up: the session row exists
    with count_queries(app) as few:
        assert client.get("/orders").status_code == 200
    for _ in range(23):
        change_order(app, q, service_id, systems=("mobile-bss", "fixed-bss"))
    with count_queries(app) as many:
        html = client.get("/orders").get_data(as_text=True)
    assert html.count('data-testid="order-row"') == 25
    assert len(many) == len(few), (few, many)
    assert sum("FROM orders" in s for s in many) == 2  # a count, then the page


def test_orders_of_other_organisations_are_not_listed_nor_shown(client, app, quoting):
    q = quoting
    service_id = add_service(app, q)
    mine = change_order(app, q, service_id)
    login_as(client, factory_user(app, q), q.other_org)
    assert "No orders yet." in client.get("/orders").get_data(as_text=True)
    assert client.get(f"/orders/{mine}").status_code == 404
    response = client.post(f"/orders/{mine}/cancel",
                           data={"csrf_token": csrf_token(client, "/orders")})
    assert response.status_code == 404
    with app.app_context():
        assert db.session.get(Order, mine).cancel_requested_at is None


def factory_user(app, q) -> int:
    """A buyer of the other customer."""
    from accounts.models import Membership, User

    with app.app_context():
        user = User(issuer="https://idp.test", subject="globex-buyer",
                    email="gina@globex.test", name="Gina")
        db.session.add(user)
        db.session.add(Membership(user=user, organisation_id=q.other_org, role="buyer",
                                  source="manual"))
        db.session.commit()
        return user.id


def test_the_detail_shows_parts_items_price_impact_and_a_timeline_per_part(client, app,
                                                                           quoting):
    q = quoting
    order_id = accepted_order(app, q)
    login_as(client, q.buyer, q.org)
    html = client.get(f"/orders/{order_id}").get_data(as_text=True)
    assert html.count('data-testid="order-part"') == 2
    assert "fixed-bss" in html and "mobile-bss" in html
    assert html.count("Waiting to be sent to") == 2
    assert 'data-order-refresh="5"' in html and "js/order-refresh.js" in html
    assert "Quote <a href=\"/quotes/" in html
    assert "MOB-UNL" in html and "FIBRE" in html and "DE-002" in html
    with app.app_context():
        order = db.session.get(Order, order_id)
        mrc = sum(i.mrc_change for i in order.items)
        one_off = sum(i.nrc for i in order.items)
    assert f'data-testid="impact-mrc">+{mrc:,.2f} EUR per month' in html
    assert f'data-testid="impact-one-off">{one_off:,.2f} EUR' in html
    assert html.count('data-testid="timeline-event"') == 2  # "queued", one per part


def test_a_completed_order_shows_its_timeline_and_late_events(client, app, quoting):
    q = quoting
    service_id = add_service(app, q)
    order_id = change_order(app, q, service_id)
    backend_reports(app, order_id, "inProgress", "completed", "acknowledged", "completed")
    login_as(client, q.buyer, q.org)
    html = client.get(f"/orders/{order_id}").get_data(as_text=True)
    assert 'data-testid="order-state">completed<' in html
    timeline = html.split('data-testid="timeline"')[1].split("</ol>")[0]
    assert timeline.count('data-testid="timeline-event"') == 6
    for words in ("Queued", "Sent to the backend", "The order backend reports inProgress.",
                  "The order backend reports completed."):
        assert words in timeline
    assert timeline.count("arrived late, ignored") == 1  # acknowledged after completed
    assert timeline.count("already known") == 1  # completed a second time
    assert "data-order-refresh" not in html  # an ended order stays put
    assert "Cancel order" not in html
    assert "The order backend has received it." in html and "BO-1" in html
    with app.app_context():
        assert db.session.get(Service, service_id).status == "suspended"
        note = db.session.scalars(select(Notification)).one()
        assert note.user_id == q.buyer and "is complete" in note.subject


def test_delivery_problems_are_explained(client, app, quoting):
    q = quoting
    service_id = add_service(app, q)
    order_id = change_order(app, q, service_id, systems=("mobile-bss", "fixed-bss"))
    with app.app_context():
        order = db.session.get(Order, order_id)
        attention, refused = order.parts
        attention.delivery, attention.last_error = Delivery.ATTENTION, "timed out"
        refused.delivery, refused.last_error = Delivery.REFUSED, "400: unknown product"
        db.session.commit()
    login_as(client, q.buyer, q.org)
    html = client.get(f"/orders/{order_id}").get_data(as_text=True)
    assert 'data-testid="needs-attention"' in html
    assert "The operator has been alerted" in html
    assert 'data-testid="refused"' in html and "it will not be sent again" in html
    assert "timed out" in html and "400: unknown product" in html


def test_cancelling_before_sending_withdraws_the_parts(client, app, quoting):
    q = quoting
    service_id = add_service(app, q)
    order_id = change_order(app, q, service_id)
    login_as(client, q.buyer, q.org)
    page = client.get(f"/orders/{order_id}").get_data(as_text=True)
    assert "Cancel order" in page and 'data-testid="cancel-refusal"' not in page
    response = client.post(f"/orders/{order_id}/cancel",
                           data={"csrf_token": csrf_token(client, f"/orders/{order_id}")})
    assert response.status_code == 302
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "was cancelled." in html
    assert 'data-testid="order-state">cancelled<' in html
    assert "Cancelled before it was sent." in html
    with app.app_context():
        order = db.session.get(Order, order_id)
        assert order.state == "cancelled"
        assert [p.delivery for p in order.parts] == [Delivery.WITHDRAWN]
        assert db.session.scalars(select(OutboxMessage.status)).all() == ["dropped"]
    # The service can be changed again.
    assert 'data-testid="open-change"' not in client.get(
        f"/inventory/{service_id}/change").get_data(as_text=True)


def test_cancelling_a_part_the_backend_has_asks_the_backend(client, app, quoting):
    q = quoting
    order_id = change_order(app, q, add_service(app, q))
    backend_reports(app, order_id)  # acknowledged
    login_as(client, q.buyer, q.org)
    response = client.post(f"/orders/{order_id}/cancel",
                           data={"csrf_token": csrf_token(client, f"/orders/{order_id}")})
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Cancellation of order" in html and "was requested" in html
    assert "Cancellation was requested" in html  # the button is gone
    with app.app_context():
        kinds = db.session.scalars(select(OutboxMessage.kind).order_by(OutboxMessage.id)).all()
        assert kinds == ["create", "cancel"]


def test_cancelling_once_a_part_is_in_progress_is_refused(client, app, quoting):
    q = quoting
    order_id = change_order(app, q, add_service(app, q))
    backend_reports(app, order_id, "inProgress")
    login_as(client, q.buyer, q.org)
    page = client.get(f"/orders/{order_id}").get_data(as_text=True)
    assert 'data-testid="cancel-refusal"' in page and "already in progress" in page
    assert "disabled>Cancel order" in page
    response = client.post(f"/orders/{order_id}/cancel",
                           data={"csrf_token": csrf_token(client, f"/orders/{order_id}")})
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'class="alert alert-danger"' in html and "already in progress" in html
    with app.app_context():
        order = db.session.get(Order, order_id)
        assert (order.state, order.cancel_requested_at) == ("inProgress", None)


def test_viewers_see_orders_but_cannot_cancel(client, app, quoting):
    q = quoting
    order_id = change_order(app, q, add_service(app, q))
    login_as(client, q.viewer, q.org)
    html = client.get(f"/orders/{order_id}").get_data(as_text=True)
    assert "Cancel order" not in html
    response = client.post(f"/orders/{order_id}/cancel",
                           data={"csrf_token": csrf_token(client, f"/orders/{order_id}")})
    assert response.status_code == 403


def test_the_main_menu_links_orders(client, app, quoting):
    login_as(client, quoting.viewer, quoting.org)
    html = client.get("/dashboard").get_data(as_text=True)
    assert 'href="/orders"' in html
    assert 'href="/operator/orders"' not in html
