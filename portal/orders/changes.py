"""Self-serve changes: what a customer may do with a service in the inventory (or a new
service at a site), checked for eligibility and priced with the pricing engine before they
confirm. Pages and the API call `preview_*` to show the impact, then `place_change`.

- add: an offering at an active site where it is sold, priced like a quote line;
- modify: another offering of the same family (change plan, more or less bandwidth);
- suspend (active services), resume (suspended ones);
- move: to another active site of the organisation where the offering is sold;
- cease: active or suspended services; inside the minimum term the early-termination
  charge (the monthly charge for each month left) is shown first and must be accepted.
A service with a change still open at the backend cannot be changed again until it ends.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from accounts.estate.models import Service, Site
from portal.catalog.pricing import LineRequest, price_configuration
from portal.catalog.rules import check_configuration
from portal.catalog.schema import Catalog, Offering
from portal.orders.models import Order, OrderItem, OrderPart, PartState
from portal.orders.services import ItemSpec, OrderError, OrderNotFound, place_order

CHANGE_ACTIONS = ("modify", "suspend", "resume", "move", "cease")
CENT = Decimal("0.01")
# Families whose offerings replace one another in a "modify" (plans, bandwidths).
MODIFIABLE_FAMILIES = ("mobile", "broadband", "sdwan", "voice", "tv", "content")


@dataclass
class ChangePreview:
    """What a change does and costs, as the customer sees it before confirming."""

    action: str
    items: list[ItemSpec]
    summary: str
    mrc_before: Decimal = Decimal("0.00")
    mrc_after: Decimal = Decimal("0.00")
    one_off: Decimal = Decimal("0.00")
    early_termination_charge: Decimal = Decimal("0.00")
    currency: str = "EUR"
    service: Service | None = None
    billing_account_id: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def mrc_change(self) -> Decimal:
        """How the monthly charge changes (negative: it goes down)."""
        return self.mrc_after - self.mrc_before

    @property
    def needs_consent(self) -> bool:
        """Whether the customer must accept a charge before the change is placed."""
        return self.early_termination_charge > 0


def load_service(session: Session, organisation_id: int, service_id: int) -> Service:
    """The organisation's service with its site; OrderNotFound for any other."""
    service = session.scalars(select(Service).options(joinedload(Service.site))
                              .where(Service.id == service_id,
                                     Service.organisation_id == organisation_id)).first()
    if service is None:
        raise OrderNotFound(service_id)
    return service


def open_change(session: Session, service_id: int) -> Order | None:
    """An order with a change of this service that has not ended yet."""
    return session.scalars(
        select(Order).join(OrderItem, OrderItem.order_id == Order.id)
        .join(OrderPart, OrderItem.part_id == OrderPart.id)
        .where(OrderItem.service_id == service_id,
               OrderPart.state.not_in(PartState.FINAL))).first()


def _offering(catalog: Catalog, code: str, day: dt.date, country: str | None = None,
              what: str = "offering") -> Offering:
    offering = catalog.offerings.get(code)
    if offering is None or not offering.is_sold_on(day):
        raise OrderError(f"{code} is not an {what} sold today.")
    if country and offering.available_in and country not in offering.available_in:
        raise OrderError(f"{offering.name} is not sold in {country}.")
    return offering


def _price(catalog: Catalog, offering: Offering, quantity: int, term: int, country: str,
           day: dt.date):
    tax_country = country if country in catalog.tax_rates else next(iter(catalog.tax_rates))
    return price_configuration(catalog, [LineRequest(offering.code, quantity, term)],
                               tax_country, day).lines[0]


def _term(offering: Offering, wanted: int | None) -> int:
    if wanted in offering.terms:
        return wanted
    if wanted is not None:
        terms = ", ".join(str(t) for t in sorted(offering.terms))
        raise OrderError(f"{offering.name} is offered for {terms} months.")
    return min(offering.terms)


def preview_add(session: Session, organisation_id: int, site_id: int, code: str,
                quantity: int, term: int | None, catalog: Catalog,
                day: dt.date) -> ChangePreview:
    """A new service at one of the organisation's active sites."""
    site = session.scalars(select(Site).where(Site.id == site_id,
                                              Site.organisation_id == organisation_id)).first()
    if site is None:
        raise OrderNotFound(site_id)
    if site.status != "active":
        raise OrderError(f"Site {site.code} is closed.")
    if not 1 <= quantity <= 10_000:
        raise OrderError("The quantity must be between 1 and 10,000.")
    offering = _offering(catalog, code, day, site.country)
    term = _term(offering, term)
    _check_site_rules(session, catalog, site, offering, quantity, term, day)
    price = _price(catalog, offering, quantity, term, site.country, day)
    item = ItemSpec("add", offering.code, offering.name, offering.fulfilment, site.id,
                    quantity, term, mrc=price.mrc, nrc=price.nrc, mrc_change=price.mrc,
                    promotion_code=price.promotion_code)
    notes = [f"{price.promotion_code}: first {price.months_free} months free"] \
        if price.promotion_code else []
    return ChangePreview("add", [item], f"Add {quantity} × {offering.name} at {site.code}",
                         mrc_after=price.mrc, one_off=price.nrc, currency=catalog.currency,
                         billing_account_id=site.billing_account_id, notes=notes)


