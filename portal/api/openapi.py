"""The portal's own OpenAPI 3 description of its API, public at `GET /tmf-api/openapi.json`.

Written by hand: the resources are subsets of the official TMF schemas (what the portal
fills in), so clients and tests (schemathesis) can rely on every word of it.
"""

from __future__ import annotations

from flask import jsonify

from portal.api import api_blueprint
from portal.api.pagination import DEFAULT_LIMIT, MAX_LIMIT, MAX_OFFSET
from portal.api.tmf620 import TMF620_LIFECYCLE_STATUSES
from portal.api.tmf622 import MAX_DESCRIPTION, MAX_EXTERNAL_ID, MAX_ITEMS, ORDER_STATES
from portal.api.tmf637 import TMF_STATUSES
from portal.api.tmf648 import ALWAYS as QUOTE_ALWAYS
from portal.api.tmf648 import PATCH_TYPES
from portal.api.tmf678 import ALWAYS as BILL_ALWAYS
from portal.api.tmf678 import BILL_STATE
from portal.api.tmf678 import TMF_STATES as BILL_STATES
from portal.billing.models import LineKind
from portal.security import public
from quotes.cart import MAX_QUANTITY
from quotes.models import QuoteState

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


REF = {"type": "object", "required": ["id"],
       "properties": {"id": STRING, "href": STRING, "name": STRING, "@referredType": STRING}}
PLACE = {"type": "object", "required": ["role"],
         "properties": {"id": STRING, "name": STRING, "role": STRING, "@referredType": STRING}}
TERM = {"type": "object", "properties": {
    "name": STRING,
    "duration": {"type": "object", "properties": {"amount": NUMBER, "units": STRING}}}}
QUOTE_PRICE = {
    "type": "object", "required": ["priceType", "price"],
    "properties": {
        "name": STRING, "description": STRING,
        "priceType": {"type": "string", "enum": ["recurring", "oneTime", "total"]},
        "recurringChargePeriod": STRING,
        "price": {"type": "object", "properties": {
            "dutyFreeAmount": _ref("Money"), "taxIncludedAmount": _ref("Money"),
            "taxRate": NUMBER}},
        "priceAlteration": _array({
            "type": "object", "required": ["priceType", "price"],
            "properties": {
                "name": STRING, "description": STRING, "priceType": STRING,
                "recurringChargePeriod": STRING, "priority": {"type": "integer"},
                "applicationDuration": {"type": "integer"},
                "price": {"type": "object", "properties": {"percentage": NUMBER}},
            },
        }),
        "productOfferingPrice": REF,
    },
}
QUOTE_STATE = {"type": "string", "enum": list(QuoteState.ALL)}
NOTE = {"type": "object", "required": ["id", "text"],
        "properties": {"id": STRING, "author": STRING, "date": DATE_TIME, "text": STRING}}
