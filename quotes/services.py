"""The rules of quotes: made from a cart or another version, lines frozen with their prices,
edited only while that cannot break a promise, compared between versions.

A version's prices are computed here and stored; nothing reads the catalog to show a quote.
Approvals live in quotes.approvals and acceptance in quotes.acceptance.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from accounts.estate.models import BillingAccount, Site
from accounts.models import User
from portal import audit
from portal.catalog.models import CatalogVersion
from portal.catalog.pricing import LineRequest, PriceResult, price_configuration
from portal.catalog.rules import check_configuration
from portal.catalog.schema import Catalog
from portal.catalog.store import parsed
from portal.db import utcnow
from portal.rules import RuleError
from quotes.models import Cart, CartLine, Quote, QuoteLine, QuoteState, QuoteVersion

MAX_JUSTIFICATION = 1000
PROBLEMS_SHOWN = 5


class QuoteError(RuleError):
    """A change to a quote that the rules do not allow; the message says why."""


class QuoteNotFound(LookupError):
    """No such quote (or version, or line) for this organisation."""


# -- loading -------------------------------------------------------------------------------

def get_quote(session: Session, organisation_id: int, quote_id: int) -> Quote:
    """The organisation's quote with its versions; QuoteNotFound for any other."""
    quote = session.scalars(
        select(Quote).options(selectinload(Quote.versions))
        .where(Quote.id == quote_id, Quote.organisation_id == organisation_id)).first()
    if quote is None:
        raise QuoteNotFound(quote_id)
    return quote


def get_version(session: Session, organisation_id: int, quote_id: int,
                number: int | None = None, *, with_lines: bool = True) -> QuoteVersion:
    """Version `number` (the latest when None) of the organisation's quote, with its lines
    and approvals; QuoteNotFound for anything outside the organisation."""
    stmt = (select(QuoteVersion).join(Quote)
            .options(selectinload(QuoteVersion.approvals))
            .where(Quote.id == quote_id, Quote.organisation_id == organisation_id))
    if with_lines:
        stmt = stmt.options(selectinload(QuoteVersion.lines))
    stmt = stmt.where(QuoteVersion.version == number if number is not None
                      else QuoteVersion.version == Quote.latest_version)
    version = session.scalars(stmt).first()
    if version is None:
        raise QuoteNotFound(quote_id)
    return version


def line_of(version: QuoteVersion, line_id: int) -> QuoteLine:
    """The line `line_id` of `version`; QuoteNotFound for another version's line."""
    for line in version.lines:
        if line.id == line_id:
            return line
    raise QuoteNotFound(line_id)


# -- freezing prices -------------------------------------------------------------------------

def _requests(lines) -> list[LineRequest]:
    return [LineRequest(offering_code=line.offering_code, quantity=line.quantity,
                        term_months=line.term_months, site_id=line.site_id,
                        negotiated_discount=Decimal(line.negotiated_discount or 0))
            for line in lines]


def _check_rules(catalog: Catalog, lines, countries: dict[int, str], day: dt.date) -> None:
    """Refuse, naming the first problems, a configuration that breaks the catalog's rules."""
    problems = check_configuration(catalog, _requests(lines), countries, day)
    if problems:
        shown = "; ".join(p.message for p in problems[:PROBLEMS_SHOWN])
        more = len(problems) - PROBLEMS_SHOWN
        raise QuoteError(f"The configuration breaks the catalog's rules: {shown}"
                         + (f" (and {more} more)" if more > 0 else ""))


def _freeze(version: QuoteVersion, catalog: Catalog) -> PriceResult:
    """Price the version's lines with `catalog` on its `priced_on` day and store every
    figure, the breakdowns and the content fingerprint."""
    result = price_configuration(catalog, _requests(version.lines), version.billing_country,
                                 version.priced_on)
    for position, (line, price) in enumerate(zip(version.lines, result.lines, strict=True), 1):
        offering = catalog.offerings[line.offering_code]
        line.position = position
        line.offering_name = offering.name
        line.family = offering.family
        line.fulfilment = offering.fulfilment
        line.mrc, line.nrc, line.tcv = price.mrc, price.nrc, price.tcv
        line.promotion_code, line.months_free = price.promotion_code, price.months_free
        line.breakdown = price.as_dict()
    version.currency = result.currency
    version.tax_rate = result.tax_rate
    version.total_mrc, version.total_nrc = result.total_mrc, result.total_nrc
    version.total_tcv = result.total_tcv
    version.tax_mrc, version.tax_nrc, version.tax_tcv = (result.tax_mrc, result.tax_nrc,
                                                         result.tax_tcv)
    version.max_discount = max((Decimal(line.negotiated_discount or 0)
                                for line in version.lines), default=Decimal(0))
    version.content_hash = content_hash(version)
    version.updated_at = utcnow()
    return result


