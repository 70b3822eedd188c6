"""Bill imports: TMF678 JSON and CSV, all or nothing, idempotent by system and bill number."""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from accounts.estate.models import BillingAccount, Service, Site
from portal.audit import AuditEvent
from portal.billing.imports import BillImportError, import_csv, import_tmf678
from portal.billing.models import Bill, BillLine
from portal.demo import load_demo
from portal.extensions import db

SYSTEM = "mobile-bss"


@pytest.fixture
def estate(app_ctx, factory):
    """Acme with a billing account, two sites and two mobile services; Globex with a site."""
    org = factory.org("acme")
    other = factory.org("globex")
    account = BillingAccount(organisation_id=org, number="ACME-DE-01", name="Acme Germany",
                             country="DE", currency="EUR")
    db.session.add(account)
    sites = [Site(organisation_id=org, code=f"ACM-DE-00{n}", name=f"Site {n}",
                  address="Hauptstr. 1", postcode="10115", city="Berlin", country="DE")
             for n in (1, 2)]
    sites.append(Site(organisation_id=other, code="GLX-NL-001", name="Globex", address="Damrak 1",
                      postcode="1012 JS", city="Amsterdam", country="NL"))
    db.session.add_all(sites)
    db.session.flush()
    services = [Service(organisation_id=org, site_id=sites[n].id, offering_code="MOB-UNL",
                        start_date=dt.date(2026, 1, 1), source_system=SYSTEM,
                        source_ref=f"MOBILE-{n + 1}") for n in (0, 1)]
    db.session.add_all(services)
    db.session.commit()
    return {"org": org, "other": other, "account": account.id,
            "sites": [s.id for s in sites], "services": [s.id for s in services]}


def _money(value, unit="EUR"):
    return {"unit": unit, "value": value}


def tmf_bill(number="MB-1"):
    """A valid CustomerBill of two lines: 100.00 + 25.50, tax 19.00 + 4.85."""
    return {
        "billNo": number, "billDate": "2026-11-02T00:00:00Z", "paymentDueDate": "2026-12-02",
        "billingAccount": {"id": "ACME-DE-01"},
        "billingPeriod": {"startDateTime": "2026-10-01T00:00:00Z",
                          "endDateTime": "2026-10-31T23:59:59Z"},
        "taxExcludedAmount": _money("125.50"), "taxIncludedAmount": _money("149.35"),
        "appliedCustomerBillingRate": [
            {"id": "1", "type": "recurring", "name": "Mobile Unlimited, 4 lines",
             "product": {"id": "MOBILE-1"},
             "characteristic": [{"name": "siteCode", "value": "ACM-DE-001"},
                                {"name": "quantity", "value": "4"}],
             "periodCoverage": {"startDateTime": "2026-10-01", "endDateTime": "2026-10-31"},
             "taxExcludedAmount": _money("100.00"),
             "appliedTax": [{"taxRate": "0.19", "taxAmount": _money("19.00")}]},
            {"id": "2", "type": "usage", "name": "Roaming",
             "characteristic": [{"name": "siteCode", "value": "ACM-DE-002"}],
             "taxExcludedAmount": _money("25.50"),
             "appliedTax": [{"taxRate": "0.19", "taxAmount": _money("4.85")}]},
        ],
    }


CSV_HEADER = ("bill_number,billing_account,bill_date,due_date,period_start,period_end,currency,"
              "bill_amount_excl_tax,bill_tax_amount,bill_amount_incl_tax,kind,description,"
              "site_code,service_ref,quantity,amount,tax_rate,tax_amount")
CSV_ROWS = [
    "MB-7,ACME-DE-01,2026-11-02,,2026-10-01,2026-10-31,EUR,90.00,17.10,107.10,recurring,"
    "Mobile,ACM-DE-001,MOBILE-1,2,100.00,0.19,19.00",
    "MB-7,ACME-DE-01,2026-11-02,,2026-10-01,2026-10-31,EUR,90.00,17.10,107.10,credit,"
    "Goodwill,,MOBILE-2,1,-10.00,0.19,-1.90",
]


def csv_file(rows=None) -> bytes:
    return "\n".join([CSV_HEADER, *(CSV_ROWS if rows is None else rows)]).encode()


def _counts():
    return tuple(db.session.scalar(select(func.count()).select_from(model))
                 for model in (Bill, BillLine))


def _refused(call) -> list[str]:
    with pytest.raises(BillImportError) as caught:
        call()
    db.session.rollback()
    assert _counts() == (0, 0)
    return [str(p) for p in caught.value.problems]