QUOTE_SCHEMAS = {
    "QuoteItem": {
        "type": "object",
        "description": "A line of the quote: an offering at a site, for a term, in a "
                       "quantity, with its frozen prices. The id is the line's position.",
        "required": ["id", "action", "quantity", "productOffering", "product"],
        "properties": {
            "id": STRING,
            "action": {"type": "string", "enum": ["add"]},
            "state": QUOTE_STATE,
            "quantity": {"type": "integer", "minimum": 1},
            "productOffering": REF,
            "product": {"type": "object", "properties": {
                "name": STRING, "isBundle": {"type": "boolean"},
                "place": _array(PLACE), "productTerm": _array(TERM), "@type": STRING}},
            "quoteItemPrice": _array(QUOTE_PRICE),
            "@type": STRING,
        },
    },
    "Quote": {
        "type": "object",
        "description": "TMF648 v4 Quote (the attributes the portal fills in): the quote as "
                       "its latest version stands. Money values are exact to the cent.",
        "required": list(QUOTE_ALWAYS),
        "properties": {
            "id": STRING,
            "href": STRING,
            "description": STRING,
            "externalId": STRING,
            "version": STRING,
            "state": QUOTE_STATE,
            "quoteDate": DATE_TIME,
            "effectiveQuoteCompletionDate": DATE_TIME,
            "validFor": _ref("TimePeriod"),
            "billingAccount": _array(REF),
            "relatedParty": _array(_ref("RelatedParty")),
            "authorization": _array({"type": "object", "properties": {
                "name": STRING, "state": STRING, "requestedDate": DATE_TIME,
                "givenDate": DATE_TIME}}),
            "note": _array(NOTE),
            "quoteItem": _array(_ref("QuoteItem"), minItems=1),
            "quoteTotalPrice": _array(QUOTE_PRICE),
            "attachment": _array({
                "type": "object", "required": ["mimeType", "url"],
                "properties": {"id": STRING, "name": STRING, "description": STRING,
                               "attachmentType": STRING, "mimeType": STRING, "url": STRING,
                               "@type": STRING}}),
            "@type": {"type": "string", "enum": ["Quote"]},
        },
    },
    "QuoteItem_Create": {
        "type": "object",
        "required": ["productOffering", "product", "quantity"],
        "properties": {
            "action": {"type": "string", "enum": ["add"]},
            "quantity": {"type": "integer", "minimum": 1, "maximum": MAX_QUANTITY},
            "productOffering": {"type": "object", "required": ["id"], "properties": {
                "id": {"type": "string", "description": "The offering's code (TMF620 id)"}}},
            "product": {
                "type": "object", "required": ["place", "productTerm"],
                "properties": {
                    "place": _array({"type": "object", "required": ["id", "role"],
                                     "properties": {"id": {"type": "string",
                                                           "pattern": ID_PATTERN},
                                                    "role": STRING}}, minItems=1),
                    "productTerm": _array({
                        "type": "object", "required": ["duration"],
                        "properties": {"duration": {
                            "type": "object", "required": ["amount"],
                            "properties": {"amount": {"type": "integer", "minimum": 1},
                                           "units": {"type": "string",
                                                     "enum": ["month", "months"]}}}}},
                        minItems=1),
                },
            },
        },
    },
    "Quote_Create": {
        "type": "object",
        "description": "A new quote: its items are priced by the portal. Other TMF648 "
                       "attributes are ignored.",
        "required": ["quoteItem"],
        "properties": {
            "description": {"type": "string", "maxLength": 200},
            "externalId": {"type": "string", "maxLength": 100},
            "billingAccount": _array({"type": "object", "required": ["id"], "properties": {
                "id": {"type": "string", "pattern": ID_PATTERN}}}, minItems=1),
            "quoteItem": _array(_ref("QuoteItem_Create"), minItems=1),
        },
    },
    "Quote_Update": {
        "type": "object",
        "description": "A merge patch of the quote: only `state` changes (pending, accepted, "
                       "cancelled). To accept, the purchase-order number is the `note` with "
                       "id `purchaseOrder` and the person accepting the `relatedParty` with "
                       "role `signatory`. Attributes sent back as they are change nothing.",
        "properties": {
            "state": {**QUOTE_STATE, "description": "pending, accepted or cancelled; the "
                                                    "current state again changes nothing"},
            "version": STRING,
            "note": _array(NOTE),
            "relatedParty": _array({"type": "object", "required": ["name", "role"],
                                    "properties": {"id": STRING, "name": STRING,
                                                   "role": STRING, "@referredType": STRING}}),
        },
    },
}
SCHEMAS.update(QUOTE_SCHEMAS)

QUOTE_API = "/tmf-api/quoteManagement/v4"
REFUSED = _error("The request is well-formed but refused: an unknown offering, a site or "
                 "billing account outside the organisation, a term not offered, a broken "
                 "catalog rule, a state change the rules do not allow; the message names "
                 "the attribute")
UNSUPPORTED = _error("The body is not of a content type the operation takes")


def _body(schema: str, types: tuple[str, ...]) -> dict:
    return {"required": True,
            "content": {media: {"schema": _ref(schema)} for media in types}}


