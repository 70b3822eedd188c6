"""The dispatcher's parts, each on its own: backoff, what each answer of the backend means
(against a scripted stub backend served over HTTP), and claim semantics on the test
database (batches, leases, lapsed claims, due times)."""

from __future__ import annotations

import datetime as dt
import json
import random
import threading
import time
from dataclasses import replace
from decimal import Decimal

import pytest
import requests
from sqlalchemy import select, update
from support.oidc_provider import free_port
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from accounts.estate.models import Site
from portal.db import utcnow
from portal.extensions import db
from portal.orders import backend
from portal.orders.dispatcher import Dispatcher, Settings, backoff
from portal.orders.models import Delivery, OrderEvent, OrderPart, OutboxMessage
from portal.orders.services import ItemSpec, place_order

TOKEN = "stub-token-0123456789"


# -- backoff -----------------------------------------------------------------------------------

class FixedRandom(random.Random):
    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def random(self) -> float:
        return self.value


SETTINGS = Settings(url="http://stub", token=TOKEN, base_delay=2.0, max_delay=600.0)


@pytest.mark.parametrize(("attempts", "ceiling"), [
    (0, 2.0), (1, 2.0), (2, 4.0), (3, 8.0), (6, 64.0), (9, 512.0), (10, 600.0), (40, 600.0)])
def test_backoff_doubles_from_the_base_up_to_the_cap(attempts, ceiling):
    assert backoff(attempts, SETTINGS, FixedRandom(0.0)) == pytest.approx(ceiling / 2)
    assert backoff(attempts, SETTINGS, FixedRandom(0.999999)) == pytest.approx(ceiling,
                                                                               rel=1e-5)


def test_backoff_jitter_spreads_retries_between_half_and_all_of_the_delay():
    rng = random.Random(42)
    delays = [backoff(4, SETTINGS, rng) for _ in range(1000)]
    assert min(delays) >= 8.0 and max(delays) <= 16.0
    assert max(delays) - min(delays) > 7.0  # spread over the whole range...
    assert len({round(d, 3) for d in delays}) > 900  # ...not a few fixed values


def test_settings_come_from_the_order_settings(make_app):
    app = make_app(ORDER_BACKEND_URL="https://backend.test/api", ORDER_BACKEND_TOKEN=TOKEN,
                   ORDER_BACKEND_TIMEOUT=7, ORDER_DISPATCH_BATCH=5, ORDER_DISPATCH_LEASE=30,
                   ORDER_DISPATCH_MAX_ATTEMPTS=4, ORDER_DISPATCH_BASE_DELAY=1,
                   ORDER_DISPATCH_MAX_DELAY=60)
    assert Settings.from_config(app.config) == Settings(
        url="https://backend.test/api", token=TOKEN, batch=5, lease=30.0, max_attempts=4,
        base_delay=1.0, max_delay=60.0, timeout=(3.05, 7.0))


# -- a scripted backend ------------------------------------------------------------------------

class StubBackend:
    """Answers each request with the next scripted (status, body, headers, delay); records
    what it received."""

    def __init__(self) -> None:
        self.script: list[tuple] = []
        self.default = (201, {"id": "BO-1", "state": "acknowledged"}, {}, 0.0)
        self.received: list[dict] = []
        self.lock = threading.Lock()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = make_server("127.0.0.1", self.port, self.wsgi, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)

    def wsgi(self, environ, start_response):
        request = Request(environ)
        with self.lock:
            self.received.append({"path": request.path, "headers": dict(request.headers),
                                  "json": request.get_json(silent=True)})
            status, body, headers, delay = self.script.pop(0) if self.script else self.default
        time.sleep(delay)
        if isinstance(body, dict | list):
            response = Response(json.dumps(body), status, headers,
                                content_type="application/json")
        else:
            response = Response(body, status, headers, content_type="text/plain")
        return response(environ, start_response)

    def keys(self) -> list[str]:
        return [r["headers"].get("Idempotency-Key") for r in self.received]


@pytest.fixture
def stub():
    server = StubBackend()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


def send(stub, timeout=(1.0, 1.0)) -> backend.Outcome:
    return backend.send(requests.Session(), stub.url, TOKEN, "create",
                        {"externalId": "O-1-1", "productOrderItem": [{"id": "1"}]}, "O-1-1",
                        timeout)


