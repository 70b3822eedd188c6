"""TMF648 Quote Management: the organisation's quotes, made and moved on through the API by
the same services as the pages.

`GET /tmf-api/quoteManagement/v4/quote` and `.../quote/{id}`: a quote as its latest version
stands, with the frozen line and total figures. `POST .../quote` prices quote items (the
offering in `productOffering.id`, the site in `product.place[0].id`, the term in
`product.productTerm[0].duration`, the `quantity`) into a new quote in progress. `PATCH
.../quote/{id}` makes the changes a customer may make to `state`: `pending` (ask for
approval), `accepted` (the purchase order as the `note` with id `purchaseOrder`, the person
accepting as the `relatedParty` with role `signatory`) and `cancelled`.
`GET .../quote/{id}/pdf` is the quote's PDF, named in the quote's `attachment`.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from flask import g, jsonify, request
from sqlalchemy import func, select
from sqlalchemy.orm import contains_eager, selectinload

from accounts.estate.models import BillingAccount, Site
from portal.api import ApiError, api_blueprint
from portal.api.auth import REALM, api_require
from portal.api.body import (
    bad,
    first,
    integer,
    json_body,
    money,
    obj,
    optional_text,
    percentage,
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
from portal.catalog.pricing import LineRequest
from portal.catalog.rules import check_configuration
from portal.catalog.schema import Catalog
from portal.catalog.store import current_catalog
from portal.db import utcnow
from portal.extensions import db
from portal.orders.models import Order
from portal.rules import RuleError
from portal.security import Permission
from quotes import acceptance, approvals, services
from quotes.approvals import LEVEL_NAMES, ConcurrentChange
from quotes.cart import MAX_LINES, MAX_QUANTITY
from quotes.models import Quote, QuoteLine, QuoteState, QuoteVersion

bp = api_blueprint("tmf648", __name__, "/tmf-api/quoteManagement/v4")

# What the Quote schema requires, kept whatever `fields` asks for.
ALWAYS = ("id", "href", "@type", "quoteItem")
FILTERS = ("state", "externalId")
PATCH_TYPES = ("application/merge-patch+json", "application/json")
PURCHASE_ORDER_NOTE = "purchaseOrder"
ORDER_NOTE = "productOrder"
SIGNATORY = "signatory"
MAX_TITLE = 200
MAX_EXTERNAL_ID = 100
RULES_SHOWN = 5
# Set by the portal: a PATCH may repeat them (a client sending back what it read), and they
# are ignored. Every other attribute but state, note and relatedParty must stay as it is.
READ_ONLY = frozenset({
    "id", "href", "quoteDate", "validFor", "effectiveQuoteCompletionDate",
    "expectedQuoteCompletionDate", "quoteTotalPrice", "authorization", "attachment",
    "@type", "@baseType", "@schemaLocation",
})
# What a customer cannot set, and why.
NOT_FOR_CUSTOMERS = {
    QuoteState.IN_PROGRESS: "a quote cannot be taken back to inProgress; cancel it and make "
                            "a new one",
    QuoteState.APPROVED: "approvals are given by the operator (set pending to ask for one)",
    QuoteState.REJECTED: "rejections are given by the operator (set cancelled to withdraw "
                         "the quote)",
}


# -- the resource ----------------------------------------------------------------------------


def _period_end(day: dt.date) -> str:
    # A quote is valid through its last day.
    return iso_datetime(dt.datetime.combine(day, dt.time(23, 59, 59), tzinfo=dt.UTC))


def _price_ref(code: str, kind: str) -> dict:
    price_id = f"{code}-{kind}"
    return {"id": price_id, "href": href("tmf620.retrieve_price", price_id=price_id),
            "@referredType": "ProductOfferingPrice"}


def _alterations(line: QuoteLine) -> list[dict]:
    """The discounts that made the line's monthly price, in the order they apply."""
    breakdown = line.breakdown or {}
    alterations = []

    def add(name: str, description: str, rate, **extra) -> None:
        alterations.append({
            "name": name, "description": description, "priceType": "discount",
            "recurringChargePeriod": "month", "priority": len(alterations) + 1,
            "price": {"percentage": percentage(rate)}, **extra})

    volume = Decimal(breakdown.get("volume_discount") or 0)
    if volume:
        add(f"Volume discount from {breakdown.get('volume_tier_min')} units",
            f"{breakdown.get('volume_quantity')} units of {line.offering_code} on the quote",
            volume)
    term = Decimal(breakdown.get("term_discount") or 0)
    if term:
        add(f"{line.term_months}-month term", f"Discount for a {line.term_months}-month "
                                              "contract", term)
    negotiated = Decimal(line.negotiated_discount or 0)
    if negotiated:
        add("Negotiated discount", line.justification or "Negotiated discount", negotiated)
    if line.promotion_code and line.months_free:
        add(line.promotion_code, f"The first {line.months_free} months are free",
            Decimal(1), applicationDuration=line.months_free)
    return alterations


