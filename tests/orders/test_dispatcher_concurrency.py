"""Several dispatchers at once, and a dispatcher that dies in the middle of a delivery: every
part still reaches the sandbox backend (its own process) exactly once, by Idempotency-Key as
the backend counts them, and every order completes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from decimal import Decimal

import pytest
from conftest import TEST_SECRET
from sqlalchemy import event, func, select
from support.sandbox_backend import ROOT

from portal.db import utcnow
from portal.extensions import db
from portal.orders import backend
from portal.orders.dispatcher import Dispatcher, Settings
from portal.orders.models import Order, OrderPart, OutboxMessage
from portal.orders.services import ItemSpec, place_order
from portal.orders.webhook import signature_of


def postgresql_only(app) -> None:
    if app.extensions["portal_db"].engine.dialect.name != "postgresql":
        pytest.skip("needs PostgreSQL (FOR UPDATE SKIP LOCKED; SQLite has one writer at a "
                    "time): set PORTAL_TEST_DATABASE_URL=postgresql+psycopg://...")


def place_many(app, q, orders: int, parts: int = 1) -> list[str]:
    """`orders` orders of `parts` parts each, in one transaction; their parts' ids."""
    systems = ("mobile-bss", "fixed-bss", "tv-bss")[:parts]
    with app.app_context():
        for _ in range(orders):
            place_order(db.session, q.org, [
                ItemSpec(action="add", offering_code="MOB-UNL", offering_name="Mobile",
                         fulfilment=system, site_id=q.sites["DE-001"], mrc=Decimal("25"))
                for system in systems], source="api", user_id=None)
        db.session.commit()
        return sorted(db.session.scalars(select(OrderPart.external_id)))


def settings(app, **changes) -> Settings:
    return replace(Settings.from_config(app.config), **changes)


