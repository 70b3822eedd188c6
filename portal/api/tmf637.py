"""TMF637 Product Inventory: the organisation's services, read-only.

`GET /tmf-api/productInventory/v4/product` and `.../product/{id}`, mapping each service of
the inventory to a TMF637 v4 `Product`. A site is referenced by its id in `place`
(`RelatedPlaceRefOrValue`, role `installationAddress`), as DESIGN.md says.
"""

from __future__ import annotations

from flask import g, jsonify, request
from sqlalchemy import false, func, select
from sqlalchemy.orm import joinedload

from accounts.estate.models import Service
from portal.api import ApiError, api_blueprint
from portal.api.auth import api_require
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
from portal.db import tenant_get_or_404
from portal.extensions import db
from portal.security import Permission

bp = api_blueprint("tmf637", __name__, "/tmf-api/productInventory/v4")

ALWAYS = ("id", "href", "@type")
# The inventory's statuses as TMF637 ProductStatusType values, and back.
STATUS_TO_TMF = {"active": "active", "suspended": "suspended", "ceased": "terminated"}
TMF_TO_STATUS = {tmf: status for status, tmf in STATUS_TO_TMF.items()}
FILTERS = ("status", "place.id", "productOffering.id", "billingAccount.id")
# Every ProductStatusType value: a filter on one the inventory never has just matches nothing.
TMF_STATUSES = ("created", "pendingActive", "cancelled", "active", "pendingTerminate",
                "terminated", "suspended", "aborted")


def product_resource(service: Service, org) -> dict:
    """A service as a TMF637 `Product`: its quantity is a product characteristic, its term a
    product term, the monthly charge billed by its source system a recurring product
    price."""
    account = service.billing_account
    item = {
        "id": str(service.id),
        "href": href("tmf637.retrieve_product", product_id=service.id),
        "name": service.description or service.offering_code,
        "description": service.description,
        "isBundle": False,
        "isCustomerVisible": True,
        "status": STATUS_TO_TMF.get(service.status, service.status),
        "startDate": iso_datetime(service.start_date),
        "productOffering": {"id": service.offering_code, "@referredType": "ProductOffering"},
        "productCharacteristic": [
            {"name": "quantity", "valueType": "integer", "value": service.quantity},
        ],
        "productTerm": [{
            "name": f"{service.term_months} months",
            "duration": {"amount": service.term_months, "units": "month"},
            "validFor": {"startDateTime": iso_datetime(service.start_date),
                         **({"endDateTime": iso_datetime(service.end_date)}
                            if service.end_date else {})},
        }],
        "place": [{
            "id": str(service.site_id),
            "name": service.site.name,
            "role": "installationAddress",
            "@referredType": "GeographicSite",
        }],
        "relatedParty": [organisation_party(org, "customer")],
        "@type": "Product",
    }
    if service.status == "ceased" and service.end_date:
        item["terminationDate"] = iso_datetime(service.end_date)
    if account is not None:
        item["billingAccount"] = {
            "id": str(account.id),
            "href": href("tmf666.retrieve_billing_account", account_id=account.id),
            "name": account.name,
            "@referredType": "BillingAccount",
        }
    if service.monthly_charge is not None:
        amount = {"value": float(service.monthly_charge)}
        if account is not None:
            amount["unit"] = account.currency
        item["productPrice"] = [{
            "name": "Monthly charge",
            "priceType": "recurring",
            "recurringChargePeriod": "month",
            "price": {"dutyFreeAmount": amount},
        }]
    return item


def _loaded():
    # Site and billing account in the same query as the services: a fixed query count.
    return select(Service).options(joinedload(Service.site), joinedload(Service.billing_account))


def _filtered(stmt):
    status = request.args.get("status")
    if status is not None:
        if status not in TMF_STATUSES:
            raise ApiError(400, f"status must be one of {', '.join(TMF_STATUSES)}.")
        known = TMF_TO_STATUS.get(status)
        stmt = stmt.where(Service.status == known if known else false())
    offering = request.args.get("productOffering.id")
    if offering:
        stmt = stmt.where(equals(Service.offering_code, offering))
    for param, column in (("place.id", Service.site_id),
                          ("billingAccount.id", Service.billing_account_id)):
        value = id_filter(param)
        if value is not None:
            stmt = stmt.where(equals(column, value))
    return stmt


@bp.get("/product")
@api_require(Permission.INVENTORY_VIEW)
def list_products():
    """The organisation's products, a page at a time (`offset`, `limit`), filtered by
    `status`, `place.id` (site), `productOffering.id` (offering code) or
    `billingAccount.id`; `X-Total-Count` counts all matches. Two queries whatever the number
    of products."""
    only_known_parameters("fields", "offset", "limit", *FILTERS)
    page = page_from_request()
    fields = fields_from_request()
    where = _filtered(select(Service.id).where(Service.organisation_id == g.current_org_id))
    total = db.session.scalar(select(func.count()).select_from(where.subquery()))
    services = db.session.scalars(
        _filtered(_loaded().where(Service.organisation_id == g.current_org_id))
        .order_by(Service.id).offset(page.offset).limit(page.limit)
    ).all()
    org = g.current_org
    return page_response(
        [select_fields(product_resource(s, org), fields, ALWAYS) for s in services], total
    )


@bp.get("/product/<product_id>")
@api_require(Permission.INVENTORY_VIEW)
def retrieve_product(product_id: str):
    """One product of the organisation; any other id answers 404."""
    only_known_parameters("fields")
    service = tenant_get_or_404(db.session, Service, resource_id_or_404(product_id))
    item = product_resource(service, g.current_org)
    return jsonify(select_fields(item, fields_from_request(), ALWAYS))
