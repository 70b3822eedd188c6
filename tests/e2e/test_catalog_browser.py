"""The catalog in a real browser: the demo buyer sees the demo catalog; the operator admin
uploads a file with a mistake (listed, nothing loaded), then the corrected file, and sees
what changed."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from e2e.test_signin_browser import console_errors, csp_violations, screenshot, sign_in
from portal.catalog.demo import DEMO_CATALOG

pytestmark = pytest.mark.e2e


def yaml_file(text: str) -> dict:
    """An in-memory file for `set_input_files`."""
    return {"name": "catalog.yaml", "mimeType": "application/yaml", "buffer": text.encode()}


def test_the_demo_buyer_sees_the_catalog(page: Page, demo_server):
    errors = console_errors(page)
    sign_in(page, demo_server, "bob.buyer@acme.example", "acme", "bob")
    page.get_by_test_id("main-nav").get_by_role("link", name="Catalog").click()
    expect(page).to_have_url(f"{demo_server.url}/catalog")
    expect(page.get_by_role("heading", name="Mobile")).to_be_visible()
    mobile = page.get_by_test_id("offering-MOB-UNL")
    expect(mobile).to_contain_text("Business Mobile Unlimited")
    expect(mobile).to_contain_text("25.00 EUR")
    expect(mobile.get_by_test_id("promotion-SIX-FREE")).to_contain_text("first 6 months free")
    expect(page.get_by_test_id("offering-BB-FIBRE-2G")).to_have_count(0)  # launches later
    expect(page.get_by_role("link", name="Versions")).to_have_count(0)
    screenshot(page, "catalog.png")
    assert csp_violations(errors) == [], errors
    assert errors == [], f"console errors: {errors}"


def test_an_operator_uploads_a_catalog_and_sees_the_diff(page: Page, demo_server):
    errors = console_errors(page)
    sign_in(page, demo_server, "olga.novak@carrier.example", "carrier", "olga")
    page.get_by_test_id("main-nav").get_by_role("link", name="Catalog").click()
    page.get_by_role("link", name="Upload").click()
    expect(page.get_by_role("heading", name="Upload a catalog file")).to_be_visible()

    demo = DEMO_CATALOG.read_text(encoding="utf-8")
    broken = demo.replace('recurring: "25.00"', 'recurring: "25,00"')
    page.get_by_label("Catalog file").set_input_files(yaml_file(broken))
    page.get_by_role("button", name="Check and load").click()
    refused = page.get_by_test_id("catalog-errors")
    expect(refused).to_contain_text("1 problem. Nothing has changed.")
    expect(refused).to_contain_text('offering MOB-UNL: recurring: "25,00" is not an amount')
    screenshot(page, "catalog-upload-errors.png")

    page.get_by_label("Catalog file").set_input_files(
        yaml_file(demo.replace('recurring: "25.00"', 'recurring: "23.00"')))
    page.get_by_label("Note").fill("Unlimited for less")
    page.get_by_role("button", name="Check and load").click()
    expect(page).to_have_url(f"{demo_server.url}/catalog/diff?to=2")
    expect(page.get_by_role("status")).to_contain_text("Catalog version 2 is loaded")
    expect(page.get_by_test_id("diff-summary")).to_contain_text("1 change.")
    change = page.get_by_test_id("change-offering-MOB-UNL")
    expect(change).to_contain_text("recurring")
    expect(change).to_contain_text("25.00")
    expect(change).to_contain_text("23.00")
    screenshot(page, "catalog-diff.png")

    page.get_by_role("link", name="Versions").click()
    rows = page.get_by_test_id("versions").locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("Unlimited for less")
    expect(rows.first).to_contain_text("olga.novak@carrier.example")
    assert csp_violations(errors) == [], errors
    assert errors == [], f"console errors: {errors}"