PATHS[f"{QUOTE_API}/quote"] = {
    **_list("List the organisation's quotes (each as its latest version stands)",
            "listQuote", "quoteManagement", "Quote",
            [_query("state", "Only quotes whose latest version is in this state",
                    QUOTE_STATE),
             _query("externalId", "Only quotes with exactly this external id")]),
    "post": {
        "summary": "Create a quote from quote items, priced by the portal", "operationId":
        "createQuote", "tags": ["quoteManagement"],
        "requestBody": _body("Quote_Create", ("application/json",)),
        "responses": {
            "201": {"description": "The new quote, in progress",
                    "headers": {"Location": {"description": "The quote's URL",
                                             "schema": STRING}},
                    "content": {"application/json": {"schema": _ref("Quote")}}},
            "400": _error("The body is not a Quote_Create; the message names the attribute"),
            "415": UNSUPPORTED,
            "422": REFUSED,
            **ERRORS,
        },
    },
}
PATHS[f"{QUOTE_API}/quote/{{id}}"] = {
    **_retrieve("A quote of the organisation", "retrieveQuote", "quoteManagement", "Quote"),
    "patch": {
        "summary": "Change the quote's state: pending (ask for approval), accepted, "
                   "cancelled",
        "operationId": "patchQuote", "tags": ["quoteManagement"],
        "parameters": [_path_id("Identifier of the Quote")],
        "requestBody": _body("Quote_Update", PATCH_TYPES),
        "responses": {
            "200": {"description": "The quote after the change",
                    "content": {"application/json": {"schema": _ref("Quote")}}},
            "400": _error("The body is not a Quote_Update"),
            "404": _error("No such Quote in the key's organisation"),
            "409": _error("The quote changed meanwhile (another version, another decision), "
                          "or was accepted with another purchase order"),
            "415": UNSUPPORTED,
            "422": REFUSED,
            **ERRORS,
        },
    },
}
PATHS[f"{QUOTE_API}/quote/{{id}}/pdf"] = {"get": {
    "summary": "The quote's PDF (the quote's attachment)", "operationId": "retrieveQuotePdf",
    "tags": ["quoteManagement"],
    "parameters": [_path_id("Identifier of the Quote"),
                   _query("version", "A version of the quote (default: the latest)",
                          {"type": "integer", "minimum": 1})],
    "responses": {
        "200": {"description": "The PDF",
                "content": {"application/pdf": {"schema": {"type": "string",
                                                            "format": "binary"}}}},
        "400": _error("An unknown query parameter"),
        "404": _error("No such Quote, or version, in the key's organisation"),
        **ERRORS,
    },
}}


