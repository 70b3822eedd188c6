"""The sandbox order backend: a small WSGI app that speaks the order backend's protocol
(DESIGN.md, "Order backend"), for `make run` and the tests. It stands in for a system the
operator owns, so it is kept apart from the portal: it shares no code or database with it.

- `POST /productOrder` (Bearer token, `Idempotency-Key`): a new backend order, or the one
  already made for that key. Each order then moves through `acknowledged`, `inProgress`
  and `completed` (or `failed`), one step every `step` seconds, each step posted to the
  portal's webhook with an HMAC signature.
- `POST /cancelProductOrder`: cancels an order not yet in progress (422 otherwise).
- `GET /productOrder/<id>`.
- Fault injection, set at start or with `POST /_control` (JSON): `down` (503 to
  everything), `failure_rate` (500 before doing anything), `lost_answer_rate` (makes the
  order, then answers 500 as if the answer was lost), `latency` (seconds before answering),
  `fail_rate` (orders that end `failed`), `duplicate_rate` (events sent twice),
  `reorder` (events sent in a shuffled order), `step` (seconds between states).
- `GET /_stats`: what the backend counts: orders made, requests per Idempotency-Key.

Run it alone with `python -m portal.orders.sandbox --port 5100 --webhook-url ... --secret
... --token ...`.
"""

from __future__ import annotations

import argparse
import hashlib
import heapq
import hmac
import itertools
import json
import random
import threading
import time
import uuid

import requests
from flask import Flask, jsonify, request

FAULTS = {"down": False, "failure_rate": 0.0, "lost_answer_rate": 0.0, "latency": 0.0,
          "fail_rate": 0.0, "duplicate_rate": 0.0, "reorder": False, "step": 0.5}
STEPS = ("acknowledged", "inProgress", "completed")
RANK = {"acknowledged": 1, "inProgress": 2, "completed": 3, "failed": 3, "cancelled": 3}
WEBHOOK_ATTEMPTS = 20


class Backend:
    """The sandbox's orders, counters and event queue (in memory, thread-safe)."""

    def __init__(self, token: str, webhook_url: str, secret: str, seed: int | None = None,
                 **faults) -> None:
        self.token = token
        self.webhook_url = webhook_url
        self.secret = secret.encode()
        self.faults = {**FAULTS, **faults}
        self.rng = random.Random(seed)  # noqa: S311 - fault injection
        self.lock = threading.Lock()
        self.orders: dict[str, dict] = {}  # backend id -> order
        self.by_key: dict[str, str] = {}  # Idempotency-Key -> backend id
        self.requests_by_key: dict[str, int] = {}
        self.webhook_failures = 0
        self.events_sent = 0
        self.queue: list[tuple[float, int, dict]] = []
        self.counter = itertools.count(1)
        self.wake = threading.Condition(self.lock)
        self.http = requests.Session()
        self.worker = threading.Thread(target=self._send_events, daemon=True,
                                       name="sandbox-events")
        self.worker.start()

    # -- orders --------------------------------------------------------------------------------

    def create(self, key: str, payload: dict) -> tuple[dict, bool]:
        """The order for `key` (made now, or the one already made); whether it is new."""
        with self.lock:
            self.requests_by_key[key] = self.requests_by_key.get(key, 0) + 1
            existing = self.by_key.get(key)
            if existing:
                return self.orders[existing], False
            backend_id = f"BO-{next(self.counter):07d}"
            order = {"id": backend_id, "externalId": payload.get("externalId", key),
                     "state": "acknowledged", "productOrderItem": payload["productOrderItem"],
                     "@type": "ProductOrder"}
            self.orders[backend_id] = order
            self.by_key[key] = backend_id
            self._plan(order)
            return order, True

    def _plan(self, order: dict) -> None:
        """Queue the order's state events (the lock is held)."""
        step = float(self.faults["step"])
        final = "failed" if self.rng.random() < float(self.faults["fail_rate"]) else "completed"
        states = [*STEPS[:-1], final]
        times = [time.monotonic() + step * (n + 1) for n in range(len(states))]
        if self.faults["reorder"]:
            self.rng.shuffle(times)
        for due, state in zip(times, states, strict=True):
            self._queue(due, order, state)
            if self.rng.random() < float(self.faults["duplicate_rate"]):
                self._queue(due + step / 3, order, state, event_id=None, duplicate=True)

    def _queue(self, due: float, order: dict, state: str, event_id: str | None = None,
               duplicate: bool = False) -> None:
        event = {"eventId": event_id or f"{order['id']}-{state}",
                 "eventType": "ProductOrderStateChangeEvent",
                 "eventTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                 "event": {"productOrder": {"id": order["id"],
                                            "externalId": order["externalId"],
                                            "state": state}}}
        heapq.heappush(self.queue, (due, next(self.counter), {"event": event, "tries": 0,
                                                              "order": order["id"]}))
        self.wake.notify()

    def cancel(self, backend_id: str) -> dict | None:
        """Cancel an order not yet in progress; None if it is too late (or unknown)."""
        with self.lock:
            order = self.orders.get(backend_id)
            if order is None or order["state"] not in ("acknowledged", "pending", "held"):
                return None
            order["state"] = "cancelled"
            order["cancelled"] = True
            self._queue(time.monotonic(), order, "cancelled", event_id=f"{backend_id}-cancelled")
            return order

    # -- events --------------------------------------------------------------------------------

    def _send_events(self) -> None:
        while True:
            with self.lock:
                while not self.queue or self.queue[0][0] > time.monotonic():
                    timeout = self.queue[0][0] - time.monotonic() if self.queue else None
                    self.wake.wait(timeout)
                _, _, item = heapq.heappop(self.queue)
                order = self.orders.get(item["order"])
                state = item["event"]["event"]["productOrder"]["state"]
                if order is not None and order.get("cancelled") and state != "cancelled":
                    continue  # a cancelled order goes no further
                # Its own state only moves forward: an event posted again after a failed
                # post, a duplicate or a reordered one does not take the order back.
                if order is not None and state != "cancelled" \
                        and RANK.get(state, 0) > RANK.get(order["state"], 0):
                    order["state"] = state
            if not self._post(item["event"]):
                item["tries"] += 1
                if item["tries"] < WEBHOOK_ATTEMPTS:
                    with self.lock:
                        heapq.heappush(self.queue, (time.monotonic() + min(2 ** item["tries"], 30)
                                                    * 0.1, next(self.counter), item))

    def _post(self, event: dict) -> bool:
        body = json.dumps(event).encode()
        signature = hmac.new(self.secret, body, hashlib.sha256).hexdigest()
        try:
            response = self.http.post(self.webhook_url, data=body, timeout=10, headers={
                "Content-Type": "application/json", "X-Portal-Signature": f"sha256={signature}"})
        except requests.RequestException:
            self.webhook_failures += 1
            return False
        if response.status_code >= 500:
            self.webhook_failures += 1
            return False
        self.events_sent += 1
        return True

    def stats(self) -> dict:
        """What the backend counts (for tests and benchmarks)."""
        with self.lock:
            return {"orders": len(self.orders), "keys": len(self.by_key),
                    "requests": sum(self.requests_by_key.values()),
                    "orders_by_external_id": _count(o["externalId"] for o in self.orders.values()),
                    "states": _count(o["state"] for o in self.orders.values()),
                    "events_sent": self.events_sent, "events_queued": len(self.queue),
                    "webhook_failures": self.webhook_failures}


