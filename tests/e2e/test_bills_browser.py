"""A finance user in a real browser: signs in, opens the consolidated bill from the bill
history, and downloads its PDF and CSV, whose totals are the page's."""

from __future__ import annotations

import csv
import os
from decimal import Decimal

import pytest
from playwright.sync_api import Page, expect
from pypdf import PdfReader
from sqlalchemy import select
from support.bills import add_bill, line

from accounts.estate.models import BillingAccount, Site
from accounts.models import Organisation
from e2e.test_signin_browser import (
    SCREENSHOTS,
    console_errors,
    csp_violations,
    screenshot,
    sign_in,
)
from portal.extensions import db

pytestmark = pytest.mark.e2e

def _add_bills(server) -> None:
    """Acme's October 2026 bills of a mobile and a fixed billing system, on two of its
    billing accounts, with a credit and a usage line without a site (next to whatever the
    demo's bill run made)."""
    with server.app.app_context():
        org = db.session.scalars(select(Organisation).where(Organisation.slug == "acme")).one()
        accounts = dict(db.session.execute(
            select(BillingAccount.number, BillingAccount.id)
            .where(BillingAccount.organisation_id == org.id)).all())
        sites = dict(db.session.execute(
            select(Site.code, Site.id).where(Site.organisation_id == org.id)).all())
        add_bill(db.session, org.id, accounts["ACME-DE-01"], [
            line("175.00", "33.25", site_id=sites["ACM-DE-001"], product_family="mobile",
                 offering_code="MOB-UNL", description="Business Mobile Unlimited, 7 lines"),
            line("12.40", "2.36", kind="usage", product_family="mobile",
                 description="Roaming data outside the EU"),
        ], system="mobile-bss", number="MB-E2E-2026-10")
        add_bill(db.session, org.id, accounts["ACME-FR-01"], [
            line("89.00", "17.80", site_id=sites["ACM-FR-002"], product_family="broadband",
                 offering_code="BB-FIBRE-1G", description="Business Fibre 1 Gbit/s"),
            line("-10.00", "-2.00", kind="credit", site_id=sites["ACM-FR-002"],
                 product_family="broadband", description="Goodwill credit"),
        ], system="fixed-bss", number="FX-E2E-2026-10")
        db.session.commit()


def _screenshot_top(page: Page, name: str) -> None:
    """The top of a long page (summary, not the hundred lines below) for the docs, only
    when asked to."""
    if os.environ.get("PORTAL_SCREENSHOTS") != "1":
        return
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name), clip={"x": 0, "y": 0, "width": 1280,
                                                        "height": 1500}, full_page=True)


def _amount(text: str) -> Decimal:
    return Decimal(text.split()[0].replace(",", ""))


def test_finance_user_opens_the_consolidated_bill_and_downloads_it(
        page: Page, demo_server, tmp_path):
    _add_bills(demo_server)
    errors = console_errors(page)
    sign_in(page, demo_server, "fiona.finance@acme.example", "acme", "fiona")

    page.get_by_test_id("main-nav").get_by_role("link", name="Bills").click()
    expect(page.get_by_role("heading", name="Bills", exact=True)).to_be_visible()
    expect(page.get_by_test_id("spend-chart").first).to_be_visible()
    screenshot(page, "bills-overview.png")
    page.get_by_test_id("bill-history").get_by_role("link", name="October 2026", exact=True).click()
    expect(page).to_have_url(f"{demo_server.url}/bills/2026-10")
    expect(page.get_by_role("heading", name="Consolidated bill October 2026")).to_be_visible()

    total = page.get_by_test_id("total-due-EUR")
    excl = _amount(total.get_by_test_id("total-excl").inner_text())
    tax = _amount(total.get_by_test_id("total-tax").inner_text())
    incl = _amount(total.get_by_test_id("total-incl").inner_text())
    assert excl + tax == incl and incl > 0
    # The page's total is the sum of the source bills it lists (the two added here, and the
    # bill run's that the demo made).
    bills = page.get_by_test_id("source-bills").locator("tbody tr")
    expect(bills.filter(has_text="MB-E2E-2026-10")).to_have_count(1)
    expect(bills.filter(has_text="FX-E2E-2026-10")).to_have_count(1)
    listed = [_amount(bills.nth(n).locator("td").nth(6).inner_text())
              for n in range(bills.count())]
    assert sum(listed) == incl
    expect(page.get_by_test_id("by-site")).to_contain_text("No site")
    expect(page.get_by_test_id("credits")).to_contain_text("Goodwill credit")
    _screenshot_top(page, "bills-consolidated.png")

    with page.expect_download() as pdf_download:
        page.get_by_test_id("download-pdf").click()
    assert pdf_download.value.suggested_filename == "consolidated-bill-acme-2026-10.pdf"
    pdf_path = tmp_path / pdf_download.value.suggested_filename
    pdf_download.value.save_as(pdf_path)
    text = "\n".join(p.extract_text() for p in PdfReader(pdf_path).pages)
    assert f"Total due (EUR) {excl:,.2f} {tax:,.2f} {incl:,.2f}" in text

    with page.expect_download() as csv_download:
        page.get_by_test_id("download-csv").click()
    assert csv_download.value.suggested_filename == "consolidated-bill-acme-2026-10.csv"
    csv_path = tmp_path / csv_download.value.suggested_filename
    csv_download.value.save_as(csv_path)
    with csv_path.open(newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    [total_row] = [r for r in rows if r["record"] == "total"]
    assert (Decimal(total_row["amount_excl_tax"]), Decimal(total_row["tax_amount"]),
            Decimal(total_row["amount_incl_tax"])) == (excl, tax, incl)
    assert sum(Decimal(r["amount_incl_tax"]) for r in rows if r["record"] != "total") == incl

    page.wait_for_load_state("load")
    assert csp_violations(errors) == [], errors
    assert errors == [], f"console errors on the bill pages: {errors}"
