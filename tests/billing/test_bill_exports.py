"""The consolidated bill's PDF and CSV: their totals equal the sum of the source bills to the
cent, credits and adjustments are in them, the CSV is streamed and reconciles row by row."""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal

import pytest
from pypdf import PdfReader
from support.bills import add_account, add_bill, add_bulk_lines, add_sites, bills_world, line

from accounts.models import Organisation
from portal.billing import documents, export
from portal.billing.models import Bill
from portal.extensions import db

D = Decimal


@pytest.fixture
def world(app_ctx, factory):
    """Acme with the bills of support.bills.bills_world (two systems, two accounts, two
    periods, a credit and an adjustment), and Globex with a bill of its own."""
    acme = factory.org("acme")
    globex = factory.org("globex")
    ids = bills_world(db.session, acme)
    add_bill(db.session, globex, add_account(db.session, globex, "GLX-1"),
             [line("999.99", "190.00", description="Globex secret line")], number="GLX-1")
    db.session.commit()
    return {"org": db.session.get(Organisation, acme), **ids}


def _source_totals(org_id: int, period: str) -> tuple[Decimal, Decimal, Decimal]:
    bills = db.session.query(Bill).filter_by(organisation_id=org_id, period=period).all()
    return (sum(b.amount_excl_tax for b in bills), sum(b.tax_amount for b in bills),
            sum(b.amount_incl_tax for b in bills))


def _pdf_text(pdf: bytes) -> tuple[int, str]:
    reader = PdfReader(io.BytesIO(pdf))
    return len(reader.pages), "\n".join(page.extract_text() for page in reader.pages)


def _csv(org_id: int, period: str, batch: int = export.BATCH) -> list[dict]:
    text = "".join(export.consolidated_csv(db.session, org_id, period, batch=batch))
    return list(csv.DictReader(io.StringIO(text)))


def test_the_pdf_total_due_is_the_sum_of_the_source_bills(world):
    excl, tax, incl = _source_totals(world["org"].id, "2026-10")
    assert (excl, tax, incl) == (D("351.33"), D("68.60"), D("419.93"))
    pages, text = _pdf_text(documents.consolidated_pdf(db.session, world["org"], "2026-10"))
    assert re.search(r"Total due \(EUR\) 351\.33 68\.60 419\.93", text)
    assert re.search(r"Previous period \(2026-09\) 239\.00 46\.30 285\.30", text)
    assert re.search(r"Change from the previous period \+112\.33 \+22\.30 \+134\.63", text)
    assert re.search(r"Of which credits and adjustments -25\.01", text)
    # Summary first, then the detail by site; every page numbered.
    assert text.index("By billing account") < text.index("By site (before tax)") \
        < text.index("Detail by site")
    assert "ACME-DE-01 · Account ACME-DE-01 1 167.34 31.79 199.13 150.00 +17.34" in text
    assert "Goodwill credit" in text and "Price correction" in text
    assert "Site ACM-003 · Office ACM3 (EUR) 183.99 36.80 220.79" in text
    assert "\nNo site (EUR) 12.34 2.34 14.68" in text
    assert [f"Page {n} of {pages}" in text for n in range(1, pages + 1)] == [True] * pages
    assert "Globex" not in text and "999.99" not in text


def test_a_source_bill_pdf_has_the_same_look(world):
    bill = db.session.get(Bill, world["bills"]["oct_fixed"])
    _, text = _pdf_text(documents.bill_pdf(db.session, world["org"], bill))
    assert "Bill FX-2026-10 October 2026" in text
    assert re.search(r"Total due \(EUR\) 183\.99 36\.81 220\.80", text)
    assert "Previous period" not in text and "Router installation" in text
    assert "Goodwill credit" not in text
    assert documents.bill_pdf_filename(bill) == "bill-fixed-bss-FX-2026-10.pdf"


def test_a_bill_of_another_organisation_or_an_empty_period_makes_no_pdf(world, factory):
    globex_bill = db.session.query(Bill).filter_by(bill_number="GLX-1").one()
    with pytest.raises(documents.NoBills):
        documents.bill_pdf(db.session, world["org"], globex_bill)
    with pytest.raises(documents.NoBills):
        documents.consolidated_pdf(db.session, world["org"], "2026-11")
    assert documents.consolidated_pdf_filename(world["org"], "2026-10") \
        == "consolidated-bill-acme-2026-10.pdf"


def test_table_headers_repeat_on_every_detail_page(app_ctx, factory):
    org = db.session.get(Organisation, factory.org("acme"))
    account = add_account(db.session, org.id, "DE-1")
    sites = add_sites(db.session, org.id, 3)
    bill = add_bill(db.session, org.id, account, [line("1.00", site_id=sites[0])])
    add_bulk_lines(db.session, bill, 240, sites)
    db.session.commit()
    reader = PdfReader(io.BytesIO(documents.consolidated_pdf(db.session, org, "2026-10")))
    detail = [p.extract_text() for p in reader.pages
              if "Usage line" in p.extract_text()]
    assert len(detail) >= 3
    header = "Description Bill Kind Qty Before tax Tax Incl. tax"
    assert all(header in page for page in detail)


