"""TMF622 Product Ordering: the organisation's orders, placed and followed through the API by
the same services as the pages.

`GET /tmf-api/productOrderingManagement/v4/productOrder` and `.../productOrder/{id}`: every
order of the organisation (from an accepted quote, a self-serve change or this API), its
state and each item's state (the state of the part that fulfils it), with the prices as
previewed. `POST .../productOrder` places one order from `productOrderItem`s, each checked
and priced by `portal.orders.changes` (the same previews as the change pages):

- `add`: the offering in `productOffering.id` (the TMF620 id), the site in
  `product.place[0].id`, the term in `product.productTerm[0].duration` (optional: the
  offering's shortest) and the `quantity`;
- `modify` of the inventory product `product.id` (TMF637): another `productOffering.id`
  (change of plan), another `product.place[0].id` (move) or `product.status` `suspended`
  or `active` (suspend, resume): one change per item;
- `delete` of `product.id` (cease). Inside the minimum term this costs an early-termination
  charge, accepted by sending it as the item's `itemPrice` with `priceType` `penalty`.

Every item is checked before anything is written: one refused item refuses the order, with
the item and attribute named. The items form one order, split into parts by fulfilment
system like any other.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal

from flask import g, jsonify, request
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from accounts.estate.models import BillingAccount, Service, Site
from portal.api import ApiError, api_blueprint
from portal.api.auth import api_require
from portal.api.body import (
    bad,
    first,
    integer,
    money,
    obj,
    optional_text,
    reference,
    string,
)
from portal.api.pagination import page_from_request, page_response
from portal.api.tmf import (
    equals,
    fields_from_request,
    href,
    iso_datetime,
    only_known_parameters,
    organisation_party,
    resource_id_or_404,
    select_fields,
)
from portal.api.tmf637 import STATUS_TO_TMF
from portal.catalog.schema import Catalog
from portal.catalog.store import current_catalog
from portal.db import utcnow
from portal.extensions import db
from portal.orders import changes
from portal.orders.models import Order, OrderItem, OrderPart
from portal.orders.services import TMF_ACTIONS, OrderError, OrderNotFound, get_order, place_order
from portal.security import Permission
from quotes.models import Quote, QuoteVersion

bp = api_blueprint("tmf622", __name__, "/tmf-api/productOrderingManagement/v4")

# What the ProductOrder schema requires, kept whatever `fields` asks for.
ALWAYS = ("id", "href", "@type", "productOrderItem")
FILTERS = ("state", "externalId")
# TMF622 ProductOrderStateType: a filter on one no order is in just matches nothing.
ORDER_STATES = ("acknowledged", "rejected", "pending", "held", "inProgress", "cancelled",
                "completed", "failed", "partial", "assessingCancellation",
                "pendingCancellation")
ITEM_ACTIONS = ("add", "modify", "delete", "noChange")
PENALTY = "penalty"  # the priceType of an early-termination charge
ORDER_NUMBER_NOTE = "orderNumber"
PURCHASE_ORDER_NOTE = "purchaseOrder"
MAX_ITEMS = 100
MAX_DESCRIPTION = 300
MAX_EXTERNAL_ID = 100


# -- the resource ----------------------------------------------------------------------------

@dataclass
class Lookups:
    """What the orders of one answer refer to, read in one query each."""

    org: object
    currency: str | None = None
    promotions: dict[str, int] = field(default_factory=dict)  # code -> months free
    # quote version id -> (quote id, quote number, currency)
    quotes: dict[int, tuple[int, str, str]] = field(default_factory=dict)
    sites: dict[int, str] = field(default_factory=dict)  # id -> name
    made: dict[str, int] = field(default_factory=dict)  # source_ref -> new service id


def _lookups(orders: list[Order]) -> Lookups:
    look = Lookups(g.current_org)
    found = current_catalog(db.session)
    if found is not None:
        catalog = found[1]
        look.currency = catalog.currency
        look.promotions = {p.code: p.months_free for o in catalog.offerings.values()
                           for p in o.promotions}
    versions = [o.quote_version_id for o in orders if o.quote_version_id]
    if versions:
        look.quotes = {row[0]: row[1:] for row in db.session.execute(
            select(QuoteVersion.id, Quote.id, Quote.number, QuoteVersion.currency)
            .join(Quote, QuoteVersion.quote_id == Quote.id)
            .where(QuoteVersion.id.in_(versions)))}
    items = [item for order in orders for item in order.items]
    site_ids = {i.target.get("site_id", i.site_id) for i in items} | {i.site_id for i in items}
    site_ids.discard(None)
    if site_ids:
        look.sites = dict(db.session.execute(select(Site.id, Site.name).where(
            Site.organisation_id == g.current_org_id, Site.id.in_(site_ids))).all())
    # A completed add made a new inventory product, known by the part and position.
    applied = {p.id: p.external_id for o in orders for p in o.parts if p.applied_at}
    refs = [f"{applied[i.part_id]}/{i.position}" for i in items
            if i.action == "add" and i.part_id in applied]
    if refs:
        look.made = dict(db.session.execute(select(Service.source_ref, Service.id).where(
            Service.organisation_id == g.current_org_id, Service.source_system == "portal",
            Service.source_ref.in_(refs))).all())
    return look



def _monthly(item: OrderItem) -> Decimal:
    """The monthly charge of the item's product once it is done: none after a cease."""
    return Decimal("0") if item.action == "cease" else item.mrc


