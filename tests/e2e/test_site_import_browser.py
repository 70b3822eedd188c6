"""A customer admin imports sites from a CSV file in a real browser: the preview shows the
bad row with its line number, the corrected file is uploaded again and committed, and the
sites appear in the list."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from e2e.test_signin_browser import console_errors, csp_violations, screenshot, sign_in

pytestmark = pytest.mark.e2e

HEADER = "code,name,address,postcode,city,country,contact_email\n"
GOOD_ROWS = [
    "E2E-001,Berlin office,Friedrichstraße 1,10115,Berlin,DE,berlin@acme.example\n",
    "E2E-002,Lyon shop,Rue de la République 5,69002,Lyon,FR,\n",
    "E2E-003,Leeds depot,Briggate 9,LS1 5AA,Leeds,GB,leeds@acme.example\n",
]


def csv_file(rows: list[str]) -> dict:
    """An in-memory file for `set_input_files`."""
    return {"name": "sites.csv", "mimeType": "text/csv",
            "buffer": (HEADER + "".join(rows)).encode()}


def test_admin_imports_sites_fixing_a_bad_row_first(page: Page, demo_server):
    errors = console_errors(page)
    sign_in(page, demo_server, "ada.admin@acme.example", "acme", "ada")

    page.get_by_test_id("main-nav").get_by_role("link", name="Sites").click()
    expect(page).to_have_url(f"{demo_server.url}/sites")
    screenshot(page, "sites.png")
    page.get_by_role("link", name="Import from CSV").click()
    expect(page.get_by_role("heading", name="Import sites from a CSV file")).to_be_visible()

    # Line 3 (the header is line 1) names a country that does not exist.
    bad = [GOOD_ROWS[0], GOOD_ROWS[1].replace(",FR,", ",XX,"), GOOD_ROWS[2]]
    page.get_by_label("CSV file of sites").set_input_files(csv_file(bad))
    page.get_by_role("button", name="Upload and check").click()

    expect(page.get_by_test_id("import-refused")).to_contain_text("nothing has been imported")
    error_rows = page.get_by_test_id("import-errors").locator("tbody tr")
    expect(error_rows).to_have_count(1)
    expect(error_rows.first.get_by_role("rowheader")).to_have_text("3")
    expect(error_rows.first).to_contain_text("E2E-002")
    expect(error_rows.first).to_contain_text("country 'XX' is not an ISO 3166 alpha-2")
    expect(page.get_by_role("button", name=re.compile(r"^Import"))).to_have_count(0)
    screenshot(page, "site-import-errors.png")

    # The corrected file, uploaded from the preview page itself.
    page.get_by_label("CSV file of sites").set_input_files(csv_file(GOOD_ROWS))
    page.get_by_role("button", name="Upload and check").click()
    expect(page.get_by_test_id("import-summary")).to_contain_text("3 to create")
    expect(page.get_by_test_id("import-errors")).to_have_count(0)
    page.get_by_role("button", name="Import: create 3, update 0").click()

    expect(page).to_have_url(f"{demo_server.url}/sites")
    expect(page.get_by_role("status")).to_contain_text(
        "Imported sites.csv: 3 created, 0 updated")
    page.get_by_role("textbox", name="Search").fill("E2E-")
    page.get_by_role("button", name="Filter").click()
    rows = page.get_by_test_id("sites").locator("tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.filter(has_text="E2E-002")).to_contain_text("Lyon")
    expect(page.get_by_test_id("site-total")).to_have_text("3 sites")

    rows.filter(has_text="E2E-001").get_by_role("link", name="E2E-001").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Berlin office")
    expect(page.get_by_text("berlin@acme.example")).to_be_visible()
    assert csp_violations(errors) == [], errors
    assert errors == [], f"console errors: {errors}"
