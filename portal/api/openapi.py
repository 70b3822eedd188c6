"""The portal's own OpenAPI 3 description of its API, public at `GET /tmf-api/openapi.json`.

Written by hand: the resources are subsets of the official TMF schemas (what the portal
fills in), so clients and tests (schemathesis) can rely on every word of it.
"""

from __future__ import annotations

from flask import jsonify

from portal.api import api_blueprint
from portal.api.pagination import DEFAULT_LIMIT, MAX_LIMIT, MAX_OFFSET
from portal.api.tmf620 import TMF620_LIFECYCLE_STATUSES
from portal.api.tmf637 import TMF_STATUSES
from portal.security import public

bp = api_blueprint("openapi", __name__, "/tmf-api")

VERSION = "1.0.0"


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _array(schema: dict, **extra) -> dict:
    return {"type": "array", "items": schema, **extra}


STRING = {"type": "string"}
DATE_TIME = {"type": "string", "format": "date-time"}
ID_PATTERN = "^[0-9]{1,18}$"

SCHEMAS = {
    "Error": {
        "type": "object",
        "description": "TMF Error: `code` is the HTTP status.",
        "required": ["code", "reason"],
        "properties": {"code": STRING, "reason": STRING, "message": STRING},
    },
    "RelatedParty": {
        "type": "object",
        "required": ["id", "name", "@referredType"],
        "properties": {"id": STRING, "name": STRING, "role": STRING, "@referredType": STRING},
    },
    "TimePeriod": {
        "type": "object",
        "properties": {"startDateTime": DATE_TIME, "endDateTime": DATE_TIME},
    },
    "Money": {
        "type": "object",
        "properties": {"unit": STRING, "value": {"type": "number"}},
    },
    "BillingAccount": {
        "type": "object",
        "description": "TMF666 v4 BillingAccount (the attributes the portal fills in).",
        "required": ["id", "href", "name", "relatedParty", "@type"],
        "properties": {
            "id": STRING,
            "href": STRING,
            "name": STRING,
            "description": STRING,
            "accountType": STRING,
            "state": STRING,
            "contact": _array({
                "type": "object",
                "required": ["contactType", "validFor"],
                "properties": {
                    "contactType": STRING,
                    "contactName": STRING,
                    "validFor": _ref("TimePeriod"),
                    "contactMedium": _array({
                        "type": "object",
                        "properties": {
                            "mediumType": STRING,
                            "preferred": {"type": "boolean"},
                            "characteristic": {
                                "type": "object",
                                "properties": {k: STRING for k in (
                                    "contactType", "street1", "postCode", "city", "country")},
                            },
                        },
                    }),
                },
            }),
            "billStructure": {
                "type": "object",
                "properties": {
                    "cycleSpecification": {
                        "type": "object",
                        "required": ["name", "isRef"],
                        "properties": {"name": STRING, "isRef": {"type": "boolean"},
                                       "billingPeriod": STRING,
                                       "paymentDueDateOffset": {"type": "integer"}},
                    },
                    "presentationMedia": _array({
                        "type": "object",
                        "required": ["name", "isRef"],
                        "properties": {"name": STRING, "isRef": {"type": "boolean"}},
                    }),
                },
            },
            "relatedParty": _array(_ref("RelatedParty"), minItems=1),
            "@type": {"type": "string", "enum": ["BillingAccount"]},
        },
    },
    "Product": {
        "type": "object",
        "description": "TMF637 v4 Product (the attributes the portal fills in).",
        "required": ["id", "href", "@type"],
        "properties": {
            "id": STRING,
            "href": STRING,
            "name": STRING,
            "description": STRING,
            "isBundle": {"type": "boolean"},
            "isCustomerVisible": {"type": "boolean"},
            "status": {"type": "string", "enum": ["active", "suspended", "terminated"]},
            "startDate": DATE_TIME,
            "terminationDate": DATE_TIME,
            "productOffering": {
                "type": "object", "required": ["id"],
                "properties": {"id": STRING, "@referredType": STRING},
            },
            "productCharacteristic": _array({
                "type": "object", "required": ["name", "value"],
                "properties": {"name": STRING, "valueType": STRING, "value": {}},
            }),
            "productTerm": _array({
                "type": "object",
                "properties": {
                    "name": STRING,
                    "duration": {"type": "object", "properties": {
                        "amount": {"type": "number"}, "units": STRING}},
                    "validFor": _ref("TimePeriod"),
                },
            }),
            "productPrice": _array({
                "type": "object", "required": ["price", "priceType"],
                "properties": {
                    "name": STRING, "priceType": STRING, "recurringChargePeriod": STRING,
                    "price": {"type": "object",
                              "properties": {"dutyFreeAmount": _ref("Money")}},
                },
            }),
            "place": _array({
                "type": "object", "required": ["role"],
                "properties": {"id": STRING, "name": STRING, "role": STRING,
                               "@referredType": STRING},
            }),
            "billingAccount": {
                "type": "object", "required": ["id"],
                "properties": {"id": STRING, "href": STRING, "name": STRING,
                               "@referredType": STRING},
            },
            "relatedParty": _array(_ref("RelatedParty")),
            "@type": {"type": "string", "enum": ["Product"]},
        },
    },
}

