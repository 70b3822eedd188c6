"""`POST /hooks/order-backend`: signed in constant time, each eventId applied once, late and
reordered events tolerated, never back from a final state; forged, unsigned, malformed and
oversize events refused without changing anything. The last tests run the sandbox backend
as its own process sending duplicated and reordered events to the portal over HTTP."""

from __future__ import annotations

import hmac
import json
import threading
import time
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from accounts.estate.models import Service, Site
from portal.extensions import db
from portal.orders import webhook
from portal.orders.dispatcher import Dispatcher
from portal.orders.models import Delivery, Order, OrderEvent, OrderPart, OutboxMessage
from portal.orders.services import ItemSpec, place_order
from portal.orders.webhook import MAX_BODY, signature_of

SECRET = "webhook-secret-for-the-tests-0123"
URL = "/hooks/order-backend"


@pytest.fixture
def hook(make_app, factory):
    """An app with a webhook secret, a customer and an order of two parts (not sent)."""
    app = make_app(ORDER_WEBHOOK_SECRET=SECRET)
    org = factory.org("acme")
    buyer = factory.user(org, "buyer")
    with app.app_context():
        site = Site(organisation_id=org, code="DE-001", name="Berlin", address="Street 1",
                    postcode="10115", city="Berlin", country="DE")
        db.session.add(site)
        db.session.flush()
        items = [ItemSpec(action="add", offering_code=code, offering_name=code,
                          fulfilment=system, site_id=site.id, quantity=3, term_months=24,
                          mrc=Decimal("75.00"))
                 for system, code in (("mobile-bss", "MOB-UNL"), ("fixed-bss", "FIBRE"))]
        order = place_order(db.session, org, items, source="api", user_id=buyer)
        db.session.commit()
        parts = [part.external_id for part in order.parts]
        order_id = order.id
    return Hook(app, app.test_client(), order_id, parts)


class Hook:
    """Post events to the app and read what they changed."""

    def __init__(self, app, client, order_id, parts):
        self.app, self.client, self.order_id, self.parts = app, client, order_id, parts

    def post(self, body: bytes | dict, signature: str | None = "sign", secret: str = SECRET,
             **headers):
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        if signature == "sign":
            signature = signature_of(secret, raw)
        if signature is not None:
            headers["X-Portal-Signature"] = signature
        return self.client.post(URL, data=raw, headers=headers,
                                content_type="application/json")

    def state(self, external_id: str | None = None) -> str:
        with self.app.app_context():
            if external_id is None:
                return db.session.get(Order, self.order_id).state
            return db.session.scalars(select(OrderPart.state).where(
                OrderPart.external_id == external_id)).one()

    def counts(self) -> dict:
        """Rows of everything an event may change, and the parts' states."""
        with self.app.app_context():
            def count(model):
                return db.session.scalar(select(func.count()).select_from(model))

            parts = db.session.execute(select(OrderPart.external_id, OrderPart.state,
                                              OrderPart.delivery, OrderPart.backend_id)).all()
            return {"events": count(OrderEvent), "services": count(Service),
                    "parts": sorted(map(tuple, parts)), "order": self.state(),
                    "outbox": sorted(db.session.scalars(select(OutboxMessage.status)))}

    def events(self, event_id: str) -> list[tuple]:
        """(state, applied) of the events recorded with `event_id`."""
        with self.app.app_context():
            return db.session.execute(select(OrderEvent.state, OrderEvent.applied).where(
                OrderEvent.event_id == event_id)).all()


def event(external_id: str, state: str, event_id: str | None = None,
          backend_id: str = "BO-1") -> dict:
    return {"eventId": event_id or f"{external_id}-{state}",
            "eventType": "ProductOrderStateChangeEvent",
            "event": {"productOrder": {"id": backend_id, "externalId": external_id,
                                       "state": state}}}


# -- applied once, never backwards -------------------------------------------------------------

def test_an_event_is_applied_once_and_a_replay_changes_nothing(hook):
    part = hook.parts[0]
    body = event(part, "inProgress")
    response = hook.post(body)
    assert response.status_code == 200 and response.json == {"status": "applied"}
    assert hook.state(part) == "inProgress" and hook.state() == "inProgress"
    before = hook.counts()
    for _ in range(3):  # replayed: the same signed event again
        response = hook.post(body)
        assert response.status_code == 200 and response.json == {"status": "duplicate"}
    assert hook.counts() == before
    assert len(hook.events(body["eventId"])) == 1


