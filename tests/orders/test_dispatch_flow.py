"""An accepted quote's order reaches the sandbox backend (its own process) exactly once per
part and ends completed, with the inventory updated from the backend's events."""

from __future__ import annotations

from sqlalchemy import select
from support.order_world import accepted_order, wait_for_order

from accounts.estate.models import Service
from portal.extensions import db
from portal.orders.dispatcher import Dispatcher
from portal.orders.models import Order


def test_an_accepted_quote_is_delivered_once_per_part_and_completes(order_world):
    world = order_world()
    app, q = world.app, world.quoting
    order_id = accepted_order(app, q)
    Dispatcher(app).run(until_empty=True)
    assert wait_for_order(app, order_id, {"completed"}) == "completed"
    with app.app_context():
        order = db.session.get(Order, order_id)
        assert sorted(p.fulfilment for p in order.parts) == ["fixed-bss", "mobile-bss"]
        assert all(p.state == "completed" and p.backend_id for p in order.parts)
        parts = sorted(p.external_id for p in order.parts)
        services_now = db.session.scalars(select(Service).where(
            Service.organisation_id == q.org)).all()
        assert sorted((s.offering_code, s.quantity, s.status) for s in services_now) == [
            ("FIBRE", 1, "active"), ("MOB-UNL", 5, "active")]
    assert world.backend.stats()["orders_by_external_id"] == dict.fromkeys(parts, 1)