NUMBER = {"type": "number"}
DURATION = {"type": "object", "properties": {"amount": {"type": "integer"}, "units": STRING}}
OFFERING_REF = {
    "type": "object", "required": ["id", "relationshipType"],
    "properties": {"id": STRING, "href": STRING, "name": STRING, "relationshipType": {
        "type": "string", "enum": ["requires", "excludes", "plan", "accessory"]},
        "@referredType": STRING},
}
CATALOG_SCHEMAS = {
    "Place": {
        "type": "object", "required": ["id"],
        "description": "A country where the offering is sold (ISO 3166 alpha-2 code).",
        "properties": {"id": STRING, "name": STRING, "@referredType": STRING},
    },
    "ProductOfferingTerm": {
        "type": "object",
        "properties": {"name": STRING, "description": STRING, "duration": DURATION},
    },
    "ProductOffering": {
        "type": "object",
        "description": "TMF620 v4 ProductOffering (the attributes the portal fills in); the "
                       "id is the offering code.",
        "required": ["id", "href", "@type"],
        "properties": {
            "id": STRING,
            "href": STRING,
            "name": STRING,
            "description": STRING,
            "isBundle": {"type": "boolean"},
            "isSellable": {"type": "boolean"},
            "lastUpdate": DATE_TIME,
            "lifecycleStatus": STRING,
            "version": STRING,
            "validFor": _ref("TimePeriod"),
            "category": _array({"type": "object", "required": ["id"], "properties": {
                "id": STRING, "name": STRING, "@referredType": STRING}}),
            "place": _array(_ref("Place")),
            "productOfferingTerm": _array(_ref("ProductOfferingTerm")),
            "productOfferingPrice": _array({
                "type": "object", "required": ["id", "priceType"],
                "properties": {
                    "id": STRING, "href": STRING, "name": STRING,
                    "priceType": {"type": "string", "enum": ["recurring", "oneTime"]},
                    "recurringChargePeriod": STRING,
                    "recurringChargePeriodLength": {"type": "integer"},
                    "price": {"type": "object",
                              "properties": {"dutyFreeAmount": _ref("Money")}},
                    "priceAlteration": _array({
                        "type": "object", "required": ["priceType", "price"],
                        "properties": {
                            "name": STRING, "description": STRING, "priceType": STRING,
                            "recurringChargePeriod": STRING,
                            "applicationDuration": DURATION,
                            "price": {"type": "object", "properties": {"percentage": NUMBER}},
                            "validFor": _ref("TimePeriod"),
                        },
                    }),
                    "@referredType": STRING,
                },
            }),
            "productOfferingRelationship": _array(OFFERING_REF),
            "@type": {"type": "string", "enum": ["ProductOffering"]},
        },
    },
    "ProductOfferingPrice": {
        "type": "object",
        "description": "TMF620 v4 ProductOfferingPrice: `<code>-MRC` (per unit and month) or "
                       "`<code>-NRC` (per unit, once).",
        "required": ["id", "href", "@type"],
        "properties": {
            "id": STRING,
            "href": STRING,
            "name": STRING,
            "description": STRING,
            "isBundle": {"type": "boolean"},
            "lastUpdate": DATE_TIME,
            "lifecycleStatus": STRING,
            "version": STRING,
            "priceType": {"type": "string", "enum": ["recurring", "oneTime"]},
            "recurringChargePeriodType": STRING,
            "recurringChargePeriodLength": {"type": "integer"},
            "price": _ref("Money"),
            "unitOfMeasure": {"type": "object",
                              "properties": {"amount": NUMBER, "units": STRING}},
            "place": _array(_ref("Place")),
            "productOfferingTerm": _array(_ref("ProductOfferingTerm")),
            "validFor": _ref("TimePeriod"),
            "@type": {"type": "string", "enum": ["ProductOfferingPrice"]},
        },
    },
}
SCHEMAS.update(CATALOG_SCHEMAS)


