"""Sign in through the development IdP in a real browser, as different roles, and check what
the navigation offers each of them.

`PORTAL_SCREENSHOTS=1` also saves the screenshots of docs/screenshots/ (otherwise no file is
written).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import ConsoleMessage, Page, expect

pytestmark = pytest.mark.e2e

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def screenshot(page: Page, name: str) -> None:
    """Keep a screenshot for the documentation, only when asked to."""
    if os.environ.get("PORTAL_SCREENSHOTS") != "1":
        return
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name), full_page=True)


def console_errors(page: Page) -> list[str]:
    """Collect the browser's console errors and uncaught exceptions from now on."""
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        source = message.location.get("url", "")
        if message.type == "error":
            errors.append(f"{message.text} [{source}]")

    page.on("console", on_console)
    page.on("pageerror", lambda error: errors.append(f"uncaught: {error}"))
    return errors


def csp_violations(errors: list[str]) -> list[str]:
    """Chromium reports each CSP violation as a console error naming the policy."""
    return [e for e in errors if "Content Security Policy" in e]


def sign_in(
    page: Page, server, email: str, realm: str, login: str, picker_screenshot: str | None = None
) -> None:
    """Home-realm discovery by e-mail, then pick the persona at the realm's dev IdP."""
    page.goto(f"{server.url}/login")
    page.get_by_label("Work e-mail").fill(email)
    page.get_by_role("button", name="Continue").click()

    expect(page).to_have_url(re.compile(rf"^{re.escape(server.url)}/devidp/{realm}/authorize\?"))
    expect(page.get_by_role("group", name="Demo people")).to_be_visible()
    if picker_screenshot:
        screenshot(page, picker_screenshot)
    page.get_by_test_id(f"persona-{login}").click()

    expect(page).to_have_url(f"{server.url}/dashboard")


def main_nav(page: Page):
    return page.get_by_test_id("main-nav")


def expect_administration_menu(page: Page, items: list[str]) -> None:
    """Open the Administration menu, check its entries, close it again."""
    nav = main_nav(page)
    nav.get_by_role("button", name="Administration").click()
    expect(nav.locator(".dropdown-menu").get_by_role("link")).to_have_text(items)
    page.keyboard.press("Escape")
    expect(nav.locator(".dropdown-menu")).to_be_hidden()


def test_customer_admin_signs_in_and_out(page: Page, demo_server):
    errors = console_errors(page)
    navigations: list[str] = []
    page.on("request", lambda r: r.is_navigation_request() and navigations.append(r.url))

    sign_in(
        page,
        demo_server,
        "ada.admin@acme.example",
        "acme",
        "ada",
        picker_screenshot="devidp-picker.png",
    )

    nav = main_nav(page)
    expect(nav.get_by_role("link")).to_have_text(
        ["Dashboard", "Sites", "Inventory", "Usage", "Billing accounts", "Catalog",
         "Configurator", "Quotes", "Orders", "Bills"]
    )
    expect_administration_menu(
        page, ["Members", "Single sign-on", "Partners", "API keys", "Audit trail"]
    )
    expect(nav.get_by_role("link", name="Organisations")).to_have_count(0)
    expect(page.get_by_test_id("current-user")).to_contain_text("Ada Admin")
    expect(page.get_by_test_id("current-org")).to_have_text("Acme Industries")
    expect(page.get_by_role("heading", name="Administration")).to_be_visible()
    page.wait_for_load_state("load")
    assert csp_violations(errors) == [], errors
    assert errors == [], f"console errors on the dashboard: {errors}"
    screenshot(page, "dashboard-admin.png")

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{demo_server.url}/signed-out")
    expect(page.get_by_role("heading", name="You are signed out")).to_be_visible()
    assert any(url.startswith(f"{demo_server.url}/devidp/acme/logout?") for url in navigations), (
        f"sign-out did not pass through the IdP's end-session endpoint: {navigations}"
    )
    expect(main_nav(page)).to_have_count(0)

    page.goto(f"{demo_server.url}/dashboard")
    expect(page).to_have_url(re.compile(rf"^{re.escape(demo_server.url)}/login\?next="))
    expect(page.get_by_label("Work e-mail")).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)
    assert csp_violations(errors) == [], errors


def test_operator_admin_sees_organisations(page: Page, demo_server):
    errors = console_errors(page)
    sign_in(page, demo_server, "olga.novak@carrier.example", "carrier", "olga")

    # operator_admin: see portal/security.py ROLE_PERMISSIONS.
    nav = main_nav(page)
    expect(nav.get_by_role("link")).to_have_text(
        ["Dashboard", "Catalog", "Organisations", "Legacy imports", "Account managers"]
    )
    expect_administration_menu(
        page, ["Members", "Single sign-on", "API keys", "Audit trail", "Order deliveries",
               "Usage and offers"])
    expect(page.get_by_test_id("current-user")).to_contain_text("Olga Novak")

    nav.get_by_role("link", name="Organisations").click()
    expect(page).to_have_url(f"{demo_server.url}/operator/organisations")
    expect(nav.get_by_role("link", name="Organisations")).to_have_attribute("aria-current", "page")
    rows = page.get_by_test_id("organisations").get_by_role("row")
    expect(rows.filter(has_text="Acme Industries")).to_have_count(1)
    expect(rows.filter(has_text="Acme Industries")).to_contain_text("customer")
    assert csp_violations(errors) == [], errors


def test_buyer_sees_the_estate_but_no_administration(page: Page, demo_server):
    errors = console_errors(page)
    sign_in(page, demo_server, "bob.buyer@acme.example", "acme", "bob")

    nav = main_nav(page)
    expect(nav.get_by_role("link")).to_have_text(
        ["Dashboard", "Sites", "Inventory", "Usage", "Billing accounts", "Catalog",
         "Configurator", "Quotes", "Orders"]
    )
    expect(page.get_by_test_id("current-user")).to_contain_text("Bob Buyer")
    expect(page.get_by_role("heading", name="Buying")).to_be_visible()
    expect(page.get_by_role("heading", name="Administration")).to_have_count(0)
    expect(nav.get_by_role("button", name="Administration")).to_have_count(0)
    assert csp_violations(errors) == [], errors