def content_hash(version: QuoteVersion) -> str:
    """A fingerprint of everything the customer is promised: the billing account, every
    line with its figures, the totals and the validity. An approval is bound to it."""
    money = lambda value: str(Decimal(value).quantize(Decimal("0.01")))  # noqa: E731
    content = {
        "billing_account": [version.billing_account_id, version.billing_account_number,
                            version.billing_country],
        "catalog": version.catalog_number, "currency": version.currency,
        "tax_rate": str(Decimal(version.tax_rate).normalize()),
        "valid_until": version.valid_until.isoformat(),
        "totals": [money(version.total_mrc), money(version.total_nrc), money(version.total_tcv)],
        "lines": [[line.site_id, line.offering_code, line.quantity, line.term_months,
                   str(Decimal(line.negotiated_discount or 0).normalize()), money(line.mrc),
                   money(line.nrc), money(line.tcv)] for line in version.lines],
    }
    encoded = json.dumps(content, separators=(",", ":"), sort_keys=True)
    return hashlib.sha256(encoded.encode()).hexdigest()


def _snapshot_account(version: QuoteVersion, account: BillingAccount) -> None:
    version.billing_account_id = account.id
    version.billing_account_number = account.number
    version.billing_account_name = account.name
    version.billing_address = ", ".join(part for part in (
        account.address, f"{account.postcode} {account.city}".strip(), account.country) if part)
    version.billing_country = account.country


def _line_from(site: Site, code: str, quantity: int, term: int, discount: Decimal,
               justification: str) -> QuoteLine:
    return QuoteLine(site_id=site.id, site_code=site.code, site_name=site.name,
                     site_city=site.city or "", site_country=site.country, offering_code=code,
                     quantity=quantity, term_months=term, negotiated_discount=discount,
                     justification=justification)


def _new_version(quote: Quote, number: int, catalog_version: CatalogVersion, catalog: Catalog,
                 account: BillingAccount, user: User | None, today: dt.date,
                 based_on: int | None = None) -> QuoteVersion:
    version = QuoteVersion(
        quote=quote, version=number, based_on=based_on, state=QuoteState.IN_PROGRESS,
        created_by_id=user.id if user else None, catalog_version_id=catalog_version.id,
        catalog_number=catalog_version.number, priced_on=today,
        valid_until=today + dt.timedelta(days=catalog.quote_validity_days), lines=[])
    _snapshot_account(version, account)
    return version


# -- making quotes and versions ----------------------------------------------------------------

def create_from_cart(session: Session, cart: Cart, catalog_version: CatalogVersion,
                     catalog: Catalog, user: User | None, today: dt.date,
                     title: str = "", external_id: str | None = None) -> Quote:
    """Freeze the cart's lines, priced with `catalog` today, as version 1 of a new quote
    (in progress); the cart is then closed. Refused, with the reasons, for an empty cart,
    one without a billing account, or one that breaks the catalog's rules."""
    lines = list(cart.lines)
    if not lines:
        raise QuoteError("The cart is empty: add offerings before asking for a quote.")
    account = cart.billing_account
    if account is None or account.status != "active":
        raise QuoteError("Choose an active billing account for the quote.")
    _check_rules(catalog, lines, {line.site_id: line.site.country for line in lines}, today)
    if any(line.site.status != "active" for line in lines):
        raise QuoteError("Some lines are at sites that are no longer active.")
    quote = Quote(organisation_id=cart.organisation_id, number=f"new-{uuid.uuid4().hex[:24]}",
                  title=title.strip()[:200], external_id=(external_id or None),
                  created_by_id=user.id if user else None, latest_version=1)
    session.add(quote)
    version = _new_version(quote, 1, catalog_version, catalog, account, user, today)
    session.add(version)
    version.lines = [_line_from(line.site, line.offering_code, line.quantity,
                                line.term_months, Decimal(line.negotiated_discount or 0), "")
                     for line in lines]
    _freeze(version, catalog)
    session.flush()
    quote.number = f"Q-{today.year}-{quote.id:06d}"
    cart.status = "quoted"
    cart.updated_at = utcnow()
    audit.record(session, "quote:create", organisation_id=quote.organisation_id, target=quote,
                 after=_summary(version))
    return quote


