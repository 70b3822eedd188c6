"""A buyer configures a bundle in a real browser: every site of one country, a device,
guided selling to its plan and an accessory, the totals changing as the cart does."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from e2e.test_signin_browser import console_errors, csp_violations, screenshot, sign_in

pytestmark = pytest.mark.e2e


def test_buyer_configures_devices_for_every_site_in_a_country(page: Page, demo_server):
    errors = console_errors(page)
    sign_in(page, demo_server, "bob.buyer@acme.example", "acme", "bob")
    page.get_by_test_id("main-nav").get_by_role("link", name="Configurator").click()
    expect(page.get_by_role("heading", name="Configure a bundle")).to_be_visible()
    expect(page.get_by_test_id("cart-empty")).to_be_visible()

    page.get_by_label("Offering", exact=True).select_option("DEV-PHONE-PRO")
    page.get_by_label("Quantity per site").fill("2")
    page.get_by_label("every active site in").check()
    page.get_by_label("Country", exact=True).last.select_option("DE")
    page.get_by_role("button", name="Add to cart").click()

    cart = page.get_by_test_id("cart")
    lines = page.get_by_test_id("cart-lines").locator("tbody tr")
    expect(lines).to_have_count(10)  # the ten German demo sites
    one_off = page.get_by_test_id("total-nrc")
    expect(one_off).not_to_have_text("0.00 EUR")
    devices_only = one_off.inner_text()

    # Guided selling: first a plan for the phones, then accessories.
    suggestion = page.get_by_test_id("suggestion")
    expect(suggestion).to_contain_text("Goes with")
    expect(suggestion).to_contain_text("a plan")
    monthly_before = page.get_by_test_id("total-mrc").inner_text()
    suggestion.get_by_role("button", name="Add Business Mobile Unlimited").click()
    expect(lines).to_have_count(20)
    expect(page.get_by_test_id("total-mrc")).not_to_have_text(monthly_before)
    expect(page.get_by_test_id("suggestion")).to_contain_text("accessories")
    page.get_by_test_id("suggestion").get_by_role("button").first.click()
    expect(lines).to_have_count(30)
    expect(one_off).not_to_have_text(devices_only)

    # Changing a quantity reprices in place, without a page load.
    first_quantity = lines.first.get_by_role("spinbutton")
    total_before = page.get_by_test_id("total-tcv").inner_text()
    first_quantity.fill("5")
    first_quantity.dispatch_event("change")
    expect(page.get_by_test_id("total-tcv")).not_to_have_text(total_before)
    expect(cart).to_be_visible()
    screenshot(page, "configurator.png")
    assert csp_violations(errors) == [], errors
    assert errors == [], f"console errors: {errors}"