@pytest.mark.parametrize(("status", "body", "kind"), [
    (200, {"id": "BO-9", "state": "acknowledged"}, "ok"),
    (201, {"id": "BO-9", "state": "acknowledged"}, "ok"),
    (200, "not json", "retry"),  # it may have the order: the same key asks again
    (201, [1, 2], "retry"),
    (500, {"message": "boom"}, "retry"),
    (502, "Bad Gateway", "retry"),
    (503, {"message": "maintenance"}, "retry"),
    (504, "", "retry"),
    (409, {"message": "still processing that key"}, "retry"),
    (429, {"message": "slow down"}, "retry"),
    (400, {"message": "productOrderItem is required"}, "refused"),
    (401, {"message": "bad token"}, "refused"),
    (403, {"reason": "forbidden"}, "refused"),
    (404, "no such path", "refused"),
    (422, {"message": "cannot"}, "refused"),
])
def test_what_each_answer_means(stub, status, body, kind):
    stub.script.append((status, body, {}, 0.0))
    outcome = send(stub)
    assert (outcome.kind, outcome.status) == (kind, status)
    if kind == "ok":
        assert outcome.body == body
    else:
        assert outcome.error.startswith(f"HTTP {status}") or "not a JSON object" in outcome.error
    if isinstance(body, dict) and kind != "ok":
        assert str(body.get("message") or body.get("reason")) in outcome.error
    [request] = stub.received
    assert request["path"] == "/productOrder"
    assert request["headers"]["Idempotency-Key"] == "O-1-1"
    assert request["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert request["json"]["externalId"] == "O-1-1"


def test_no_answer_in_time_and_no_connection_are_retried(stub):
    stub.script.append((201, {"id": "BO-1"}, {}, 0.5))
    outcome = send(stub, timeout=(1.0, 0.1))
    assert outcome.kind == "retry" and outcome.status is None
    assert "within 0.1 s" in outcome.error
    outcome = backend.send(requests.Session(), f"http://127.0.0.1:{free_port()}", TOKEN,
                           "create", {}, "k", (0.5, 0.5))
    assert outcome.kind == "retry" and "Could not reach" in outcome.error


@pytest.mark.parametrize(("value", "seconds"), [
    ("30", 30.0), ("0.5", 0.5), ("-5", 0.0), ("999999", 3600.0),
    ("Wed, 21 Oct 2015 07:28:00 GMT", None), ("", None)])
def test_retry_after_is_read_and_bounded(stub, value, seconds):
    stub.script.append((429, {"message": "later"}, {"Retry-After": value} if value else {}, 0))
    assert send(stub).retry_after == seconds


# -- recording outcomes, claims ----------------------------------------------------------------

@pytest.fixture
def outbox(make_app, factory, stub):
    """An app pointing at the stub backend, with a function placing orders of n parts."""
    app = make_app(ORDER_BACKEND_URL=stub.url, ORDER_BACKEND_TOKEN=TOKEN,
                   ORDER_DISPATCH_BASE_DELAY=0.05, ORDER_DISPATCH_MAX_DELAY=1,
                   ORDER_DISPATCH_MAX_ATTEMPTS=3, ORDER_BACKEND_TIMEOUT=1,
                   ORDER_DISPATCH_LEASE=30)
    org = factory.org("acme")
    with app.app_context():
        site = Site(organisation_id=org, code="S1", name="Berlin", address="Street 1",
                    postcode="10115", city="Berlin", country="DE")
        db.session.add(site)
        db.session.commit()
        site_id = site.id

    def place(parts: int = 1) -> list[str]:
        items = [ItemSpec(action="add", offering_code="MOB-UNL", offering_name="Mobile",
                          fulfilment=f"system-{n}", site_id=site_id, mrc=Decimal("1"))
                 for n in range(parts)]
        with app.app_context():
            order = place_order(db.session, org, items, source="api", user_id=None)
            db.session.commit()
            return [part.external_id for part in order.parts]

    app.place = place
    return app


def message_row(app, key: str) -> dict:
    with app.app_context():
        row = db.session.scalars(select(OutboxMessage).where(
            OutboxMessage.idempotency_key == key)).one()
        part = db.session.get(OrderPart, row.part_id)
        kinds = db.session.scalars(select(OrderEvent.kind).where(
            OrderEvent.part_id == part.id).order_by(OrderEvent.id)).all()
        return {"status": row.status, "attempts": row.attempts, "token": row.claim_token,
                "next": row.next_attempt_at, "until": row.claimed_until,
                "part": (part.state, part.delivery, part.backend_id), "events": kinds}


def test_a_batch_is_claimed_once_and_the_rest_by_the_next_dispatcher(outbox):
    keys = outbox.place(5)
    settings = replace(Settings.from_config(outbox.config), batch=2)
    first, second, third = (Dispatcher(outbox, settings) for _ in range(3))
    a, b, c = first.claim(), second.claim(), third.claim()
    assert [m.key for m in a] == keys[:2] and [m.key for m in b] == keys[2:4]
    assert [m.key for m in c] == keys[4:]
    assert first.claim() == [] and second.claim() == []
    assert len({m.token for m in a + b + c}) == 3
    row = message_row(outbox, keys[0])
    assert row["token"] == a[0].token and row["until"] > utcnow() + dt.timedelta(seconds=25)


def test_a_claim_keeps_others_away_until_its_lease_lapses(outbox, stub):
    [key] = outbox.place(1)
    short = replace(Settings.from_config(outbox.config), lease=0.3)
    holder, other = Dispatcher(outbox, short), Dispatcher(outbox, short)
    [held] = holder.claim()
    assert other.claim() == []
    time.sleep(0.4)
    [taken] = other.claim()  # the holder seems dead: its claim lapsed
    assert taken.key == key and taken.token != held.token
    # The holder wakes up: its claim lapsed and another dispatcher has the message, so it
    # does not send it (the two would send the same message at the same moment).
    assert holder.deliver(held) == "lost"
    assert message_row(outbox, key)["status"] == "pending" and stub.keys() == []
    assert other.deliver(taken) == "ok"
    assert message_row(outbox, key)["status"] == "sent"
    assert stub.keys() == [key]


def test_a_lapsed_claim_nobody_took_is_renewed_and_sent(outbox, stub):
    [key] = outbox.place(1)
    holder = Dispatcher(outbox, replace(Settings.from_config(outbox.config), lease=0.3))
    [held] = holder.claim()
    time.sleep(0.4)
    assert holder.deliver(held) == "ok"
    assert message_row(outbox, key)["status"] == "sent" and stub.keys() == [key]


def test_a_claim_is_renewed_before_a_send_that_could_outlast_it(outbox, stub):
    keys = outbox.place(2)
    holder = Dispatcher(outbox, replace(Settings.from_config(outbox.config), lease=1.0,
                                        timeout=(0.2, 0.9)))
    stub.default = (201, {"id": "BO-1"}, {}, 0.7)
    started = time.monotonic()
    first, second = holder.claim()
    batch_until = message_row(outbox, keys[1])["until"]
    assert holder.deliver(first) == "ok"  # 0.7 s of the batch's 1 s lease gone
    outcome = []
    sending = threading.Thread(target=lambda: outcome.append(holder.deliver(second)))
    sending.start()
    deadline = time.monotonic() + 5
    while message_row(outbox, keys[1])["until"] == batch_until:
        assert time.monotonic() < deadline, "the claim was not renewed"
        time.sleep(0.01)
    time.sleep(max(1.05 - (time.monotonic() - started), 0))
    # The batch's claim has lapsed by now, but the one on the message being sent was
    # renewed when its send began: another dispatcher cannot take it.
    assert Dispatcher(outbox).claim() == []
    sending.join()
    assert outcome == ["ok"] and stub.keys() == keys


def test_only_due_pending_messages_are_claimed(outbox):
    keys = outbox.place(4)
    with outbox.app_context():
        later = utcnow() + dt.timedelta(minutes=5)
        db.session.execute(update(OutboxMessage).where(
            OutboxMessage.idempotency_key == keys[0]).values(next_attempt_at=later))
        for key, status in zip(keys[1:3], ("sent", "dead"), strict=True):
            db.session.execute(update(OutboxMessage).where(
                OutboxMessage.idempotency_key == key).values(status=status))
        db.session.commit()
    assert [m.key for m in Dispatcher(outbox).claim()] == [keys[3]]


def test_the_oldest_due_message_goes_first(outbox):
    keys = outbox.place(3)
    with outbox.app_context():
        for minutes, key in zip((1, 3, 2), keys, strict=True):
            db.session.execute(update(OutboxMessage).where(
                OutboxMessage.idempotency_key == key).values(
                next_attempt_at=utcnow() - dt.timedelta(minutes=minutes)))
        db.session.commit()
    one_at_a_time = Dispatcher(outbox, replace(Settings.from_config(outbox.config), batch=1))
    claimed = [one_at_a_time.claim() for _ in range(4)]
    assert [[m.key for m in batch] for batch in claimed] == [[keys[1]], [keys[2]], [keys[0]],
                                                             []]


def test_a_success_is_recorded_with_the_backend_id(outbox, stub):
    [key] = outbox.place(1)
    stub.default = (201, {"id": "BO-42", "state": "acknowledged"}, {}, 0.0)
    assert Dispatcher(outbox).run_once() == 1
    row = message_row(outbox, key)
    assert row["status"] == "sent" and row["token"] is None and row["until"] is None
    assert row["part"] == ("acknowledged", Delivery.DELIVERED, "BO-42")
    assert row["events"] == ["created", "sent"]


def test_a_failure_is_retried_later_then_left_for_an_operator(outbox, stub):
    [key] = outbox.place(1)
    stub.default = (503, {"message": "down"}, {}, 0.0)
    settings = replace(Settings.from_config(outbox.config), base_delay=0.4)
    sender = Dispatcher(outbox, settings, rng=FixedRandom(0.0))
    before = utcnow()
    assert sender.run_once() == 1
    row = message_row(outbox, key)
    assert (row["status"], row["attempts"], row["token"]) == ("pending", 1, None)
    # 0.4 s base delay, least jitter (half of it): due again after 0.2 s, then 0.4 s.
    assert before + dt.timedelta(seconds=0.2) <= row["next"] <= utcnow() + \
        dt.timedelta(seconds=0.21)
    assert sender.run_once() == 0  # not due yet
    for attempts in (2, 3):
        time.sleep(0.2 * 2 ** (attempts - 2) + 0.02)
        assert sender.run_once() == 1
        assert message_row(outbox, key)["attempts"] == attempts
    row = message_row(outbox, key)
    assert row["status"] == "dead"
    assert row["part"] == ("pending", Delivery.ATTENTION, None)
    assert row["events"] == ["created", "retry", "retry", "attention"]
    time.sleep(1.0)
    assert sender.run_once() == 0
    assert stub.keys() == [key] * 3


def test_retry_after_pushes_the_next_attempt_back(outbox, stub):
    [key] = outbox.place(1)
    stub.default = (429, {"message": "slow down"}, {"Retry-After": "120"}, 0.0)
    Dispatcher(outbox).run_once()
    row = message_row(outbox, key)
    assert row["next"] > utcnow() + dt.timedelta(seconds=110)


def test_a_refusal_is_final_at_once(outbox, stub):
    [key] = outbox.place(1)
    stub.default = (422, {"message": "unknown offering"}, {}, 0.0)
    sender = Dispatcher(outbox)
    assert sender.run_once() == 1
    row = message_row(outbox, key)
    assert (row["status"], row["attempts"]) == ("dead", 1)
    assert row["part"] == ("rejected", Delivery.REFUSED, None)
    assert row["events"] == ["created", "refused"]
    assert sender.run_once() == 0 and len(stub.received) == 1


def test_one_failing_message_does_not_stop_the_others(outbox, stub, monkeypatch):
    keys = outbox.place(3)
    real = backend.send

    def flaky(http, url, token, kind, payload, key, timeout):
        if key == keys[0]:
            raise RuntimeError("unexpected")
        return real(http, url, token, kind, payload, key, timeout)

    monkeypatch.setattr(backend, "send", flaky)
    assert Dispatcher(outbox).run_once() == 3
    assert [message_row(outbox, k)["status"] for k in keys] == ["pending", "sent", "sent"]
