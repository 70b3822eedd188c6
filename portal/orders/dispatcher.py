"""The outbox dispatcher: claims due messages, sends them to the order backend, and records
what happened. Several dispatchers may run at once, on several machines.

Claiming is one short transaction: on PostgreSQL `FOR UPDATE SKIP LOCKED` lets concurrent
dispatchers take different rows without waiting; on every database the claim is a conditional
update (only rows still unclaimed, or whose claim has lapsed, get this dispatcher's token), so
no two dispatchers hold the same row. Sending happens outside any transaction. A dispatcher
that dies mid-delivery leaves a claim that lapses after `lease` seconds; the next one sends
again with the same Idempotency-Key, and the backend returns the order it already has.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
import time
import uuid
from dataclasses import dataclass

import requests
from flask import Flask
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, selectinload

from portal.db import utcnow
from portal.orders import backend
from portal.orders.models import Delivery, Order, OrderEvent, OrderPart, OutboxMessage, PartState
from portal.orders.services import move_part, refresh_order

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Settings:
    """How the dispatcher sends (from the app's ORDER_* configuration)."""

    url: str
    token: str
    batch: int = 20
    lease: float = 60.0  # seconds a claim keeps other dispatchers away
    max_attempts: int = 8
    base_delay: float = 2.0  # seconds before the first retry, doubling each time
    max_delay: float = 600.0
    timeout: tuple[float, float] = (3.05, 10.0)  # connect, read

    @classmethod
    def from_config(cls, config) -> Settings:
        """The settings of an app's configuration."""
        return cls(url=config["ORDER_BACKEND_URL"], token=config["ORDER_BACKEND_TOKEN"] or "",
                   batch=int(config["ORDER_DISPATCH_BATCH"]),
                   lease=float(config["ORDER_DISPATCH_LEASE"]),
                   max_attempts=int(config["ORDER_DISPATCH_MAX_ATTEMPTS"]),
                   base_delay=float(config["ORDER_DISPATCH_BASE_DELAY"]),
                   max_delay=float(config["ORDER_DISPATCH_MAX_DELAY"]),
                   timeout=(3.05, float(config["ORDER_BACKEND_TIMEOUT"])))


def backoff(attempts: int, settings: Settings, rng: random.Random) -> float:
    """Seconds to wait after the `attempts`-th failure: exponential, capped, with full
    jitter between half and all of it (so retries of many parts do not arrive together)."""
    ceiling = min(settings.max_delay, settings.base_delay * 2 ** max(attempts - 1, 0))
    return ceiling * (0.5 + rng.random() / 2)


@dataclass(frozen=True)
class Claimed:
    """A message this dispatcher holds, with what sending it needs."""

    id: int
    kind: str
    payload: dict
    key: str
    token: str
    until: float = 0.0  # time.monotonic() when this dispatcher's claim lapses


class Dispatcher:
    """Delivers the outbox of one app's database."""

    def __init__(self, app: Flask, settings: Settings | None = None,
                 name: str | None = None, rng: random.Random | None = None) -> None:
        self.app = app
        self.settings = settings or Settings.from_config(app.config)
        self.name = name or f"dispatcher-{uuid.uuid4().hex[:8]}"
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not secrets
        self.http = requests.Session()

    def _session(self) -> Session:
        return self.app.extensions["portal_db"].new_session()

    # -- claiming ----------------------------------------------------------------------------

    def claim(self) -> list[Claimed]:
        """Take up to `batch` due messages (one short transaction)."""
        now = utcnow()
        until = time.monotonic() + self.settings.lease
        token = uuid.uuid4().hex
        due = (OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now,
               or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now))
        with self._session() as session:
            ids = list(session.scalars(
                select(OutboxMessage.id).where(*due)
                .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
                .limit(self.settings.batch)
                .with_for_update(skip_locked=True)))  # ignored where unsupported (SQLite)
            if not ids:
                session.rollback()
                return []
            session.execute(
                update(OutboxMessage).where(OutboxMessage.id.in_(ids), *due)
                .values(claim_token=token,
                        claimed_until=now + dt.timedelta(seconds=self.settings.lease))
                .execution_options(synchronize_session=False))
            session.commit()
            rows = session.execute(
                select(OutboxMessage.id, OutboxMessage.kind, OutboxMessage.payload,
                       OutboxMessage.idempotency_key, OrderPart.backend_id)
                .join(OrderPart, OutboxMessage.part_id == OrderPart.id)
                .where(OutboxMessage.claim_token == token)
                .order_by(OutboxMessage.id)).all()
        claimed = []
        for row in rows:
            payload = dict(row.payload)
            if row.kind == "cancel":
                payload["productOrder"] = {**payload.get("productOrder", {}),
                                           "id": row.backend_id}
            claimed.append(Claimed(row.id, row.kind, payload, row.idempotency_key, token, until))
        return claimed

    def _renew(self, message: Claimed) -> bool:
        """Extend this dispatcher's claim on a message about to be sent, so that it outlasts
        the send; False if the claim lapsed and another dispatcher has it now."""
        with self._session() as session:
            renewed = session.execute(
                update(OutboxMessage).where(OutboxMessage.id == message.id,
                                            OutboxMessage.claim_token == message.token,
                                            OutboxMessage.status == "pending")
                .values(claimed_until=utcnow() + dt.timedelta(seconds=self.settings.lease))
                .execution_options(synchronize_session=False)).rowcount
            session.commit()
        return bool(renewed)

    # -- sending ------------------------------------------------------------------------------

    def deliver(self, message: Claimed) -> str:
        """Send one claimed message and record the outcome; returns the outcome's kind
        ("ok", "retry", "refused", "lost" when the claim lapsed and someone else has it,
        "waiting" for a cancellation whose order the backend does not have yet)."""
        if message.kind == "cancel" and not message.payload["productOrder"].get("id"):
            return self._wait_for_create(message)
        # The last messages of a slow batch: the claim might lapse while sending, and
        # another dispatcher would then send the same message at the same time.
        if time.monotonic() + sum(self.settings.timeout) > message.until \
                and not self._renew(message):
            return "lost"
        outcome = backend.send(self.http, self.settings.url, self.settings.token,
                               message.kind, message.payload, message.key,
                               self.settings.timeout)
        with self._session() as session:
            # The part first, then its message: the order in which the webhook takes them
            # (orders.services.apply_event), or the two could deadlock on PostgreSQL.
            session.execute(select(OrderPart.id).where(
                OrderPart.id == select(OutboxMessage.part_id)
                .where(OutboxMessage.id == message.id).scalar_subquery()).with_for_update())
            row = session.scalars(
                select(OutboxMessage).options(
                    selectinload(OutboxMessage.part).selectinload(OrderPart.order)
                    .selectinload(Order.parts),
                    selectinload(OutboxMessage.part).selectinload(OrderPart.items))
                .where(OutboxMessage.id == message.id).with_for_update()).first()
            if row is None or row.claim_token != message.token or row.status != "pending":
                session.rollback()
                return "lost"
            self._record(session, row, outcome)
            session.commit()
        return outcome.kind

    def _record(self, session: Session, row: OutboxMessage, outcome: backend.Outcome) -> None:
        part = row.part
        now = utcnow()
        row.claim_token = None
        row.claimed_until = None
        if outcome.kind == "ok":
            row.status, row.sent_at, row.last_error = "sent", now, None
            if row.kind == "create":
                backend_id = outcome.body.get("id")
                if isinstance(backend_id, str) and backend_id:
                    part.backend_id = part.backend_id or backend_id
                part.delivery = Delivery.DELIVERED
                part.last_error = None
                state = outcome.body.get("state")
                state = state if state in PartState.RANK else PartState.ACKNOWLEDGED
                move_part(session, part, state, kind="sent",
                          detail=f"Sent to {part.fulfilment} (backend order "
                                 f"{part.backend_id or '?'}).")
            else:
                part.order.events.append(OrderEvent(
                    part_id=part.id, kind="cancel_sent", state=part.state,
                    detail="The backend received the cancellation request."))
            return
        row.attempts += 1
        row.last_error = outcome.error[:500]
        part.last_error = outcome.error[:500]
        if outcome.kind == "refused":
            row.status = "dead"
            if row.kind == "create":
                part.delivery = Delivery.REFUSED
                move_part(session, part, PartState.REJECTED, kind="refused",
                          detail=f"The backend refused the order: {outcome.error}")
            else:
                part.order.cancel_requested_at = None
                part.order.events.append(OrderEvent(
                    part_id=part.id, kind="cancel_refused", state=part.state,
                    detail=f"The backend refused the cancellation: {outcome.error}"))
                refresh_order(session, part.order)
            return
        if row.attempts >= self.settings.max_attempts:
            row.status = "dead"
            part.delivery = Delivery.ATTENTION
            part.order.events.append(OrderEvent(
                part_id=part.id, kind="attention", state=part.state,
                detail=f"Not delivered after {row.attempts} attempts ({outcome.error}); an "
                       f"operator has been asked to look at it."))
            log.warning("order part %s needs attention: %s", part.external_id, outcome.error)
            return
        delay = backoff(row.attempts, self.settings, self.rng)
        if outcome.retry_after is not None:
            delay = max(delay, outcome.retry_after)
        row.next_attempt_at = now + dt.timedelta(seconds=delay)
        part.order.events.append(OrderEvent(
            part_id=part.id, kind="retry", state=part.state,
            detail=f"Attempt {row.attempts} failed ({outcome.error}); next in {delay:.0f} s."))

    def _wait_for_create(self, message: Claimed) -> str:
        """A cancellation can only go once the backend has the order: wait for the
        create message, or drop the cancellation if the order never got there."""
        with self._session() as session:
            row = session.get(OutboxMessage, message.id)
            if row is None or row.claim_token != message.token:
                return "lost"
            create = session.scalars(select(OutboxMessage).where(
                OutboxMessage.part_id == row.part_id, OutboxMessage.kind == "create")).first()
            row.claim_token = row.claimed_until = None
            if create is None or create.status in ("dead", "dropped"):
                row.status = "dropped"
            else:
                row.next_attempt_at = utcnow() + dt.timedelta(seconds=self.settings.base_delay)
            session.commit()
        return "waiting"

    # -- loops ---------------------------------------------------------------------------------

    def run_once(self) -> int:
        """Claim one batch and deliver it; returns how many messages were handled."""
        claimed = self.claim()
        for message in claimed:
            try:
                self.deliver(message)
            except Exception:  # one bad message must not stop the others
                log.exception("delivering outbox message %s failed", message.id)
        return len(claimed)

    def run(self, stop: threading.Event | None = None, idle: float = 1.0,
            until_empty: bool = False) -> None:
        """Deliver until `stop` is set (or, with `until_empty`, until nothing is due),
        sleeping `idle` seconds when nothing is due."""
        stop = stop or threading.Event()
        while not stop.is_set():
            try:
                handled = self.run_once()
            except Exception:  # the database may be away for a moment: try again
                log.exception("the dispatcher could not claim messages")
                handled = 0
            if handled == 0:
                if until_empty:
                    return
                stop.wait(idle)


def start_in_thread(app: Flask, idle: float = 1.0) -> tuple[threading.Thread, threading.Event]:
    """Run a dispatcher in a daemon thread of this process (`make run`)."""
    stop = threading.Event()
    dispatcher = Dispatcher(app, name="in-process")
    thread = threading.Thread(target=dispatcher.run, kwargs={"stop": stop, "idle": idle},
                              name="order-dispatcher", daemon=True)
    thread.start()
    return thread, stop