def _item_prices(item: OrderItem, currency: str | None, look: Lookups) -> list[dict]:
    """The monthly charge once the item is done and its one-off charge, or the
    early-termination charge of a cease inside the minimum term."""
    code = item.target.get("offering_code", item.offering_code)
    monthly = _monthly(item)
    recurring = {"name": "Monthly charge", "priceType": "recurring",
                 "recurringChargePeriod": "month",
                 "price": {"dutyFreeAmount": money(monthly, currency)}}
    if item.action != "add" and item.mrc_change:
        recurring["description"] = (f"The monthly charge changes by {item.mrc_change:+} "
                                    f"{currency or ''}".rstrip())
    if item.promotion_code:
        alteration = {"name": item.promotion_code, "priceType": "discount",
                      "recurringChargePeriod": "month", "price": {"percentage": 100.0}}
        if item.promotion_code in look.promotions:
            months = look.promotions[item.promotion_code]
            alteration["description"] = f"The first {months} months are free"
            alteration["applicationDuration"] = months
        recurring["priceAlteration"] = [alteration]
    if item.action == "cease" and item.nrc:
        once = {"name": "Early-termination charge", "priceType": PENALTY,
                "description": "The monthly charge for each month of the minimum term left",
                "price": {"dutyFreeAmount": money(item.nrc, currency)}}
    else:
        once = {"name": "One-off charge", "priceType": "oneTime",
                "price": {"dutyFreeAmount": money(item.nrc, currency)}}
    # Priced from the catalog: both prices of an add, the monthly one of a change of plan.
    priced = {"add": ((recurring, "MRC"), (once, "NRC")), "modify": ((recurring, "MRC"),)}
    if item.action in priced:
        for price, kind in priced[item.action]:
            price["productOfferingPrice"] = {
                "id": f"{code}-{kind}", "href": href("tmf620.retrieve_price",
                                                     price_id=f"{code}-{kind}"),
                "@referredType": "ProductOfferingPrice"}
    return [recurring, once]


def order_item(item: OrderItem, part: OrderPart | None, currency: str | None,
               look: Lookups) -> dict:
    """An item as a TMF622 `ProductOrderItem`: its id is its position in the order, its
    state the state of the part that fulfils it, `product.id` the inventory product it
    changes (or, once an add is done, the product it made)."""
    code = item.target.get("offering_code", item.offering_code)
    name = item.target.get("offering_name", item.offering_name)
    product: dict = {}
    service_id = item.service_id
    if service_id is None and part is not None:
        service_id = look.made.get(f"{part.external_id}/{item.position}")
    if service_id is not None:
        product["id"] = str(service_id)
        product["href"] = href("tmf637.retrieve_product", product_id=service_id)
    product["name"] = name or code
    site_id = item.target.get("site_id", item.site_id)
    if site_id is not None:
        place = {"id": str(site_id), "role": "installationAddress",
                 "@referredType": "GeographicSite"}
        if site_id in look.sites:
            place["name"] = look.sites[site_id]
        product["place"] = [place]
    if item.term_months:
        product["productTerm"] = [{"name": f"{item.term_months} months", "duration": {
            "amount": item.term_months, "units": "month"}}]
    if item.action in ("suspend", "resume"):
        product["status"] = "suspended" if item.action == "suspend" else "active"
    product["@type"] = "Product"
    return {
        "id": str(item.position),
        "action": TMF_ACTIONS[item.action],
        "state": part.state if part is not None else "pending",
        "quantity": item.quantity,
        "productOffering": {"id": code, "href": href("tmf620.retrieve_offering",
                                                     offering_id=code),
                            "name": name or code, "@referredType": "ProductOffering"},
        "product": product,
        "itemPrice": _item_prices(item, currency, look),
        "@type": "ProductOrderItem",
    }


