"""TMF678 Customer Bill Management: the organisation's bills and their lines, read with an
API key, validated against the official v4 spec; the bill's PDF as its billDocument; and a
bill read here imports back as the same bill."""

from __future__ import annotations

import copy
import datetime as dt
import io
import json
from decimal import Decimal
from pathlib import Path

import pypdf
import pytest
from conftest import count_queries

from accounts.estate.models import BillingAccount, Service, Site
from portal.billing.imports import import_csv, import_tmf678
from portal.billing.models import Bill, BillLine
from portal.extensions import db

from .conftest import add_bill, bearer

API = "/tmf-api/customerBillManagement/v4"
BILLS = f"{API}/customerBill"
RATES = f"{API}/appliedCustomerBillingRate"
SAMPLE = (Path(__file__).resolve().parents[2] / "portal" / "demo_data" / "bills"
          / "acme-mobile-2026-10.json")
CREDIT_NOTE = (
    "bill_number,billing_account,bill_date,due_date,period_start,period_end,currency,"
    "bill_amount_excl_tax,bill_tax_amount,bill_amount_incl_tax,kind,description,cost_centre,"
    "amount,tax_rate,tax_amount\n"
    "FX-1,ACME-FR-01,2026-11-03,,2026-10-01,2026-10-31,EUR,-10.00,-2.00,-12.00,credit,"
    "Goodwill credit,CC-FR,-10.00,0.20,-2.00\n"
)


def _sample() -> list[dict]:
    return json.loads(SAMPLE.read_text(encoding="utf-8"))


def _september(bill: dict) -> dict:
    """The sample bill moved a month back, under another number."""
    earlier = copy.deepcopy(bill)
    earlier.update(billNo="MB-2026-09-0001", billDate="2026-10-02T00:00:00Z",
                   paymentDueDate="2026-11-02T00:00:00Z",
                   billingPeriod={"startDateTime": "2026-09-01T00:00:00Z",
                                  "endDateTime": "2026-09-30T23:59:59Z"})
    for rate in earlier["appliedCustomerBillingRate"]:
        if "periodCoverage" in rate:
            rate["periodCoverage"] = {"startDateTime": "2026-09-01",
                                      "endDateTime": "2026-09-30"}
    return earlier


def _globex(bill: dict) -> dict:
    """A bill of Globex's account (no sites or services of Acme's)."""
    theirs = copy.deepcopy(bill)
    theirs.update(billNo="GX-2026-10-0001", billingAccount={"id": "GLX-NL-01"})
    for rate in theirs["appliedCustomerBillingRate"]:
        rate.pop("product", None)
        rate["characteristic"] = [c for c in rate.get("characteristic", [])
                                  if c["name"] != "siteCode"]
    return theirs


@pytest.fixture
def bills(app, factory):
    """Acme's estate as the shipped sample bill names it, the sample imported (October),
    the same a month earlier (September), a CSV credit note on a second account; and a bill
    of Globex. Returns ids by name."""
    acme, globex = factory.org("acme"), factory.org("globex")
    with app.app_context():
        de = BillingAccount(organisation_id=acme, number="ACME-DE-01", name="Acme Germany",
                            country="DE", currency="EUR")
        fr = BillingAccount(organisation_id=acme, number="ACME-FR-01", name="Acme France",
                            country="FR", currency="EUR")
        nl = BillingAccount(organisation_id=globex, number="GLX-NL-01", name="Globex NL",
                            country="NL", currency="EUR")
        db.session.add_all([de, fr, nl])
        sites = {code: Site(organisation_id=acme, code=code, name=f"Site {code}",
                            address="Hauptstr. 1", postcode="10115", city="Berlin",
                            country="DE") for code in ("ACM-DE-001", "ACM-DE-005")}
        db.session.add_all(sites.values())
        db.session.flush()
        services = {ref: Service(organisation_id=acme, site_id=sites[code].id,
                                 offering_code=offering, start_date=dt.date(2026, 1, 1),
                                 source_system="mobile-bss", source_ref=ref)
                    for ref, code, offering in (
                        ("MOBILE-acme-1-MOB-UNL", "ACM-DE-001", "MOB-UNL"),
                        ("MOBILE-acme-5-MOB-UNL", "ACM-DE-005", "MOB-UNL"),
                        ("MOBILE-acme-5-MOB-20GB", "ACM-DE-005", "MOB-20GB"))}
        db.session.add_all(services.values())
        db.session.flush()
        sample = _sample()[0]
        import_tmf678(db.session, json.dumps([sample, _september(sample), _globex(sample)]),
                      "mobile-bss", "test")
        import_csv(db.session, CREDIT_NOTE.encode(), "fixed-bss", "test")
        db.session.commit()
        ids = {b.bill_number: b.id for b in db.session.query(Bill)}
        return {"org": acme, "other": globex, "accounts": {"de": de.id, "fr": fr.id},
                "services": {ref: s.id for ref, s in services.items()}, **ids}