def _check_site_rules(session: Session, catalog: Catalog, site: Site, offering: Offering,
                      quantity: int, term: int, day: dt.date) -> None:
    """The catalog's rules for a new line next to what the site already has: quantity
    limits, `requires` (met by the site's services) and `excludes`."""
    present = session.scalars(select(Service.offering_code).where(
        Service.site_id == site.id, Service.status.in_(("active", "suspended")))).all()
    lines = [LineRequest(existing, 1, min(catalog.offerings[existing].terms), site.id)
             for existing in dict.fromkeys(present) if existing in catalog.offerings]
    lines.append(LineRequest(offering.code, quantity, term, site.id))
    problems = [v.message for v in check_configuration(catalog, lines, {site.id: site.country},
                                                       day)
                if v.line_index == len(lines) - 1]
    if problems:
        raise OrderError(" ".join(problems))


def preview_change(session: Session, organisation_id: int, service_id: int, action: str,
                   catalog: Catalog, day: dt.date, *, offering_code: str | None = None,
                   site_id: int | None = None) -> ChangePreview:
    """A change of an existing service: eligibility checked, price impact computed.
    Raises OrderError (with the reason) when the change is not possible."""
    if action not in CHANGE_ACTIONS:
        raise OrderError(f"Unknown change {action!r}.")
    service = load_service(session, organisation_id, service_id)
    if service.status == "ceased":
        raise OrderError("This service has been ceased; it cannot be changed.")
    busy = open_change(session, service.id)
    if busy is not None:
        raise OrderError(f"Order {busy.number} is still changing this service; wait until it "
                         f"completes.")
    current = catalog.offerings.get(service.offering_code)
    fulfilment = current.fulfilment if current else service.source_system
    name = current.name if current else (service.description or service.offering_code)
    before = Decimal(service.monthly_charge or 0).quantize(CENT)
    base = dict(offering_code=service.offering_code, offering_name=name, fulfilment=fulfilment,
                site_id=service.site_id, quantity=service.quantity,
                term_months=service.term_months, service_id=service.id,
                service_ref=service.source_ref)
    preview = ChangePreview(action, [], "", mrc_before=before, mrc_after=before,
                            currency=catalog.currency, service=service,
                            billing_account_id=service.billing_account_id)
    where = f"{name} at {service.site.code}"
    if action == "suspend":
        if service.status != "active":
            raise OrderError(f"Only an active service can be suspended; this one is "
                             f"{service.status}.")
        preview.summary = f"Suspend {where}"
        preview.notes.append("The monthly charge continues while the service is suspended.")
    elif action == "resume":
        if service.status != "suspended":
            raise OrderError("Only a suspended service can be resumed.")
        preview.summary = f"Resume {where}"
    elif action == "cease":
        preview.summary = f"Cease {where}"
        preview.mrc_after = Decimal("0.00")
        left = months_left(service, day)
        if left > 0:
            preview.early_termination_charge = (before * left).quantize(CENT, ROUND_HALF_UP)
            preview.notes.append(
                f"The minimum term runs until {term_end(service):%d %b %Y}: ceasing now "
                f"costs {left} × {before} = {preview.early_termination_charge} "
                f"{catalog.currency}.")
        preview.one_off = preview.early_termination_charge
    elif action == "modify":
        if current is None or current.family not in MODIFIABLE_FAMILIES:
            raise OrderError(f"{name} cannot be changed to another plan here.")
        target = _offering(catalog, offering_code or "", day, service.site.country)
        if target.code == current.code or target.family != current.family:
            raise OrderError(f"Choose another {current.family} offering.")
        term = _term(target, service.term_months if service.term_months in target.terms
                     else None)
        price = _price(catalog, target, service.quantity, term, service.site.country, day)
        preview.mrc_after = price.mrc
        preview.summary = f"Change {where} to {target.name}"
        base["term_months"] = term
        base["target"] = {"offering_code": target.code, "offering_name": target.name}
        base["mrc"] = price.mrc
    elif action == "move":
        site = session.scalars(select(Site).where(
            Site.id == (site_id or 0), Site.organisation_id == organisation_id)).first()
        if site is None or site.status != "active" or site.id == service.site_id:
            raise OrderError("Choose another active site of your organisation.")
        if current and current.available_in and site.country not in current.available_in:
            raise OrderError(f"{name} is not sold in {site.country}.")
        preview.summary = f"Move {where} to {site.code}"
        base["target"] = {"site_id": site.id}
    mrc = base.pop("mrc", before)
    preview.items = [ItemSpec(action=action, mrc=mrc, mrc_change=preview.mrc_change,
                              nrc=preview.one_off, **base)]
    return preview


def term_end(service: Service) -> dt.date:
    """The last day of the service's minimum term."""
    month = service.start_date.month - 1 + service.term_months
    year = service.start_date.year + month // 12
    month = month % 12 + 1
    day = min(service.start_date.day, calendar.monthrange(year, month)[1])
    return dt.date(year, month, day)


def months_left(service: Service, day: dt.date) -> int:
    """Whole months (started months count) of the minimum term left on `day`."""
    end = term_end(service)
    if day >= end:
        return 0
    months = (end.year - day.year) * 12 + end.month - day.month
    return months if end.day <= day.day else months + 1


def place_change(session: Session, organisation_id: int, user_id: int | None,
                 preview: ChangePreview, accept_charge: bool = False,
                 source: str = "change", external_id: str | None = None) -> Order:
    """Place the order of a previewed change (in the caller's transaction). A change with
    an early-termination charge needs `accept_charge`."""
    if preview.needs_consent and not accept_charge:
        raise OrderError(f"Ceasing now costs an early-termination charge of "
                         f"{preview.early_termination_charge} {preview.currency}; accept it to "
                         f"go on.")
    return place_order(session, organisation_id, preview.items, source=source,
                       user_id=user_id, description=preview.summary, external_id=external_id,
                       billing_account_id=preview.billing_account_id)
