"""Delivery against a misbehaving order backend: the sandbox backend runs as its own process
with injected faults (down for a while, 500s, lost answers, slow answers, timeouts, 4xx
refusals), and the dispatcher must still get every part there exactly once (as the backend
counts orders by Idempotency-Key), end each order in the right state, and leave nothing
stuck without showing it."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from decimal import Decimal

import pytest
import requests
from sqlalchemy import func, select, update

from accounts.estate.models import Service
from portal.extensions import db
from portal.orders.dispatcher import Dispatcher, Settings
from portal.orders.models import Delivery, Order, OrderEvent, OrderPart, OutboxMessage, PartState
from portal.orders.services import ItemSpec, OrderError, place_order, request_cancel, retry_part

SYSTEMS = (("mobile-bss", "MOB-UNL"), ("fixed-bss", "FIBRE"), ("tv-bss", "MOB-UNL"))


def place(app, q, parts: int = 2) -> int:
    """An order of the customer with one item on each of `parts` fulfilment systems."""
    items = [ItemSpec(action="add", offering_code=code, offering_name=code, fulfilment=system,
                      site_id=q.sites["DE-001"], quantity=2, term_months=24,
                      mrc=Decimal("50.00"))
             for system, code in SYSTEMS[:parts]]
    with app.app_context():
        order = place_order(db.session, q.org, items, source="api", user_id=q.buyer)
        db.session.commit()
        return order.id


def dispatcher(app, **changes) -> Dispatcher:
    """A dispatcher of the app with some settings changed (`timeout=(1, 0.3)`)."""
    return Dispatcher(app, settings=replace(Settings.from_config(app.config), **changes))


def snapshot(app) -> dict:
    """Every part: (state, delivery, outbox statuses, event kinds)."""
    with app.app_context():
        parts = db.session.scalars(select(OrderPart).order_by(OrderPart.id)).all()
        result = {}
        for part in parts:
            statuses = db.session.scalars(select(OutboxMessage.status).where(
                OutboxMessage.part_id == part.id).order_by(OutboxMessage.id)).all()
            kinds = db.session.scalars(select(OrderEvent.kind).where(
                OrderEvent.part_id == part.id).order_by(OrderEvent.id)).all()
            result[part.external_id] = (part.state, part.delivery, statuses, kinds)
        return result


def settled(app) -> bool:
    """Nothing left to do: no message pending and every part final or needing attention."""
    return all((state in PartState.FINAL or delivery == Delivery.ATTENTION)
               and "pending" not in statuses
               for state, delivery, statuses, _ in snapshot(app).values())


def drive(app, sender: Dispatcher, timeout: float = 20.0, events: bool = True) -> dict:
    """Run `sender` (and wait for the backend's events, unless not `events`) until the
    outbox is settled; returns the final snapshot."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sender.run_once() == 0:
            if settled(app) or not events and all(
                    "pending" not in statuses for _, _, statuses, _ in snapshot(app).values()):
                return snapshot(app)
            time.sleep(0.02)
    raise AssertionError(f"not settled after {timeout} s: {snapshot(app)}")


def assert_nothing_hidden(app) -> None:
    """Every part is in a final state, or needs attention with an event saying so; every
    order's state is the one its parts give; nothing is still pending in the outbox."""
    for external_id, (state, delivery, statuses, kinds) in snapshot(app).items():
        assert "pending" not in statuses, external_id
        if state in PartState.FINAL:
            if delivery == Delivery.REFUSED:
                assert state == PartState.REJECTED and "refused" in kinds, external_id
            continue
        assert delivery == Delivery.ATTENTION, (external_id, state, delivery)
        assert "attention" in kinds, (external_id, kinds)
    with app.app_context():
        from portal.orders.services import order_state

        for order in db.session.scalars(select(Order)):
            assert order.state == order_state(order.parts), order.number


def part_ids(app, order_id: int) -> list[str]:
    with app.app_context():
        return sorted(db.session.scalars(select(OrderPart.external_id).where(
            OrderPart.order_id == order_id)))


def order_state(app, order_id: int) -> str:
    with app.app_context():
        return db.session.get(Order, order_id).state


def wait_for(app, order_id: int, state: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and order_state(app, order_id) != state:
        time.sleep(0.03)
    assert order_state(app, order_id) == state


# -- the backend is away or fails --------------------------------------------------------------

def test_a_backend_down_for_a_while_gets_every_part_once_after_backoff(order_world):
    world = order_world(down=True)
    app = world.app
    order_id = place(app, world.quoting)
    sender = dispatcher(app, max_attempts=50)
    started, up = time.monotonic(), []

    def recover():
        world.backend.control(down=False)
        up.append(time.monotonic() - started)

    recovered = threading.Timer(1.0, recover)
    recovered.start()
    try:
        drive(app, sender)
    finally:
        recovered.cancel()
    wait_for(app, order_id, "completed")
    stats = world.backend.stats()
    assert stats["orders_by_external_id"] == dict.fromkeys(part_ids(app, order_id), 1)
    assert stats["requests"] == 2  # the 503s never reached it; once it was up, once per part
    with app.app_context():
        retries = db.session.scalars(select(OrderEvent.detail).where(
            OrderEvent.kind == "retry")).all()
        attempts = db.session.scalars(select(OutboxMessage.attempts)).all()
    assert len(retries) >= 6 and all("HTTP 503" in detail for detail in retries)
    # Backoff: waits of 0.01-0.02 s doubling up to 0.1-0.2 s, so the downtime takes at most
    # 4 attempts plus one per 0.1 s after them (sending as fast as it can: one per loop).
    assert all(3 <= n <= 5 + up[0] / 0.1 for n in attempts), (attempts, up)
    assert_nothing_hidden(app)


def test_500s_and_lost_answers_still_make_exactly_one_backend_order_per_part(order_world):
    # The events come late (step), so the retries are what the backend sees first.
    world = order_world(failure_rate=0.5, lost_answer_rate=0.5, step=0.3)
    app = world.app
    orders = [place(app, world.quoting, parts=3) for _ in range(4)]
    drive(app, dispatcher(app, max_attempts=30))
    for order_id in orders:
        wait_for(app, order_id, "completed")
    stats = world.backend.stats()
    expected = [ext for order_id in orders for ext in part_ids(app, order_id)]
    assert stats["orders_by_external_id"] == dict.fromkeys(expected, 1)
    # Lost answers: the backend made the order, the portal saw a 500 and sent it again.
    assert stats["requests"] > stats["orders"] == 12
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(OrderEvent).where(
            OrderEvent.kind == "retry")) > 0
        services = db.session.scalar(select(func.count()).select_from(Service))
    assert services == 12  # each completed part added its service once
    assert_nothing_hidden(app)


def test_an_answer_lost_every_time_does_not_ask_for_attention_once_the_backend_reports(
        order_world):
    """The backend made the order (its events say so) but every answer got lost: the part
    is delivered and completed, not left needing attention, and nothing is sent again."""
    world = order_world(lost_answer_rate=1.0, step=0.05)
    app = world.app
    order_id = place(app, world.quoting, parts=1)
    drive(app, dispatcher(app, max_attempts=4, base_delay=0.3, max_delay=0.3))
    wait_for(app, order_id, "completed")
    [(state, delivery, statuses, kinds)] = snapshot(app).values()
    assert (state, delivery, statuses) == ("completed", Delivery.DELIVERED, ["sent"])
    assert "attention" not in kinds
    assert world.backend.stats()["orders"] == 1
    assert_nothing_hidden(app)


# -- slow answers and timeouts -----------------------------------------------------------------

def test_answers_slower_than_the_timeout_are_retried_and_delivered_once(order_world):
    # Its events come a second apart: the first must not arrive (and mark the part
    # delivered) before the timed-out attempt is checked, however busy the machine is.
    world = order_world(latency=0.5, step=1.0)
    app = world.app
    order_id = place(app, world.quoting, parts=1)
    sender = dispatcher(app, timeout=(1.0, 0.2), max_attempts=20)
    assert sender.run_once() == 1  # timed out: the backend made the order, we did not hear
    with app.app_context():
        message = db.session.scalars(select(OutboxMessage)).one()
        assert (message.status, message.attempts) == ("pending", 1)
        assert "No answer from the order backend within 0.2 s" in message.last_error
    world.backend.control(latency=0.05)  # slow, but within the timeout
    drive(app, sender)
    wait_for(app, order_id, "completed")
    stats = world.backend.stats()
    assert stats["orders_by_external_id"] == dict.fromkeys(part_ids(app, order_id), 1)
    assert_nothing_hidden(app)


def test_slow_answers_within_the_timeout_are_fine(order_world):
    world = order_world(latency=0.2)
    app = world.app
    order_id = place(app, world.quoting, parts=2)
    drive(app, dispatcher(app, timeout=(1.0, 3.0), max_attempts=1))
    wait_for(app, order_id, "completed")
    stats = world.backend.stats()
    assert stats["requests"] == stats["orders"] == 2  # one request each: no retry needed
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(OrderEvent).where(
            OrderEvent.kind == "retry")) == 0


