"""The rules of the configurator's cart: which lines it holds, and what it costs right now.

Lines are stored as the buyer entered them; prices and rule violations are computed from
the current catalog each time the cart is shown, so a cart never holds stale prices (a
quote freezes them).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from accounts.estate.models import BillingAccount, Site
from portal import audit
from portal.catalog.pricing import LineRequest, PriceResult, PricingError, price_configuration
from portal.catalog.rules import Violation, check_configuration, guided_selling
from portal.catalog.schema import Catalog, Offering
from portal.db import utcnow
from portal.rules import RuleError
from quotes.models import Cart, CartLine

MAX_LINES = 20_000
MAX_QUANTITY = 100_000


class CartError(RuleError):
    """A change to the cart that cannot be made; the message says why."""


class LineNotFound(LookupError):
    """No such line in the user's cart (another cart's line is not theirs to know of)."""


def find_cart(session: Session, organisation_id: int, user_id: int) -> Cart | None:
    """The user's open cart for the organisation, with its lines and their sites."""
    return session.scalars(
        select(Cart)
        .options(selectinload(Cart.lines).selectinload(CartLine.site),
                 selectinload(Cart.billing_account))
        .where(Cart.organisation_id == organisation_id, Cart.created_by_id == user_id,
               Cart.status == "open")
        .order_by(Cart.id.desc())
    ).first()


def open_cart(session: Session, organisation_id: int, user_id: int) -> Cart:
    """The user's open cart for the organisation, made when there is none (at the first
    change), so that leaving and coming back finds the same cart."""
    cart = find_cart(session, organisation_id, user_id)
    if cart is None:
        account = session.scalars(
            select(BillingAccount).where(BillingAccount.organisation_id == organisation_id,
                                         BillingAccount.status == "active")
            .order_by(BillingAccount.number)).first()
        cart = Cart(organisation_id=organisation_id, created_by_id=user_id,
                    billing_account=account, lines=[])
        session.add(cart)
        session.flush()
    return cart


def _check_line_values(catalog: Catalog, code: str, quantity: int, term: int) -> Offering:
    offering = catalog.offerings.get(code)
    if offering is None:
        raise CartError(f"There is no offering {code!r} in the catalog.")
    if not 1 <= quantity <= MAX_QUANTITY:
        raise CartError(f"The quantity must be between 1 and {MAX_QUANTITY:,}.")
    if term not in offering.terms:
        terms = ", ".join(str(t) for t in sorted(offering.terms))
        raise CartError(f"{offering.name} is offered for {terms} months, not {term}.")
    return offering


def add_lines(session: Session, cart: Cart, catalog: Catalog, site_ids: list[int],
              code: str, quantity: int, term: int) -> int:
    """Add the offering at each of the sites (of the cart's organisation); a site that
    already has it gets the quantity added. Returns how many sites were touched."""
    _check_line_values(catalog, code, quantity, term)
    if not site_ids:
        raise CartError("Choose at least one site.")
    owned = set(session.scalars(select(Site.id).where(
        Site.organisation_id == cart.organisation_id, Site.id.in_(site_ids),
        Site.status == "active")))
    missing = set(site_ids) - owned
    if missing:
        raise CartError("Some of the chosen sites are not active sites of this organisation.")
    if len(cart.lines) + len(owned) > MAX_LINES:
        raise CartError(f"A cart holds at most {MAX_LINES:,} lines.")
    existing = {(line.site_id, line.offering_code): line for line in cart.lines}
    for site_id in sorted(owned):
        line = existing.get((site_id, code))
        if line is not None:
            line.quantity = min(line.quantity + quantity, MAX_QUANTITY)
            line.term_months = term
        else:
            cart.lines.append(CartLine(site_id=site_id, offering_code=code, quantity=quantity,
                                       term_months=term))
    _touch(session, cart, "cart:add", {"offering": code, "sites": len(owned),
                                       "quantity": quantity, "term": term})
    return len(owned)


def add_companions(session: Session, cart: Cart, catalog: Catalog, device_code: str,
                   companion_code: str) -> int:
    """Guided selling: add a plan or accessory of a device at every site where the cart has
    the device, with the device's quantity and term."""
    device = catalog.offerings.get(device_code)
    if device is None or companion_code not in (*device.plans, *device.accessories):
        raise CartError("That offering does not go with this device.")
    device_lines = [line for line in cart.lines if line.offering_code == device_code]
    if not device_lines:
        raise CartError(f"The cart has no {device.name}.")
    companion = catalog.offerings.get(companion_code)
    if companion is None:
        raise CartError(f"There is no offering {companion_code!r} in the catalog.")
    existing = {(line.site_id, line.offering_code) for line in cart.lines}
    added = 0
    for line in device_lines:
        if (line.site_id, companion_code) in existing:
            continue
        term = line.term_months if line.term_months in companion.terms else min(companion.terms)
        cart.lines.append(CartLine(site_id=line.site_id, offering_code=companion_code,
                                   quantity=line.quantity, term_months=term))
        added += 1
    _touch(session, cart, "cart:add", {"offering": companion_code, "sites": added,
                                       "with": device_code})
    return added