def wait_until_completed(app, count: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    done = 0
    while time.monotonic() < deadline:
        with app.app_context():
            done = db.session.scalar(select(func.count()).select_from(Order).where(
                Order.state == "completed"))
        if done == count:
            return
        time.sleep(0.1)
    raise AssertionError(f"{done} of {count} orders completed")


class Counting(Dispatcher):
    """A dispatcher that notes what it claimed; the first claims of all of them start
    together."""

    def __init__(self, app, settings, start: threading.Barrier) -> None:
        super().__init__(app, settings)
        self.start, self.claimed = start, []

    def claim(self):
        if self.start is not None:
            self.start.wait(timeout=10)
            self.start = None
        batch = super().claim()
        self.claimed.extend(message.key for message in batch)
        return batch


def run_together(app, dispatchers: list[Dispatcher], timeout: float = 120.0) -> None:
    """Run the dispatchers in threads until nothing is pending in the outbox."""
    stop = threading.Event()
    threads = [threading.Thread(target=d.run, kwargs={"stop": stop, "idle": 0.02})
               for d in dispatchers]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with app.app_context():
                pending = db.session.scalar(select(func.count()).select_from(OutboxMessage)
                                            .where(OutboxMessage.status == "pending"))
            if not pending:
                break
            time.sleep(0.05)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    assert not pending, f"{pending} messages still pending"
    assert not any(thread.is_alive() for thread in threads)


# -- two dispatchers at once -------------------------------------------------------------------

def test_two_dispatchers_at_once_send_every_message_exactly_once(order_world):
    world = order_world(step=0.05)
    app = world.app
    postgresql_only(app)
    keys = place_many(app, world.quoting, 200)
    start = threading.Barrier(2)
    one, two = (Counting(app, settings(app, batch=10), start) for _ in range(2))
    run_together(app, [one, two])
    assert one.claimed and two.claimed  # both worked...
    assert not set(one.claimed) & set(two.claimed)  # ...never on the same message
    assert sorted(one.claimed + two.claimed) == keys
    stats = world.backend.stats()
    assert stats["orders_by_external_id"] == dict.fromkeys(keys, 1)
    assert stats["requests"] == 200  # no faults: one request per key, from one dispatcher
    wait_until_completed(app, 200)
    with app.app_context():
        assert set(db.session.scalars(select(OutboxMessage.status))) == {"sent"}


def test_the_claim_skips_rows_other_dispatchers_hold_on_postgresql(make_app):
    app = make_app()
    postgresql_only(app)
    statements = []

    def capture(conn, cursor, statement, *args):
        statements.append(statement)

    engine = app.extensions["portal_db"].engine
    event.listen(engine, "before_cursor_execute", capture)
    try:
        Dispatcher(app).claim()
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    [claim] = [s for s in statements if "order_outbox" in s and s.lstrip().startswith("SELECT")]
    assert claim.rstrip().endswith("FOR UPDATE SKIP LOCKED")
    assert "LIMIT" in claim


def test_a_row_another_transaction_holds_is_skipped_not_waited_for(make_app, factory):
    app = make_app()
    postgresql_only(app)
    org = factory.org("acme")
    with app.app_context():
        place_order(db.session, org, [ItemSpec(
            action="add", offering_code="X", offering_name="X", fulfilment=f"s{n}",
            site_id=None) for n in range(2)], source="api", user_id=None)
        db.session.commit()
    holder = app.extensions["portal_db"].new_session()
    claimed = []
    # Without SKIP LOCKED the claim would wait for the holder to finish.
    claiming = threading.Thread(target=lambda: claimed.extend(Dispatcher(app).claim()))
    try:
        locked = holder.scalars(select(OutboxMessage).order_by(OutboxMessage.id).limit(1)
                                .with_for_update()).one()
        claiming.start()
        claiming.join(timeout=3)
        assert not claiming.is_alive(), "the claim waited for a row another one holds"
        assert [m.id for m in claimed] != [] and locked.id not in [m.id for m in claimed]
    finally:
        holder.rollback()
        holder.close()
        if claiming.is_alive():
            claiming.join(timeout=10)


def test_a_slow_backend_does_not_make_two_dispatchers_send_the_same_message(order_world):
    """A batch takes longer to send than the claim's lease: the dispatcher must not send a
    message whose claim lapsed (another one may have it), nor let it lapse unnoticed."""
    world = order_world(latency=0.3, step=0.05)
    app = world.app
    keys = place_many(app, world.quoting, 8)
    # 8 sends of 0.3 s take longer than the 1.2 s lease; one send fits in it.
    slow = settings(app, batch=8, lease=1.2, timeout=(1.0, 2.0))
    start = threading.Barrier(2)
    one, two = Counting(app, slow, start), Counting(app, slow, start)
    run_together(app, [one, two])
    stats = world.backend.stats()
    assert stats["orders_by_external_id"] == dict.fromkeys(keys, 1)
    assert stats["requests"] == 8, "a message was sent by both dispatchers"
    wait_until_completed(app, 8)


# -- a dispatcher killed in the middle of a delivery -------------------------------------------

COMMAND = [sys.executable, "-m", "flask", "--app", "app", "orders", "dispatch", "--idle", "0.05"]


def dispatcher_env(app, tmp_path, lease: int) -> dict:
    """The environment of `flask --app app orders dispatch` on the test database and the
    test's backend, as production runs it (settings from PORTAL_* variables)."""
    instance = tmp_path / f"dispatcher-instance-{time.monotonic_ns()}"
    instance.mkdir()
    config = app.config
    return {**os.environ, "PORTAL_ENV": "testing", "PORTAL_SECRET_KEY": TEST_SECRET,
            "PORTAL_DATABASE_URL": config["DATABASE_URL"], "PORTAL_BASE_URL": config["BASE_URL"],
            "PORTAL_INSTANCE_PATH": str(instance), "PORTAL_MAIL_URL": f"file://{instance}/mail",
            "PORTAL_DEV_IDP": "false", "PORTAL_LOG_LEVEL": "WARNING",
            "PORTAL_ORDER_BACKEND_URL": config["ORDER_BACKEND_URL"],
            "PORTAL_ORDER_BACKEND_TOKEN": config["ORDER_BACKEND_TOKEN"],
            "PORTAL_ORDER_WEBHOOK_SECRET": config["ORDER_WEBHOOK_SECRET"],
            "PORTAL_ORDER_BACKEND_TIMEOUT": "10", "PORTAL_ORDER_DISPATCH_LEASE": str(lease),
            "PYTHONUNBUFFERED": "1"}


def claims(app) -> list[tuple]:
    with app.app_context():
        return db.session.execute(select(OutboxMessage.claim_token, OutboxMessage.claimed_until,
                                         OutboxMessage.status)
                                  .order_by(OutboxMessage.id)).all()


def test_a_dispatcher_killed_mid_delivery_is_taken_over_after_its_lease(order_world, tmp_path):
    world = order_world(latency=2.0, step=0.05)  # slow: the dispatcher will be mid-request
    app = world.app
    keys = place_many(app, world.quoting, 1, parts=2)
    process = subprocess.Popen(COMMAND, cwd=ROOT, env=dispatcher_env(app, tmp_path, lease=2),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while not all(token for token, _, _ in claims(app)):
            assert process.poll() is None, process.stdout.read().decode(errors="replace")
            assert time.monotonic() < deadline, "the dispatcher claimed nothing"
            time.sleep(0.02)
        time.sleep(0.3)  # it is sending the first part and waiting for the answer
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        process.stdout.close()
    assert process.returncode == -signal.SIGKILL
    assert [status for _, _, status in claims(app)] == ["pending", "pending"]
    # Its claims hold until their lease lapses: nobody else sends meanwhile.
    assert Dispatcher(app).claim() == []

    world.backend.control(latency=0)
    lapse = max(until for _, until, _ in claims(app))
    time.sleep(max((lapse - utcnow()).total_seconds(), 0) + 0.05)
    Dispatcher(app, settings(app, lease=1)).run(until_empty=True)
    wait_until_completed(app, 1, timeout=20)
    assert [status for _, _, status in claims(app)] == ["sent", "sent"]
    # The killed dispatcher's request still got there; the same key made no second order.
    deadline = time.monotonic() + 10
    while world.backend.stats()["requests"] < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    stats = world.backend.stats()
    assert stats["orders_by_external_id"] == dict.fromkeys(keys, 1)
    assert stats["requests"] == 3  # the first part twice (killed, then again), the second once


def test_the_dispatch_command_delivers_the_outbox_once(order_world, tmp_path):
    world = order_world(step=0.05)
    app = world.app
    keys = place_many(app, world.quoting, 3, parts=2)
    done = subprocess.run([*COMMAND, "--once"], cwd=ROOT, capture_output=True, timeout=60,
                          env=dispatcher_env(app, tmp_path, lease=30))
    assert done.returncode == 0, done.stdout + done.stderr
    assert b"delivering to " + app.config["ORDER_BACKEND_URL"].encode() in done.stdout
    stats = world.backend.stats()
    assert stats["orders_by_external_id"] == dict.fromkeys(keys, 1)
    assert stats["requests"] == 6
    wait_until_completed(app, 3)


# -- the webhook and the dispatcher on the same part ----------------------------------------------

def test_an_event_arriving_while_a_send_is_recorded_does_not_deadlock(make_app, factory,
                                                                       monkeypatch):
    """The backend's first event can overtake its answer: the webhook then takes the part
    (and its outbox message) while the dispatcher records the answer on the same rows. Both
    must take the rows in the same order, or PostgreSQL aborts one of them."""
    secret = "webhook-secret-for-the-tests-0123"
    app = make_app(ORDER_WEBHOOK_SECRET=secret)
    postgresql_only(app)
    org = factory.org("acme")
    with app.app_context():
        order = place_order(db.session, org, [ItemSpec(
            action="add", offering_code="X", offering_name="X", fulfilment="mobile-bss",
            site_id=None)], source="api", user_id=None)
        db.session.commit()
        external_id = order.parts[0].external_id
    monkeypatch.setattr(backend, "send", lambda *args: backend.Outcome(
        "ok", 201, {"id": "BO-1", "state": "acknowledged"}))
    body = json.dumps({"eventId": "e-1", "eventType": "ProductOrderStateChangeEvent",
                       "event": {"productOrder": {"id": "BO-1", "externalId": external_id,
                                                  "state": "inProgress"}}}).encode()
    answers = []

    def webhook():
        answers.append(app.test_client().post(
            "/hooks/order-backend", data=body, content_type="application/json",
            headers={"X-Portal-Signature": signature_of(secret, body)}))

    hook = threading.Thread(target=webhook)
    recording = threading.current_thread()

    def overtake(conn, cursor, statement, *args):
        # The dispatcher holds its outbox row: the event arrives now.
        if threading.current_thread() is recording and not hook.is_alive() and not answers \
                and "FROM order_outbox" in statement and "FOR UPDATE" in statement:
            hook.start()
            time.sleep(0.5)

    engine = app.extensions["portal_db"].engine
    sender = Dispatcher(app)
    [message] = sender.claim()
    event.listen(engine, "after_cursor_execute", overtake)
    try:
        outcome = sender.deliver(message)
    finally:
        event.remove(engine, "after_cursor_execute", overtake)
        hook.join(timeout=30)
    assert outcome == "ok"
    assert [a.status_code for a in answers] == [200]
    with app.app_context():
        part = db.session.scalars(select(OrderPart)).one()
        assert (part.state, part.delivery) == ("inProgress", "delivered")
        assert db.session.scalars(select(OutboxMessage.status)).all() == ["sent"]