def test_a_backend_that_never_answers_in_time_leaves_the_part_for_an_operator(order_world):
    # Slow and, behind the slowness, down: it never answers within the timeout and never
    # makes the order.
    world = order_world(latency=0.3, down=True)
    app = world.app
    order_id = place(app, world.quoting, parts=1)
    sender = dispatcher(app, timeout=(1.0, 0.1), max_attempts=3)
    [(state, delivery, statuses, kinds)] = drive(app, sender).values()
    assert (state, delivery, statuses) == ("pending", Delivery.ATTENTION, ["dead"])
    assert kinds.count("retry") == 2 and kinds[-1] == "attention"
    with app.app_context():
        message = db.session.scalars(select(OutboxMessage)).one()
        assert message.attempts == 3
        attention = db.session.scalars(select(OrderEvent).where(
            OrderEvent.kind == "attention")).one()
        assert "Not delivered after 3 attempts" in attention.detail
        assert "No answer" in attention.detail
        assert db.session.get(Order, order_id).state == "pending"
    assert_nothing_hidden(app)
    assert sender.run_once() == 0  # a dead message is not sent again by itself
    time.sleep(0.5)  # the requests that timed out have all been answered by now
    assert world.backend.stats()["orders"] == 0

    world.backend.control(latency=0, down=False)
    with app.app_context():
        part = db.session.scalars(select(OrderPart)).one()
        retry_part(db.session, part)
        db.session.commit()
        with pytest.raises(OrderError):
            retry_part(db.session, part)  # it is queued now, not needing attention
    drive(app, sender)
    wait_for(app, order_id, "completed")
    stats = world.backend.stats()
    assert stats["orders_by_external_id"] == dict.fromkeys(part_ids(app, order_id), 1)
    [(state, delivery, statuses, kinds)] = snapshot(app).values()
    assert (state, delivery, statuses) == ("completed", Delivery.DELIVERED, ["sent"])
    assert_nothing_hidden(app)