@pytest.fixture
def token(bills, make_key):
    return make_key(bills["org"], "finance")


@pytest.fixture
def call(client, token):
    """`call(path, **params)` with the finance key."""
    return lambda path, **params: client.get(path, query_string=params,
                                             headers=bearer(token))


def _numbers(response) -> list[str]:
    assert response.status_code == 200, response.get_json()
    assert response.headers["X-Result-Count"] == str(len(response.get_json()))
    return [item["billNo"] for item in response.get_json()]


def _local(url: str) -> str:
    return url.removeprefix("http://localhost")


# -- customerBill ----------------------------------------------------------------------------


def test_bills_list_newest_first_and_validate_against_the_official_spec(call, bills,
                                                                         assert_tmf):
    response = call(BILLS)
    assert _numbers(response) == ["FX-1", "MB-2026-10-0001", "MB-2026-09-0001"]
    assert response.headers["X-Total-Count"] == "3"
    assert response.headers["Cache-Control"] == "no-store"
    for item in response.get_json():
        assert_tmf("TMF678", "CustomerBill", item)
        assert item["href"] == f"http://localhost{BILLS}/{item['id']}"
        single = call(f"{BILLS}/{item['id']}")
        assert single.status_code == 200
        assert single.get_json() == item


def test_a_bill_shows_its_number_dates_amounts_taxes_account_and_state(call, bills):
    bill = call(f"{BILLS}/{bills['MB-2026-10-0001']}").get_json()
    assert {k: bill[k] for k in ("id", "billNo", "billDate", "paymentDueDate", "billingPeriod",
                                 "state", "category", "runType", "@type")} == {
        "id": str(bills["MB-2026-10-0001"]), "billNo": "MB-2026-10-0001",
        "billDate": "2026-11-02T00:00:00Z", "paymentDueDate": "2026-12-02T00:00:00Z",
        "billingPeriod": {"startDateTime": "2026-10-01T00:00:00Z",
                          "endDateTime": "2026-10-31T23:59:59Z"},
        "state": "sent", "category": "normal", "runType": "onCycle", "@type": "CustomerBill"}
    assert bill["taxExcludedAmount"] == {"unit": "EUR", "value": 607.4}
    assert bill["taxIncludedAmount"] == bill["amountDue"] == {"unit": "EUR", "value": 722.81}
    # 33.25 + 28.50 + 51.30 + 2.36: every line is taxed at 19 %.
    assert bill["taxItem"] == [{"taxCategory": "VAT", "taxRate": 0.19, "@type": "TaxItem",
                                "taxAmount": {"unit": "EUR", "value": 115.41}}]
    assert bill["billingAccount"] == {
        "id": "ACME-DE-01", "name": "Acme Germany", "@referredType": "BillingAccount",
        "href": f"http://localhost/tmf-api/accountManagement/v4/billingAccount/"
                f"{bills['accounts']['de']}"}
    assert bill["relatedParty"][0]["id"] == str(bills["org"])
    credit = call(f"{BILLS}/{bills['FX-1']}").get_json()
    assert credit["category"] == "credit note" and "paymentDueDate" not in credit
    assert credit["amountDue"] == {"unit": "EUR", "value": -12.0}
    assert credit["taxItem"][0]["taxRate"] == 0.2