def test_a_tmf678_bill_is_imported_with_its_lines_matched_and_audited(estate):
    result = import_tmf678(db.session, json.dumps(tmf_bill()), SYSTEM, "tester")
    db.session.commit()
    assert (result.imported, result.skipped, result.lines) == (["MB-1"], [], 2)
    bill = db.session.scalar(select(Bill))
    assert (bill.organisation_id, bill.billing_account_id) == (estate["org"], estate["account"])
    assert (bill.period, bill.period_start, bill.period_end, bill.bill_date, bill.due_date) == (
        "2026-10", dt.date(2026, 10, 1), dt.date(2026, 10, 31), dt.date(2026, 11, 2),
        dt.date(2026, 12, 2))
    assert (bill.currency, bill.amount_excl_tax, bill.tax_amount, bill.amount_incl_tax) == (
        "EUR", Decimal("125.50"), Decimal("23.85"), Decimal("149.35"))
    assert bill.source_format == "tmf678" and bill.imported_by == "tester"
    first, second = bill.lines
    assert (first.kind, first.site_id, first.service_id, first.offering_code, first.quantity,
            first.amount, first.tax_rate, first.tax_amount) == (
        "recurring", estate["sites"][0], estate["services"][0], "MOB-UNL", Decimal("4"),
        Decimal("100.00"), Decimal("0.19"), Decimal("19.00"))
    assert (second.kind, second.site_id, second.service_id) == ("usage", estate["sites"][1],
                                                                None)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "bill:import"))
    assert (event.organisation_id, event.target_id, event.actor_label) == (
        estate["org"], str(bill.id), "tester")


def test_a_csv_file_is_imported_and_a_service_gives_its_site(estate):
    result = import_csv(db.session, csv_file(), SYSTEM, "tester")
    db.session.commit()
    assert (result.imported, result.lines) == (["MB-7"], 2)
    bill = db.session.scalar(select(Bill))
    assert (bill.amount_excl_tax, bill.tax_amount, bill.amount_incl_tax, bill.source_format) == (
        Decimal("90.00"), Decimal("17.10"), Decimal("107.10"), "csv")
    assert [(line.kind, line.amount, line.site_id) for line in bill.lines] == [
        ("recurring", Decimal("100.00"), estate["sites"][0]),
        ("credit", Decimal("-10.00"), estate["sites"][1])]


@pytest.mark.parametrize("kind", ["tmf678", "csv"])
def test_importing_the_same_file_twice_changes_nothing(estate, kind):
    def run():
        if kind == "csv":
            return import_csv(db.session, csv_file(), SYSTEM, "tester")
        return import_tmf678(db.session, json.dumps([tmf_bill("A"), tmf_bill("B")]), SYSTEM,
                             "tester")

    run()
    db.session.commit()
    before = _counts()
    again = run()
    db.session.commit()
    assert again.imported == [] and len(again.skipped) == (1 if kind == "csv" else 2)
    assert _counts() == before
    events = db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "bill:import"))
    assert events == before[0]


def _set(path, value):
    def change(bill):
        *parents, last = path
        target = bill
        for key in parents:
            target = target[key]
        if value is KeyError:
            del target[last]
        else:
            target[last] = value
    return change


