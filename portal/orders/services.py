"""The rules of orders: placing one (split into parts by fulfilment system, each with its
outbox message, all in the caller's transaction), the state of an order from its parts,
backend events applied once and never backwards, cancellation, the operator's retry, and
the inventory updated when a part completes."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from accounts.estate.models import Service
from portal import audit
from portal.db import utcnow
from portal.notifications.services import notify
from portal.orders.models import (
    Delivery,
    Order,
    OrderEvent,
    OrderItem,
    OrderPart,
    OutboxMessage,
    PartState,
)
from portal.rules import RuleError

# TMF622 item actions for the portal's change actions.
TMF_ACTIONS = {"add": "add", "modify": "modify", "suspend": "modify", "resume": "modify",
               "move": "modify", "cease": "delete"}
ACTIONS = tuple(TMF_ACTIONS)


class OrderError(RuleError):
    """An order change the rules do not allow; the message says why."""


class OrderNotFound(LookupError):
    """No such order (or part) for this organisation."""


@dataclass
class ItemSpec:
    """One item of an order to place: what to do, where, and its previewed price."""

    action: str
    offering_code: str
    offering_name: str
    fulfilment: str
    site_id: int | None
    quantity: int = 1
    term_months: int | None = None
    service_id: int | None = None
    target: dict = field(default_factory=dict)
    mrc: Decimal = Decimal("0")
    nrc: Decimal = Decimal("0")
    mrc_change: Decimal = Decimal("0")
    promotion_code: str | None = None
    service_ref: str | None = None  # the backend's id of an existing service


def _new_number(prefix: str) -> str:
    return f"new-{prefix}-{uuid.uuid4().hex[:20]}"


def place_order(session: Session, organisation_id: int, items: list[ItemSpec], *,
                source: str, user_id: int | None, description: str = "",
                quote_version_id: int | None = None, purchase_order: str | None = None,
                billing_account_id: int | None = None,
                external_id: str | None = None) -> Order:
    """Write an order, its parts (one per fulfilment system) and one outbox message per
    part in the caller's transaction: committed together or not at all. The dispatcher
    sends them afterwards."""
    if not items:
        raise OrderError("An order needs at least one item.")
    for item in items:
        if item.action not in ACTIONS:
            raise OrderError(f"Unknown action {item.action!r}.")
    order = Order(organisation_id=organisation_id, number=_new_number("o"), source=source,
                  quote_version_id=quote_version_id, description=description[:300],
                  purchase_order=purchase_order, billing_account_id=billing_account_id,
                  external_id=external_id, created_by_id=user_id, state=PartState.PENDING)
    session.add(order)
    # Items keep the position they were given in; each part takes its system's items.
    by_system: dict[str, list[tuple[int, ItemSpec]]] = defaultdict(list)
    for position, item in enumerate(items, 1):
        by_system[item.fulfilment].append((position, item))
    session.flush()
    order.number = f"O-{order.created_at:%Y}-{order.id:06d}"
    for index, system in enumerate(sorted(by_system), 1):
        part = OrderPart(order=order, fulfilment=system,
                         external_id=f"{order.number}-{index}")
        session.add(part)
        for position, spec in by_system[system]:
            order.items.append(OrderItem(
                part=part, position=position, action=spec.action,
                offering_code=spec.offering_code, offering_name=spec.offering_name,
                site_id=spec.site_id, service_id=spec.service_id, quantity=spec.quantity,
                term_months=spec.term_months, target=spec.target, mrc=spec.mrc, nrc=spec.nrc,
                mrc_change=spec.mrc_change, promotion_code=spec.promotion_code))
        session.add(OutboxMessage(part=part, kind="create", idempotency_key=part.external_id,
                                  payload=product_order_payload(
                                      order, part, [spec for _, spec in by_system[system]])))
        order.events.append(OrderEvent(part=part, kind="created", state=PartState.PENDING,
                                       detail=f"Part {part.external_id} for {system} queued."))
    session.flush()
    audit.record(session, "order:create", organisation_id=organisation_id, target=order,
                 after={"number": order.number, "source": source, "items": len(items),
                        "parts": sorted(by_system)})
    return order


def product_order_payload(order: Order, part: OrderPart, items: list[ItemSpec]) -> dict:
    """The TMF622 ProductOrder the backend receives for a part (DESIGN.md, "Order
    backend"): `externalId` is the part's id at the portal."""
    payload = {
        "externalId": part.external_id,
        "description": order.description or f"Order {order.number}",
        "category": "B2B",
        "relatedParty": [{"id": str(order.organisation_id), "role": "customer",
                          "@referredType": "Organization"}],
        "productOrderItem": [],
        "@type": "ProductOrder",
    }
    if order.billing_account_id:
        payload["billingAccount"] = {"id": str(order.billing_account_id)}
    for number, item in enumerate(items, 1):
        product: dict = {"@type": "Product"}
        site_id = item.target.get("site_id", item.site_id)
        if site_id:
            product["place"] = [{"id": str(site_id), "role": "installationAddress",
                                 "@referredType": "GeographicSite"}]
        if item.term_months:
            product["productTerm"] = [{"duration": {"amount": item.term_months,
                                                    "units": "month"}}]
        if item.service_ref:
            product["id"] = item.service_ref
        if item.action == "suspend":
            product["status"] = "suspended"
        elif item.action == "resume":
            product["status"] = "active"
        offering = item.target.get("offering_code", item.offering_code)
        payload["productOrderItem"].append({
            "id": str(number), "action": TMF_ACTIONS[item.action], "quantity": item.quantity,
            "productOffering": {"id": offering, "name": item.offering_name},
            "product": product, "@type": "ProductOrderItem",
        })
    return payload


def order_state(parts: list[OrderPart]) -> str:
    """The order's TMF622 state from its parts' states."""
    states = [part.state for part in parts]
    if not states:
        return PartState.PENDING
    if all(s == PartState.COMPLETED for s in states):
        return PartState.COMPLETED
    if all(s == PartState.CANCELLED for s in states):
        return PartState.CANCELLED
    if all(s in PartState.FINAL for s in states):
        if PartState.COMPLETED in states:
            return "partial"
        return PartState.REJECTED if all(s == PartState.REJECTED for s in states) \
            else PartState.FAILED
    if any(PartState.RANK[s] >= PartState.RANK[PartState.IN_PROGRESS] for s in states):
        return PartState.IN_PROGRESS
    if all(s == PartState.ACKNOWLEDGED for s in states):
        return PartState.ACKNOWLEDGED
    if any(s == PartState.HELD for s in states):
        return PartState.HELD
    return PartState.PENDING


def refresh_order(session: Session, order: Order) -> None:
    """Recompute the order's state; tell the person who placed it when it ends."""
    before = order.state
    order.state = order_state(order.parts)
    order.updated_at = utcnow()
    if order.state != before and order.state in (*PartState.FINAL, "partial"):
        order.completed_at = utcnow()
        if order.created_by_id:
            words = {"completed": "is complete", "partial": "is partly complete",
                     "failed": "failed", "rejected": "was rejected",
                     "cancelled": "was cancelled"}
            notify(session, order.created_by_id, order.organisation_id,
                   f"Order {order.number} {words[order.state]}",
                   f"Order {order.number} {words[order.state]}.", f"/orders/{order.id}")


def move_part(session: Session, part: OrderPart, state: str, *, kind: str, detail: str,
              event_id: str | None = None) -> bool:
    """Move a part to `state` unless that would go backwards or leave a final state;
    records the step on the timeline either way. Returns whether the state changed."""
    current = part.state
    forward = (current not in PartState.FINAL
               and PartState.RANK.get(state, -1) >= PartState.RANK[current]
               and state != current)
    part.order.events.append(OrderEvent(part_id=part.id, event_id=event_id, kind=kind,
                                        state=state, detail=detail[:2000], applied=forward))
    if forward:
        part.state = state
        part.updated_at = utcnow()
        if state == PartState.COMPLETED:
            apply_to_inventory(session, part)
        refresh_order(session, part.order)
    return forward


# -- backend events ------------------------------------------------------------------------------

class EventError(ValueError):
    """A webhook body that is not a valid state-change event (the message says why)."""


def parse_event(body: object) -> tuple[str, str, str, str | None]:
    """(eventId, externalId, state, backend id) of a ProductOrderStateChangeEvent body."""
    if not isinstance(body, dict):
        raise EventError("The body must be a JSON object.")
    event_id = body.get("eventId")
    if not isinstance(event_id, str) or not 0 < len(event_id) <= 100:
        raise EventError("eventId must be a string of 1 to 100 characters.")
    if body.get("eventType") != "ProductOrderStateChangeEvent":
        raise EventError("eventType must be ProductOrderStateChangeEvent.")
    order = (body.get("event") or {}).get("productOrder") if isinstance(body.get("event"),
                                                                        dict) else None
    if not isinstance(order, dict):
        raise EventError("event.productOrder is missing.")
    external_id, state = order.get("externalId"), order.get("state")
    if not isinstance(external_id, str) or not external_id:
        raise EventError("event.productOrder.externalId is missing.")
    if state not in PartState.RANK:
        raise EventError(f"event.productOrder.state {state!r} is not a TMF622 state.")
    backend_id = order.get("id")
    return event_id, external_id, state, backend_id if isinstance(backend_id, str) else None


def apply_event(session: Session, body: object) -> str:
    """Apply a backend state-change event once: "applied", "late" (seen, but it would have
    moved the part backwards or out of a final state), "duplicate" (this eventId was
    applied before) or "unknown" (no such part). Raises EventError for a malformed body."""
    event_id, external_id, state, backend_id = parse_event(body)
    if session.scalar(select(OrderEvent.id).where(OrderEvent.event_id == event_id)):
        return "duplicate"
    part = session.scalars(select(OrderPart).options(selectinload(OrderPart.order)
                                                     .selectinload(Order.parts))
                           .where(OrderPart.external_id == external_id)
                           .with_for_update()).first()
    if part is None:
        return "unknown"
    if backend_id and not part.backend_id:
        part.backend_id = backend_id
    if part.delivery in (Delivery.QUEUED, Delivery.ATTENTION):
        # The backend has the order even if every answer to sending it was lost: stop
        # sending it, and do not ask an operator to look at a part that got there.
        found = session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.part_id == part.id, OutboxMessage.kind == "create",
                   OutboxMessage.status.in_(("pending", "dead")))
            .values(status="sent", sent_at=utcnow(), claim_token=None, claimed_until=None)
            .execution_options(synchronize_session=False)).rowcount
        if found or part.delivery == Delivery.QUEUED:
            part.delivery = Delivery.DELIVERED
            part.last_error = None
    moved = move_part(session, part, state, kind="backend", event_id=event_id,
                      detail=f"The order backend reports {state}.")
    try:
        session.flush()
    except IntegrityError:
        # Another process applied the same eventId at the same moment.
        session.rollback()
        return "duplicate"
    return "applied" if moved else "late"