def test_the_bill_document_is_the_bills_pdf(client, call, bills, token):
    bill = call(f"{BILLS}/{bills['MB-2026-10-0001']}").get_json()
    document = bill["billDocument"]
    assert document == [{
        "id": f"{bill['id']}-pdf", "href": document[0]["url"],
        "url": f"http://localhost{BILLS}/{bill['id']}/document",
        "name": "bill-mobile-bss-MB-2026-10-0001.pdf", "attachmentType": "bill",
        "description": "Bill MB-2026-10-0001 (PDF)", "mimeType": "application/pdf",
        "@referredType": "Attachment"}]
    response = client.get(_local(document[0]["url"]), headers=bearer(token))
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert "bill-mobile-bss-MB-2026-10-0001.pdf" in response.headers["Content-Disposition"]
    assert response.headers["Cache-Control"] == "no-store"
    reader = pypdf.PdfReader(io.BytesIO(response.data))
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert "MB-2026-10-0001" in text
    assert "722.81" in text and "607.40" in text
    assert "FX-1" not in text  # this bill only, not October's other bills
    refused = client.get(f"{_local(document[0]['url'])}?inline=1", headers=bearer(token))
    assert refused.status_code == 400 and refused.get_json()["code"] == "400"


@pytest.mark.parametrize("which", ["theirs", "unknown", "abc", "99999999999"])
def test_other_organisations_and_unknown_bills_answer_404(call, bills, which):
    bill_id = {"theirs": bills["GX-2026-10-0001"], "unknown": 424242}.get(which, which)
    for path in (f"{BILLS}/{bill_id}", f"{BILLS}/{bill_id}/document"):
        response = call(path)
        assert response.status_code == 404, path
        assert response.get_json()["code"] == "404"


def test_filters(call, bills):
    def numbers(**params):
        response = call(BILLS, **params)
        assert response.headers["X-Total-Count"] == str(len(response.get_json()))
        return _numbers(response)

    assert numbers(**{"billingAccount.id": "ACME-DE-01"}) == ["MB-2026-10-0001",
                                                             "MB-2026-09-0001"]
    assert numbers(**{"billingAccount.id": "ACME-FR-01"}) == ["FX-1"]
    assert numbers(**{"billingAccount.id": "GLX-NL-01"}) == []  # Globex's number
    assert numbers(billNo="MB-2026-09-0001") == ["MB-2026-09-0001"]
    assert numbers(billDate="2026-11-02") == ["MB-2026-10-0001"]
    assert numbers(billDate="2026-11-02T00:00:00Z") == ["MB-2026-10-0001"]
    assert numbers(**{"billDate.gte": "2026-11-01"}) == ["FX-1", "MB-2026-10-0001"]
    assert numbers(**{"billDate.lte": "2026-11-02"}) == ["MB-2026-10-0001", "MB-2026-09-0001"]
    assert numbers(**{"billDate.gte": "2026-11-01", "billDate.lte": "2026-11-02"}) == [
        "MB-2026-10-0001"]
    assert numbers(period="2026-09") == ["MB-2026-09-0001"]
    assert numbers(period="2026-10", **{"billingAccount.id": "ACME-DE-01"}) == [
        "MB-2026-10-0001"]
    assert numbers(state="sent") == ["FX-1", "MB-2026-10-0001", "MB-2026-09-0001"]
    assert numbers(state="settled") == []
    assert numbers(billNo="MB\x00") == []


