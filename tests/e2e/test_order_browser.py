"""A buyer suspends a service in a real browser and follows the order to completion: the
portal with the demo data, the sandbox order backend as its own process posting its events
to the portal's webhook, and a dispatcher in a thread, as `make run` runs them."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from e2e.test_signin_browser import console_errors, csp_violations, screenshot, sign_in

pytestmark = pytest.mark.e2e


def test_buyer_suspends_a_service_and_follows_the_order(page: Page, order_demo_server):
    server = order_demo_server
    errors = console_errors(page)
    sign_in(page, server, "bob.buyer@acme.example", "acme", "bob")

    # The inventory: only active services, then Change on the first one.
    page.get_by_test_id("main-nav").get_by_role("link", name="Inventory").click()
    page.get_by_label("Status").select_option("active")
    page.get_by_role("button", name="Filter").click()
    change = page.get_by_test_id("change-service").first
    href = change.get_attribute("href")
    service_id = re.fullmatch(r"/inventory/(\d+)/change", href).group(1)
    change.click()

    expect(page.get_by_role("heading", name="What do you want to do?")).to_be_visible()
    expect(page.get_by_test_id("reason-resume")).to_have_text(
        "Only a suspended service can be resumed.")
    expect(page.get_by_test_id("option-resume").get_by_role("button")).to_be_disabled()
    page.get_by_test_id("option-suspend").get_by_role("button", name="Suspend").click()

    preview = page.get_by_test_id("preview")
    expect(preview).to_contain_text("The monthly charge continues while the service is "
                                    "suspended.")
    expect(preview.get_by_test_id("mrc-change")).to_contain_text("0.00")
    screenshot(page, "order-change-preview.png")
    preview.get_by_role("button", name="Confirm and place the order").click()

    # The order page follows the order by itself until the backend completes it.
    expect(page).to_have_url(re.compile(rf"^{re.escape(server.url)}/orders/\d+$"))
    expect(page.get_by_role("status").filter(has_text="was placed")).to_be_visible()
    expect(page.get_by_test_id("order-header").get_by_test_id("order-state")).to_have_text(
        "completed", timeout=45_000)
    expect(page.get_by_test_id("part-state")).to_have_text("completed")
    timeline = page.get_by_test_id("timeline")
    expect(timeline).to_contain_text("Sent to the backend")
    expect(timeline).to_contain_text("The order backend reports completed.")
    expect(page.get_by_test_id("refresh-note")).to_have_count(0)
    screenshot(page, "order-completed.png")

    # The order is in the list, and the inventory shows the service suspended.
    page.get_by_test_id("main-nav").get_by_role("link", name="Orders").click()
    expect(page.get_by_test_id("order-row").first).to_contain_text("completed")
    page.get_by_test_id("main-nav").get_by_role("link", name="Inventory").click()
    page.get_by_label("Status").select_option("suspended")
    page.get_by_role("button", name="Filter").click()
    row = page.get_by_test_id("services").locator("tbody tr").filter(
        has=page.locator(f'a[href="/inventory/{service_id}/change"]'))
    expect(row).to_have_count(1)
    expect(row).to_contain_text("suspended")
    assert csp_violations(errors) == [], errors
    assert errors == [], f"console errors: {errors}"