def quote_item(line: QuoteLine, version: QuoteVersion) -> dict:
    """A frozen line as a TMF648 `QuoteItem` (its id is its position on the quote)."""
    currency = version.currency
    place = {"name": line.site_name, "role": "installationAddress",
             "@referredType": "GeographicSite"}
    if line.site_id is not None:  # the site may have been deleted since
        place = {"id": str(line.site_id), **place}
    breakdown = line.breakdown or {}
    unit = breakdown.get("list_unit_recurring")
    return {
        "id": str(line.position),
        "action": "add",
        "state": version.state,
        "quantity": line.quantity,
        "productOffering": {
            "id": line.offering_code,
            "href": href("tmf620.retrieve_offering", offering_id=line.offering_code),
            "name": line.offering_name, "@referredType": "ProductOffering"},
        "product": {
            "name": line.offering_name,
            "isBundle": False,
            "place": [place],
            "productTerm": [{"name": f"{line.term_months} months",
                             "duration": {"amount": line.term_months, "units": "month"}}],
            "@type": "Product",
        },
        "quoteItemPrice": [
            {"name": "Monthly charge",
             "description": f"{line.quantity} x {unit} {currency} a month before discounts"
             if unit else "Monthly charge",
             "priceType": "recurring", "recurringChargePeriod": "month",
             "price": {"dutyFreeAmount": money(line.mrc, currency)},
             "priceAlteration": _alterations(line),
             "productOfferingPrice": _price_ref(line.offering_code, "MRC")},
            {"name": "One-off charge", "priceType": "oneTime",
             "price": {"dutyFreeAmount": money(line.nrc, currency)},
             "productOfferingPrice": _price_ref(line.offering_code, "NRC")},
            {"name": "Contract value",
             "description": f"One-off charge plus {line.term_months} monthly charges"
                            + (f", less {line.months_free} free months"
                               if line.months_free else ""),
             "priceType": "total",
             "price": {"dutyFreeAmount": money(line.tcv, currency)}},
        ],
        "@type": "QuoteItem",
    }


def _total(name: str, price_type: str, amount, tax, version: QuoteVersion,
           **extra) -> dict:
    currency = version.currency
    return {"name": name, "priceType": price_type, **extra, "price": {
        "dutyFreeAmount": money(amount, currency),
        "taxRate": percentage(version.tax_rate),
        "taxIncludedAmount": money(Decimal(amount) + Decimal(tax), currency)}}


def _attachment(version: QuoteVersion) -> dict:
    from quotes.pdf import quote_pdf_filename  # the PDF module pulls in WeasyPrint

    return {
        "id": f"{version.quote_id}-v{version.version}",
        "name": quote_pdf_filename(version),
        "description": f"Quote {version.quote.number}, version {version.version} (PDF)",
        "attachmentType": "quote",
        "mimeType": "application/pdf",
        "url": href("tmf648.quote_pdf", quote_id=version.quote_id, version=version.version),
        "@type": "Attachment",
    }


def _dated(item: dict, **dates) -> dict:
    """`item` with the dates that are known, as RFC 3339."""
    return {**item, **{name: iso_datetime(value) for name, value in dates.items()
                       if value is not None}}


def _authorizations(version: QuoteVersion) -> tuple[list[dict], list[dict]]:
    """The approval decisions on exactly this content (and the one awaited), and the
    approvers' comments as notes."""
    given, notes = [], []
    for approval in version.approvals:
        if approval.content_hash != version.content_hash:
            continue  # a decision on content the version no longer holds
        level = LEVEL_NAMES.get(approval.level, approval.level)
        given.append(_dated({"name": f"{level} approval", "state": approval.decision},
                            requestedDate=version.submitted_at,
                            givenDate=approval.decided_at))
        if approval.comment:
            notes.append(_dated({"id": f"approval-{approval.id}", "author": level,
                                 "text": approval.comment}, date=approval.decided_at))
    if version.state == QuoteState.PENDING and version.approval_stage:
        level = LEVEL_NAMES.get(version.approval_stage, version.approval_stage)
        given.append(_dated({"name": f"{level} approval", "state": "requested"},
                            requestedDate=version.submitted_at))
    return given, notes


