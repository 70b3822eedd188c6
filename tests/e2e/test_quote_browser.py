"""The whole quote flow in a real browser: a buyer configures a bundle, asks for a quote with
a 12 % discount, the account manager approves it, the buyer downloads the PDF (whose totals
are the page's) and accepts it with a purchase order."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from pypdf import PdfReader

from e2e.test_signin_browser import console_errors, csp_violations, screenshot, sign_in

pytestmark = pytest.mark.e2e


def _sign_out(page: Page) -> None:
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="You are signed out")).to_be_visible()


def test_buyer_quotes_with_a_discount_manager_approves_buyer_accepts(
        page: Page, demo_server, tmp_path):
    errors = console_errors(page)
    sign_in(page, demo_server, "bob.buyer@acme.example", "acme", "bob")

    # Configure: a mobile plan at every German site, then ask for a quote.
    page.get_by_test_id("main-nav").get_by_role("link", name="Configurator").click()
    page.get_by_label("Offering", exact=True).select_option("MOB-UNL")
    page.get_by_label("Quantity per site").fill("5")
    page.get_by_label("every active site in").check()
    page.get_by_label("Country", exact=True).last.select_option("DE")
    page.get_by_role("button", name="Add to cart").click()
    expect(page.get_by_test_id("cart-lines").locator("tbody tr")).to_have_count(10)
    page.get_by_label("Quote title (optional)").fill("Mobile for Germany")
    page.get_by_role("button", name="Request a quote").click()
    expect(page).to_have_url(re.compile(rf"{re.escape(demo_server.url)}/quotes/\d+"))
    quote_url = page.url
    number = re.search(r"Q-\d{4}-\d{6}", page.content()).group(0)

    # Ask for 12 % on the first line, with the reason, and request approval.
    first = page.get_by_test_id("line-edit").first
    first.locator("summary").click()
    first.get_by_label("Discount (%)").fill("12")
    first.get_by_label("Justification").fill("Matches a competing offer")
    first.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("line-discount").first).to_contain_text("12 %")
    page.get_by_role("button", name="Request approval").click()
    expect(page.get_by_test_id("state")).to_have_text("pending approval")
    expect(page.get_by_role("button", name=re.compile("^Accept quote"))).to_have_count(0)
    _sign_out(page)

    # The account manager approves it from the queue.
    sign_in(page, demo_server, "amelia.hart@carrier.example", "carrier", "amelia")
    page.get_by_test_id("main-nav").get_by_role("link", name="Approvals").click()
    row = page.get_by_test_id("approval-row").filter(has_text=number)
    expect(row).to_contain_text("12 %")
    row.get_by_role("link").first.click()
    expect(page.get_by_test_id("decision-form")).to_be_visible()
    screenshot(page, "approval.png")
    page.get_by_label("Comment").fill("Approved: a two-year commitment")
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_test_id("approval-queue").filter(has_text=number)).to_have_count(0)
    _sign_out(page)

    # The buyer downloads the PDF and accepts.
    sign_in(page, demo_server, "bob.buyer@acme.example", "acme", "bob")
    page.goto(quote_url)
    expect(page.get_by_test_id("state")).to_have_text("approved")
    contract_value = page.get_by_test_id("total-tcv").inner_text().split()[0]
    with page.expect_download() as download:
        page.get_by_test_id("pdf-link").click()
    pdf_path = tmp_path / download.value.suggested_filename
    download.value.save_as(pdf_path)
    assert download.value.suggested_filename == f"quote-{number}-v1.pdf"
    text = "\n".join(p.extract_text() for p in PdfReader(pdf_path).pages)
    assert contract_value in text
    assert "approved" in text.lower() and number in text

    page.get_by_label("Purchase-order number").fill("PO-2026-118")
    page.get_by_label("Your name").fill("Bob Buyer")
    page.get_by_label("I accept the quote and its terms").check()
    page.get_by_role("button", name=f"Accept quote {number}").click()
    expect(page.get_by_test_id("state")).to_have_text("accepted")
    order = page.get_by_test_id("order-number")
    expect(order).to_contain_text(re.compile(r"O-\d{4}-\d{6}"))
    screenshot(page, "quote-accepted.png")
    order.get_by_role("link").click()
    expect(page).to_have_url(re.compile(rf"{re.escape(demo_server.url)}/orders/\d+"))
    expect(page.get_by_text("PO-2026-118")).to_be_visible()
    assert csp_violations(errors) == [], errors