# -- inventory -------------------------------------------------------------------------------------

def apply_to_inventory(session: Session, part: OrderPart) -> None:
    """What a completed part changes in the service inventory: new services appear,
    suspended ones show suspended, resumed ones active, ceased ones leave (status ceased),
    modified ones take their new offering, moved ones their new site. Applied once."""
    if part.applied_at is not None:
        return
    order = part.order
    today = utcnow().date()
    service_ids = [item.service_id for item in part.items if item.service_id]
    services = {s.id: s for s in session.scalars(select(Service).where(
        Service.id.in_(service_ids)))} if service_ids else {}
    for item in part.items:
        service = services.get(item.service_id)
        if item.action == "add":
            session.add(Service(
                organisation_id=order.organisation_id, site_id=item.site_id,
                billing_account_id=order.billing_account_id,
                offering_code=item.offering_code, description=item.offering_name,
                quantity=item.quantity, status="active", start_date=today,
                term_months=item.term_months or 12, promotion_code=item.promotion_code or "",
                monthly_charge=item.mrc, source_system="portal",
                source_ref=f"{part.external_id}/{item.position}"))
        elif service is None:
            continue
        elif item.action == "suspend":
            service.status = "suspended"
        elif item.action == "resume":
            service.status = "active"
        elif item.action == "cease":
            service.status = "ceased"
            service.end_date = today
        elif item.action == "modify":
            service.offering_code = item.target.get("offering_code", service.offering_code)
            service.description = item.target.get("offering_name", service.description)
            service.monthly_charge = item.mrc
        elif item.action == "move":
            service.site_id = item.target.get("site_id", service.site_id)
    part.applied_at = utcnow()