def _error(description: str, **headers) -> dict:
    answer = {"description": description,
              "content": {"application/json": {"schema": _ref("Error")}}}
    if headers:
        answer["headers"] = headers
    return answer


CHALLENGE = {"description": "`Bearer realm=\"tmf-api\"`, with `error=\"invalid_token\"` "
                            "for an unknown or revoked key", "schema": STRING}
ERRORS = {
    "401": _error("No API key, or an unknown or revoked one", **{"WWW-Authenticate": CHALLENGE}),
    "403": _error("The key's role does not allow this"),
    "429": _error("Too many requests for this key; wait and retry"),
}
LIST_HEADERS = {
    "X-Total-Count": {"description": "How many items match, over all pages",
                      "schema": {"type": "integer", "minimum": 0}},
    "X-Result-Count": {"description": "How many items this answer holds",
                       "schema": {"type": "integer", "minimum": 0}},
}
PAGE_PARAMETERS = [
    {"name": "offset", "in": "query", "required": False,
     "description": "Index of the first item to return",
     "schema": {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0}},
    {"name": "limit", "in": "query", "required": False,
     "description": "How many items to return at most",
     "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT,
                "default": DEFAULT_LIMIT}},
]
FIELDS = {"name": "fields", "in": "query", "required": False, "schema": STRING,
          "description": "Comma-separated first-level attributes to return (id, href, @type "
                         "and the attributes the schema requires always come)"}


def _query(name: str, description: str, schema: dict | None = None) -> dict:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema or STRING}


def _path_id(description: str) -> dict:
    return {"name": "id", "in": "path", "required": True, "description": description,
            "schema": STRING}


def _list(summary: str, operation_id: str, tag: str, schema: str, filters: list,
          extra: dict | None = None) -> dict:
    return {"get": {
        "summary": summary, "operationId": operation_id, "tags": [tag],
        "parameters": [FIELDS, *PAGE_PARAMETERS, *filters],
        "responses": {
            "200": {"description": "A page of items", "headers": LIST_HEADERS,
                    "content": {"application/json": {"schema": _array(_ref(schema))}}},
            "400": _error("A parameter has a bad value, or is unknown"),
            **(extra or {}),
            **ERRORS,
        },
    }}


def _retrieve(summary: str, operation_id: str, tag: str, schema: str,
              parameters: tuple = (), not_found: str = "in the key's organisation") -> dict:
    return {"get": {
        "summary": summary, "operationId": operation_id, "tags": [tag],
        "parameters": [_path_id(f"Identifier of the {schema}"), FIELDS, *parameters],
        "responses": {
            "200": {"description": f"The {schema}",
                    "content": {"application/json": {"schema": _ref(schema)}}},
            "400": _error("An unknown query parameter"),
            "404": _error(f"No such {schema} {not_found}"),
            **ERRORS,
        },
    }}


ID_FILTER = {"type": "string", "pattern": ID_PATTERN}