def test_the_first_event_marks_a_part_delivered_and_stops_its_resending(hook):
    """Our record of sending it may be lost (no answer); the backend's event says it has
    the order, so the outbox does not send it again."""
    part = hook.parts[0]
    assert hook.post(event(part, "acknowledged", backend_id="BO-77")).json["status"] \
        == "applied"
    with hook.app.app_context():
        row = db.session.scalars(select(OrderPart).where(OrderPart.external_id == part)).one()
        assert (row.delivery, row.backend_id) == (Delivery.DELIVERED, "BO-77")
        statuses = db.session.scalars(select(OutboxMessage.status).where(
            OutboxMessage.part_id == row.id)).all()
    assert statuses == ["sent"]
    assert Dispatcher(hook.app).claim()[0].key == hook.parts[1]  # only the other part is due


def test_late_and_reordered_events_never_move_a_part_backwards(hook):
    part, other = hook.parts
    assert hook.post(event(part, "completed")).json["status"] == "applied"
    # Arriving after "completed": recorded, not applied.
    for state in ("inProgress", "acknowledged", "failed", "cancelled"):
        response = hook.post(event(part, state))
        assert response.status_code == 200 and response.json == {"status": "late"}
        assert hook.events(f"{part}-{state}") == [(state, False)]
    assert hook.state(part) == "completed"
    # Backwards without a final state: inProgress, then a late acknowledged.
    assert hook.post(event(other, "inProgress")).json["status"] == "applied"
    assert hook.post(event(other, "acknowledged")).json["status"] == "late"
    assert hook.state(other) == "inProgress" and hook.state() == "inProgress"
    assert hook.post(event(other, "completed")).json["status"] == "applied"
    assert hook.state() == "completed"
    with hook.app.app_context():
        services = db.session.scalars(select(Service.offering_code)).all()
    assert sorted(services) == ["FIBRE", "MOB-UNL"]  # each part applied to the inventory once


def test_a_final_state_is_never_left(hook):
    part = hook.parts[0]
    assert hook.post(event(part, "failed")).json["status"] == "applied"
    assert hook.post(event(part, "completed")).json["status"] == "late"
    assert hook.state(part) == "failed"
    with hook.app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Service)) == 0


def test_an_event_for_an_unknown_order_is_acknowledged_and_changes_nothing(hook):
    before = hook.counts()
    response = hook.post(event("O-1999-999999-1", "completed"))
    assert response.status_code == 200 and response.json == {"status": "unknown"}
    assert hook.counts() == before