def _count(values) -> dict:
    counts: dict = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


def create_sandbox_app(token: str, webhook_url: str, secret: str, seed: int | None = None,
                       **faults) -> Flask:
    """The sandbox backend as a WSGI app (see the module's docstring)."""
    app = Flask("order_backend_sandbox")
    backend = Backend(token, webhook_url, secret, seed, **faults)
    app.extensions["sandbox_backend"] = backend

    def refuse(status: int, message: str):
        return jsonify({"code": str(status), "reason": message, "message": message}), status

    @app.before_request
    def _faults():
        if request.path.startswith("/_"):
            return None
        if backend.faults["latency"]:
            time.sleep(float(backend.faults["latency"]))
        if backend.faults["down"]:
            return refuse(503, "The order backend is down for maintenance.")
        if request.headers.get("Authorization") != f"Bearer {backend.token}":
            return refuse(401, "Missing or wrong bearer token.")
        failure_rate = float(backend.faults["failure_rate"])
        if request.method == "POST" and backend.rng.random() < failure_rate:
            return refuse(500, "Internal error (injected).")
        return None

    @app.post("/productOrder")
    def create_order():
        key = request.headers.get("Idempotency-Key", "")
        if not key:
            return refuse(400, "Idempotency-Key is required.")
        payload = request.get_json(silent=True)
        if not isinstance(payload, dict) or not payload.get("productOrderItem"):
            return refuse(400, "A ProductOrder with productOrderItem is required.")
        order, new = backend.create(key, payload)
        if backend.rng.random() < float(backend.faults["lost_answer_rate"]):
            return refuse(500, "The answer was lost (injected).")
        return jsonify(order), 201 if new else 200

    @app.post("/cancelProductOrder")
    def cancel_order():
        payload = request.get_json(silent=True) or {}
        backend_id = (payload.get("productOrder") or {}).get("id")
        if not backend_id:
            return refuse(400, "productOrder.id is required.")
        if backend_id not in backend.orders:
            return refuse(404, f"No order {backend_id}.")
        order = backend.cancel(backend_id)
        if order is None:
            return refuse(422, "The order is already in progress and cannot be cancelled.")
        return jsonify({"id": f"C-{backend_id}", "state": "acknowledged",
                        "productOrder": {"id": backend_id}}), 201

    @app.get("/productOrder/<backend_id>")
    def get_order(backend_id):
        order = backend.orders.get(backend_id)
        return jsonify(order) if order else refuse(404, f"No order {backend_id}.")

    @app.get("/_stats")
    def stats():
        return jsonify(backend.stats())

    @app.post("/_control")
    def control():
        changes = request.get_json(silent=True) or {}
        unknown = set(changes) - set(FAULTS)
        if unknown:
            return refuse(400, f"Unknown settings: {', '.join(sorted(unknown))}.")
        backend.faults.update(changes)
        return jsonify(backend.faults)

    return app


def main(argv: list[str] | None = None) -> None:
    """Serve the sandbox backend on its own (the tests start it like this)."""
    from werkzeug.serving import make_server

    parser = argparse.ArgumentParser(description="The sandbox order backend.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5100)
    parser.add_argument("--token", default="sandbox-token")
    parser.add_argument("--webhook-url", default="http://127.0.0.1:5000/hooks/order-backend")
    parser.add_argument("--secret", default="sandbox-webhook-secret")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--faults", default="{}", help="JSON object of fault settings")
    args = parser.parse_args(argv)
    app = create_sandbox_app(args.token, args.webhook_url, args.secret, args.seed,
                             **json.loads(args.faults))
    server = make_server(args.host, args.port, app, threaded=True)
    print(f"sandbox order backend on http://{args.host}:{server.server_port} "
          f"({uuid.uuid4().hex[:6]})", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