# -- cancellation and retries ----------------------------------------------------------------------

def request_cancel(session: Session, order: Order) -> None:
    """Cancel an order while no part is in progress. Parts not yet sent are withdrawn at
    once; parts the backend has get a cancellation request (the backend's event decides)."""
    if order.state in (*PartState.FINAL, "partial"):
        raise OrderError(f"Order {order.number} is {order.state}; it cannot be cancelled.")
    if any(PartState.RANK[p.state] >= PartState.RANK[PartState.IN_PROGRESS]
           for p in order.parts):
        raise OrderError("Part of this order is already in progress at the backend; it can "
                         "no longer be cancelled here. Call your account manager.")
    if order.cancel_requested_at is not None:
        raise OrderError("Cancellation was already requested.")
    # Lock the parts first, as the webhook and the dispatcher do (part, then outbox, then
    # order): taking the same locks in another order could deadlock on PostgreSQL.
    session.execute(select(OrderPart.id).where(OrderPart.order_id == order.id)
                    .order_by(OrderPart.id).with_for_update())
    now = utcnow()
    order.cancel_requested_at = now
    for part in order.parts:
        # Not sent yet, or given up on and waiting for an operator: withdrawn at once.
        unsent = ("pending", "dead") if part.delivery == Delivery.ATTENTION else ("pending",)
        withdrawn = session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.part_id == part.id, OutboxMessage.kind == "create",
                   OutboxMessage.status.in_(unsent),
                   (OutboxMessage.claimed_until.is_(None)) | (OutboxMessage.claimed_until < now))
            .values(status="dropped")).rowcount
        if withdrawn:
            part.delivery = Delivery.WITHDRAWN
            move_part(session, part, PartState.CANCELLED, kind="cancelled",
                      detail="Cancelled before it was sent to the backend.")
        elif part.state not in PartState.FINAL:
            cancel = session.scalars(select(OutboxMessage).where(
                OutboxMessage.part_id == part.id, OutboxMessage.kind == "cancel")).first()
            if cancel is None:
                session.add(OutboxMessage(
                    part=part, kind="cancel", idempotency_key=f"cancel-{part.external_id}",
                    payload={"productOrder": {"id": part.backend_id,
                                              "externalId": part.external_id},
                             "cancellationReason": "Cancelled by the customer",
                             "@type": "CancelProductOrder"}))
            else:  # asked before and refused: ask again (one message, one key per part)
                cancel.status, cancel.attempts, cancel.next_attempt_at = "pending", 0, now
                cancel.claim_token = cancel.claimed_until = cancel.last_error = None
            order.events.append(OrderEvent(part_id=part.id, kind="cancel_requested",
                                           state=part.state,
                                           detail="Cancellation requested at the backend."))
    refresh_order(session, order)
    audit.record(session, "order:cancel", organisation_id=order.organisation_id, target=order,
                 after={"state": order.state})