def create_from_requests(session: Session, organisation_id: int,
                         requests: list[tuple[int, str, int, int]], account_id: int | None,
                         catalog_version: CatalogVersion, catalog: Catalog, user: User | None,
                         today: dt.date, title: str = "",
                         external_id: str | None = None) -> Quote:
    """A new quote from (site id, offering code, quantity, term) items, as the API sends
    them: the sites must be the organisation's active sites and the billing account one of
    its active accounts (its first one when None). Same rules as `create_from_cart`."""
    if not requests:
        raise QuoteError("A quote needs at least one item.")
    accounts = select(BillingAccount).where(BillingAccount.organisation_id == organisation_id,
                                            BillingAccount.status == "active")
    if account_id is not None:
        accounts = accounts.where(BillingAccount.id == account_id)
    account = session.scalars(accounts.order_by(BillingAccount.number)).first()
    if account is None:
        raise QuoteError("The billing account is not one of this organisation's active "
                         "billing accounts.")
    site_ids = {site_id for site_id, *_ in requests}
    sites = {site.id: site for site in session.scalars(select(Site).where(
        Site.organisation_id == organisation_id, Site.id.in_(site_ids),
        Site.status == "active"))}
    for position, (site_id, code, quantity, term) in enumerate(requests, 1):
        if site_id not in sites:
            raise QuoteError(f"Item {position}: site {site_id} is not an active site of this "
                             f"organisation.")
        offering = catalog.offerings.get(code)
        if offering is None:
            raise QuoteError(f"Item {position}: there is no product offering {code!r}.")
        if term not in offering.terms:
            raise QuoteError(f"Item {position}: {offering.name} is not offered for {term} "
                             f"months.")
        if quantity < 1:
            raise QuoteError(f"Item {position}: the quantity must be at least 1.")
    cart = Cart(organisation_id=organisation_id, created_by_id=user.id if user else None,
                billing_account=account, status="api", lines=[])
    session.add(cart)
    for site_id, code, quantity, term in requests:
        cart.lines.append(CartLine(site=sites[site_id], site_id=site_id, offering_code=code,
                                   quantity=quantity, term_months=term))
    return create_from_cart(session, cart, catalog_version, catalog, user, today, title,
                            external_id)


def new_version(session: Session, source: QuoteVersion, catalog_version: CatalogVersion,
                catalog: Catalog, user: User | None, today: dt.date) -> QuoteVersion:
    """A new, latest version (in progress) made from `source`, any version of the quote:
    same lines, discounts and justifications, priced again with `catalog` today with a new
    validity. Lines at sites that closed since, or of offerings no longer in the catalog,
    refuse with the reason (make the change in a cart instead)."""
    quote = source.quote
    if quote.versions and any(v.state == QuoteState.ACCEPTED for v in quote.versions):
        raise QuoteError(f"Quote {quote.number} was accepted; it cannot have new versions.")
    account = session.get(BillingAccount, source.billing_account_id) \
        if source.billing_account_id else None
    if account is None or account.status != "active":
        raise QuoteError("The quote's billing account is no longer active.")
    sites = {site.id: site for site in session.scalars(select(Site).where(
        Site.id.in_({line.site_id for line in source.lines if line.site_id}),
        Site.organisation_id == quote.organisation_id))}
    for line in source.lines:
        site = sites.get(line.site_id)
        if site is None or site.status != "active":
            raise QuoteError(f"Site {line.site_code} is no longer active.")
        if line.offering_code not in catalog.offerings:
            raise QuoteError(f"{line.offering_name} ({line.offering_code}) is no longer in "
                             f"the catalog.")
    number = quote.latest_version + 1
    version = _new_version(quote, number, catalog_version, catalog, account, user, today,
                           based_on=source.version)
    session.add(version)
    version.lines = [_line_from(sites[line.site_id], line.offering_code, line.quantity,
                                line.term_months, Decimal(line.negotiated_discount or 0),
                                line.justification) for line in source.lines]
    _check_rules(catalog, version.lines, {s.id: s.country for s in sites.values()}, today)
    _freeze(version, catalog)
    quote.latest_version = number
    session.flush()
    audit.record(session, "quote:version", organisation_id=quote.organisation_id, target=quote,
                 before={"version": source.version}, after=_summary(version))
    return version