# -- refusals ----------------------------------------------------------------------------------

def test_a_payload_the_backend_refuses_is_rejected_and_not_sent_again(order_world):
    world = order_world()
    app = world.app
    order_id = place(app, world.quoting, parts=2)
    with app.app_context():
        broken = db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).first()
        payload = {k: v for k, v in broken.payload.items() if k != "productOrderItem"}
        db.session.execute(update(OutboxMessage).where(OutboxMessage.id == broken.id)
                           .values(payload=payload))
        db.session.commit()
        broken_id = broken.id
        broken_part = db.session.get(OrderPart, broken.part_id).external_id
    sender = dispatcher(app, max_attempts=5)
    drive(app, sender)
    wait_for(app, order_id, "partial")  # one part rejected, the other completed
    parts = snapshot(app)
    state, delivery, statuses, kinds = parts.pop(broken_part)
    assert (state, delivery, statuses) == ("rejected", Delivery.REFUSED, ["dead"])
    assert kinds[-1] == "refused" and "retry" not in kinds
    [(other_state, _, _, _)] = parts.values()
    assert other_state == "completed"
    with app.app_context():
        message = db.session.get(OutboxMessage, broken_id)
        assert message.attempts == 1
        assert "HTTP 400" in message.last_error and "productOrderItem" in message.last_error
    assert sender.run_once() == 0
    assert broken_part not in world.backend.stats()["orders_by_external_id"]
    assert_nothing_hidden(app)