def quote_resource(version: QuoteVersion, org, order_number: str | None = None) -> dict:
    """A quote, as its version `version` stands, as a TMF648 `Quote`: `version` and
    `state` are the version's, every figure is the frozen one (`quoteItemPrice` per line,
    `quoteTotalPrice` with the tax at the billing country's rate), the PDF is the
    `attachment`; once accepted, the purchase order and the order made are notes and the
    person who accepted a related party with role `signatory`."""
    quote = version.quote
    item = {
        "id": str(quote.id),
        "href": href("tmf648.retrieve_quote", quote_id=quote.id),
        "description": quote.title or f"Quote {quote.number}",
        "version": str(version.version),
        "state": version.state,
        "quoteDate": iso_datetime(quote.created_at),
        "validFor": {"startDateTime": iso_datetime(version.priced_on),
                     "endDateTime": _period_end(version.valid_until)},
    }
    if quote.external_id:
        item["externalId"] = quote.external_id
    if version.decided_at is not None:
        item["effectiveQuoteCompletionDate"] = iso_datetime(version.decided_at)
    if version.billing_account_id is not None:
        item["billingAccount"] = [{
            "id": str(version.billing_account_id),
            "href": href("tmf666.retrieve_billing_account",
                         account_id=version.billing_account_id),
            "name": version.billing_account_name, "@referredType": "BillingAccount"}]
    parties = [organisation_party(org, "customer")]
    authorizations, notes = _authorizations(version)
    if version.state == QuoteState.ACCEPTED:
        parties.append({
            "id": str(version.accepted_by_id) if version.accepted_by_id else SIGNATORY,
            "name": version.accepted_by_name or "", "role": SIGNATORY,
            "@referredType": "Individual"})
        notes.append(_dated({"id": PURCHASE_ORDER_NOTE,
                             "author": version.accepted_by_name or "",
                             "text": version.purchase_order or ""}, date=version.accepted_at))
        if order_number:
            notes.append(_dated({"id": ORDER_NOTE, "text": order_number},
                                date=version.accepted_at))
    item["relatedParty"] = parties
    if authorizations:
        item["authorization"] = authorizations
    if notes:
        item["note"] = notes
    item["quoteItem"] = [quote_item(line, version) for line in version.lines]
    item["quoteTotalPrice"] = [
        _total("Monthly total", "recurring", version.total_mrc, version.tax_mrc, version,
               recurringChargePeriod="month"),
        _total("One-off total", "oneTime", version.total_nrc, version.tax_nrc, version),
        _total("Total contract value", "total", version.total_tcv, version.tax_tcv, version),
    ]
    item["attachment"] = [_attachment(version)]
    item["@type"] = "Quote"
    return item


# -- loading ---------------------------------------------------------------------------------

def _latest(stmt):
    """`stmt` limited to the latest version of each of the organisation's quotes."""
    return (stmt.join(Quote, QuoteVersion.quote_id == Quote.id)
            .where(Quote.organisation_id == g.current_org_id,
                   QuoteVersion.version == Quote.latest_version))


def _loaded():
    # Quote, lines and approvals with the versions: a fixed number of queries.
    return select(QuoteVersion).options(
        contains_eager(QuoteVersion.quote), selectinload(QuoteVersion.lines),
        selectinload(QuoteVersion.approvals))


def _order_numbers(versions: list[QuoteVersion]) -> dict[int, str]:
    accepted = [v.id for v in versions if v.state == QuoteState.ACCEPTED]
    if not accepted:
        return {}
    return dict(db.session.execute(select(Order.quote_version_id, Order.number)
                                   .where(Order.quote_version_id.in_(accepted))).all())


def _resource(version: QuoteVersion) -> dict:
    return quote_resource(version, g.current_org, _order_numbers([version]).get(version.id))


def _version_or_404(quote_id: str, number: int | None = None) -> QuoteVersion:
    try:
        return services.get_version(db.session, g.current_org_id,
                                    resource_id_or_404(quote_id), number)
    except services.QuoteNotFound:
        raise ApiError(404, "There is no such quote in this organisation.") from None


