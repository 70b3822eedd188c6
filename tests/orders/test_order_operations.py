"""The operator's deliveries page: parts that need attention across every customer, with a
retry that queues the same request again (audited); refused parts and recent failures."""

from __future__ import annotations

from conftest import count_queries, csrf_token, login_as
from sqlalchemy import select
from test_order_pages import add_service, change_order

from portal.audit import AuditEvent
from portal.extensions import db
from portal.orders.models import Delivery, Order, OrderPart, OutboxMessage


def stuck(app, order_id: int, delivery: str = Delivery.ATTENTION,
          error: str = "503 Service Unavailable") -> int:
    """Make the order's first part look as the dispatcher leaves it after its last attempt
    (or after the backend refused it); returns the part's id."""
    with app.app_context():
        part = db.session.get(Order, order_id).parts[0]
        message = db.session.scalars(select(OutboxMessage).where(
            OutboxMessage.part_id == part.id)).one()
        message.status, message.attempts, message.last_error = "dead", 8, error
        part.delivery, part.last_error = delivery, error
        db.session.commit()
        return part.id


def operator_admin(factory, q) -> int:
    return factory.user(q.operator, "operator_admin", email="olga@carrier.test")


def test_parts_needing_attention_are_listed_and_retried(client, app, factory, quoting):
    q = quoting
    order_id = change_order(app, q, add_service(app, q))
    part_id = stuck(app, order_id)
    admin = operator_admin(factory, q)
    login_as(client, admin, q.operator)
    html = client.get("/operator/orders").get_data(as_text=True)
    section = html.split('data-testid="stuck-parts"')[1].split("</table>")[0]
    with app.app_context():
        part = db.session.get(OrderPart, part_id)
        number, external_id = part.order.number, part.external_id
    for text in ("Acme", number, external_id, "mobile-bss", "503 Service Unavailable",
                 '<td class="text-end">8</td>', "needs attention"):
        assert text in section, text
    assert 'href="/operator/orders"' in client.get("/dashboard").get_data(as_text=True)

    response = client.post(f"/operator/orders/parts/{part_id}/retry",
                           data={"csrf_token": csrf_token(client, "/operator/orders")})
    assert response.status_code == 302
    after = client.get(response.headers["Location"]).get_data(as_text=True)
    assert f"Part {external_id} is queued again" in after
    assert 'data-testid="nothing-stuck"' in after
    with app.app_context():
        message = db.session.scalars(select(OutboxMessage)).one()
        assert (message.status, message.attempts, message.idempotency_key) == (
            "pending", 0, external_id)
        part = db.session.get(OrderPart, part_id)
        assert part.delivery == Delivery.QUEUED
        assert part.order.events[-1].kind == "retry"
        audit = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "order:retry")).one()
        assert (audit.organisation_id, audit.actor_user_id) == (q.org, admin)


def test_refused_parts_are_shown_without_a_retry(client, app, factory, quoting):
    q = quoting
    order_id = change_order(app, q, add_service(app, q))
    part_id = stuck(app, order_id, Delivery.REFUSED, "422: unknown product")
    login_as(client, operator_admin(factory, q), q.operator)
    html = client.get("/operator/orders").get_data(as_text=True)
    assert "422: unknown product" in html
    assert f"/operator/orders/parts/{part_id}/retry" not in html
    response = client.post(f"/operator/orders/parts/{part_id}/retry",
                           data={"csrf_token": csrf_token(client, "/operator/orders")})
    after = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Only a part that needs attention can be retried." in after
    with app.app_context():
        assert db.session.scalars(select(OutboxMessage.status)).one() == "dead"
        assert db.session.get(OrderPart, part_id).delivery == Delivery.REFUSED


def test_recent_failures_include_parts_being_retried(client, app, factory, quoting):
    q = quoting
    order_id = change_order(app, q, add_service(app, q))
    with app.app_context():
        part = db.session.get(Order, order_id).parts[0]
        part.last_error = "connection refused"
        db.session.commit()
    login_as(client, operator_admin(factory, q), q.operator)
    html = client.get("/operator/orders").get_data(as_text=True)
    failures = html.split('data-testid="recent-failures"')[1].split("</table>")[0]
    assert "connection refused" in failures


def test_an_unknown_part_answers_404(client, app, factory, quoting):
    login_as(client, operator_admin(factory, quoting), quoting.operator)
    response = client.post("/operator/orders/parts/987654/retry",
                           data={"csrf_token": csrf_token(client, "/operator/orders")})
    assert response.status_code == 404


def test_customers_cannot_retry(client, app, quoting):
    q = quoting
    part_id = stuck(app, change_order(app, q, add_service(app, q)))
    login_as(client, q.admin, q.org)
    assert client.get("/operator/orders").status_code == 403
    response = client.post(f"/operator/orders/parts/{part_id}/retry",
                           data={"csrf_token": csrf_token(client, "/orders")})
    assert response.status_code == 403
    with app.app_context():
        assert db.session.scalars(select(OutboxMessage.status)).one() == "dead"


def test_the_page_runs_the_same_queries_for_1_or_20_stuck_parts(client, app, factory,
                                                                 quoting):
    q = quoting
    service_id = add_service(app, q)
    stuck(app, change_order(app, q, service_id))
    login_as(client, operator_admin(factory, q), q.operator)
    client.get("/operator/orders")
    with count_queries(app) as few:
        client.get("/operator/orders")
    for _ in range(19):
        stuck(app, change_order(app, q, service_id))
    with count_queries(app) as many:
        html = client.get("/operator/orders").get_data(as_text=True)
    assert html.count('data-testid="delivery-row"') == 20
    assert len(many) == len(few)


def test_delivered_parts_without_news_for_two_days_are_shown(client, app, factory, quoting):
    import datetime as dt

    from portal.db import utcnow

    q = quoting
    quiet, fresh = (change_order(app, q, add_service(app, q, site=site))
                    for site in ("DE-001", "DE-002"))
    with app.app_context():
        for order_id, age in ((quiet, 49), (fresh, 1)):
            part = db.session.get(Order, order_id).parts[0]
            part.delivery, part.state = Delivery.DELIVERED, "inProgress"
            part.updated_at = utcnow() - dt.timedelta(hours=age)
        db.session.commit()
        quiet_id = db.session.get(Order, quiet).parts[0].external_id
        fresh_id = db.session.get(Order, fresh).parts[0].external_id
    login_as(client, operator_admin(factory, q), q.operator)
    html = client.get("/operator/orders").get_data(as_text=True)
    section = html.split('data-testid="silent-parts"')[1].split("</table>")[0]
    assert quiet_id in section and fresh_id not in section