LINE = ("appliedCustomerBillingRate", 0)
TMF_MISTAKES = {
    "missing bill number": (_set(("billNo",), KeyError), "bill 1: billNo is missing"),
    "unknown account": (_set(("billingAccount", "id"), "NOPE-1"),
                        "bill MB-1: billing account NOPE-1 is not a known billing account"),
    "unknown site": (_set((*LINE, "characteristic", 0, "value"), "ACM-XX-009"),
                     "bill MB-1 line 1: site ACM-XX-009 is not a site of"),
    "another customer's site": (_set((*LINE, "characteristic", 0, "value"), "GLX-NL-001"),
                                "bill MB-1 line 1: site GLX-NL-001 is not a site of"),
    "unknown service": (_set((*LINE, "product", "id"), "MOBILE-9"),
                        "bill MB-1 line 1: service MOBILE-9 is not a mobile-bss service"),
    "service at another site": (_set((*LINE, "characteristic", 0, "value"), "ACM-DE-002"),
                                "bill MB-1 line 1: site ACM-DE-002 is not the site of service"),
    "three decimals": (_set((*LINE, "taxExcludedAmount", "value"), "100.001"),
                       "bill MB-1 line 1: taxExcludedAmount.value 100.001 has more than 2"),
    "not a number": (_set((*LINE, "taxExcludedAmount", "value"), "ten"),
                     "bill MB-1 line 1: taxExcludedAmount.value 'ten' is not a number"),
    "totals do not add up": (_set(("taxExcludedAmount", "value"), "125.40"),
                             "bill MB-1: amount excluding tax 125.40 is not the sum of its "
                             "lines (125.50)"),
    "tax does not add up": (_set((*LINE, "appliedTax", 0, "taxAmount", "value"), "19.01"),
                            "bill MB-1: tax 23.85 is not the sum of its lines' tax (23.86)"),
    "unknown kind": (_set((*LINE, "type"), "rebate"),
                     "bill MB-1 line 1: kind 'rebate' is not one of"),
    "bad date": (_set(("billDate",), "2026-13-01"),
                 "bill MB-1: billDate '2026-13-01' is not a date"),
    "period end before start": (_set(("billingPeriod", "endDateTime"), "2026-09-30"),
                                "bill MB-1: period end 2026-09-30 is before the period start"),
    "line period end before start": (
        _set((*LINE, "periodCoverage", "endDateTime"), "2026-09-30"),
        "bill MB-1 line 1: period end 2026-09-30 is before"),
    "two currencies": (_set((*LINE, "taxExcludedAmount", "unit"), "GBP"),
                       "bill MB-1: unit differs between amounts (EUR, GBP)"),
    "no lines": (_set(("appliedCustomerBillingRate",), []),
                 "bill MB-1: appliedCustomerBillingRate is missing"),
}


@pytest.mark.parametrize("mistake", list(TMF_MISTAKES))
def test_a_tmf678_mistake_is_named_and_nothing_is_imported(estate, mistake):
    change, expected = TMF_MISTAKES[mistake]
    bill = tmf_bill()
    change(bill)
    problems = _refused(lambda: import_tmf678(db.session, json.dumps(bill), SYSTEM, "t"))
    assert any(p.startswith(expected) for p in problems), problems


def test_a_file_that_is_not_json_is_refused(estate):
    problems = _refused(lambda: import_tmf678(db.session, b'{"billNo": ', SYSTEM, "t"))
    assert problems[0].startswith("file: is not valid JSON")


def test_one_bad_bill_among_good_ones_imports_nothing(estate):
    bad = tmf_bill("MB-2")
    bad["billingAccount"]["id"] = "NOPE-1"
    good = [tmf_bill("MB-1"), bad, tmf_bill("MB-3")]
    problems = _refused(lambda: import_tmf678(db.session, json.dumps(good), SYSTEM, "t"))
    assert problems == ["bill MB-2: billing account NOPE-1 is not a known billing account"]


def test_every_problem_is_listed_at_once(estate):
    bill = tmf_bill()
    bill["billDate"] = "yesterday"
    bill["appliedCustomerBillingRate"][1]["type"] = "rebate"
    problems = _refused(lambda: import_tmf678(db.session, json.dumps(bill), SYSTEM, "t"))
    assert len(problems) == 2


def test_the_same_bill_with_other_content_is_refused(estate):
    import_tmf678(db.session, json.dumps(tmf_bill()), SYSTEM, "t")
    db.session.commit()
    changed = tmf_bill()
    changed["appliedCustomerBillingRate"][0]["name"] = "Mobile Unlimited, four lines"
    with pytest.raises(BillImportError) as caught:
        import_tmf678(db.session, json.dumps([tmf_bill("MB-2"), changed]), SYSTEM, "t")
    db.session.rollback()
    assert [str(p) for p in caught.value.problems] == [
        "bill MB-1: bill MB-1 of system mobile-bss was already imported with other content"]
    assert _counts() == (1, 2)
    assert db.session.scalar(select(BillLine.description).where(BillLine.position == 1)) == \
        "Mobile Unlimited, 4 lines"


def test_the_same_bill_number_of_another_system_is_another_bill(estate):
    import_tmf678(db.session, json.dumps(copy.deepcopy(tmf_bill())), SYSTEM, "t")
    bill = tmf_bill()
    del bill["appliedCustomerBillingRate"][0]["product"]  # MOBILE-1 is a mobile-bss service
    import_tmf678(db.session, json.dumps(bill), "tv-bss", "t")
    db.session.commit()
    assert _counts() == (2, 4)