# -- changing a version ------------------------------------------------------------------------

def _editable(version: QuoteVersion, today: dt.date) -> None:
    if not version.is_latest:
        raise QuoteError(f"Version {version.version} is not the latest; older versions are "
                         f"read-only.")
    if version.state in QuoteState.FINAL:
        raise QuoteError(f"This version is {version.state}; make a new version to change it.")
    if version.is_expired(today):
        raise QuoteError("This version has expired; make a new version to change it.")


def parse_discount(text: str) -> Decimal:
    """A discount typed as a percentage ("12", "12.5 %") as a fraction (0.125); refused
    unless it is at least 0 % and below 100 %, with at most two decimals."""
    cleaned = (text or "").strip().rstrip("%").strip().replace(",", ".")
    try:
        percent = Decimal(cleaned or "0")
    except InvalidOperation:
        raise QuoteError(f"{text!r} is not a percentage.") from None
    if not percent.is_finite() or not 0 <= percent < 100:
        raise QuoteError("A discount must be at least 0 % and below 100 %.")
    if percent != percent.quantize(Decimal("0.01")):
        raise QuoteError("A discount has at most two decimals (12.25 %).")
    return (percent / 100).quantize(Decimal("0.0001"))


def change_line(session: Session, version: QuoteVersion, line_id: int, *, quantity: int,
                term_months: int, discount: Decimal, justification: str,
                today: dt.date) -> QuoteLine:
    """Change a line of the latest version: quantity, term, and the negotiated discount
    asked for (a discount needs a justification). The version is priced again with its own
    catalog version. A version waiting for approval or approved goes back to in progress:
    what was approved is no longer what it holds."""
    _editable(version, today)
    line = line_of(version, line_id)
    justification = (justification or "").strip()
    if discount and not justification:
        raise QuoteError("Say why the customer should get this discount (justification).")
    if len(justification) > MAX_JUSTIFICATION:
        raise QuoteError(f"The justification is limited to {MAX_JUSTIFICATION} characters.")
    if quantity < 1:
        raise QuoteError("The quantity must be at least 1.")
    catalog = catalog_of(session, version)
    offering = catalog.offerings.get(line.offering_code)
    if offering is None or term_months not in offering.terms:
        terms = ", ".join(str(t) for t in sorted(offering.terms)) if offering else "none"
        raise QuoteError(f"{line.offering_name} is offered for {terms} months.")
    before = _line_summary(line)
    line.quantity, line.term_months = quantity, term_months
    line.negotiated_discount, line.justification = discount, justification
    _check_rules(catalog, version.lines, _countries(version),
                 version.priced_on)
    _after_edit(session, version, catalog, "quote:line_update", before, _line_summary(line))
    return line


def remove_line(session: Session, version: QuoteVersion, line_id: int,
                today: dt.date) -> None:
    """Take a line out of the latest version (not its last line: cancel the quote
    instead); priced again, and sent back like `change_line`."""
    _editable(version, today)
    line = line_of(version, line_id)
    if len(version.lines) == 1:
        raise QuoteError("This is the quote's only line; cancel the quote instead.")
    before = _line_summary(line)
    version.lines.remove(line)
    catalog = catalog_of(session, version)
    _check_rules(catalog, version.lines, _countries(version),
                 version.priced_on)
    _after_edit(session, version, catalog, "quote:line_remove", before, None)