def _filtered(stmt):
    state = request.args.get("state")
    if state is not None:
        if state not in QuoteState.ALL:
            raise ApiError(400, f"state must be one of {', '.join(QuoteState.ALL)}.")
        stmt = stmt.where(QuoteVersion.state == state)
    external_id = request.args.get("externalId")
    if external_id is not None:
        stmt = stmt.where(equals(Quote.external_id, external_id))
    return stmt


# -- reading request bodies ------------------------------------------------------------------








def _item(raw, index: int, catalog: Catalog) -> tuple[int, str, int, int]:
    """One quoteItem as (site id, offering code, quantity, term in months)."""
    path = f"quoteItem[{index}]"
    item = obj(raw, path)
    action = item.get("action", "add")
    if action != "add":
        raise bad(f"{path}.action", 'only "add" is quoted: a quote is for new products.',
                   422)
    if "quoteItemPrice" in item:
        raise bad(f"{path}.quoteItemPrice", "prices are set by the portal; leave it out.",
                   422)
    if "quoteItem" in item:
        raise bad(f"{path}.quoteItem", "nested quote items are not supported.", 422)
    code = string(obj(item.get("productOffering"), f"{path}.productOffering").get("id"),
                   f"{path}.productOffering.id", 64)
    product = obj(item.get("product"), f"{path}.product")
    if "id" in product:
        raise bad(f"{path}.product.id", "existing products cannot be quoted; describe a new "
                                         "one (leave out product.id).", 422)
    site_id = reference(first(product.get("place"), f"{path}.product.place").get("id"),
                         f"{path}.product.place[0].id")
    term_path = f"{path}.product.productTerm[0].duration"
    duration = obj(first(product.get("productTerm"), f"{path}.product.productTerm")
                       .get("duration"), term_path)
    months = integer(duration.get("amount"), f"{term_path}.amount")
    if duration.get("units", "month") not in ("month", "months"):
        raise bad(f"{term_path}.units", 'give the term in "month".')
    quantity = integer(item.get("quantity"), f"{path}.quantity")
    if not 1 <= quantity <= MAX_QUANTITY:
        raise bad(f"{path}.quantity", f"must be from 1 to {MAX_QUANTITY}.", 422)
    offering = catalog.offerings.get(code)
    if offering is None:
        raise bad(f"{path}.productOffering.id",
                   f"there is no product offering {code[:64]!r} in the catalog.", 422)
    if months not in offering.terms:
        terms = ", ".join(str(t) for t in sorted(offering.terms))
        raise bad(f"{term_path}.amount", f"{offering.name} is offered for {terms} months, "
                                          f"not {months}.", 422)
    return site_id, code, quantity, months


def _check_places(items: list[tuple[int, str, int, int]], catalog: Catalog,
                  day: dt.date) -> None:
    """Every site is an active site of the organisation, and the items keep the catalog's
    rules (availability, sales windows, requires, excludes), each problem named by item."""
    ids = {site_id for site_id, *_ in items}
    countries = dict(db.session.execute(select(Site.id, Site.country).where(
        Site.organisation_id == g.current_org_id, Site.id.in_(ids),
        Site.status == "active")).all())
    for index, (site_id, *_) in enumerate(items):
        if site_id not in countries:
            raise bad(f"quoteItem[{index}].product.place[0].id",
                       f"site {site_id} is not an active site of this organisation.", 422)
    violations = check_configuration(
        catalog, [LineRequest(code, quantity, term, site_id)
                  for site_id, code, quantity, term in items], countries, day)
    if violations:
        shown = "; ".join(
            (f"quoteItem[{v.line_index}]: " if v.line_index is not None else "") + v.message
            for v in violations[:RULES_SHOWN])
        more = len(violations) - RULES_SHOWN
        raise ApiError(422, f"The items break the catalog's rules: {shown}"
                            + (f" (and {more} more)" if more > 0 else ""))


def _billing_account(body: dict) -> int | None:
    if "billingAccount" not in body:
        return None
    account_id = reference(first(body["billingAccount"], "billingAccount").get("id"),
                            "billingAccount[0].id")
    found = db.session.scalar(select(BillingAccount.id).where(
        BillingAccount.id == account_id, BillingAccount.organisation_id == g.current_org_id,
        BillingAccount.status == "active"))
    if found is None:
        raise bad("billingAccount[0].id", f"{account_id} is not an active billing account "
                                           "of this organisation.", 422)
    return account_id



