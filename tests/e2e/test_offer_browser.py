"""In a real browser: the demo buyer sees the plan recommended for an Acme service that keeps
going over its allowance on the dashboard, with the bill-shock alert among the notifications,
looks at the usage page, accepts the offer and follows the change order until the sandbox
backend completes it and the inventory shows the new plan."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from accounts.estate.models import Service
from e2e.test_signin_browser import console_errors, csp_violations, screenshot, sign_in
from portal.extensions import db
from portal.usage.models import Offer

pytestmark = pytest.mark.e2e


def test_buyer_accepts_a_recommended_plan(page: Page, order_demo_server):
    server = order_demo_server
    with server.app.app_context():
        offer = db.session.scalars(select(Offer)).one()
        offer_id, service_id = offer.id, offer.service_id
    errors = console_errors(page)
    sign_in(page, server, "bob.buyer@acme.example", "acme", "bob")

    card = page.get_by_test_id("offers")
    expect(card.get_by_test_id("offer")).to_have_count(1)
    expect(card.get_by_test_id("offer-kind")).to_have_text("better fit")
    expect(card.get_by_test_id("offer-reason")).to_contain_text(
        "went over its data allowance in 2 of the last 3 months")
    expect(card).to_contain_text("Business Mobile Unlimited")
    screenshot(page, "offers-dashboard.png")

    page.get_by_test_id("notifications-link").click()
    expect(page.get_by_text("100 % of the data allowance used").first).to_be_visible()

    page.get_by_test_id("main-nav").get_by_role("link", name="Usage").click()
    row = page.locator(f'[data-testid="usage-row"][data-service-id="{service_id}"]')
    expect(row.get_by_test_id("usage-share")).to_have_count(3)
    expect(row.locator(".text-bg-danger")).to_have_count(2)
    screenshot(page, "usage.png")

    page.get_by_test_id("main-nav").get_by_role("link", name="Dashboard").click()
    page.get_by_test_id("offers").get_by_role("button", name="Accept and order").click()
    expect(page).to_have_url(re.compile(rf"^{re.escape(server.url)}/orders/\d+$"))
    expect(page.get_by_role("status").filter(has_text="was placed")).to_be_visible()
    expect(page.get_by_test_id("order-header").get_by_test_id("order-state")).to_have_text(
        "completed", timeout=45_000)
    with server.app.app_context():
        assert db.session.get(Offer, offer_id).status == "accepted"
        assert db.session.get(Service, service_id).offering_code == "MOB-UNL"
    page.get_by_test_id("main-nav").get_by_role("link", name="Dashboard").click()
    expect(page.get_by_test_id("offers")).to_have_count(0)
    assert csp_violations(errors) == [], errors
    assert errors == [], f"console errors: {errors}"
