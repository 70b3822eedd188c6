"""The service inventory: filters, search, sorting, pages; only the organisation's own."""

from __future__ import annotations

import re

import pytest
from conftest import login_as
from estate_data import add_account, add_services, add_sites


@pytest.fixture
def estate(client, factory, app):
    """acme with two sites, two accounts and services of every kind; a viewer signed in."""
    org_id = factory.org("acme")
    login_as(client, factory.user(org_id, "viewer"), org_id)
    one, two = add_account(app, org_id, "BA-1"), add_account(app, org_id, "BA-2")
    north, south = add_sites(app, org_id, 2, prefix="SITE")
    add_services(app, org_id, north, 2, offering="MOB-UNL", account_id=one,
                 source_system="mobile-bss")
    add_services(app, org_id, north, 1, offering="FIBRE-1G", status="suspended",
                 account_id=two, source_system="fixed-bss", quantity=5)
    add_services(app, org_id, south, 1, offering="TV-BASIC", status="ceased",
                 source_system="tv-bss", quantity=3)
    other = factory.org("globex")
    (theirs,) = add_sites(app, other, 1, prefix="GLOBEX")
    add_services(app, other, theirs, 1, offering="MOB-SECRET")
    return {"org": org_id, "accounts": (one, two), "sites": (north, south)}


def offerings(client, query: str = "") -> list[str]:
    html = client.get(f"/inventory{query}").get_data(as_text=True)
    return re.findall(r"<td><code>([^<]+)</code></td>", html)


def test_only_the_organisations_services_are_listed(client, estate):
    listed = offerings(client)
    assert sorted(listed) == ["FIBRE-1G", "MOB-UNL", "MOB-UNL", "TV-BASIC"]
    assert "4 services" in client.get("/inventory").get_data(as_text=True)


def test_filters_and_search(client, estate):
    one, two = estate["accounts"]
    assert offerings(client, "?site=SITE-00001") == ["TV-BASIC"]
    assert offerings(client, "?site=GLOBEX-00000") == []  # another organisation's code
    assert offerings(client, "?status=suspended") == ["FIBRE-1G"]
    assert offerings(client, "?source=tv-bss") == ["TV-BASIC"]
    assert offerings(client, f"?billing_account={two}") == ["FIBRE-1G"]
    assert offerings(client, "?q=mob") == ["MOB-UNL", "MOB-UNL"]
    assert offerings(client, f"?q=mob&billing_account={one}&status=active") == [
        "MOB-UNL", "MOB-UNL"]
    assert client.get("/inventory?status=x&source=y&billing_account=z").status_code == 200


@pytest.mark.parametrize("key,ascending", [
    ("offering", ["FIBRE-1G", "MOB-UNL", "MOB-UNL", "TV-BASIC"]),
    ("site", ["MOB-UNL", "MOB-UNL", "FIBRE-1G", "TV-BASIC"]),
    ("status", ["MOB-UNL", "MOB-UNL", "TV-BASIC", "FIBRE-1G"]),
    ("quantity", ["MOB-UNL", "MOB-UNL", "TV-BASIC", "FIBRE-1G"]),
    ("source", ["FIBRE-1G", "MOB-UNL", "MOB-UNL", "TV-BASIC"]),
])
def test_sorting_both_ways(client, estate, key, ascending):
    assert offerings(client, f"?sort={key}") == ascending
    assert offerings(client, f"?sort={key}&dir=desc") == ascending[::-1]


def test_pages(client, factory, app):
    org_id = factory.org("acme")
    login_as(client, factory.user(org_id, "buyer"), org_id)
    (site,) = add_sites(app, org_id, 1)
    add_services(app, org_id, site, 60, offering="A-FIRST")
    add_services(app, org_id, site, 15, offering="Z-LAST")
    first = client.get("/inventory").get_data(as_text=True)
    assert "75 services" in first and "Page 1 of 2" in first
    assert offerings(client, "?page=2") == ["A-FIRST"] * 10 + ["Z-LAST"] * 15


def test_the_site_and_account_links_lead_to_their_pages(client, estate):
    html = client.get("/inventory?site=SITE-00000").get_data(as_text=True)
    north = estate["sites"][0]
    one = estate["accounts"][0]
    assert f'href="/sites/{north}">SITE-00000</a>' in html
    assert f'href="/billing-accounts/{one}">BA-1</a>' in html
