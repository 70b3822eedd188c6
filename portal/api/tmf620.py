"""TMF620 Product Catalog Management: the catalog's offerings and prices, read-only.

`GET /tmf-api/productCatalogManagement/v4/productOffering` and `.../productOffering/{id}`
(the id is the offering code, the one TMF648 quote items and TMF637 products name), and
`.../productOfferingPrice` and `.../productOfferingPrice/{id}`: two prices per offering, the
monthly recurring `<code>-MRC` and the one-off `<code>-NRC`. Volume tiers, term discounts and
promotions are `priceAlteration`s of the offering's recurring price. Everything is read from
the catalog in force, or from version `?version=N`.
"""

from __future__ import annotations

import datetime as dt

from flask import jsonify, request

from accounts.estate.countries import COUNTRIES
from portal.api import ApiError, api_blueprint
from portal.api.auth import api_require
from portal.api.body import money, percentage
from portal.api.pagination import page_from_request, page_response
from portal.api.tmf import (
    fields_from_request,
    href,
    iso_datetime,
    only_known_parameters,
    select_fields,
)
from portal.catalog.display import FAMILY_LABELS, percent, promotion_text, tiers_text
from portal.catalog.models import CatalogVersion
from portal.catalog.schema import Catalog, Offering
from portal.catalog.store import catalog_version, current_catalog
from portal.db import utcnow
from portal.extensions import db
from portal.security import Permission

bp = api_blueprint("tmf620", __name__, "/tmf-api/productCatalogManagement/v4")

ALWAYS = ("id", "href", "@type")
OFFERING_FILTERS = ("lifecycleStatus", "name", "category.id")
PRICE_FILTERS = ("lifecycleStatus", "priceType")
PRICE_KINDS = {"MRC": "recurring", "NRC": "oneTime"}
# Every lifecycle status of TMF620: a filter on one the catalog never uses matches nothing.
# An offering is Launched while on sale, Active when scheduled (approved, not launched yet),
# Retired once ended.
TMF620_LIFECYCLE_STATUSES = ("In study", "In design", "In test", "Active", "Launched",
                             "Retired", "Obsolete", "Rejected")


def lifecycle_status(offering: Offering, day: dt.date) -> str:
    """`Launched` while it is sold, `Active` before its `valid_from`, `Retired` after its
    `valid_to`."""
    if offering.is_sold_on(day):
        return "Launched"
    if offering.valid_from is not None and day < offering.valid_from:
        return "Active"
    return "Retired"


def _valid_for(start: dt.date | None, end: dt.date | None) -> dict | None:
    # The catalog's periods are whole days, `valid_to` included: the period ends with it.
    period = {}
    if start is not None:
        period["startDateTime"] = iso_datetime(start)
    if end is not None:
        period["endDateTime"] = iso_datetime(
            dt.datetime.combine(end, dt.time(23, 59, 59), tzinfo=dt.UTC))
    return period or None


def _offering_ref(code: str, catalog: Catalog, relationship: str) -> dict:
    other = catalog.offerings.get(code)
    return {"id": code, "href": href("tmf620.retrieve_offering", offering_id=code),
            "name": other.name if other else code, "relationshipType": relationship,
            "@referredType": "ProductOffering"}


def _alterations(offering: Offering) -> list[dict]:
    """The discounts of the recurring price: volume tiers, term discounts, promotions."""
    alterations = []
    for tier in offering.volume_tiers:
        if tier.discount:
            alterations.append({
                "name": f"Volume discount from {tier.min} units",
                "description": f"{percent(tier.discount)} off the monthly price when a quote "
                               f"holds {tier.min} or more units of {offering.code} in all",
                "priceType": "discount", "recurringChargePeriod": "month",
                "price": {"percentage": percentage(tier.discount)},
            })
    for months, rate in offering.terms.items():
        if rate:
            alterations.append({
                "name": f"{months}-month term",
                "description": f"{percent(rate)} off the monthly price with a {months}-month "
                               "contract",
                "priceType": "discount", "recurringChargePeriod": "month",
                "price": {"percentage": percentage(rate)},
            })
    for promotion in offering.promotions:
        item = {
            "name": promotion.code, "description": promotion_text(promotion),
            "priceType": "discount", "recurringChargePeriod": "month",
            "applicationDuration": {"amount": promotion.months_free, "units": "month"},
            "price": {"percentage": 100.0},
        }
        period = _valid_for(promotion.valid_from, promotion.valid_to)
        if period:
            item["validFor"] = period
        alterations.append(item)
    return alterations