@pytest.mark.parametrize("query", [
    "state=paid", "period=2026-13", "period=October", "billDate=yesterday",
    "billDate.gte=2026-02-30", "limit=0", "offset=-1", "billNumber=FX-1", "sort=billDate",
    "state=sent&state=new",
])
def test_bad_or_unknown_parameters_answer_400(client, bills, token, query):
    """A misspelt filter must not quietly answer every bill."""
    response = client.get(f"{BILLS}?{query}", headers=bearer(token))
    assert response.status_code == 400
    body = response.get_json()
    assert body["code"] == "400" and body["message"]


def test_pagination_and_fields(call, bills):
    page = call(BILLS, offset=1, limit=1)
    assert _numbers(page) == ["MB-2026-10-0001"]
    assert page.headers["X-Total-Count"] == "3" and page.headers["X-Result-Count"] == "1"
    assert _numbers(call(BILLS, offset=3)) == []
    items = call(BILLS, fields="billNo,state").get_json()
    assert all(set(item) == {"id", "href", "@type", "billNo", "state"} for item in items)
    single = call(f"{BILLS}/{bills['FX-1']}", fields="amountDue").get_json()
    assert set(single) == {"id", "href", "@type", "amountDue"}


def test_401_without_a_key_and_403_without_bills_view(client, bills, make_key):
    paths = [BILLS, f"{BILLS}/{bills['FX-1']}", f"{BILLS}/{bills['FX-1']}/document", RATES]
    for path in paths:
        response = client.get(path)
        assert response.status_code == 401, path
        assert response.headers["WWW-Authenticate"].startswith('Bearer realm="tmf-api"')
    for role in ("viewer", "buyer"):
        key = make_key(bills["org"], role)
        for path in paths:
            response = client.get(path, headers=bearer(key))
            assert response.status_code == 403, (role, path)
            assert "bills:view" in response.get_json()["message"]
    admin = make_key(bills["org"], "admin")
    assert client.get(BILLS, headers=bearer(admin)).status_code == 200


def test_the_lists_run_a_fixed_number_of_queries(app, call, bills):
    call(BILLS)  # the key's first use writes last_used_at; not counted
    with count_queries(app) as few_bills:
        assert len(call(BILLS).get_json()) == 3
    with count_queries(app) as few_rates:
        assert len(call(RATES).get_json()) == 9
    with app.app_context():
        for n in range(8):
            add_bill(db.session, bills["org"], bills["accounts"]["de" if n % 2 else "fr"],
                     f"MORE-{n}", lines=4)
        db.session.commit()
    with count_queries(app) as many_bills:
        assert len(call(BILLS).get_json()) == 11
    with count_queries(app) as many_rates:
        assert len(call(RATES).get_json()) == 41
    # The key, then: count, bills, their accounts, their lines' taxes; count, lines, sites.
    assert len(many_bills) == len(few_bills) == 5, many_bills
    assert len(many_rates) == len(few_rates) == 4, many_rates


def test_reading_writes_nothing(app, call, bills):
    call(BILLS)  # the key's first use writes last_used_at
    for path in (BILLS, f"{BILLS}/{bills['FX-1']}", RATES):
        with count_queries(app) as statements:
            assert call(path).status_code == 200
        assert [s for s in statements
                if s.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))] == []


# -- appliedCustomerBillingRate --------------------------------------------------------------


