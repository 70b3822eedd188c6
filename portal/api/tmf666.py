"""TMF666 Account Management: the organisation's billing accounts, read-only.

`GET /tmf-api/accountManagement/v4/billingAccount` and `.../billingAccount/{id}`, mapped to
the TMF666 v4 `BillingAccount` resource.
"""

from __future__ import annotations

from flask import g, jsonify, request
from sqlalchemy import func, select

from accounts.estate.models import BillingAccount
from portal.api import api_blueprint
from portal.api.auth import api_require
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
from portal.db import tenant_get_or_404
from portal.extensions import db
from portal.security import Permission

bp = api_blueprint("tmf666", __name__, "/tmf-api/accountManagement/v4")

# What the BillingAccount schema requires, kept whatever `fields` asks for.
ALWAYS = ("id", "href", "@type", "name", "relatedParty")
# Filters: query parameter -> column (exact match, as TMF filtering does).
FILTERS = {"name": BillingAccount.name, "state": BillingAccount.status}


def billing_account_resource(account: BillingAccount, org) -> dict:
    """A billing account as a TMF666 `BillingAccount`: its address is the billing contact's
    postal address, its delivery preference the bill presentation media."""
    description = f"Billing account {account.number}"
    if account.cost_centre:
        description += f", cost centre {account.cost_centre}"
    return {
        "id": str(account.id),
        "href": href("tmf666.retrieve_billing_account", account_id=account.id),
        "name": account.name,
        "description": description,
        "accountType": "business",
        "state": account.status,
        "contact": [{
            "contactType": "billing",
            "contactName": account.name,
            "validFor": {"startDateTime": iso_datetime(account.created_at)},
            "contactMedium": [{
                "mediumType": "postalAddress",
                "preferred": True,
                "characteristic": {"contactType": "billing", **{
                    name: value for name, value in (
                        ("street1", account.address), ("postCode", account.postcode),
                        ("city", account.city), ("country", account.country))
                    if value}},
            }],
        }],
        "billStructure": {
            "cycleSpecification": {
                "name": "monthly", "isRef": False, "billingPeriod": "month",
                "paymentDueDateOffset": account.payment_terms_days,
            },
            "presentationMedia": [{"name": account.delivery, "isRef": False}],
        },
        "relatedParty": [organisation_party(org, "customer")],
        "@type": "BillingAccount",
    }


@bp.get("/billingAccount")
@api_require(Permission.BILLING_ACCOUNTS_VIEW)
def list_billing_accounts():
    """The organisation's billing accounts, a page at a time (`offset`, `limit`), filtered
    by `name` or `state`; `X-Total-Count` counts all matches. Two queries whatever the
    number of accounts."""
    only_known_parameters("fields", "offset", "limit", *FILTERS)
    page = page_from_request()
    fields = fields_from_request()
    stmt = select(BillingAccount).where(BillingAccount.organisation_id == g.current_org_id)
    for param, column in FILTERS.items():
        value = request.args.get(param)
        if value:
            stmt = stmt.where(equals(column, value))
    total = db.session.scalar(select(func.count()).select_from(stmt.subquery()))
    accounts = db.session.scalars(
        stmt.order_by(BillingAccount.id).offset(page.offset).limit(page.limit)
    ).all()
    org = g.current_org
    return page_response(
        [select_fields(billing_account_resource(a, org), fields, ALWAYS) for a in accounts],
        total,
    )


@bp.get("/billingAccount/<account_id>")
@api_require(Permission.BILLING_ACCOUNTS_VIEW)
def retrieve_billing_account(account_id: str):
    """One billing account of the organisation; any other id answers 404."""
    only_known_parameters("fields")
    account = tenant_get_or_404(db.session, BillingAccount, resource_id_or_404(account_id))
    item = billing_account_resource(account, g.current_org)
    return jsonify(select_fields(item, fields_from_request(), ALWAYS))