def order_resource(order: Order, look: Lookups) -> dict:
    """An order as a TMF622 `ProductOrder`: `state` is the order's (from its parts'),
    `externalId` the customer's reference, `quote` the quote it was accepted from, the
    portal's order number (and the purchase order) are notes."""
    quote = look.quotes.get(order.quote_version_id) if order.quote_version_id else None
    currency = quote[2] if quote else look.currency
    item = {"id": str(order.id), "href": href("tmf622.retrieve_order", order_id=order.id)}
    if order.external_id:
        item["externalId"] = order.external_id
    item["description"] = order.description or f"Order {order.number}"
    item["category"] = order.source
    item["orderDate"] = iso_datetime(order.created_at)
    item["state"] = order.state
    if order.completed_at is not None:
        item["completionDate"] = iso_datetime(order.completed_at)
    if order.cancel_requested_at is not None:
        item["cancellationDate"] = iso_datetime(order.cancel_requested_at)
    if order.billing_account_id is not None:
        item["billingAccount"] = {
            "id": str(order.billing_account_id),
            "href": href("tmf666.retrieve_billing_account",
                         account_id=order.billing_account_id),
            "@referredType": "BillingAccount"}
    if quote:
        item["quote"] = [{"id": str(quote[0]), "href": href("tmf648.retrieve_quote",
                                                            quote_id=quote[0]),
                          "name": quote[1], "@referredType": "Quote"}]
    item["relatedParty"] = [organisation_party(look.org, "customer")]
    notes = [{"id": ORDER_NUMBER_NOTE, "text": order.number}]
    if order.purchase_order:
        notes.append({"id": PURCHASE_ORDER_NOTE, "text": order.purchase_order})
    item["note"] = notes
    parts = {part.id: part for part in order.parts}
    items = [order_item(i, parts.get(i.part_id), currency, look) for i in order.items]
    item["productOrderItem"] = items
    item["orderTotalPrice"] = [
        {"name": "Monthly total", "priceType": "recurring", "recurringChargePeriod": "month",
         "description": "The monthly charges of the order's products once it is complete",
         "price": {"dutyFreeAmount": money(sum((_monthly(i) for i in order.items),
                                                Decimal("0")), currency)}},
        {"name": "One-off total", "priceType": "oneTime",
         "price": {"dutyFreeAmount": money(sum((i.nrc for i in order.items), Decimal("0")),
                                            currency)}},
    ]
    item["@type"] = "ProductOrder"
    return item


# -- reading request bodies ------------------------------------------------------------------








def _quantity(item: dict, path: str) -> int | None:
    if item.get("quantity") is None:
        return None
    quantity = integer(item["quantity"], f"{path}.quantity")
    if quantity < 1:
        raise bad(f"{path}.quantity", "must be at least 1.", 422)
    return quantity


def _term(product: dict, path: str) -> int | None:
    """The term in months of `product.productTerm[0].duration`, None when not given."""
    if product.get("productTerm") is None:
        return None
    term_path = f"{path}.product.productTerm[0].duration"
    duration = obj(first(product["productTerm"], f"{path}.product.productTerm")
                       .get("duration"), term_path)
    months = integer(duration.get("amount"), f"{term_path}.amount")
    if duration.get("units", "month") not in ("month", "months"):
        raise bad(f"{term_path}.units", 'give the term in "month".')
    if months < 1:
        raise bad(f"{term_path}.amount", "must be at least 1.", 422)
    return months


def _amount(price: dict, path: str, currency: str) -> Decimal:
    """The `price.dutyFreeAmount` of an itemPrice, in the catalog's currency."""
    money = obj(obj(price.get("price"), f"{path}.price").get("dutyFreeAmount"),
                    f"{path}.price.dutyFreeAmount")
    value = money.get("value")
    if isinstance(value, bool) or not isinstance(value, int | float) or \
            not math.isfinite(value):
        raise bad(f"{path}.price.dutyFreeAmount.value", "must be a number.")
    if money.get("unit", currency) != currency:
        raise bad(f"{path}.price.dutyFreeAmount.unit", f"charges are in {currency}.", 422)
    return Decimal(str(value))