def test_a_bills_lines_are_its_applied_rates(call, bills, assert_tmf):
    bill_id = bills["MB-2026-10-0001"]
    response = call(RATES, **{"bill.id": bill_id})
    assert response.status_code == 200
    rates = response.get_json()
    assert response.headers["X-Total-Count"] == "4"
    assert [r["name"] for r in rates] == [
        "Business Mobile Unlimited, 7 lines", "Business Mobile Unlimited, 6 lines",
        "Business Mobile 20 GB, 18 lines", "Roaming data outside the EU"]
    for rate in rates:
        assert_tmf("TMF678", "AppliedCustomerBillingRate", rate)
        assert rate["bill"] == {"id": str(bill_id), "@referredType": "CustomerBill",
                                "href": f"http://localhost{BILLS}/{bill_id}"}
        assert rate["isBilled"] is True and rate["date"] == "2026-11-02T00:00:00Z"
        assert call(_local(rate["href"])).get_json() == rate
    first, second, _, roaming = rates
    assert first["type"] == "recurring"
    assert first["product"] == {
        "id": "MOBILE-acme-1-MOB-UNL", "@referredType": "Product",
        "href": f"http://localhost/tmf-api/productInventory/v4/product/"
                f"{bills['services']['MOBILE-acme-1-MOB-UNL']}"}
    assert {c["name"]: c["value"] for c in first["characteristic"]} == {
        "siteCode": "ACM-DE-001", "offeringCode": "MOB-UNL", "productFamily": "mobile",
        "quantity": 7}
    assert first["periodCoverage"] == {"startDateTime": "2026-10-01T00:00:00Z",
                                       "endDateTime": "2026-10-31T23:59:59Z"}
    assert first["taxExcludedAmount"] == {"unit": "EUR", "value": 175.0}
    assert first["taxIncludedAmount"] == {"unit": "EUR", "value": 208.25}
    assert first["appliedTax"] == [{"taxCategory": "VAT", "taxRate": 0.19,
                                    "taxAmount": {"unit": "EUR", "value": 33.25}}]
    # The sample names no site on this line: it is the service's.
    assert {c["name"]: c["value"] for c in second["characteristic"]}["siteCode"] == "ACM-DE-005"
    assert roaming["type"] == "usage" and "product" not in roaming
    assert "periodCoverage" not in roaming
    assert {c["name"]: c["value"] for c in roaming["characteristic"]}["costCentre"] == "CC-DE"


def test_rate_filters_order_pagination_and_fields(client, call, bills, token):
    def names(**params):
        response = call(RATES, **params)
        assert response.status_code == 200, response.get_json()
        return [(r["bill"]["id"], r["name"]) for r in response.get_json()]

    everything = names()
    assert [bill for bill, _ in everything] == (
        [str(bills["FX-1"])] + [str(bills["MB-2026-10-0001"])] * 4
        + [str(bills["MB-2026-09-0001"])] * 4)
    assert names(type="credit") == [(str(bills["FX-1"]), "Goodwill credit")]
    assert names(type="usage", **{"bill.id": bills["MB-2026-09-0001"]}) == [
        (str(bills["MB-2026-09-0001"]), "Roaming data outside the EU")]
    assert names(**{"bill.id": bills["GX-2026-10-0001"]}) == []  # Globex's bill
    assert names(offset=2, limit=2) == everything[2:4]
    page = call(RATES, limit=2)
    assert page.headers["X-Total-Count"] == "9" and page.headers["X-Result-Count"] == "2"
    items = call(RATES, fields="type").get_json()
    assert all(set(item) == {"id", "href", "@type", "type"} for item in items)
    for query in ("type=refund", "bill.id=x", "bill=1", "type=credit&type=usage"):
        response = client.get(f"{RATES}?{query}", headers=bearer(token))
        assert response.status_code == 400, query


def test_a_bill_without_account_and_a_line_of_a_service_without_reference(app, call, bills,
                                                                        assert_tmf):
    """What the import never makes but the model allows: the bill's account deleted, a line
    naming a service by id only, a fractional quantity, no tax."""
    with app.app_context():
        bill_id = add_bill(db.session, bills["org"], None, "ODD-1", lines=1)
        line = db.session.query(BillLine).filter_by(bill_id=bill_id).one()
        line.service_id = bills["services"]["MOBILE-acme-1-MOB-UNL"]
        line.quantity, line.tax_rate, line.tax_amount = Decimal("2.5"), Decimal("0"), \
            Decimal("0")
        line.period_start = dt.date(2026, 10, 15)
        bill = db.session.get(Bill, bill_id)
        bill.tax_amount, bill.amount_incl_tax = Decimal("0"), bill.amount_excl_tax
        db.session.commit()
    bill = call(f"{BILLS}/{bill_id}").get_json()
    assert_tmf("TMF678", "CustomerBill", bill)
    assert "billingAccount" not in bill
    assert bill["taxItem"] == [{"taxCategory": "VAT", "taxRate": 0.0, "@type": "TaxItem",
                                "taxAmount": {"unit": "EUR", "value": 0.0}}]
    rate = call(RATES, **{"bill.id": bill_id}).get_json()[0]
    assert_tmf("TMF678", "AppliedCustomerBillingRate", rate)
    service_id = bills["services"]["MOBILE-acme-1-MOB-UNL"]
    assert rate["product"] == {
        "id": str(service_id), "@referredType": "Product",
        "href": f"http://localhost/tmf-api/productInventory/v4/product/{service_id}"}
    assert rate["characteristic"] == [{"name": "quantity", "valueType": "number",
                                       "value": 2.5}]
    assert rate["taxIncludedAmount"] == rate["taxExcludedAmount"] == {"unit": "EUR",
                                                                      "value": 10.0}
    assert rate["periodCoverage"] == {"startDateTime": "2026-10-15T00:00:00Z"}