def update_line(session: Session, cart: Cart, catalog: Catalog, line_id: int, quantity: int,
                term: int) -> CartLine:
    """Change a line's quantity and term."""
    line = _line(cart, line_id)
    _check_line_values(catalog, line.offering_code, quantity, term)
    before = {"quantity": line.quantity, "term": line.term_months}
    line.quantity, line.term_months = quantity, term
    _touch(session, cart, "cart:update", {"line": line.id, "before": before,
                                          "quantity": quantity, "term": term})
    return line


def remove_line(session: Session, cart: Cart, line_id: int) -> None:
    """Take a line out of the cart."""
    line = _line(cart, line_id)
    cart.lines.remove(line)
    _touch(session, cart, "cart:remove", {"line": line_id, "offering": line.offering_code})


def clear(session: Session, cart: Cart) -> None:
    """Empty the cart."""
    count = len(cart.lines)
    cart.lines.clear()
    _touch(session, cart, "cart:clear", {"lines": count})


def set_billing_account(session: Session, cart: Cart, account_id: int | None) -> None:
    """Bill the configuration to one of the organisation's accounts (its country sets the
    tax)."""
    account = None
    if account_id is not None:
        account = session.scalars(select(BillingAccount).where(
            BillingAccount.id == account_id,
            BillingAccount.organisation_id == cart.organisation_id)).first()
        if account is None:
            raise CartError("Choose one of your billing accounts.")
    cart.billing_account = account
    _touch(session, cart, "cart:billing_account", {"billing_account": account_id})


def _line(cart: Cart, line_id: int) -> CartLine:
    for line in cart.lines:
        if line.id == line_id:
            return line
    raise LineNotFound(line_id)


def _touch(session: Session, cart: Cart, action: str, after: dict) -> None:
    cart.updated_at = utcnow()
    session.flush()
    audit.record(session, action, organisation_id=cart.organisation_id, target=cart,
                 after=after)


@dataclass
class Suggestion:
    """Guided selling: what goes with a device in the cart, plans first."""

    device: Offering
    kind: str  # "plan" or "accessory"
    offerings: list[Offering]


@dataclass
class CartView:
    """Everything the cart page shows: lines, their prices, problems and suggestions."""

    cart: Cart | None
    price: PriceResult | None
    line_prices: dict[int, object] = field(default_factory=dict)  # line id -> LinePrice
    problems: dict[int, list[str]] = field(default_factory=dict)  # line id -> messages
    general_problems: list[str] = field(default_factory=list)
    suggestions: list[Suggestion] = field(default_factory=list)
    billing_country: str | None = None


def view_cart(cart: Cart | None, catalog: Catalog, day: dt.date) -> CartView:
    """Price the cart's lines that follow the rules and explain the ones that do not."""
    lines = list(cart.lines) if cart else []
    requests = [LineRequest(offering_code=line.offering_code, quantity=line.quantity,
                            term_months=line.term_months, site_id=line.site_id,
                            negotiated_discount=line.negotiated_discount or 0)
                for line in lines]
    countries = {line.site_id: line.site.country for line in lines}
    view = CartView(cart=cart, price=None)
    for violation in check_configuration(catalog, requests, countries, day):
        _attach(view, lines, violation)
    account = cart.billing_account if cart else None
    # Without a billing account, the first site's country stands in for the tax country.
    country = account.country if account else (lines[0].site.country if lines else None)
    view.billing_country = country
    priceable = [(line, request) for line, request in zip(lines, requests, strict=True)
                 if request.offering_code in catalog.offerings
                 and request.term_months in catalog.offerings[request.offering_code].terms]
    if priceable and country:
        try:
            view.price = price_configuration(catalog, [r for _, r in priceable], country, day)
        except PricingError as exc:
            view.general_problems.append(str(exc))
        else:
            view.line_prices = {line.id: price for (line, _), price
                                in zip(priceable, view.price.lines, strict=True)}
    view.suggestions = _suggestions(catalog, lines, day)
    return view


def _attach(view: CartView, lines: list[CartLine], violation: Violation) -> None:
    if violation.line_index is None:
        view.general_problems.append(violation.message)
    else:
        view.problems.setdefault(lines[violation.line_index].id, []).append(violation.message)


def _suggestions(catalog: Catalog, lines: list[CartLine], day: dt.date) -> list[Suggestion]:
    by_site: dict[int, set[str]] = defaultdict(set)
    for line in lines:
        by_site[line.site_id].add(line.offering_code)
    suggestions = []
    devices = dict.fromkeys(line.offering_code for line in lines
                            if line.offering_code in catalog.offerings
                            and catalog.offerings[line.offering_code].family == "device")
    for code in devices:
        device = catalog.offerings[code]
        plans, accessories = guided_selling(catalog, code, day)
        sites = [site for site, codes in by_site.items() if code in codes]
        has_plan = all(any(p.code in by_site[site] for p in plans) for site in sites)
        if plans and not has_plan:
            suggestions.append(Suggestion(device, "plan", plans))
        elif accessories:
            missing = [a for a in accessories
                       if not all(a.code in by_site[site] for site in sites)]
            if missing:
                suggestions.append(Suggestion(device, "accessory", missing))
    return suggestions


def count_open_lines(session: Session, organisation_id: int) -> int:
    """Lines in the organisation's open carts (for the dashboard)."""
    return session.scalar(select(func.count(CartLine.id)).join(Cart).where(
        Cart.organisation_id == organisation_id, Cart.status == "open")) or 0