ORDER_API = "/tmf-api/productOrderingManagement/v4"
ORDER_STATE = {"type": "string", "enum": list(ORDER_STATES)}
ORDER_PRICE = {
    "type": "object", "required": ["priceType", "price"],
    "properties": {
        "name": STRING, "description": STRING,
        "priceType": {"type": "string", "enum": ["recurring", "oneTime", "penalty"]},
        "recurringChargePeriod": STRING,
        "price": {"type": "object", "properties": {"dutyFreeAmount": _ref("Money")}},
        "priceAlteration": _array({
            "type": "object", "required": ["priceType", "price"],
            "properties": {
                "name": STRING, "description": STRING, "priceType": STRING,
                "recurringChargePeriod": STRING, "applicationDuration": {"type": "integer"},
                "price": {"type": "object", "properties": {"percentage": NUMBER}},
            },
        }),
        "productOfferingPrice": REF,
    },
}
ORDER_SCHEMAS = {
    "ProductOrderItem": {
        "type": "object",
        "description": "An item of the order: its id is its position in the order, its state "
                       "the state of the part (fulfilment system) that delivers it, "
                       "`product.id` the inventory product (TMF637) it changes or made.",
        "required": ["id", "action", "state", "quantity", "productOffering", "product",
                     "@type"],
        "properties": {
            "id": STRING,
            "action": {"type": "string", "enum": ["add", "modify", "delete"]},
            "state": {"type": "string", "enum": [s for s in ORDER_STATES if s != "partial"]},
            "quantity": {"type": "integer", "minimum": 1},
            "productOffering": REF,
            "product": {"type": "object", "properties": {
                "id": STRING, "href": STRING, "name": STRING,
                "status": {"type": "string", "enum": ["active", "suspended"]},
                "place": _array(PLACE), "productTerm": _array(TERM), "@type": STRING}},
            "itemPrice": _array(ORDER_PRICE),
            "@type": {"type": "string", "enum": ["ProductOrderItem"]},
        },
    },
    "ProductOrder": {
        "type": "object",
        "description": "TMF622 v4 ProductOrder (the attributes the portal fills in): `state` "
                       "follows the parts' states, `category` is where the order came from "
                       "(quote, change, api), the order number is the `note` with id "
                       "`orderNumber`. Money values are exact to the cent.",
        "required": ["id", "href", "productOrderItem", "@type"],
        "properties": {
            "id": STRING,
            "href": STRING,
            "externalId": STRING,
            "description": STRING,
            "category": {"type": "string",
                         "description": "Where the order came from: quote, change or api"},
            "orderDate": DATE_TIME,
            "completionDate": DATE_TIME,
            "cancellationDate": DATE_TIME,
            "state": ORDER_STATE,
            "billingAccount": REF,
            "quote": _array(REF),
            "relatedParty": _array(_ref("RelatedParty")),
            "note": _array(NOTE),
            "productOrderItem": _array(_ref("ProductOrderItem"), minItems=1),
            "orderTotalPrice": _array(ORDER_PRICE),
            "@type": {"type": "string", "enum": ["ProductOrder"]},
        },
    },
    "ProductOrderItem_Create": {
        "type": "object",
        "description": "add: `productOffering.id`, `product.place[0].id`, optional "
                       "`product.productTerm[0].duration` and `quantity`. modify: "
                       "`product.id` and one of another `productOffering.id`, another "
                       "`product.place[0].id`, or `product.status`. delete: `product.id`; "
                       "inside the minimum term, accept the early-termination charge as an "
                       "`itemPrice` with priceType `penalty` and the exact amount.",
        "required": ["action", "product"],
        "properties": {
            "id": STRING,
            "action": {"type": "string", "enum": ["add", "modify", "delete"]},
            "quantity": {"type": "integer", "minimum": 1},
            "productOffering": {"type": "object", "required": ["id"], "properties": {
                "id": {"type": "string", "description": "The offering's code (TMF620 id)"}}},
            "product": {"type": "object", "properties": {
                "id": {"type": "string", "pattern": ID_PATTERN,
                       "description": "The inventory product (TMF637 id)"},
                "status": {"type": "string", "enum": ["suspended", "active"]},
                "place": _array({"type": "object", "required": ["id"], "properties": {
                    "id": {"type": "string", "pattern": ID_PATTERN}, "role": STRING}},
                    minItems=1),
                "productTerm": _array({
                    "type": "object", "required": ["duration"],
                    "properties": {"duration": {
                        "type": "object", "required": ["amount"],
                        "properties": {"amount": {"type": "integer", "minimum": 1},
                                       "units": {"type": "string",
                                                 "enum": ["month", "months"]}}}}},
                    minItems=1),
            }},
            "itemPrice": _array({
                "type": "object", "required": ["priceType", "price"],
                "properties": {
                    "priceType": {"type": "string", "enum": ["penalty"]},
                    "price": {"type": "object", "required": ["dutyFreeAmount"], "properties": {
                        "dutyFreeAmount": {"type": "object", "required": ["value"],
                                           "properties": {"value": NUMBER,
                                                          "unit": STRING}}}},
                }}, maxItems=1),
        },
    },
    "ProductOrder_Create": {
        "type": "object",
        "description": "A new order: every item is checked and priced by the portal before "
                       "anything is placed. Other TMF622 attributes are ignored.",
        "required": ["productOrderItem"],
        "properties": {
            "externalId": {"type": "string", "maxLength": MAX_EXTERNAL_ID},
            "description": {"type": "string", "maxLength": MAX_DESCRIPTION},
            "billingAccount": {"type": "object", "required": ["id"], "properties": {
                "id": {"type": "string", "pattern": ID_PATTERN}}},
            "productOrderItem": _array(_ref("ProductOrderItem_Create"), minItems=1,
                                       maxItems=MAX_ITEMS),
        },
    },
}
SCHEMAS.update(ORDER_SCHEMAS)
PATHS[f"{ORDER_API}/productOrder"] = {
    **_list("List the organisation's product orders (from quotes, changes and this API)",
            "listProductOrder", "productOrderingManagement", "ProductOrder",
            [_query("state", "Only orders in this state", ORDER_STATE),
             _query("externalId", "Only orders with exactly this external id")]),
    "post": {
        "summary": "Place an order: add products, modify (change plan, move, suspend, "
                   "resume) or delete inventory products",
        "operationId": "createProductOrder", "tags": ["productOrderingManagement"],
        "requestBody": _body("ProductOrder_Create", ("application/json",)),
        "responses": {
            "201": {"description": "The order, placed",
                    "headers": {"Location": {"description": "The order's URL",
                                             "schema": STRING}},
                    "content": {"application/json": {"schema": _ref("ProductOrder")}}},
            "400": _error("The body is not a ProductOrder_Create; the message names the "
                          "item and attribute"),
            "415": UNSUPPORTED,
            "422": _error("The rules refuse an item (unknown offering, site or product "
                          "outside the organisation, ceased product, term not offered, "
                          "early-termination charge not accepted, ...); the message names "
                          "the item and attribute, and no order is made"),
            **ERRORS,
        },
    },
}
PATHS[f"{ORDER_API}/productOrder/{{id}}"] = _retrieve(
    "A product order of the organisation", "retrieveProductOrder",
    "productOrderingManagement", "ProductOrder")