# -- checking items --------------------------------------------------------------------------

def _plan_add(item: dict, product: dict, path: str, catalog: Catalog,
              today) -> changes.ChangePreview:
    if "id" in product:
        raise bad(f"{path}.product.id", "a new product has no id yet; leave it out (or "
                                         "modify or delete an existing product).", 422)
    code_path = f"{path}.productOffering.id"
    code = string(obj(item.get("productOffering"), f"{path}.productOffering").get("id"),
                   code_path, 64)
    site_path = f"{path}.product.place[0].id"
    site_id = reference(first(product.get("place"), f"{path}.product.place").get("id"),
                         site_path)
    term = _term(product, path)
    quantity = _quantity(item, path) or 1
    offering = catalog.offerings.get(code)
    if offering is None:
        raise bad(code_path, f"there is no product offering {code[:64]!r} in the catalog.",
                   422)
    try:
        return changes.preview_add(db.session, g.current_org_id, site_id, code, quantity,
                                   term, catalog, today)
    except OrderNotFound:
        raise bad(site_path, f"site {site_id} is not a site of this organisation.",
                   422) from None
    except OrderError as error:
        # Name the attribute the rule refused where it is plain which one it was.
        where = path
        if term is not None and term not in offering.terms:
            where = f"{path}.product.productTerm[0].duration.amount"
        elif not offering.is_sold_on(today):
            where = code_path
        raise bad(where, str(error), 422) from None


def _modification(item: dict, product: dict, service: Service,
                  path: str) -> tuple[str, dict, str]:
    """(change action, its arguments, the attribute that asks for it) of a modify item:
    exactly one of another offering, another place, or another status."""
    found = []
    if item.get("productOffering") is not None:
        code_path = f"{path}.productOffering.id"
        code = string(obj(item["productOffering"], f"{path}.productOffering").get("id"),
                       code_path, 64)
        if code != service.offering_code:
            found.append(("modify", {"offering_code": code}, code_path))
    if product.get("place") is not None:
        site_path = f"{path}.product.place[0].id"
        site_id = reference(first(product["place"], f"{path}.product.place").get("id"),
                             site_path)
        if site_id != service.site_id:
            found.append(("move", {"site_id": site_id}, site_path))
    status = product.get("status")
    if status is not None and not isinstance(status, str):
        raise bad(f"{path}.product.status", "must be a string.")
    if status is not None and status != STATUS_TO_TMF.get(service.status, service.status):
        status_path = f"{path}.product.status"
        if status not in ("suspended", "active"):
            raise bad(status_path, "a modify item sets status suspended or active; to end a "
                                    "product use action delete.", 422)
        found.append(("suspend" if status == "suspended" else "resume", {}, status_path))
    if not found:
        raise bad(path, f"nothing to change on product {service.id}: give another "
                         "productOffering.id (change of plan), another product.place[0].id "
                         "(move) or product.status suspended or active.", 422)
    if len(found) > 1:
        raise bad(path, f"one change per item; this one asks for {len(found)} "
                         f"({', '.join(a for a, *_ in found)}). Place them one after the "
                         "other.", 422)
    return found[0]


def _plan_change(action: str, item: dict, product: dict, path: str, catalog: Catalog,
                 today, seen: dict[int, int], index: int) -> changes.ChangePreview:
    id_path = f"{path}.product.id"
    service_id = reference(product.get("id"), id_path)
    if service_id in seen:
        raise bad(id_path, f"product {service_id} is already changed by "
                            f"productOrderItem[{seen[service_id]}]; one change per product "
                            "in an order.", 422)
    try:
        service = changes.load_service(db.session, g.current_org_id, service_id)
    except OrderNotFound:
        raise bad(id_path, f"there is no product {service_id} in this organisation's "
                            "inventory.", 422) from None
    seen[service_id] = index
    change, arguments, where = "cease", {}, id_path
    if action == "modify":
        change, arguments, where = _modification(item, product, service, path)
    quantity = _quantity(item, path)
    if quantity is not None and quantity != service.quantity:
        raise bad(f"{path}.quantity", f"product {service_id} has {service.quantity}; a "
                                       "change of quantity is not offered here.", 422)
    try:
        return changes.preview_change(db.session, g.current_org_id, service.id, change,
                                      catalog, today, **arguments)
    except OrderError as error:
        if service.status == "ceased" or changes.open_change(db.session, service.id):
            where = id_path
        raise bad(where, str(error), 422) from None