# -- operations ------------------------------------------------------------------------------

@bp.get("/quote")
@api_require(Permission.QUOTES_VIEW)
def list_quotes():
    """The organisation's quotes, oldest first, a page at a time (`offset`, `limit`),
    filtered by `state` (the latest version's) or `externalId`; `X-Total-Count` counts all
    matches. A fixed number of queries whatever the number of quotes."""
    only_known_parameters("fields", "offset", "limit", *FILTERS)
    page = page_from_request()
    fields = fields_from_request()
    total = db.session.scalar(select(func.count()).select_from(
        _filtered(_latest(select(QuoteVersion.id))).subquery()))
    versions = db.session.scalars(_filtered(_latest(_loaded()))
                                  .order_by(Quote.id).offset(page.offset).limit(page.limit)
                                  ).all()
    orders = _order_numbers(versions)
    org = g.current_org
    return page_response([select_fields(quote_resource(v, org, orders.get(v.id)), fields,
                                        ALWAYS) for v in versions], total)


@bp.get("/quote/<quote_id>")
@api_require(Permission.QUOTES_VIEW)
def retrieve_quote(quote_id: str):
    """One quote of the organisation, as its latest version stands; any other id answers
    404."""
    only_known_parameters("fields")
    item = _resource(_version_or_404(quote_id))
    return jsonify(select_fields(item, fields_from_request(), ALWAYS))


@bp.post("/quote")
@api_require(Permission.QUOTES_CREATE)
def create_quote():
    """A new quote, in progress, from `quoteItem`s priced by the engine with the catalog in
    force; `billingAccount[0].id` (default: the organisation's first active account),
    `description` (the title) and `externalId` are optional. 201 with the quote; 400 or
    422 naming the attribute at fault, and nothing is made."""
    body = json_body(("application/json",))
    found = current_catalog(db.session)
    if found is None:
        raise ApiError(422, "The catalog is not loaded yet; nothing can be quoted.")
    catalog_version, catalog = found
    state = body.get("state")
    if state is not None and state != QuoteState.IN_PROGRESS:
        raise bad("state", "a new quote is inProgress; PATCH it to pending to ask for "
                            "approval.", 422)
    raw_items = body.get("quoteItem")
    if not isinstance(raw_items, list) or not raw_items:
        raise bad("quoteItem", "give at least one quote item (an array).")
    if len(raw_items) > MAX_LINES:
        raise bad("quoteItem", f"a quote holds at most {MAX_LINES} items.", 422)
    items = [_item(raw, index, catalog) for index, raw in enumerate(raw_items)]
    title = optional_text(body, "description", MAX_TITLE)
    external_id = optional_text(body, "externalId", MAX_EXTERNAL_ID) or None
    account_id = _billing_account(body)
    today = utcnow().date()
    _check_places(items, catalog, today)
    try:
        quote = services.create_from_requests(
            db.session, g.current_org_id, items, account_id, catalog_version, catalog,
            None, today, title=title, external_id=external_id)
        db.session.commit()
    except RuleError as error:
        db.session.rollback()
        raise ApiError(422, str(error)) from None
    response = jsonify(_resource(_version_or_404(str(quote.id))))
    response.status_code = 201
    response.headers["Location"] = href("tmf648.retrieve_quote", quote_id=quote.id)
    return response


def _printable(text: str, path: str) -> str:
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise bad(path, "holds characters that cannot be printed.", 422)
    return text


def _acceptance(body: dict) -> tuple[str, str]:
    """The purchase-order number (the note with id `purchaseOrder`) and the name of the
    person accepting (the related party with role `signatory`)."""
    purchase_order = signatory = None
    notes = body.get("note")
    if isinstance(notes, list):
        for index, note in enumerate(notes):
            if isinstance(note, dict) and note.get("id") == PURCHASE_ORDER_NOTE:
                path = f"note[{index}].text"
                purchase_order = _printable(string(note.get("text"), path, 100).strip(), path)
    if not purchase_order:
        raise bad("note", f'give the purchase-order number as a note with id '
                           f'"{PURCHASE_ORDER_NOTE}" and the number as its text.', 422)
    parties = body.get("relatedParty")
    if isinstance(parties, list):
        for index, party in enumerate(parties):
            if isinstance(party, dict) and party.get("role") == SIGNATORY:
                path = f"relatedParty[{index}].name"
                signatory = _printable(string(party.get("name"), path, 200).strip(), path)
    if not signatory:
        raise bad("relatedParty", f'name the person accepting as a related party with role '
                                   f'"{SIGNATORY}" and their name.', 422)
    return purchase_order, signatory