def test_the_csv_totals_equal_the_sum_of_the_source_bills(world):
    rows = _csv(world["org"].id, "2026-10")
    excl, tax, incl = _source_totals(world["org"].id, "2026-10")
    [total] = [r for r in rows if r["record"] == "total"]
    assert (D(total["amount_excl_tax"]), D(total["tax_amount"]),
            D(total["amount_incl_tax"])) == (excl, tax, incl)
    assert total["currency"] == "EUR" and rows[-1] is total
    lines = [r for r in rows if r["record"] == "line"]
    assert len(lines) == 7
    # The lines and the rounding row (the fixed bill's own tax is a cent above its lines')
    # add up to the total, column by column.
    [rounding] = [r for r in rows if r["record"] == "rounding"]
    assert (rounding["bill_number"], rounding["tax_amount"]) == ("FX-2026-10", "0.01")
    for column in ("amount_excl_tax", "tax_amount", "amount_incl_tax"):
        assert sum(D(r[column]) for r in rows if r["record"] != "total") == D(total[column])
    kinds = {(r["kind"], r["description"], r["amount_excl_tax"]) for r in lines}
    assert {("credit", "Goodwill credit", "-20.00"),
            ("adjustment", "Price correction", "-5.01")} <= kinds
    assert all(re.fullmatch(r"-?\d+\.\d\d", r["amount_excl_tax"]) for r in rows)
    assert "999.99" not in {r["amount_excl_tax"] for r in rows}


def test_the_csv_has_the_documented_columns_in_the_pdf_order(world):
    text = "".join(export.consolidated_csv(db.session, world["org"].id, "2026-10"))
    assert text.splitlines()[0] == ",".join(export.COLUMNS)
    rows = _csv(world["org"].id, "2026-10")
    assert [r["site_code"] for r in rows if r["record"] == "line"] == [
        "ACM-001", "ACM-002", "ACM-002", "ACM-003", "ACM-003", "ACM-003", ""]
    first = rows[0]
    assert (first["period"], first["billing_account"], first["source_system"],
            first["bill_number"], first["site_name"], first["product_family"],
            first["cost_centre"], first["quantity"]) == (
        "2026-10", "ACME-DE-01", "mobile-bss", "MB-2026-10", "Office ACM1", "mobile",
        "CC-DE", "1")
    assert export.csv_filename(world["org"], "2026-10") == "consolidated-bill-acme-2026-10.csv"


def test_the_csv_is_streamed_in_chunks(app_ctx, factory):
    org = factory.org("acme")
    account = add_account(db.session, org, "DE-1")
    sites = add_sites(db.session, org, 4)
    bill = add_bill(db.session, org, account, [line("1.00", site_id=sites[0])])
    excl, tax = add_bulk_lines(db.session, bill, 2500, sites)
    db.session.commit()
    chunks = list(export.consolidated_csv(db.session, org, "2026-10", batch=500))
    assert len(chunks) == 6  # header and 5 x 500 lines; then 1 line and the total
    rows = list(csv.DictReader(io.StringIO("".join(chunks))))
    assert len([r for r in rows if r["record"] == "line"]) == 2501
    assert D(rows[-1]["amount_excl_tax"]) == excl + D("1.00")
    assert D(rows[-1]["tax_amount"]) == tax
    assert sum(D(r["amount_excl_tax"]) for r in rows[:-1]) == excl + D("1.00")


def test_text_that_looks_like_a_formula_stays_text(app_ctx, factory):
    org = factory.org("acme")
    account = add_account(db.session, org, "DE-1")
    add_bill(db.session, org, account, [
        line("5.00", description='=HYPERLINK("http://evil.test","x")'),
        line("-1.00", kind="credit", description="-1 for you", cost_centre="@CC")])
    db.session.commit()
    lines = [r for r in _csv(org, "2026-10") if r["record"] == "line"]
    assert [r["description"] for r in lines] == ["'=HYPERLINK(\"http://evil.test\",\"x\")",
                                                 "'-1 for you"]
    assert lines[1]["cost_centre"] == "'@CC" and lines[1]["amount_excl_tax"] == "-1.00"


def test_mixed_currencies_get_a_total_each(app_ctx, factory):
    org = factory.org("acme")
    add_bill(db.session, org, add_account(db.session, org, "DE-1"),
             [line("10.00", "1.90")], number="E-1")
    add_bill(db.session, org, add_account(db.session, org, "GB-1", currency="GBP"),
             [line("20.00", "4.00")], number="G-1", currency="GBP")
    db.session.commit()
    totals = [(r["currency"], r["amount_incl_tax"]) for r in _csv(org, "2026-10")
              if r["record"] == "total"]
    assert totals == [("EUR", "11.90"), ("GBP", "24.00")]
    _, text = _pdf_text(documents.consolidated_pdf(
        db.session, db.session.get(Organisation, org), "2026-10"))
    assert "Total due (EUR) 10.00 1.90 11.90" in text
    assert "Total due (GBP) 20.00 4.00 24.00" in text
