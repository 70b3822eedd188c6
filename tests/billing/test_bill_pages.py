"""Bill pages: the finance overview, the consolidated bill and its downloads, source bills;
who may see them, another organisation's bills answer 404, a fixed number of queries."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from decimal import Decimal

import pytest
from conftest import count_queries, login_as
from pypdf import PdfReader
from support.bills import add_account, add_bill, add_bulk_lines, add_sites, bills_world, line

from accounts.models import Delegation
from portal.db import utcnow
from portal.extensions import db

D = Decimal


@pytest.fixture
def acme(app, factory):
    """Acme with the bills of support.bills.bills_world, a finance user, and Globex with a
    bill of its own."""
    org = factory.org("acme")
    globex = factory.org("globex")
    with app.app_context():
        ids = bills_world(db.session, org)
        other_bill = add_bill(db.session, globex, add_account(db.session, globex, "GLX-1"),
                              [line("999.99", "190.00", description="Globex line")],
                              number="GLX-1")
        db.session.commit()
    return {"org": org, "globex": globex, "finance": factory.user(org, "finance"),
            "other_bill": other_bill, **ids}


def _text(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def _cells(html: str, testid: str) -> list[str]:
    table = re.search(rf'data-testid="{testid}".*?</table>', html, re.S).group(0)
    return [" ".join(re.sub(r"<[^>]+>", " ", c).split())
            for c in re.findall(r"<t[dh](?:\s[^>]*)?>(.*?)</t[dh]>", table, re.S)]


def test_the_finance_overview(client, acme):
    login_as(client, acme["finance"], acme["org"])
    html = _text(client.get("/bills"))
    assert 'href="/bills"' in html and ">Bills</a>" in html  # the nav link
    assert html.count("<rect") == 2  # two months billed in the last twelve
    assert "Spend per month in EUR, before tax, 2025-11 to 2026-10" in html
    history = _cells(html, "bill-history")
    assert "October 2026" in history and "419.93 EUR" in history
    assert "September 2026" in history and "285.30 EUR" in history
    assert 'href="/bills/2026-10/pdf"' in html and 'href="/bills/2026-10/csv"' in html
    by_site = _cells(html, "spend-by-site")
    assert by_site[by_site.index("ACM-003 Office ACM3") + 1:][:3] == ["183.99", "89.00",
                                                                       "+94.99"]
    changes = _cells(html, "site-changes")
    assert changes[4].startswith("ACM-003") and changes[7] == "+94.99"
    assert "BB-FIBRE-1G" in _cells(html, "offering-changes")[4]
    assert "Globex" not in html and 'style="' not in html and "<script>" not in html


def test_the_consolidated_bill_page(client, acme):
    login_as(client, acme["finance"], acme["org"])
    html = _text(client.get("/bills/2026-10"))
    assert _cells(html, "total-due-EUR")[4:8] == ["Total due", "351.33", "68.60", "419.93"]
    assert "+134.63" in _cells(html, "total-due-EUR")
    assert "before tax" in html
    assert "ACM-003 Office ACM3" in _cells(html, "by-site")
    assert "CC-DE" in _cells(html, "by-cost-centre")
    assert {"fixed-bss", "mobile-bss"} <= set(_cells(html, "by-source"))
    credits = _cells(html, "credits")
    assert "Goodwill credit" in credits and "Price correction" in credits
    lines = _cells(html, "bill-lines")
    assert "Router installation BB-FIBRE-1G" in lines and "Roaming usage" in lines
    assert f'href="/bills/source/{acme["bills"]["oct_fixed"]}"' in html
    assert "Globex" not in html and "999.99" not in html and 'style="' not in html


def test_the_detail_is_paged(client, app, acme):
    with app.app_context():
        bill = add_bill(db.session, acme["org"], acme["accounts"]["de"],
                        [line("1.00", site_id=acme["sites"][0])], period="2026-08")
        add_bulk_lines(db.session, bill, 249, acme["sites"])
        db.session.commit()
    login_as(client, acme["finance"], acme["org"])
    first = _text(client.get("/bills/2026-08"))
    assert "Page 1 of 3" in first and first.count("Usage line") == 99
    last = _text(client.get("/bills/2026-08?page=3"))
    assert "Page 3 of 3" in last and last.count("Usage line") == 50
    # A page beyond the last shows the last; a page that is no number, the first.
    assert "Page 3 of 3" in _text(client.get("/bills/2026-08?page=99"))
    assert "Page 1 of 3" in _text(client.get("/bills/2026-08?page=x"))


def test_the_downloads_match_the_page(client, acme):
    login_as(client, acme["finance"], acme["org"])
    pdf = client.get("/bills/2026-10/pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert pdf.headers["Content-Disposition"] == \
        'attachment; filename="consolidated-bill-acme-2026-10.pdf"'
    assert pdf.headers["Cache-Control"] == "no-store"
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.data)).pages)
    assert "Total due (EUR) 351.33 68.60 419.93" in text
    response = client.get("/bills/2026-10/csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.is_streamed
    assert response.headers["Content-Disposition"] == \
        'attachment; filename="consolidated-bill-acme-2026-10.csv"'
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert rows[-1]["record"] == "total" and rows[-1]["amount_incl_tax"] == "419.93"


def test_a_source_bill_and_its_pdf(client, acme):
    login_as(client, acme["finance"], acme["org"])
    bill_id = acme["bills"]["oct_fixed"]
    html = _text(client.get(f"/bills/source/{bill_id}"))
    assert "Bill FX-2026-10" in html
    assert _cells(html, "total-due-EUR")[4:8] == ["Total due", "183.99", "36.81", "220.80"]
    assert "Router installation BB-FIBRE-1G" in _cells(html, "bill-lines")
    assert "Roaming usage" not in html
    pdf = client.get(f"/bills/source/{bill_id}/pdf")
    assert pdf.headers["Content-Disposition"] == \
        'attachment; filename="bill-fixed-bss-FX-2026-10.pdf"'
    assert "Total due (EUR) 183.99 36.81 220.80" in PdfReader(io.BytesIO(pdf.data)) \
        .pages[0].extract_text()


@pytest.mark.parametrize("path", ["/bills/source/{other_bill}", "/bills/source/{other_bill}/pdf",
                                  "/bills/source/2147483647", "/bills/2026-13",
                                  "/bills/2026-13/pdf", "/bills/2026-13/csv", "/bills/abc",
                                  "/bills/2026-1", "/bills/2026-11/pdf", "/bills/2026-11/csv"])
def test_other_organisations_bills_bad_periods_and_empty_downloads_answer_404(
        client, acme, path):
    login_as(client, acme["finance"], acme["org"])
    response = client.get(path.format(other_bill=acme["other_bill"]))
    assert response.status_code == 404
    assert "Globex" not in response.get_data(as_text=True)


def test_a_period_or_organisation_without_bills_gets_a_friendly_page(client, factory, acme):
    login_as(client, acme["finance"], acme["org"])
    html = _text(client.get("/bills/2026-11"))
    assert "There are no bills for Acme in November 2026." in html
    assert "Download" not in html
    empty = factory.org("empty")
    login_as(client, factory.user(empty, "finance"), empty)
    html = _text(client.get("/bills"))
    assert "There are no bills for Empty yet." in html


@pytest.mark.parametrize("role,status", [("finance", 200), ("admin", 200), ("buyer", 403),
                                         ("viewer", 403)])
def test_finance_and_admins_see_bills_buyers_and_viewers_do_not(
        client, factory, acme, role, status):
    login_as(client, factory.user(acme["org"], role), acme["org"])
    paths = ["/bills", "/bills/2026-10", "/bills/2026-10/pdf", "/bills/2026-10/csv",
             f"/bills/source/{acme['bills']['oct_mobile']}"]
    assert [client.get(p).status_code for p in paths] == [status] * len(paths)
    nav = re.search(r'data-testid="main-nav".*?</ul>', _text(client.get("/dashboard")), re.S)
    assert ('href="/bills"' in nav.group(0)) is (status == 200)


@pytest.mark.parametrize("scopes,status", [(["quote", "order", "billing"], 200),
                                           (["quote", "order"], 403)])
def test_partners_see_bills_only_with_the_billing_delegation(
        client, app, factory, acme, scopes, status):
    northwind = factory.org("northwind", kind="partner")
    agent = factory.user(northwind, "partner_agent")
    with app.app_context():
        db.session.add(Delegation(organisation_id=acme["org"], partner_id=northwind,
                                  scopes=scopes, expires_at=utcnow() + dt.timedelta(days=9)))
        db.session.commit()
    login_as(client, agent, acme["org"])
    assert client.get("/bills").status_code == status
    assert client.get("/bills/2026-10/csv").status_code == status
    if status == 200:
        assert "419.93" in client.get("/bills/2026-10").get_data(as_text=True)


def _world_of(app, factory, slug: str, sites: int) -> tuple[int, int, int]:
    org = factory.org(slug)
    with app.app_context():
        account = add_account(db.session, org, "BA-1")
        site_ids = add_sites(db.session, org, sites)
        bill = None
        for period in ("2026-09", "2026-10"):
            bill = add_bill(db.session, org, account, [
                line("-2.00", kind="credit", site_id=site_ids[0])], period=period)
            add_bulk_lines(db.session, bill, sites, site_ids)
        db.session.commit()
    return org, factory.user(org, "finance"), bill


def test_pages_run_the_same_queries_for_2_and_50_sites_and_lines(app, factory):
    counts = []
    for slug, size in (("small", 2), ("large", 50)):
        org, user, bill = _world_of(app, factory, slug, size)
        client = app.test_client()
        login_as(client, user, org)
        sizes = []
        for path in ("/bills", "/bills/2026-10", f"/bills/source/{bill}"):
            client.get(path)  # warm: the first request loads the session row
            with count_queries(app) as sql:
                assert client.get(path).status_code == 200
            sizes.append(len(sql))
        counts.append(sizes)
    assert counts[0] == counts[1], counts