BILL_API = "/tmf-api/customerBillManagement/v4"
TAX = {"type": "object", "properties": {
    "taxCategory": STRING, "taxRate": {**NUMBER, "description": "A fraction: 0.19 is 19 %"},
    "taxAmount": _ref("Money"), "@type": STRING}}
CHARACTERISTIC = {"type": "object", "required": ["name", "value"],
                  "properties": {"name": STRING, "valueType": STRING, "value": {}}}
BILL_SCHEMAS = {
    "CustomerBill": {
        "type": "object",
        "description": "TMF678 v4 CustomerBill (the attributes the portal fills in): a bill "
                       "of a billing system or of the portal's bill run. `state` is always "
                       "`sent` (the portal learns of no payments: the whole amount is due), "
                       "`billingAccount.id` is the account's number, `billDocument[0]` the "
                       "PDF. Money values are exact to the cent.",
        "required": list(BILL_ALWAYS),
        "properties": {
            "id": STRING,
            "href": STRING,
            "billNo": STRING,
            "billDate": DATE_TIME,
            "lastUpdate": DATE_TIME,
            "paymentDueDate": DATE_TIME,
            "category": {"type": "string", "enum": ["normal", "credit note"]},
            "runType": {"type": "string", "enum": ["onCycle"]},
            "state": {"type": "string", "enum": [BILL_STATE]},
            "billingPeriod": _ref("TimePeriod"),
            "amountDue": _ref("Money"),
            "taxExcludedAmount": _ref("Money"),
            "taxIncludedAmount": _ref("Money"),
            "taxItem": _array(TAX),
            "billingAccount": REF,
            "billDocument": _array({
                "type": "object", "required": ["id", "url", "mimeType"],
                "properties": {k: STRING for k in (
                    "id", "href", "url", "name", "attachmentType", "description",
                    "mimeType", "@referredType")}}, minItems=1),
            "relatedParty": _array(_ref("RelatedParty")),
            "@type": {"type": "string", "enum": ["CustomerBill"]},
        },
    },
    "AppliedCustomerBillingRate": {
        "type": "object",
        "description": "TMF678 v4 AppliedCustomerBillingRate: a line of a bill, in the terms "
                       "of the TMF678 bill import (`type` is the line's kind, `product.id` "
                       "the billing system's service reference; siteCode, offeringCode, "
                       "productFamily, costCentre and quantity are characteristics).",
        "required": list(BILL_ALWAYS),
        "properties": {
            "id": STRING,
            "href": STRING,
            "name": STRING,
            "type": {"type": "string", "enum": list(LineKind.ALL)},
            "date": DATE_TIME,
            "isBilled": {"type": "boolean"},
            "bill": REF,
            "product": REF,
            "periodCoverage": _ref("TimePeriod"),
            "characteristic": _array(CHARACTERISTIC),
            "taxExcludedAmount": _ref("Money"),
            "taxIncludedAmount": _ref("Money"),
            "appliedTax": _array(TAX),
            "@type": {"type": "string", "enum": ["AppliedCustomerBillingRate"]},
        },
    },
}
SCHEMAS.update(BILL_SCHEMAS)
BILL_DAY = {"type": "string", "format": "date",
            "description": "YYYY-MM-DD (an RFC 3339 date-time is also taken: its date)"}