PATHS = {
    "/tmf-api/accountManagement/v4/billingAccount": _list(
        "List the organisation's billing accounts", "listBillingAccount", "accountManagement",
        "BillingAccount",
        [_query("name", "Only the account with exactly this name"),
         _query("state", "Only accounts in this state, as `state` shows it (like active)")]),
    "/tmf-api/accountManagement/v4/billingAccount/{id}": _retrieve(
        "A billing account of the organisation", "retrieveBillingAccount",
        "accountManagement", "BillingAccount"),
    "/tmf-api/productInventory/v4/product": _list(
        "List the organisation's products (its service inventory)", "listProduct",
        "productInventory", "Product",
        [_query("status", "Only products in this TMF637 status",
                {"type": "string", "enum": list(TMF_STATUSES)}),
         _query("place.id", "Only products at this site", ID_FILTER),
         _query("productOffering.id", "Only products of this offering (its code)"),
         _query("billingAccount.id", "Only products billed to this account", ID_FILTER)]),
    "/tmf-api/productInventory/v4/product/{id}": _retrieve(
        "A product of the organisation", "retrieveProduct", "productInventory", "Product"),
}

CATALOG_API = "/tmf-api/productCatalogManagement/v4"
VERSION_PARAMETER = _query("version", "A catalog version number (default: the catalog in "
                                      "force)", {"type": "integer", "minimum": 1})
NO_VERSION = {"404": _error("No such catalog version")}
IN_CATALOG = "in the catalog (or no such catalog version)"
LIFECYCLE_FILTER = _query("lifecycleStatus", "Only those in this state today: Launched (on "
                                             "sale), Active (scheduled), Retired (ended)",
                          {"type": "string", "enum": list(TMF620_LIFECYCLE_STATUSES)})
PATHS.update({
    f"{CATALOG_API}/productOffering": _list(
        "List the catalog's product offerings", "listProductOffering",
        "productCatalogManagement", "ProductOffering",
        [VERSION_PARAMETER, LIFECYCLE_FILTER,
         _query("name", "Only the offering with exactly this name"),
         _query("category.id", "Only offerings of this family (mobile, broadband, sdwan, "
                               "voice, tv, content, device, accessory)")], NO_VERSION),
    f"{CATALOG_API}/productOffering/{{id}}": _retrieve(
        "A product offering (the id is its code)", "retrieveProductOffering",
        "productCatalogManagement", "ProductOffering", (VERSION_PARAMETER,), IN_CATALOG),
    f"{CATALOG_API}/productOfferingPrice": _list(
        "List the catalog's prices: `<code>-MRC` and `<code>-NRC` of each offering",
        "listProductOfferingPrice", "productCatalogManagement", "ProductOfferingPrice",
        [VERSION_PARAMETER, LIFECYCLE_FILTER,
         _query("priceType", "Only recurring or one-off prices",
                {"type": "string", "enum": ["recurring", "oneTime"]})], NO_VERSION),
    f"{CATALOG_API}/productOfferingPrice/{{id}}": _retrieve(
        "A product offering price (`<code>-MRC` or `<code>-NRC`)",
        "retrieveProductOfferingPrice", "productCatalogManagement", "ProductOfferingPrice",
        (VERSION_PARAMETER,), IN_CATALOG),
})


def openapi_document() -> dict:
    """The OpenAPI 3.0 document of the portal's API."""
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Carrier Business portal API",
            "version": VERSION,
            "description": "TMF Open APIs of the portal: TMF666 Account Management, TMF637 "
                           "Product Inventory and TMF620 Product Catalog Management (v4), "
                           "read-only, for the organisation that owns the API key (the "
                           "catalog is the same for every organisation). Keys are created by "
                           "the organisation's admins under Organisation > API keys. Errors "
                           "are TMF `Error` objects.",
        },
        "paths": PATHS,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "apiKey": {"type": "http", "scheme": "bearer",
                           "description": "`Authorization: Bearer pk_<prefix>_<secret>`"},
            },
        },
        "security": [{"apiKey": []}],
    }


@bp.get("/openapi.json")
@public
def document():
    """The OpenAPI document, public: it describes the API, not anyone's data."""
    return jsonify(openapi_document())
