"""The portal over HTTP with the sandbox order backend (its own process) posting events to
it, a customer ready to quote, and helpers to make and follow orders."""

from __future__ import annotations

import time
from dataclasses import dataclass

from accounts.models import User
from portal.extensions import db
from portal.orders.models import Order
from quotes import acceptance, approvals, services
from support.oidc_provider import free_port
from support.quoting import Quoting, make_quote, setup_quoting
from support.sandbox_backend import SandboxBackend


@dataclass
class OrderWorld:
    """What `start_order_world` started."""

    app: object
    url: str
    backend: SandboxBackend
    quoting: Quoting


def start_order_world(make_app, factory, live_server_class, **faults):
    """Start the backend and the portal (in a thread); returns (world, stop)."""
    port = free_port()
    backend = SandboxBackend(webhook_url=f"http://127.0.0.1:{port}/hooks/order-backend",
                             **faults).start()
    app = make_app(BASE_URL=f"http://127.0.0.1:{port}", **backend.portal_config())
    server = live_server_class(app, port).start()
    quoting = setup_quoting(factory, app)

    def stop():
        server.stop()
        backend.stop()

    return OrderWorld(app, server.url, backend, quoting), stop


def accepted_order(app, q: Quoting, lines=(("DE-001", "MOB-UNL", 5, 24),
                                           ("DE-002", "FIBRE", 1, 24))) -> int:
    """Quote `lines`, approve at once (no discount) and accept: the order's id."""
    quote_id = make_quote(app, q, lines=lines)
    with app.app_context():
        version = services.get_version(db.session, q.org, quote_id)
        buyer = db.session.get(User, q.buyer)
        approvals.submit(db.session, version, buyer, version.priced_on)
        order = acceptance.accept(db.session, version, buyer, "PO-1", "Bob", version.priced_on)
        db.session.commit()
        return order.id


def wait_for_order(app, order_id: int, states: set[str], timeout: float = 30.0) -> str:
    """Wait until the order reaches one of `states` (the backend's events are
    asynchronous); fails with the state it is stuck in."""
    deadline = time.monotonic() + timeout
    state = None
    while time.monotonic() < deadline:
        with app.app_context():
            state = db.session.get(Order, order_id).state
        if state in states:
            return state
        time.sleep(0.05)
    raise AssertionError(f"order {order_id} is still {state}, not one of {sorted(states)}")