def test_the_same_event_posted_at_the_same_moment_is_applied_once(hook):
    part = hook.parts[0]
    body = event(part, "inProgress")
    start = threading.Barrier(4)
    answers = []

    def post():
        client = hook.app.test_client()
        raw = json.dumps(body).encode()
        start.wait()
        answers.append(client.post(URL, data=raw, content_type="application/json", headers={
            "X-Portal-Signature": signature_of(SECRET, raw)}))

    threads = [threading.Thread(target=post) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(a.json.get("status") if a.status_code == 200 else a.status_code
                      for a in answers)
    # One applies it; the others see it applied (or, on SQLite, may be told to come back:
    # the backend posts again after a 5xx).
    assert statuses.count("applied") == 1, statuses
    assert all(s in ("applied", "duplicate", 500, 503) for s in statuses), statuses
    assert len(hook.events(body["eventId"])) == 1
    assert hook.state(part) == "inProgress"


# -- refused, and nothing changes --------------------------------------------------------------

FORGERIES = {
    "missing": lambda raw: None,
    "empty": lambda raw: "",
    "forged": lambda raw: "sha256=" + "0" * 64,
    "another body": lambda raw: signature_of(SECRET, raw + b" "),
    "wrong secret": lambda raw: signature_of("not-the-secret", raw),
    "no scheme": lambda raw: signature_of(SECRET, raw).removeprefix("sha256="),
    "truncated": lambda raw: signature_of(SECRET, raw)[:-2],
}


@pytest.mark.parametrize("how", list(FORGERIES))
def test_an_unsigned_or_forged_event_is_refused_and_changes_nothing(hook, how):
    before = hook.counts()
    raw = json.dumps(event(hook.parts[0], "completed")).encode()
    response = hook.post(raw, signature=FORGERIES[how](raw))
    assert response.status_code == 401
    assert response.json["code"] == "401"
    assert hook.counts() == before


def test_no_secret_configured_refuses_everything(make_app):
    app = make_app(ORDER_WEBHOOK_SECRET="")
    raw = b'{"eventId": "x"}'
    response = app.test_client().post(URL, data=raw, content_type="application/json",
                                      headers={"X-Portal-Signature": signature_of("", raw)})
    assert response.status_code == 401


def test_the_signature_is_compared_in_constant_time(hook, monkeypatch):
    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(webhook.hmac, "compare_digest", spy)
    raw = json.dumps(event(hook.parts[0], "acknowledged")).encode()
    assert hook.post(raw, signature="sha256=" + "a" * 64).status_code == 401
    assert hook.post(raw).status_code == 200
    assert calls == [(b"sha256=" + b"a" * 64, signature_of(SECRET, raw).encode()),
                     (signature_of(SECRET, raw).encode(),) * 2]


@pytest.mark.parametrize("raw", [b"{not json", b"\xff\xfe", b"[1, 2]", b'"text"', b"{}",
                                 json.dumps({"eventId": "e", "eventType": "Other"}).encode(),
                                 json.dumps(event("O-1", "shipped")).encode()])
def test_a_signed_but_malformed_event_is_a_400_and_changes_nothing(hook, raw):
    before = hook.counts()
    response = hook.post(raw)
    assert response.status_code == 400
    assert hook.counts() == before


def test_an_oversize_event_is_a_413_before_anything_else(hook):
    before = hook.counts()
    body = event(hook.parts[0], "completed")
    body["padding"] = "x" * MAX_BODY
    response = hook.post(body)
    assert response.status_code == 413
    assert hook.post(json.dumps(body).encode(), signature=None).status_code == 413
    assert hook.counts() == before


# -- against the sandbox backend, over HTTP ----------------------------------------------------

def _dispatch_and_wait(world, parts: int, timeout: float = 20.0) -> tuple[int, list[str]]:
    from support.order_world import accepted_order, wait_for_order

    app = world.app
    lines = (("DE-001", "MOB-UNL", 5, 24), ("DE-002", "FIBRE", 1, 24))[:parts]
    order_id = accepted_order(app, world.quoting, lines=lines)
    Dispatcher(app).run(until_empty=True)
    assert wait_for_order(app, order_id, {"completed"}, timeout) == "completed"
    with app.app_context():
        external = sorted(db.session.scalars(select(OrderPart.external_id).where(
            OrderPart.order_id == order_id)))
    return order_id, external


def _wait_for_events(world, count: int, timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stats = world.backend.stats()
        if stats["events_sent"] >= count and stats["events_queued"] == 0:
            return stats
        time.sleep(0.05)
    raise AssertionError(f"the backend sent {world.backend.stats()}")


def test_duplicated_events_from_the_backend_are_applied_once(order_world):
    world = order_world(duplicate_rate=1.0)
    order_id, external = _dispatch_and_wait(world, parts=2)
    stats = _wait_for_events(world, 12)  # 3 states x 2 parts, each twice
    assert stats["events_sent"] == 12 and stats["webhook_failures"] == 0
    with world.app.app_context():
        rows = db.session.execute(select(OrderEvent.event_id, func.count()).where(
            OrderEvent.event_id.is_not(None)).group_by(OrderEvent.event_id)).all()
        services = db.session.scalar(select(func.count()).select_from(Service).where(
            Service.source_system == "portal"))
    assert len(rows) == 6 and all(n == 1 for _, n in rows)
    assert services == 2
    assert stats["orders_by_external_id"] == dict.fromkeys(external, 1)


def test_reordered_events_end_in_the_right_state_with_late_ones_recorded(order_world):
    world = order_world(reorder=True, step=0.05)
    app = world.app
    from support.order_world import accepted_order, wait_for_order

    orders = [accepted_order(app, world.quoting) for _ in range(4)]
    Dispatcher(app).run(until_empty=True)
    for order_id in orders:
        assert wait_for_order(app, order_id, {"completed"}) == "completed"
    _wait_for_events(world, 4 * 2 * 3)
    with app.app_context():
        parts = db.session.scalars(select(OrderPart)).all()
        assert len(parts) == 8 and {p.state for p in parts} == {"completed"}
        late = db.session.scalars(select(OrderEvent.state).where(
            OrderEvent.event_id.is_not(None), OrderEvent.applied.is_(False))).all()
        applied = db.session.scalars(select(OrderEvent.state).where(
            OrderEvent.event_id.is_not(None), OrderEvent.applied.is_(True))).all()
        services = db.session.scalar(select(func.count()).select_from(Service).where(
            Service.source_system == "portal"))
    # Some states came after "completed" (seeded shuffle): seen, recorded, not applied.
    assert late and set(late) <= {"acknowledged", "inProgress"}
    assert applied.count("completed") == 8
    assert services == 8