def test_a_wrong_token_is_refused_not_retried(order_world):
    world = order_world()
    app = world.app
    order_id = place(app, world.quoting, parts=1)
    drive(app, dispatcher(app, token="not-the-token", max_attempts=5))
    assert order_state(app, order_id) == "rejected"
    [(state, delivery, statuses, kinds)] = snapshot(app).values()
    assert (state, delivery, statuses) == ("rejected", Delivery.REFUSED, ["dead"])
    assert "retry" not in kinds
    with app.app_context():
        assert "HTTP 401" in db.session.scalars(select(OutboxMessage.last_error)).one()
    assert world.backend.stats()["requests"] == 0
    assert_nothing_hidden(app)


# -- cancelling what could not be delivered ------------------------------------------------------

def test_cancelling_an_order_whose_part_needs_attention_withdraws_it(order_world):
    """The part never got to the backend: the customer's cancellation withdraws it at once
    (no cancellation request that can never go, no operator retry sending it after all)."""
    world = order_world(down=True)
    app = world.app
    order_id = place(app, world.quoting, parts=1)
    drive(app, dispatcher(app, max_attempts=2))
    [(_, delivery, _, _)] = snapshot(app).values()
    assert delivery == Delivery.ATTENTION
    with app.app_context():
        request_cancel(db.session, db.session.get(Order, order_id))
        db.session.commit()
        part = db.session.scalars(select(OrderPart)).one()
        with pytest.raises(OrderError):
            retry_part(db.session, part)
    world.backend.control(down=False)
    drive(app, dispatcher(app))
    assert order_state(app, order_id) == "cancelled"
    [(state, delivery, statuses, kinds)] = snapshot(app).values()
    assert (state, delivery, statuses) == ("cancelled", Delivery.WITHDRAWN, ["dropped"])
    assert kinds[-1] == "cancelled"
    assert world.backend.stats()["requests"] == 0
    assert_nothing_hidden(app)


def test_a_cancellation_the_backend_refused_can_be_asked_again(make_app, factory):
    from support.quoting import setup_quoting
    from support.sandbox_backend import SandboxBackend

    # The backend's events go nowhere: it has the order in progress, the portal does not
    # know yet, and the cancellation is refused (422).
    with SandboxBackend(webhook_url="http://127.0.0.1:9/nowhere", step=0.05).start() as backend:
        app = make_app(**backend.portal_config())
        q = setup_quoting(factory, app)
        order_id = place(app, q, parts=1)
        drive(app, dispatcher(app), events=False)
        time.sleep(0.2)  # the backend has moved it on
        for _ in range(2):
            with app.app_context():
                request_cancel(db.session, db.session.get(Order, order_id))
                db.session.commit()
            drive(app, dispatcher(app), events=False)
            with app.app_context():
                order = db.session.get(Order, order_id)
                assert (order.state, order.cancel_requested_at) == ("acknowledged", None)
        [(state, delivery, statuses, kinds)] = snapshot(app).values()
        assert (state, delivery, statuses) == ("acknowledged", Delivery.DELIVERED,
                                               ["sent", "dead"])
        assert kinds.count("cancel_refused") == 2
        # The backend's own state never went back, though it kept posting its events again
        # (nobody answered them).
        with app.app_context():
            backend_id = db.session.scalars(select(OrderPart.backend_id)).one()
        token = app.config["ORDER_BACKEND_TOKEN"]
        answer = requests.get(f"{backend.url}/productOrder/{backend_id}", timeout=5,
                              headers={"Authorization": f"Bearer {token}"})
        assert answer.json()["state"] == "completed"
        # Three events, each posted again and again while nobody answers.
        deadline = time.monotonic() + 15
        while backend.stats()["webhook_failures"] <= 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert backend.stats()["webhook_failures"] > 3
