"""Outbox throughput (`make bench`, PostgreSQL): 5,000 orders dispatched to the sandbox
order backend (its own process, no faults) by one `flask --app app orders dispatch --once`
process, then another 5,000 by two such processes at once. Prints orders per second for each
and the ratio two/one; asserts only correctness (each part reached the backend exactly
once, as the backend counts them by Idempotency-Key), never a time.

    PORTAL_TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/postgres \\
        make bench PYTEST_ARGS="-k dispatch"
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from decimal import Decimal

import pytest
from conftest import TEST_SECRET
from sqlalchemy import func, select
from support.sandbox_backend import ROOT, SandboxBackend

from accounts.estate.models import Site
from portal.extensions import db
from portal.orders.models import OrderPart, OutboxMessage
from portal.orders.services import ItemSpec, place_order

ORDERS = 5_000
# The backend's events would only add webhook traffic to the portal's database: they are
# due an hour after each order, long after the benchmark.
STEP = 3600


def _place(app, org: int, site: int, count: int) -> float:
    """`count` one-part orders through place_order in one transaction; seconds taken."""
    started = time.perf_counter()
    item = ItemSpec(action="add", offering_code="MOB-UNL", offering_name="Mobile",
                    fulfilment="mobile-bss", site_id=site, quantity=1, term_months=24,
                    mrc=Decimal("25.00"))
    with app.app_context():
        for _ in range(count):
            place_order(db.session, org, [item], source="api", user_id=None)
        db.session.commit()
    return time.perf_counter() - started


def _env(app, instance) -> dict:
    config = app.config
    return {**os.environ, "PORTAL_ENV": "testing", "PORTAL_SECRET_KEY": TEST_SECRET,
            "PORTAL_DATABASE_URL": config["DATABASE_URL"], "PORTAL_BASE_URL": config["BASE_URL"],
            "PORTAL_INSTANCE_PATH": str(instance), "PORTAL_MAIL_URL": f"file://{instance}/mail",
            "PORTAL_DEV_IDP": "false", "PORTAL_LOG_LEVEL": "WARNING",
            "PORTAL_ORDER_BACKEND_URL": config["ORDER_BACKEND_URL"],
            "PORTAL_ORDER_BACKEND_TOKEN": config["ORDER_BACKEND_TOKEN"],
            "PORTAL_ORDER_WEBHOOK_SECRET": config["ORDER_WEBHOOK_SECRET"]}


def _dispatch(app, instance, processes: int, after_id: int) -> tuple[float, float]:
    """Run `processes` dispatchers at once until the outbox is empty; (wall seconds of the
    processes, orders per second between the first and the last send of the messages
    after `after_id`)."""
    before = time.perf_counter()
    running = [subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "orders",
                                 "dispatch", "--once"], cwd=ROOT, env=_env(app, instance),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
               for _ in range(processes)]
    for process in running:
        output, _ = process.communicate(timeout=1800)
        assert process.returncode == 0, output.decode(errors="replace")
    wall = time.perf_counter() - before
    with app.app_context():
        first, last, sent = db.session.execute(
            select(func.min(OutboxMessage.sent_at), func.max(OutboxMessage.sent_at),
                   func.count()).where(OutboxMessage.id > after_id,
                                       OutboxMessage.status == "sent")).one()
    assert sent == ORDERS
    return wall, (sent - 1) / max((last - first).total_seconds(), 1e-9)


def test_dispatch_throughput(database_url, make_app, factory, tmp_path):
    if not database_url.startswith("postgresql"):
        pytest.skip("the dispatch benchmark runs on PostgreSQL (several dispatchers at once): "
                    "PORTAL_TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/"
                    "postgres make bench")
    backend = SandboxBackend(webhook_url="http://127.0.0.1:9/nowhere", step=STEP).start()
    try:
        # Production's delivery settings (lease, timeout, batch), pointed at the sandbox.
        config = {k: v for k, v in backend.portal_config().items()
                  if k in ("ORDER_BACKEND_URL", "ORDER_BACKEND_TOKEN", "ORDER_WEBHOOK_SECRET")}
        app = make_app(**config)
        org = factory.org("acme")
        with app.app_context():
            site = Site(organisation_id=org, code="S1", name="Berlin", address="Street 1",
                        postcode="10115", city="Berlin", country="DE")
            db.session.add(site)
            db.session.commit()
            site_id = site.id
        instance = tmp_path / "dispatcher"
        instance.mkdir()
        rows = []
        for processes in (1, 2):
            with app.app_context():
                after_id = db.session.scalar(select(func.max(OutboxMessage.id))) or 0
            placed = _place(app, org, site_id, ORDERS)
            wall, rate = _dispatch(app, instance, processes, after_id)
            rows.append((processes, placed, wall, rate))
        stats = backend.stats()
    finally:
        backend.stop()
    with app.app_context():
        keys = db.session.scalars(select(OrderPart.external_id)).all()
    assert len(keys) == 2 * ORDERS
    assert stats["orders_by_external_id"] == dict.fromkeys(keys, 1)
    assert stats["requests"] == 2 * ORDERS  # no faults: one request per key

    print(f"\n{ORDERS:,} one-part orders per run, sandbox backend without faults, "
          f"{os.cpu_count()} cores, PostgreSQL")
    print(f"{'dispatchers':<13}{'place s':>9}{'run s':>9}{'orders/s':>10}")
    for processes, placed, wall, rate in rows:
        print(f"{processes:<13}{placed:>9.1f}{wall:>9.1f}{rate:>10.0f}")
    print(f"two / one: {rows[1][3] / rows[0][3]:.2f}")