def _consent(item: dict, path: str, preview: changes.ChangePreview) -> None:
    """An early-termination charge must be accepted, to the cent, as the item's `itemPrice`
    with priceType `penalty`; other prices are the portal's to set."""
    if "itemTotalPrice" in item:
        raise bad(f"{path}.itemTotalPrice", "prices are set by the portal; leave it out.", 422)
    prices = item.get("itemPrice")
    if prices is not None and not isinstance(prices, list):
        raise bad(f"{path}.itemPrice", "must be an array.")
    accepted = accepted_path = None
    for number, raw in enumerate(prices or []):
        price_path = f"{path}.itemPrice[{number}]"
        price = obj(raw, price_path)
        if price.get("priceType") != PENALTY or preview.action != "cease":
            raise bad(price_path, "prices are set by the portal; only the early-termination "
                                   'charge of a delete item (priceType "penalty") is given, '
                                   "to accept it.", 422)
        if accepted is not None:
            raise bad(price_path, "give the early-termination charge once.", 422)
        accepted, accepted_path = _amount(price, price_path, preview.currency), price_path
    charge, currency = preview.early_termination_charge, preview.currency
    if preview.needs_consent and accepted is None:
        raise bad(path, f"ceasing product {preview.service.id} inside its minimum term costs "
                         f"an early-termination charge of {charge} {currency}. "
                         f"{' '.join(preview.notes)} To accept it, send it as the item's "
                         f'itemPrice: [{{"priceType": "{PENALTY}", "price": '
                         f'{{"dutyFreeAmount": {{"value": {charge}, "unit": "{currency}"}}}}}}].',
                   422)
    if accepted is not None and accepted != charge:
        what = (f"the early-termination charge is {charge} {currency}" if charge else
                "there is no early-termination charge (the minimum term has ended); leave "
                "itemPrice out")
        raise bad(f"{accepted_path}.price.dutyFreeAmount.value", f"{what}, not {accepted}.",
                   422)


def _plan_item(raw, index: int, catalog: Catalog, today,
               seen: dict[int, int]) -> changes.ChangePreview:
    """The previewed change of one productOrderItem; ApiError naming the attribute when it
    is malformed (400) or refused by the rules (422)."""
    path = f"productOrderItem[{index}]"
    item = obj(raw, path)
    action = item.get("action")
    if action is None:
        raise bad(f"{path}.action", "is required: add, modify or delete.")
    if action not in ITEM_ACTIONS:
        raise bad(f"{path}.action", "must be add, modify or delete.")
    if action == "noChange":
        raise bad(f"{path}.action", "noChange items are not taken; leave the item out.", 422)
    for name, why in (("productOrderItem", "nested items are not supported"),
                      ("billingAccount", "give the billing account of the order instead"),
                      ("quoteItem", "an order from a quote is made by accepting the quote")):
        if item.get(name) is not None:
            raise bad(f"{path}.{name}", f"{why}.", 422)
    product = obj(item.get("product"), f"{path}.product")
    if action == "add":
        preview = _plan_add(item, product, path, catalog, today)
    else:
        preview = _plan_change(action, item, product, path, catalog, today, seen, index)
    _consent(item, path, preview)
    return preview


def _billing_account(body: dict) -> int | None:
    if body.get("billingAccount") is None:
        return None
    account_id = reference(obj(body["billingAccount"], "billingAccount").get("id"),
                            "billingAccount.id")
    found = db.session.scalar(select(BillingAccount.id).where(
        BillingAccount.id == account_id, BillingAccount.organisation_id == g.current_org_id,
        BillingAccount.status == "active"))
    if found is None:
        raise bad("billingAccount.id", f"{account_id} is not an active billing account of "
                                        "this organisation.", 422)
    return account_id


def _first_account() -> int | None:
    # As for a quote made through the API: the organisation's first active account.
    return db.session.scalar(select(BillingAccount.id).where(
        BillingAccount.organisation_id == g.current_org_id, BillingAccount.status == "active")
        .order_by(BillingAccount.id).limit(1))


# -- operations ------------------------------------------------------------------------------