def _after_edit(session: Session, version: QuoteVersion, catalog: Catalog, action: str,
                before, after) -> None:
    old_hash, old_state = version.content_hash, version.state
    _freeze(version, catalog)
    if version.content_hash != old_hash and version.state != QuoteState.IN_PROGRESS:
        # The approval (or the request for it) was for other content: start again.
        version.state = QuoteState.IN_PROGRESS
        version.approval_stage = None
        version.approval_path = None
        version.decided_at = None
    session.flush()
    audit.record(session, action, organisation_id=version.quote.organisation_id,
                 target=version, before=before,
                 after={"line": after, "state": version.state, "previous_state": old_state,
                        "total_mrc": str(version.total_mrc)})


def _countries(version: QuoteVersion) -> dict[int | None, str]:
    return {line.site_id: line.site_country for line in version.lines}


def catalog_of(session: Session, version: QuoteVersion) -> Catalog:
    """The catalog version the quote version was priced with."""
    catalog_version = session.get(CatalogVersion, version.catalog_version_id)
    return parsed(catalog_version)


def cancel(session: Session, version: QuoteVersion, today: dt.date) -> None:
    """Cancel the latest version (not an accepted, rejected or cancelled one)."""
    if not version.is_latest:
        raise QuoteError("Only the latest version can be cancelled.")
    if version.state in QuoteState.FINAL:
        raise QuoteError(f"This version is already {version.state}.")
    before = version.state
    version.state = QuoteState.CANCELLED
    version.approval_stage = None
    version.decided_at = utcnow()
    session.flush()
    audit.record(session, "quote:cancel", organisation_id=version.quote.organisation_id,
                 target=version, before={"state": before}, after={"state": version.state})


def _summary(version: QuoteVersion) -> dict:
    return {"number": version.quote.number, "version": version.version,
            "lines": len(version.lines), "total_mrc": str(version.total_mrc),
            "total_tcv": str(version.total_tcv), "max_discount": str(version.max_discount),
            "catalog": version.catalog_number, "valid_until": version.valid_until.isoformat()}


def _line_summary(line: QuoteLine) -> dict:
    return {"line": line.id, "site": line.site_code, "offering": line.offering_code,
            "quantity": line.quantity, "term": line.term_months,
            "discount": str(line.negotiated_discount), "justification": line.justification}


# -- comparing versions ------------------------------------------------------------------------

@dataclass(frozen=True)
class LineChange:
    """How a (site, offering) line differs between two versions: "added", "removed" or
    "changed", with the fields that changed as (old, new)."""

    kind: str
    site_code: str
    offering_code: str
    offering_name: str
    fields: dict[str, tuple[object, object]]


@dataclass(frozen=True)
class VersionDiff:
    """What changed from version `old` to version `new`."""

    old: QuoteVersion
    new: QuoteVersion
    lines: list[LineChange]
    totals: dict[str, tuple[object, object]]


_COMPARED = ("quantity", "term_months", "negotiated_discount", "justification", "mrc", "nrc",
             "tcv", "promotion_code")
_TOTALS = ("total_mrc", "total_nrc", "total_tcv", "tax_tcv", "billing_account_number",
           "valid_until", "catalog_number")


def compare(old: QuoteVersion, new: QuoteVersion) -> VersionDiff:
    """The differences between two versions of the same quote, line by line (lines are
    matched by site and offering) and in the totals."""
    before = {(line.site_id, line.offering_code): line for line in old.lines}
    after = {(line.site_id, line.offering_code): line for line in new.lines}
    changes = []
    for key, line in after.items():
        was = before.get(key)
        if was is None:
            changes.append(LineChange("added", line.site_code, line.offering_code,
                                      line.offering_name, {}))
            continue
        fields = {name: (getattr(was, name), getattr(line, name)) for name in _COMPARED
                  if getattr(was, name) != getattr(line, name)}
        if fields:
            changes.append(LineChange("changed", line.site_code, line.offering_code,
                                      line.offering_name, fields))
    for key, line in before.items():
        if key not in after:
            changes.append(LineChange("removed", line.site_code, line.offering_code,
                                      line.offering_name, {}))
    totals = {name: (getattr(old, name), getattr(new, name)) for name in _TOTALS
              if getattr(old, name) != getattr(new, name)}
    return VersionDiff(old, new, changes, totals)
