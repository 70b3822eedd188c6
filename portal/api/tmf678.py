"""TMF678 Customer Bill Management: the organisation's bills and their lines, read-only.

`GET /tmf-api/customerBillManagement/v4/customerBill` and `.../customerBill/{id}` map each
bill (imported from a billing system or made by the portal's bill run) to a TMF678 v4
`CustomerBill`; `.../appliedCustomerBillingRate` and `/{id}` map its lines. The bill's PDF is
its `billDocument`, downloaded from `.../customerBill/{id}/document` (a portal extension).

The lines are written the way the TMF678 import reads them (docs/BILLS.md): the kind as
`type`, the billing system's service reference as `product.id`, site code, offering code,
product family, cost centre and quantity as characteristics, tax rates as fractions. So a
bill read here, with its rates embedded as `appliedCustomerBillingRate`, imports back as the
same bill.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from decimal import Decimal

from flask import abort, g, jsonify, request
from sqlalchemy import false, func, select
from sqlalchemy.orm import contains_eager

from accounts.estate.models import BillingAccount, Site
from portal.api import ApiError, api_blueprint
from portal.api.auth import api_require
from portal.api.body import money
from portal.api.pagination import page_from_request, page_response
from portal.api.tmf import (
    equals,
    fields_from_request,
    href,
    id_filter,
    iso_datetime,
    only_known_parameters,
    organisation_party,
    resource_id_or_404,
    select_fields,
)
from portal.billing.models import Bill, BillLine, LineKind
from portal.db import tenant_get_or_404
from portal.extensions import db
from portal.security import Permission

bp = api_blueprint("tmf678", __name__, "/tmf-api/customerBillManagement/v4")

# TMF678 requires nothing of a CustomerBill and only `id` of a rate; these always come.
ALWAYS = ("id", "href", "@type")
# Every TMF678 stateValue. The portal is told of bills once they are issued and never of
# payments, so each of its bills is `sent`; a filter on another state matches nothing.
BILL_STATE = "sent"
TMF_STATES = ("new", "onHold", "validated", "sent", "partiallyPaid", "settled")
BILL_FILTERS = ("billingAccount.id", "billNo", "billDate", "billDate.gte", "billDate.lte",
                "period", "state")
RATE_FILTERS = ("bill.id", "type")
PERIOD = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")
TAX_CATEGORY = "VAT"
PDF = "application/pdf"


# -- the resources ---------------------------------------------------------------------------


def _end_of_day(day: dt.date) -> str:
    # Periods end on their last day, inclusive: its last second, which the import reads back
    # as that day.
    return iso_datetime(dt.datetime.combine(day, dt.time(23, 59, 59), tzinfo=dt.UTC))


def _period(start: dt.date, end: dt.date) -> dict:
    return {"startDateTime": iso_datetime(start), "endDateTime": _end_of_day(end)}


def _number(value: Decimal) -> int | float:
    """A quantity as a JSON number: 7, not 7.0 (a float's shortest form reads back exactly)."""
    return int(value) if value == value.to_integral_value() else float(value)


def _tax_items(rates: list[tuple[Decimal, Decimal]], currency: str) -> list[dict]:
    """One TaxItem per tax rate of the bill's lines, with the tax of those lines."""
    totals: dict[Decimal, Decimal] = defaultdict(Decimal)
    for rate, amount in rates:
        totals[rate.normalize()] += amount
    return [{"taxCategory": TAX_CATEGORY, "taxRate": float(rate),
             "taxAmount": money(amount, currency), "@type": "TaxItem"}
            for rate, amount in sorted(totals.items())]


def billing_account_ref(account: BillingAccount) -> dict:
    """The bill's account, named by its number as billing systems and the import know it;
    `href` is the account's TMF666 resource."""
    return {"id": account.number, "name": account.name,
            "href": href("tmf666.retrieve_billing_account", account_id=account.id),
            "@referredType": "BillingAccount"}


def bill_document_ref(bill: Bill) -> dict:
    """The bill's PDF as an AttachmentRefOrValue, downloaded with the same key."""
    from portal.billing.documents import bill_pdf_filename  # pulls in WeasyPrint

    url = href("tmf678.bill_document", bill_id=bill.id)
    return {"id": f"{bill.id}-pdf", "href": url, "url": url,
            "name": bill_pdf_filename(bill), "attachmentType": "bill",
            "description": f"Bill {bill.bill_number} (PDF)", "mimeType": PDF,
            "@referredType": "Attachment"}


def customer_bill_resource(bill: Bill, org, account: BillingAccount | None,
                           rates: list[tuple[Decimal, Decimal]]) -> dict:
    """A bill as a TMF678 `CustomerBill`. `rates` are its lines' (tax rate, tax amount):
    the tax items. The whole amount is due (the portal is told of no payments)."""
    currency = bill.currency
    item = {
        "id": str(bill.id),
        "href": href("tmf678.retrieve_customer_bill", bill_id=bill.id),
        "billNo": bill.bill_number,
        "billDate": iso_datetime(bill.bill_date),
        "lastUpdate": iso_datetime(bill.imported_at),
        "category": "credit note" if bill.amount_incl_tax < 0 else "normal",
        "runType": "onCycle",
        "state": BILL_STATE,
        "billingPeriod": _period(bill.period_start, bill.period_end),
        "amountDue": money(bill.amount_incl_tax, currency),
        "taxExcludedAmount": money(bill.amount_excl_tax, currency),
        "taxIncludedAmount": money(bill.amount_incl_tax, currency),
        "taxItem": _tax_items(rates, currency),
        "billDocument": [bill_document_ref(bill)],
        "relatedParty": [organisation_party(org, "customer")],
        "@type": "CustomerBill",
    }
    if bill.due_date is not None:
        item["paymentDueDate"] = iso_datetime(bill.due_date)
    if account is not None:
        item["billingAccount"] = billing_account_ref(account)
    return item


def _characteristics(line: BillLine, site_code: str | None) -> list[dict]:
    text = (("siteCode", site_code), ("offeringCode", line.offering_code),
            ("productFamily", line.product_family), ("costCentre", line.cost_centre))
    found = [{"name": name, "valueType": "string", "value": value}
             for name, value in text if value]
    found.append({"name": "quantity", "valueType": "number",
                  "value": _number(line.quantity)})
    return found


def applied_rate_resource(line: BillLine, site_code: str | None) -> dict:
    """A bill line as a TMF678 `AppliedCustomerBillingRate`, in the import's terms: `type`
    is the line's kind, `product.id` the billing system's service reference (its `href` the
    TMF637 product when the portal knows the service), the site's code a characteristic."""
    bill = line.bill
    currency = bill.currency
    item = {
        "id": str(line.id),
        "href": href("tmf678.retrieve_applied_rate", rate_id=line.id),
        "name": line.description,
        "type": line.kind,
        "date": iso_datetime(bill.bill_date),
        "isBilled": True,
        "bill": {"id": str(bill.id),
                 "href": href("tmf678.retrieve_customer_bill", bill_id=bill.id),
                 "@referredType": "CustomerBill"},
        "characteristic": _characteristics(line, site_code),
        "taxExcludedAmount": money(line.amount, currency),
        "taxIncludedAmount": money(line.amount + line.tax_amount, currency),
        "appliedTax": [{"taxCategory": TAX_CATEGORY, "taxRate": float(line.tax_rate),
                        "taxAmount": money(line.tax_amount, currency)}],
        "@type": "AppliedCustomerBillingRate",
    }
    coverage = {name: value for name, value in (
        ("startDateTime", iso_datetime(line.period_start)),
        ("endDateTime", _end_of_day(line.period_end) if line.period_end else None)) if value}
    if coverage:
        item["periodCoverage"] = coverage
    if line.service_ref or line.service_id is not None:
        product = {"@referredType": "Product"}
        if line.service_ref:
            product["id"] = line.service_ref
        if line.service_id is not None:
            product["href"] = href("tmf637.retrieve_product", product_id=line.service_id)
            product.setdefault("id", str(line.service_id))
        item["product"] = product
    return item


# -- reading ---------------------------------------------------------------------------------


def _accounts(bills: list[Bill]) -> dict[int, BillingAccount]:
    ids = {b.billing_account_id for b in bills if b.billing_account_id is not None}
    if not ids:
        return {}
    return {a.id: a for a in db.session.scalars(
        select(BillingAccount).where(BillingAccount.id.in_(ids)))}


def _tax_rates(bills: list[Bill]) -> dict[int, list[tuple[Decimal, Decimal]]]:
    # Summed here, in Decimal: SQLite would add the amounts up as binary floats.
    found: dict[int, list[tuple[Decimal, Decimal]]] = defaultdict(list)
    if bills:
        for bill_id, rate, amount in db.session.execute(
                select(BillLine.bill_id, BillLine.tax_rate, BillLine.tax_amount)
                .where(BillLine.bill_id.in_([b.id for b in bills]))):
            found[bill_id].append((rate, amount))
    return found


def _bill_resources(bills: list[Bill]) -> list[dict]:
    """The bills as resources, in two more queries whatever their number."""
    accounts, rates, org = _accounts(bills), _tax_rates(bills), g.current_org
    return [customer_bill_resource(b, org, accounts.get(b.billing_account_id), rates[b.id])
            for b in bills]


def _date_parameter(name: str) -> dt.date | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    try:
        return (dt.date.fromisoformat(raw) if len(raw) == 10
                else dt.datetime.fromisoformat(raw).date())
    except ValueError:
        raise ApiError(400, f"{name} must be a date (YYYY-MM-DD) or an RFC 3339 date-time, "
                            f"not {raw[:30]!r}.") from None


def _filtered_bills(stmt):
    account = request.args.get("billingAccount.id")
    if account is not None:
        stmt = stmt.where(Bill.billing_account_id.in_(
            select(BillingAccount.id).where(
                BillingAccount.organisation_id == g.current_org_id,
                equals(BillingAccount.number, account))))
    number = request.args.get("billNo")
    if number is not None:
        stmt = stmt.where(equals(Bill.bill_number, number))
    for name, compare in (("billDate", Bill.bill_date.__eq__),
                          ("billDate.gte", Bill.bill_date.__ge__),
                          ("billDate.lte", Bill.bill_date.__le__)):
        day = _date_parameter(name)
        if day is not None:
            stmt = stmt.where(compare(day))
    period = request.args.get("period")
    if period is not None:
        if not PERIOD.fullmatch(period):
            raise ApiError(400, f"period must be a month (YYYY-MM), not {period[:20]!r}.")
        stmt = stmt.where(Bill.period == period)
    state = request.args.get("state")
    if state is not None:
        if state not in TMF_STATES:
            raise ApiError(400, f"state must be one of {', '.join(TMF_STATES)}.")
        if state != BILL_STATE:
            stmt = stmt.where(false())
    return stmt


@bp.get("/customerBill")
@api_require(Permission.BILLS_VIEW)
def list_customer_bills():
    """The organisation's bills, newest first, a page at a time (`offset`, `limit`), filtered
    by `billingAccount.id` (the account number), `billNo`, `billDate` (or `billDate.gte`,
    `billDate.lte`), `period` (YYYY-MM) or `state`; `X-Total-Count` counts all matches. Four
    queries whatever the number of bills."""
    only_known_parameters("fields", "offset", "limit", *BILL_FILTERS)
    page = page_from_request()
    fields = fields_from_request()
    stmt = _filtered_bills(select(Bill).where(Bill.organisation_id == g.current_org_id))
    total = db.session.scalar(select(func.count()).select_from(stmt.subquery()))
    bills = db.session.scalars(
        stmt.order_by(Bill.bill_date.desc(), Bill.id.desc())
        .offset(page.offset).limit(page.limit)).all()
    return page_response([select_fields(item, fields, ALWAYS)
                          for item in _bill_resources(list(bills))], total)


@bp.get("/customerBill/<bill_id>")
@api_require(Permission.BILLS_VIEW)
def retrieve_customer_bill(bill_id: str):
    """One bill of the organisation; any other id answers 404."""
    only_known_parameters("fields")
    bill = tenant_get_or_404(db.session, Bill, resource_id_or_404(bill_id))
    return jsonify(select_fields(_bill_resources([bill])[0], fields_from_request(), ALWAYS))


@bp.get("/customerBill/<bill_id>/document")
@api_require(Permission.BILLS_VIEW)
def bill_document(bill_id: str):
    """The bill's PDF (its `billDocument`), as the portal's pages give it."""
    from portal.billing.documents import bill_pdf, bill_pdf_filename
    from portal.pdf import pdf_response

    if request.args:
        raise ApiError(400, "This operation takes no query parameters.")
    bill = tenant_get_or_404(db.session, Bill, resource_id_or_404(bill_id))
    return pdf_response(bill_pdf(db.session, g.current_org, bill), bill_pdf_filename(bill))


def _rates():
    # The bill in the same query as its lines, and only the organisation's bills.
    return (select(BillLine).join(BillLine.bill).options(contains_eager(BillLine.bill))
            .where(Bill.organisation_id == g.current_org_id))


def _site_codes(lines: list[BillLine]) -> dict[int, str]:
    ids = {line.site_id for line in lines if line.site_id is not None}
    if not ids:
        return {}
    return dict(db.session.execute(select(Site.id, Site.code).where(Site.id.in_(ids))).all())


def _filtered_rates(stmt):
    bill_id = id_filter("bill.id")
    if bill_id is not None:
        stmt = stmt.where(equals(BillLine.bill_id, bill_id))
    kind = request.args.get("type")
    if kind is not None:
        if kind not in LineKind.ALL:
            raise ApiError(400, f"type must be one of {', '.join(LineKind.ALL)}.")
        stmt = stmt.where(BillLine.kind == kind)
    return stmt


@bp.get("/appliedCustomerBillingRate")
@api_require(Permission.BILLS_VIEW)
def list_applied_rates():
    """The lines of the organisation's bills (newest bill first, each bill's lines in their
    order), a page at a time, filtered by `bill.id` or `type` (the line's kind). Three
    queries whatever the number of lines."""
    only_known_parameters("fields", "offset", "limit", *RATE_FILTERS)
    page = page_from_request()
    fields = fields_from_request()
    stmt = _filtered_rates(_rates())
    total = db.session.scalar(select(func.count()).select_from(
        _filtered_rates(select(BillLine.id).join(BillLine.bill)
                        .where(Bill.organisation_id == g.current_org_id)).subquery()))
    lines = list(db.session.scalars(
        stmt.order_by(Bill.bill_date.desc(), Bill.id.desc(), BillLine.position)
        .offset(page.offset).limit(page.limit)).all())
    codes = _site_codes(lines)
    return page_response([select_fields(applied_rate_resource(line, codes.get(line.site_id)),
                                        fields, ALWAYS) for line in lines], total)


@bp.get("/appliedCustomerBillingRate/<rate_id>")
@api_require(Permission.BILLS_VIEW)
def retrieve_applied_rate(rate_id: str):
    """One line of a bill of the organisation; any other id answers 404."""
    only_known_parameters("fields")
    line = db.session.scalars(_rates().where(BillLine.id == resource_id_or_404(rate_id))).first()
    if line is None:
        abort(404)
    item = applied_rate_resource(line, _site_codes([line]).get(line.site_id))
    return jsonify(select_fields(item, fields_from_request(), ALWAYS))