@pytest.mark.parametrize("which", ["theirs", "unknown", "abc"])
def test_other_organisations_and_unknown_rates_answer_404(app, call, bills, which):
    with app.app_context():
        theirs = db.session.query(BillLine.id).filter_by(
            bill_id=bills["GX-2026-10-0001"]).first()[0]
    rate_id = {"theirs": theirs, "unknown": 424242}.get(which, which)
    response = call(f"{RATES}/{rate_id}")
    assert response.status_code == 404
    assert response.get_json()["code"] == "404"


# -- round trip ------------------------------------------------------------------------------


@pytest.mark.parametrize("number,system", [("MB-2026-10-0001", "mobile-bss"),
                                           ("MB-2026-09-0001", "mobile-bss"),
                                           ("FX-1", "fixed-bss")])
def test_a_bill_read_here_imports_back_as_the_same_bill(app, call, bills, number, system):
    """The import skips a bill it already has only when every field and line is the same,
    and refuses it when anything differs: so a skip proves the API said it all."""
    bill = call(f"{BILLS}/{bills[number]}").get_json()
    bill["appliedCustomerBillingRate"] = call(RATES, **{"bill.id": bill["id"]}).get_json()
    with app.app_context():
        result = import_tmf678(db.session, json.dumps(bill), system, "round trip")
        assert (result.imported, result.skipped) == ([], [number])
        # Under another number it is a new bill with the same content.
        bill["billNo"] = f"{number}-COPY"
        copy_result = import_tmf678(db.session, json.dumps(bill), system, "round trip")
        db.session.commit()
        assert copy_result.imported == [f"{number}-COPY"]
        original, twin = (db.session.query(Bill).filter_by(bill_number=n).one()
                          for n in (number, f"{number}-COPY"))
        assert (twin.amount_incl_tax, twin.tax_amount, twin.period) == (
            original.amount_incl_tax, original.tax_amount, original.period)
        assert [(line.kind, line.site_id, line.service_id, line.quantity, line.amount,
                 line.tax_rate, line.offering_code, line.cost_centre) for line in twin.lines] \
            == [(line.kind, line.site_id, line.service_id, line.quantity, line.amount,
                 line.tax_rate, line.offering_code, line.cost_centre)
                for line in original.lines]
        assert Decimal(str(bill["taxIncludedAmount"]["value"])) == original.amount_incl_tax


def test_the_openapi_document_describes_the_bill_endpoints(client):
    document = client.get("/tmf-api/openapi.json").get_json()
    listing = document["paths"][BILLS]["get"]
    assert {"billingAccount.id", "billDate", "period", "state", "offset", "limit",
            "fields"} <= {p["name"] for p in listing["parameters"]}
    pdf = document["paths"][f"{BILLS}/{{id}}/document"]["get"]["responses"]["200"]
    assert set(pdf["content"]) == {"application/pdf"}
    assert document["paths"][f"{RATES}/{{id}}"]["get"]["operationId"] == (
        "retrieveAppliedCustomerBillingRate")