PATHS.update({
    f"{BILL_API}/customerBill": _list(
        "List the organisation's bills, newest first", "listCustomerBill",
        "customerBillManagement", "CustomerBill",
        [_query("billingAccount.id", "Only bills of the billing account with this number"),
         _query("billNo", "Only bills with exactly this number"),
         _query("billDate", "Only bills dated this day", BILL_DAY),
         _query("billDate.gte", "Only bills dated this day or later", BILL_DAY),
         _query("billDate.lte", "Only bills dated this day or earlier", BILL_DAY),
         _query("period", "Only bills of this billing month (YYYY-MM; the month the billing "
                          "period starts in)",
                {"type": "string", "pattern": "^[0-9]{4}-(0[1-9]|1[0-2])$"}),
         _query("state", "Only bills in this TMF678 state (each bill is `sent`)",
                {"type": "string", "enum": list(BILL_STATES)})]),
    f"{BILL_API}/customerBill/{{id}}": _retrieve(
        "A bill of the organisation", "retrieveCustomerBill", "customerBillManagement",
        "CustomerBill"),
    f"{BILL_API}/customerBill/{{id}}/document": {"get": {
        "summary": "The bill's PDF (its billDocument; a portal extension)",
        "operationId": "retrieveCustomerBillDocument", "tags": ["customerBillManagement"],
        "parameters": [{**_path_id("Identifier of the CustomerBill"), "schema": ID_FILTER}],
        "responses": {
            "200": {"description": "The PDF",
                    "content": {"application/pdf": {"schema": {"type": "string",
                                                                "format": "binary"}}}},
            "400": _error("An unknown query parameter"),
            "404": _error("No such CustomerBill in the key's organisation"),
            **ERRORS,
        },
    }},
    f"{BILL_API}/appliedCustomerBillingRate": _list(
        "List the lines of the organisation's bills (newest bill first, each bill's lines "
        "in order)", "listAppliedCustomerBillingRate", "customerBillManagement",
        "AppliedCustomerBillingRate",
        [_query("bill.id", "Only the lines of this bill", ID_FILTER),
         _query("type", "Only lines of this kind",
                {"type": "string", "enum": list(LineKind.ALL)})]),
    f"{BILL_API}/appliedCustomerBillingRate/{{id}}": _retrieve(
        "A line of a bill of the organisation", "retrieveAppliedCustomerBillingRate",
        "customerBillManagement", "AppliedCustomerBillingRate"),
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
                           "read-only, TMF648 Quote Management and TMF622 Product "
                           "Ordering (v4), TMF678 Customer Bill Management (v4), "
                           "read-only, for the "
                           "organisation that owns the API key (the catalog is the same for "
                           "every organisation). Keys are created by "
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