def retry_part(session: Session, part: OrderPart) -> None:
    """An operator sends a part that needs attention again (the same Idempotency-Key, so
    the backend cannot get it twice)."""
    if part.delivery != Delivery.ATTENTION:
        raise OrderError("Only a part that needs attention can be retried.")
    message = session.scalars(select(OutboxMessage).where(
        OutboxMessage.part_id == part.id, OutboxMessage.status == "dead")
        .order_by(OutboxMessage.id.desc())).first()
    if message is None:
        raise OrderError("There is nothing to send again for this part.")
    message.status = "pending"
    message.attempts = 0
    message.next_attempt_at = utcnow()
    message.claim_token = message.claimed_until = None
    part.delivery = Delivery.QUEUED
    part.order.events.append(OrderEvent(part_id=part.id, kind="retry", state=part.state,
                                        detail="An operator sent it again."))
    audit.record(session, "order:retry", organisation_id=part.order.organisation_id,
                 target=part, after={"external_id": part.external_id})


def get_order(session: Session, organisation_id: int, order_id: int) -> Order:
    """The organisation's order with its parts, items and timeline; OrderNotFound for any
    other."""
    order = session.scalars(
        select(Order).options(selectinload(Order.parts), selectinload(Order.items),
                              selectinload(Order.events))
        .where(Order.id == order_id, Order.organisation_id == organisation_id)).first()
    if order is None:
        raise OrderNotFound(order_id)
    return order