def _filtered(stmt):
    stmt = stmt.where(Order.organisation_id == g.current_org_id)
    state = request.args.get("state")
    if state is not None:
        if state not in ORDER_STATES:
            raise ApiError(400, f"state must be one of {', '.join(ORDER_STATES)}.")
        stmt = stmt.where(Order.state == state)
    external_id = request.args.get("externalId")
    if external_id is not None:
        stmt = stmt.where(equals(Order.external_id, external_id))
    return stmt


@bp.get("/productOrder")
@api_require(Permission.ORDERS_VIEW)
def list_orders():
    """The organisation's orders, oldest first, a page at a time (`offset`, `limit`),
    filtered by `state` or `externalId`; `X-Total-Count` counts all matches. A fixed number
    of queries whatever the number of orders."""
    only_known_parameters("fields", "offset", "limit", *FILTERS)
    page = page_from_request()
    fields = fields_from_request()
    total = db.session.scalar(select(func.count()).select_from(
        _filtered(select(Order.id)).subquery()))
    orders = db.session.scalars(
        _filtered(select(Order).options(selectinload(Order.parts), selectinload(Order.items)))
        .order_by(Order.id).offset(page.offset).limit(page.limit)).all()
    look = _lookups(orders)
    return page_response([select_fields(order_resource(o, look), fields, ALWAYS)
                          for o in orders], total)


def _order_or_404(order_id: str) -> Order:
    try:
        return get_order(db.session, g.current_org_id, resource_id_or_404(order_id))
    except OrderNotFound:
        raise ApiError(404, "There is no such product order in this organisation.") from None


@bp.get("/productOrder/<order_id>")
@api_require(Permission.ORDERS_VIEW)
def retrieve_order(order_id: str):
    """One order of the organisation; any other id answers 404."""
    only_known_parameters("fields")
    order = _order_or_404(order_id)
    item = order_resource(order, _lookups([order]))
    return jsonify(select_fields(item, fields_from_request(), ALWAYS))


@bp.post("/productOrder")
@api_require(Permission.ORDERS_CREATE)
def create_order():
    """Place one order from `productOrderItem`s (add, modify, delete), each previewed by
    the change services with the catalog in force; `externalId` (the customer's reference),
    `description` and `billingAccount.id` (default: that of the first item's site or
    product, else the organisation's first active account) are optional. 201 with the
    order; 400 or 422 naming the item and attribute at fault, and nothing is made."""
    if request.mimetype != "application/json":
        raise ApiError(415, "Send the body as application/json.")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "The body must be a JSON object.")
    raw_items = body.get("productOrderItem")
    if not isinstance(raw_items, list) or not raw_items:
        raise bad("productOrderItem", "give at least one order item (an array).")
    if len(raw_items) > MAX_ITEMS:
        raise bad("productOrderItem", f"an order holds at most {MAX_ITEMS} items.", 422)
    if body.get("quote"):
        raise bad("quote", "an order from a quote is made by accepting the quote (TMF648: "
                            "PATCH the quote with state accepted).", 422)
    external_id = optional_text(body, "externalId", MAX_EXTERNAL_ID) or None
    description = optional_text(body, "description", MAX_DESCRIPTION)
    account_id = _billing_account(body)
    found = current_catalog(db.session)
    if found is None:
        raise ApiError(422, "The catalog is not loaded yet; nothing can be ordered.")
    catalog, today, seen = found[1], utcnow().date(), {}
    previews = [_plan_item(raw, index, catalog, today, seen)
                for index, raw in enumerate(raw_items)]
    # Items are numbered by part (fulfilment system), in the order given within each.
    specs = sorted((spec for p in previews for spec in p.items), key=lambda s: s.fulfilment)
    account_id = account_id or next(
        (p.billing_account_id for p in previews if p.billing_account_id), None) or \
        _first_account()
    try:
        order = place_order(db.session, g.current_org_id, specs, source="api", user_id=None,
                            description=description or "; ".join(p.summary for p in previews),
                            external_id=external_id, billing_account_id=account_id)
        db.session.commit()
    except OrderError as error:
        db.session.rollback()
        raise ApiError(422, str(error)) from None
    order = _order_or_404(str(order.id))
    response = jsonify(order_resource(order, _lookups([order])))
    response.status_code = 201
    response.headers["Location"] = href("tmf622.retrieve_order", order_id=order.id)
    return response