def _price_name(offering: Offering, kind: str) -> str:
    return f"{offering.name}: {'monthly charge' if kind == 'MRC' else 'one-off charge'}"


def _terms(offering: Offering) -> list[dict]:
    return [{"name": f"{months} months",
             "description": f"{percent(rate)} off the monthly price" if rate else
                            "No term discount",
             "duration": {"amount": months, "units": "month"}}
            for months, rate in offering.terms.items()]


def _places(offering: Offering) -> list[dict]:
    return [{"id": country, "name": COUNTRIES.get(country, country),
             "@referredType": "GeographicLocation"} for country in offering.available_in]


def offering_resource(offering: Offering, catalog: Catalog, version: CatalogVersion,
                      day: dt.date) -> dict:
    """An offering as a TMF620 `ProductOffering`: its family is its category, the countries
    where it is sold its places, its contract terms `productOfferingTerm`s, its rules
    (requires, excludes) and guided selling (plans, accessories) relationships, and its two
    prices embedded with their discounts as price alterations."""
    status = lifecycle_status(offering, day)
    prices = []
    for kind, price_type in PRICE_KINDS.items():
        amount = offering.recurring if kind == "MRC" else offering.one_off
        price = {
            "id": f"{offering.code}-{kind}",
            "href": href("tmf620.retrieve_price", price_id=f"{offering.code}-{kind}"),
            "name": _price_name(offering, kind), "priceType": price_type,
            "price": {"dutyFreeAmount": money(amount, catalog.currency)},
            "@referredType": "ProductOfferingPrice",
        }
        if kind == "MRC":
            price.update(recurringChargePeriod="month", recurringChargePeriodLength=1,
                         priceAlteration=_alterations(offering))
        prices.append(price)
    relationships = [
        _offering_ref(code, catalog, relationship)
        for relationship, codes in (("requires", offering.requires),
                                    ("excludes", offering.excludes),
                                    ("plan", offering.plans),
                                    ("accessory", offering.accessories))
        for code in codes
    ]
    item = {
        "id": offering.code,
        "href": href("tmf620.retrieve_offering", offering_id=offering.code),
        "name": offering.name,
        "isBundle": False,
        "isSellable": True,
        "lastUpdate": iso_datetime(version.loaded_at),
        "lifecycleStatus": status,
        "version": str(version.number),
        "category": [{"id": offering.family, "name": FAMILY_LABELS[offering.family],
                      "@referredType": "Category"}],
        "place": _places(offering),
        "productOfferingTerm": _terms(offering),
        "productOfferingPrice": prices,
        "productOfferingRelationship": relationships,
        "@type": "ProductOffering",
    }
    if offering.description:
        item["description"] = offering.description
    period = _valid_for(offering.valid_from, offering.valid_to)
    if period:
        item["validFor"] = period
    return item


def price_resource(offering: Offering, kind: str, catalog: Catalog, version: CatalogVersion,
                   day: dt.date) -> dict:
    """One price of an offering as a TMF620 `ProductOfferingPrice`: `<code>-MRC`, per unit
    and month, with the contract terms (each with its discount); `<code>-NRC`, per unit,
    once."""
    recurring = kind == "MRC"
    item = {
        "id": f"{offering.code}-{kind}",
        "href": href("tmf620.retrieve_price", price_id=f"{offering.code}-{kind}"),
        "name": _price_name(offering, kind),
        "isBundle": False,
        "lastUpdate": iso_datetime(version.loaded_at),
        "lifecycleStatus": lifecycle_status(offering, day),
        "version": str(version.number),
        "priceType": PRICE_KINDS[kind],
        "recurringChargePeriodLength": 1 if recurring else 0,
        "price": money(offering.recurring if recurring else offering.one_off,
                        catalog.currency),
        "unitOfMeasure": {"amount": 1, "units": "unit"},
        "place": _places(offering),
        "@type": "ProductOfferingPrice",
    }
    if recurring:
        item["recurringChargePeriodType"] = "month"
        item["productOfferingTerm"] = _terms(offering)
        details = [f"Per unit and month. Volume discounts ({tiers_text(offering.volume_tiers)})"
                   " on the total quantity of a quote."]
        details += [promotion_text(p) for p in offering.promotions]
        item["description"] = " ".join(details)
    else:
        item["description"] = "Per unit, once."
    period = _valid_for(offering.valid_from, offering.valid_to)
    if period:
        item["validFor"] = period
    return item