def _unchanged(body: dict, current: dict, target: str | None) -> None:
    """Refuse a change to anything but `state` (and, to accept, `note` and
    `relatedParty`); attributes repeated as they are, or set by the portal, pass."""
    if "version" in body and body["version"] != current["version"]:
        raise ApiError(409, f"version: the quote is at version {current['version']} now; "
                            "read it again before changing it.")
    for name, value in body.items():
        if name in READ_ONLY or name in ("state", "version"):
            continue
        if name in ("note", "relatedParty") and target == QuoteState.ACCEPTED:
            continue
        if current.get(name) != value:
            hint = ("only with state accepted (the purchase order and the signatory)"
                    if name in ("note", "relatedParty") else
                    "only state can be changed through the API (pending, accepted, "
                    "cancelled)")
            raise bad(name[:60], f"cannot be changed: {hint}.", 422)


def _need(permission: Permission) -> None:
    if permission not in g.current_permissions:
        raise ApiError(403, f"The key's role ({g.api_key.role}) does not allow "
                            f"{permission.value}.",
                       {"WWW-Authenticate": REALM + ', error="insufficient_scope"'})


def _change_state(version: QuoteVersion, target: str, body: dict) -> None:
    today = utcnow().date()
    if target == QuoteState.PENDING:
        approvals.submit(db.session, version, None, today)
    elif target == QuoteState.CANCELLED:
        services.cancel(db.session, version, today)
    else:
        _need(Permission.ORDERS_CREATE)
        purchase_order, signatory = _acceptance(body)
        acceptance.accept(db.session, version, None, purchase_order, signatory, today)


@bp.patch("/quote/<quote_id>")
@api_require(Permission.QUOTES_CREATE)
def patch_quote(quote_id: str):
    """Change the quote's `state` as a customer may: `pending` asks for approval (the
    answer is `approved` when the policy approves at once), `accepted` accepts an approved
    quote (purchase order and signatory needed; an order is made), `cancelled` withdraws
    it. Repeating the current state changes nothing. 422 when the rules refuse, with the
    reason; 409 when the quote changed meanwhile."""
    version = _version_or_404(quote_id)
    body = json_body(PATCH_TYPES)
    target = body.get("state")
    if "state" in body and target not in QuoteState.ALL:
        raise bad("state", f"must be one of {', '.join(QuoteState.ALL)}.")
    if target in NOT_FOR_CUSTOMERS and target != version.state:
        raise bad("state", f"{NOT_FOR_CUSTOMERS[target]}.", 422)
    current = _resource(version)
    _unchanged(body, current, target)
    if target is None or target == version.state:
        if target == QuoteState.ACCEPTED and ("note" in body or "relatedParty" in body) \
                and _acceptance(body) != (version.purchase_order, version.accepted_by_name):
            raise ApiError(409, f"state: the quote was already accepted, with purchase order "
                                f"{version.purchase_order}.")
        return jsonify(current)
    try:
        _change_state(version, target, body)
        db.session.commit()
    except ConcurrentChange as error:
        db.session.rollback()
        raise ApiError(409, f"state: {error}") from None
    except RuleError as error:
        db.session.rollback()
        raise bad("state", str(error), 422) from None
    return jsonify(_resource(_version_or_404(quote_id)))


@bp.get("/quote/<quote_id>/pdf")
@api_require(Permission.QUOTES_VIEW)
def quote_pdf(quote_id: str):
    """The quote's PDF: its latest version, or version `?version=N` (the quote's
    `attachment` names the version it was read at)."""
    from portal.pdf import pdf_response
    from quotes.pdf import quote_pdf_filename, render_quote_pdf

    only_known_parameters("version")
    raw = request.args.get("version")
    number = None
    if raw is not None:
        if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
            raise ApiError(404, "There is no such version of this quote.")
        number = int(raw)
    version = _version_or_404(quote_id, number)
    return pdf_response(render_quote_pdf(version, g.current_org.name),
                        quote_pdf_filename(version))