CSV_MISTAKES = {
    "missing column": (lambda rows: rows, CSV_HEADER.replace(",description,", ",descr,"),
                       "header: misses the columns description"),
    "header differs between rows": (
        lambda rows: [rows[0], rows[1].replace("2026-11-02", "2026-11-03")], CSV_HEADER,
        "row 3: bill_date '2026-11-03' differs from '2026-11-02' on row 2"),
    "three decimals": (lambda rows: [rows[0].replace("2,100.00", "2,100.005"), rows[1]],
                       CSV_HEADER, "row 2: amount 100.005 has more than 2 decimals"),
    "unknown kind": (lambda rows: [rows[0].replace("recurring", "monthly"), rows[1]],
                     CSV_HEADER, "row 2: kind 'monthly' is not one of"),
    "bad date": (lambda rows: [r.replace("2026-10-31", "31.10.2026") for r in rows],
                 CSV_HEADER, "row 2: period_end '31.10.2026' is not a date"),
    "unknown site": (lambda rows: [rows[0], rows[1].replace(",,MOBILE-2", ",ACM-XX-1,")],
                     CSV_HEADER, "row 3: site ACM-XX-1 is not a site"),
    "totals": (lambda rows: [r.replace("90.00", "95.00").replace("107.10", "112.10")
                             for r in rows], CSV_HEADER,
               "bill MB-7 (row 2): amount excluding tax 95.00 is not the sum"),
    "wrong number of values": (lambda rows: [rows[0] + ",extra", rows[1]], CSV_HEADER,
                               "row 2: has 19 values"),
}


@pytest.mark.parametrize("mistake", list(CSV_MISTAKES))
def test_a_csv_mistake_names_its_row_and_nothing_is_imported(estate, mistake):
    change, header, expected = CSV_MISTAKES[mistake]
    data = "\n".join([header, *change(list(CSV_ROWS))]).encode()
    problems = _refused(lambda: import_csv(db.session, data, SYSTEM, "t"))
    assert any(p.startswith(expected) for p in problems), problems


def test_the_command_imports_a_file_and_fails_on_a_bad_one(app, estate, tmp_path):
    good = tmp_path / "bills.csv"
    good.write_bytes(csv_file())
    result = app.test_cli_runner().invoke(args=["bills", "import", str(good), "--system", SYSTEM])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == ("1 bill of mobile-bss imported (2 lines), 0 already "
                                     "imported and unchanged.")
    bad = tmp_path / "bills.json"
    bill = tmf_bill()
    bill["billingAccount"]["id"] = "NOPE-1"
    bad.write_text(json.dumps(bill))
    result = app.test_cli_runner().invoke(args=["bills", "import", str(bad), "--system", SYSTEM,
                                                "--format", "tmf678"])
    assert result.exit_code == 1
    assert "bill MB-1: billing account NOPE-1 is not a known billing account" in result.output
    assert _counts() == (1, 2)


def test_the_sample_files_import_into_the_demo_estate(app_ctx):
    """The shipped samples match acme's demo estate (whose service refs carry site ids, so
    they are rewritten to this database's ids)."""
    load_demo()
    db.session.commit()
    ids = dict(db.session.execute(select(Site.code, Site.id).where(
        Site.code.in_(["ACM-DE-001", "ACM-FR-002", "ACM-DE-005"]))).all())
    by_sample_id = {"1": ids["ACM-DE-001"], "2": ids["ACM-FR-002"], "5": ids["ACM-DE-005"]}
    folder = Path(__file__).resolve().parents[2] / "portal" / "demo_data" / "bills"

    def sample(name: str) -> bytes:
        text = (folder / name).read_text(encoding="utf-8")
        return re.sub(r"-acme-(\d+)-", lambda m: f"-acme-{by_sample_id[m.group(1)]}-",
                      text).encode()

    mobile = import_tmf678(db.session, sample("acme-mobile-2026-10.json"), "mobile-bss", "t")
    fixed = import_csv(db.session, sample("acme-fixed-2026-10.csv"), "fixed-bss", "t")
    db.session.commit()
    assert (mobile.imported, mobile.lines, fixed.imported, fixed.lines) == (
        ["MB-2026-10-0001"], 4, ["FX-2026-10-0042"], 3)
    totals = dict(db.session.execute(select(Bill.bill_number, Bill.amount_incl_tax).where(
        Bill.source_system != "portal")).all())  # the demo's own bill runs aside
    assert totals == {"MB-2026-10-0001": Decimal("722.81"), "FX-2026-10-0042": Decimal("214.80")}