def _catalog_from_request() -> tuple[CatalogVersion, Catalog] | None:
    """The catalog in force, or version `?version=N` (400 when not a number, 404 when there
    is no such version)."""
    raw = request.args.get("version")
    if raw is None:
        return current_catalog(db.session)
    if not raw.isascii() or not raw.isdigit():
        raise ApiError(400, f"version must be a catalog version number, not {raw[:20]!r}.")
    found = catalog_version(db.session, int(raw)) if len(raw) <= 9 else None
    if found is None:
        raise ApiError(404, f"There is no catalog version {raw[:20]}.")
    return found


def _status_filter() -> str | None:
    status = request.args.get("lifecycleStatus")
    if status is not None and status not in TMF620_LIFECYCLE_STATUSES:
        raise ApiError(400, f"lifecycleStatus must be one of "
                            f"{', '.join(TMF620_LIFECYCLE_STATUSES)}.")
    return status


def _price_type_filter() -> str | None:
    price_type = request.args.get("priceType")
    if price_type is not None and price_type not in PRICE_KINDS.values():
        raise ApiError(400, "priceType must be recurring or oneTime.")
    return price_type


def _filtered_offerings(catalog: Catalog, day: dt.date, status: str | None) -> list[Offering]:
    name = request.args.get("name")
    family = request.args.get("category.id")
    return [o for o in catalog.offerings.values()
            if (status is None or lifecycle_status(o, day) == status)
            and (name is None or o.name == name)
            and (family is None or o.family == family)]


@bp.get("/productOffering")
@api_require(Permission.CATALOG_VIEW)
def list_offerings():
    """The offerings of the catalog, in the file's order, filtered by `lifecycleStatus`,
    `name` or `category.id` (the family); empty before the first catalog is loaded."""
    only_known_parameters("fields", "offset", "limit", "version", *OFFERING_FILTERS)
    page = page_from_request()
    fields = fields_from_request()
    status = _status_filter()
    found = _catalog_from_request()
    if found is None:
        return page_response([], 0)
    version, catalog = found
    day = utcnow().date()
    matches = _filtered_offerings(catalog, day, status)
    items = [select_fields(offering_resource(o, catalog, version, day), fields, ALWAYS)
             for o in matches[page.offset:page.offset + page.limit]]
    return page_response(items, len(matches))


@bp.get("/productOffering/<offering_id>")
@api_require(Permission.CATALOG_VIEW)
def retrieve_offering(offering_id: str):
    """One offering by its code; an unknown code answers 404."""
    only_known_parameters("fields", "version")
    found = _catalog_from_request()
    offering = found[1].offerings.get(offering_id) if found else None
    if offering is None:
        raise ApiError(404, "There is no such product offering in the catalog.")
    version, catalog = found
    item = offering_resource(offering, catalog, version, utcnow().date())
    return jsonify(select_fields(item, fields_from_request(), ALWAYS))


@bp.get("/productOfferingPrice")
@api_require(Permission.CATALOG_VIEW)
def list_prices():
    """Two prices per offering (monthly `-MRC`, one-off `-NRC`), in the file's order,
    filtered by `lifecycleStatus` or `priceType` (`recurring`, `oneTime`)."""
    only_known_parameters("fields", "offset", "limit", "version", *PRICE_FILTERS)
    page = page_from_request()
    fields = fields_from_request()
    status, price_type = _status_filter(), _price_type_filter()
    found = _catalog_from_request()
    if found is None:
        return page_response([], 0)
    version, catalog = found
    day = utcnow().date()
    matches = [(o, kind) for o in catalog.offerings.values() for kind in PRICE_KINDS
               if (status is None or lifecycle_status(o, day) == status)
               and (price_type is None or PRICE_KINDS[kind] == price_type)]
    items = [select_fields(price_resource(o, kind, catalog, version, day), fields, ALWAYS)
             for o, kind in matches[page.offset:page.offset + page.limit]]
    return page_response(items, len(matches))


@bp.get("/productOfferingPrice/<price_id>")
@api_require(Permission.CATALOG_VIEW)
def retrieve_price(price_id: str):
    """One price: `<code>-MRC` or `<code>-NRC`; anything else answers 404."""
    only_known_parameters("fields", "version")
    found = _catalog_from_request()
    code, _, kind = price_id.rpartition("-")
    offering = found[1].offerings.get(code) if found else None
    if offering is None or kind not in PRICE_KINDS:
        raise ApiError(404, "There is no such product offering price in the catalog.")
    version, catalog = found
    item = price_resource(offering, kind, catalog, version, utcnow().date())
    return jsonify(select_fields(item, fields_from_request(), ALWAYS))
