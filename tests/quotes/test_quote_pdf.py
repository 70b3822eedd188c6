"""The quote PDF: the figures printed are the frozen figures and the engine's; the content
(customer, billing account, sites, promotions, validity, approval) is there; pages are
numbered and the table header repeats; the download is safe and private; and only those
who may see the quote get it."""

from __future__ import annotations

import datetime as dt
import io
import re
from decimal import Decimal

import pypdf
import pytest
from conftest import login_as
from sqlalchemy import insert, select
from support.quoting import CATALOG, make_quote

from accounts.estate.models import Site
from accounts.models import Delegation, User
from portal.catalog.pricing import LineRequest, price_configuration
from portal.catalog.store import current_catalog, load_version
from portal.db import utcnow
from portal.extensions import db
from portal.pdf import (
    LocalOnlyFetcher,
    content_disposition,
    pdf_response,
    render_pdf,
    safe_filename,
)
from quotes import acceptance, approvals, services
from quotes.models import Quote
from quotes.pdf import money

TODAY = dt.date.today()
LINES = [("DE-001", "MOB-UNL", 10, 24), ("DE-002", "MOB-UNL", 5, 12),
         ("DE-002", "FIBRE", 1, 36), ("FR-001", "FIBRE", 2, 24)]
AMOUNT = r"(-?[\d,]+\.\d\d)"
FILENAME = re.compile(r'^attachment; filename="quote-Q-\d{4}-\d{6}-v\d+\.pdf"$')


def pages_of(data: bytes) -> list[str]:
    """The text of each page of a PDF."""
    return [page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages]


def text_of(data: bytes) -> str:
    return "\n".join(pages_of(data))


def flat(text: str) -> str:
    """The text with every run of white space (line breaks included) as one space."""
    return " ".join(text.split())


def pdf_path(quote_id: int, version: int = 1) -> str:
    return f"/quotes/{quote_id}/versions/{version}/pdf"


def download(app, q, quote_id: int, user_id: int | None = None, org_id: int | None = None,
             version: int = 1):
    client = app.test_client()
    login_as(client, user_id or q.buyer, org_id or q.org)
    return client.get(pdf_path(quote_id, version))


def totals_row(text: str, label: str) -> tuple[str, str, str]:
    match = re.search(rf"{re.escape(label)} \(EUR\) {AMOUNT} {AMOUNT} {AMOUNT}", text)
    assert match, f"no {label} row in:\n{text}"
    return match.groups()


def engine_result(q, quote_id: int):
    """The version and the pricing engine's result for its lines, on its catalog and day."""
    version = services.get_version(db.session, q.org, quote_id, 1)
    catalog = services.catalog_of(db.session, version)
    requests = [LineRequest(offering_code=line.offering_code, quantity=line.quantity,
                            term_months=line.term_months, site_id=line.site_id,
                            negotiated_discount=Decimal(line.negotiated_discount))
                for line in version.lines]
    return version, price_configuration(catalog, requests, version.billing_country,
                                        version.priced_on)


def test_the_pdf_prints_the_frozen_totals_which_are_the_engines(app, quoting):
    q = quoting
    quote_id = make_quote(app, q, lines=LINES, discounts={1: "3"})
    response = download(app, q, quote_id)
    assert response.status_code == 200
    text = text_of(response.data)
    with app.app_context():
        version, result = engine_result(q, quote_id)
        for name in ("total_mrc", "total_nrc", "total_tcv", "tax_mrc", "tax_nrc", "tax_tcv"):
            assert getattr(version, name) == getattr(result, name), name
        assert version.tax_rate == result.tax_rate == Decimal("0.19")
        expected = {
            "Monthly recurring": (result.total_mrc, result.tax_mrc, result.mrc_with_tax),
            "One-off": (result.total_nrc, result.tax_nrc, result.nrc_with_tax),
            "Contract value": (result.total_tcv, result.tax_tcv, result.tcv_with_tax),
        }
        lines = [(line.site_code, line.mrc, line.nrc, line.tcv) for line in version.lines]
    for label, figures in expected.items():
        assert totals_row(text, label) == tuple(money(value) for value in figures), label
    assert "Tax 19 % (DE)" in text
    # Per-site subtotals (on each site's row): each is the sum of its lines, and together
    # they make the totals.
    subtotals = {site: tuple(Decimal(v.replace(",", "")) for v in values) for site, *values
                 in re.findall(rf"^Site (\S+) · .* {AMOUNT} {AMOUNT} {AMOUNT}$", text, re.M)}
    assert list(subtotals) == ["DE-001", "DE-002", "FR-001"]
    for site, figures in subtotals.items():
        assert figures == tuple(sum((line[i] for line in lines if line[0] == site), Decimal(0))
                                for i in (1, 2, 3)), site
    assert tuple(sum(f[i] for f in subtotals.values()) for i in range(3)) == (
        result.total_mrc, result.total_nrc, result.total_tcv)


def test_the_pdf_names_the_customer_account_sites_promotions_and_validity(app, quoting):
    q = quoting
    quote_id = make_quote(app, q, lines=LINES)
    with app.app_context():
        quote = db.session.get(Quote, quote_id)
        quote.external_id = "ACME-REF-7"
        db.session.commit()
        number = quote.number
    response = download(app, q, quote_id)
    pages = pages_of(response.data)
    text = "\n".join(pages)
    valid_until = (TODAY + dt.timedelta(days=30)).isoformat()
    for expected in (
        "Carrier Business", f"Quote {number} version 1", "Customer\nAcme", "ACME-REF-7",
        "BA-1 · Acme GmbH", "Hauptstr. 1, 10115 Berlin, DE", f"Valid until\n{valid_until}",
        f"Priced on\n{TODAY.isoformat()} (catalog version 1)", "In progress",
        "Not submitted for approval.", "Site DE-001 · Site 1 · Berlin, DE",
        "Site FR-001 · Paris · Paris, FR", "Business Fibre", "Business Mobile Unlimited THREE-FREE",
        "THREE-FREE: first 3 months free (2 lines)", "Terms and conditions",
        "exclude tax", "Amounts in EUR",
    ):
        assert expected in text, expected
    assert "EXPIRED" not in text
    assert f"Page 1 of {len(pages)}" in pages[0]
    assert f"Page {len(pages)} of {len(pages)}" in pages[-1]


def test_the_approval_status_and_acceptance_are_printed(app, quoting):
    q = quoting
    quote_id = make_quote(app, q, discounts={1: "12"})
    with app.app_context():
        approvals.submit(db.session, services.get_version(db.session, q.org, quote_id),
                         db.session.get(User, q.buyer), TODAY)
        db.session.commit()
    text = flat(text_of(download(app, q, quote_id).data))
    assert "Pending approval" in text and "Awaiting approval by the account manager." in text
    with app.app_context():
        version = services.get_version(db.session, q.org, quote_id)
        approvals.decide(db.session, version, db.session.get(User, q.manager), "approved",
                         "fine", TODAY)
        db.session.commit()
    text = flat(text_of(download(app, q, quote_id).data))
    assert f"Approved by amelia@carrier.test (account manager) on {TODAY.isoformat()}." in text
    with app.app_context():
        version = services.get_version(db.session, q.org, quote_id)
        acceptance.accept(db.session, version, db.session.get(User, q.buyer), "PO-4711",
                          "Bob Buyer", TODAY)
        db.session.commit()
    text = flat(text_of(download(app, q, quote_id).data))
    assert "Accepted" in text and "By Bob Buyer on" in text and "Purchase order: PO-4711" in text


def test_an_automatic_approval_and_an_expired_quote_are_printed(app, quoting):
    q = quoting
    start = TODAY - dt.timedelta(days=40)
    quote_id = make_quote(app, q, today=start)
    with app.app_context():
        approvals.submit(db.session, services.get_version(db.session, q.org, quote_id),
                         db.session.get(User, q.buyer), start)
        db.session.commit()
    text = flat(text_of(download(app, q, quote_id).data))
    assert "Approved automatically on" in text
    assert f"{(start + dt.timedelta(days=30)).isoformat()} · EXPIRED" in text


def _many_sites(q, count: int) -> list[int]:
    db.session.execute(insert(Site), [
        {"organisation_id": q.org, "code": f"DE-{n:03d}", "name": f"Site {n}", "address": "x",
         "postcode": "10000", "city": "Berlin", "country": "DE", "status": "active"}
        for n in range(4, count + 1)])
    return list(db.session.scalars(select(Site.id).where(
        Site.organisation_id == q.org, Site.country == "DE").order_by(Site.code)))


def test_a_long_quote_numbers_its_pages_and_repeats_the_table_header(app, quoting):
    q = quoting
    with app.app_context():
        site_ids = _many_sites(q, 60)
        catalog_version, catalog = current_catalog(db.session)
        quote = services.create_from_requests(
            db.session, q.org, [(site, code, 1, 24) for site in site_ids
                                for code in ("MOB-UNL", "FIBRE")],
            q.account, catalog_version, catalog, db.session.get(User, q.buyer), TODAY)
        db.session.commit()
        quote_id = quote.id
        version, result = engine_result(q, quote_id)
        assert len(version.lines) == 120
    pages = pages_of(download(app, q, quote_id).data)
    assert len(pages) >= 3
    header = "Offering Qty Term Discount Monthly One-off Contract value"
    for number, page in enumerate(pages, 1):
        assert f"Page {number} of {len(pages)}" in page
        if "Site DE-" in page:  # every page of the table starts with its header
            assert header in page, number
    assert header in pages[1]
    assert "Site DE-060 · Site 60 · Berlin, DE" in "\n".join(pages)
    assert totals_row("\n".join(pages), "Monthly recurring")[0] == money(result.total_mrc)


def test_the_pdf_does_not_change_with_a_later_catalog(app, quoting):
    q = quoting
    quote_id = make_quote(app, q, lines=LINES)
    before = text_of(download(app, q, quote_id).data)
    with app.app_context():
        load_version(db.session, CATALOG.replace('recurring: "25.00"', 'recurring: "99.00"')
                     .replace("Business Fibre", "Fibre Deluxe"), "v2.yaml", "test")
        site = db.session.get(Site, q.sites["DE-001"])
        site.name = "Renamed site"
        db.session.commit()
    after = text_of(download(app, q, quote_id).data)
    assert after == before
    assert "Fibre Deluxe" not in after and "Renamed site" not in after


def test_the_download_is_a_private_attachment_with_a_safe_name(app, quoting):
    q = quoting
    quote_id = make_quote(app, q)
    with app.app_context():
        quote = db.session.get(Quote, quote_id)
        quote.title = '../../etc/passwd"; filename=evil.exe\r\nX-Injected: 1 <b>é</b>'
        db.session.commit()
        number = quote.number
    response = download(app, q, quote_id)
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF-")
    assert response.headers["Cache-Control"] == "no-store"
    disposition = response.headers["Content-Disposition"]
    assert FILENAME.match(disposition), disposition
    assert disposition == f'attachment; filename="quote-{number}-v1.pdf"'
    assert "X-Injected" not in response.headers
    # The title is printed as text, not interpreted.
    assert "<b>é</b>" in text_of(response.data)


@pytest.mark.parametrize(("name", "expected"), [
    ("quote-Q-2026-000012-v2.pdf", "quote-Q-2026-000012-v2.pdf"),
    ("../../etc/passwd", "etc-passwd"),
    ('a"b;c\r\nd.pdf', "a-b-c-d.pdf"),
    ("Angebot für Müller.pdf", "Angebot-fur-Muller.pdf"),
    ("...", "document.pdf"),
    ("", "document.pdf"),
    ("日本語.pdf", "document.pdf"),
    ("x" * 300 + ".pdf", "x" * 116 + ".pdf"),
])
def test_file_names_are_reduced_to_safe_ascii(name, expected):
    assert safe_filename(name) == expected


def test_content_disposition_gives_an_ascii_name_and_the_utf8_name():
    assert content_disposition("quote-Q-1-v1.pdf") == 'attachment; filename="quote-Q-1-v1.pdf"'
    value = content_disposition("Angebot für Müller.pdf")
    assert value == ("attachment; filename=\"Angebot-fur-Muller.pdf\"; "
                     "filename*=UTF-8''Angebot%20f%C3%BCr%20M%C3%BCller.pdf")
    hostile = content_disposition('x"\r\nSet-Cookie: a=b.pdf')
    assert "\r" not in hostile and "\n" not in hostile and hostile.count('"') == 2


def test_pdf_response_headers(app):
    with app.test_request_context():
        response = pdf_response(b"%PDF-1.7", "a b.pdf")
    assert response.mimetype == "application/pdf"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="a-b.pdf"')


def test_rendering_fetches_nothing_from_the_network_or_outside_the_static_folder(tmp_path):
    fetcher = LocalOnlyFetcher()
    for url in ("http://127.0.0.1:9/x.png", "https://example.test/font.woff",
                "ftp://example.test/x", "file:///etc/passwd",
                "file:///work/../etc/hostname"):
        with pytest.raises(ValueError):
            fetcher.fetch(url)
    favicon = fetcher.fetch((LocalOnlyFetcher().root / "favicon.svg").as_uri())
    assert b"<svg" in favicon.read()
    favicon.close()
    secret = tmp_path / "secret.css"
    secret.write_text("body { color: red }")
    fetched = []

    class Spy(LocalOnlyFetcher):
        def fetch(self, url, headers=None):
            fetched.append(url)
            return super().fetch(url, headers)

    import portal.pdf

    original = portal.pdf.LocalOnlyFetcher
    portal.pdf.LocalOnlyFetcher = Spy
    try:
        pdf = render_pdf(f'<link rel="stylesheet" href="{secret.as_uri()}">'
                         '<img src="http://127.0.0.1:9/tracker.png">'
                         '<img src="favicon.svg"><p>Hello</p>')
    finally:
        portal.pdf.LocalOnlyFetcher = original
    assert "Hello" in text_of(pdf)
    assert secret.as_uri() in fetched and "http://127.0.0.1:9/tracker.png" in fetched


# -- who may download -------------------------------------------------------------------------

def test_a_viewer_downloads_and_another_organisation_gets_404(app, quoting, factory):
    q = quoting
    quote_id = make_quote(app, q)
    assert download(app, q, quote_id, q.viewer).status_code == 200
    assert download(app, q, quote_id, version=2).status_code == 404
    stranger = factory.user(q.other_org, "admin", email="gina@globex.test")
    assert download(app, q, quote_id, stranger, q.other_org).status_code == 404


def test_an_account_manager_downloads_in_the_customer_and_from_approvals(app, quoting):
    q = quoting
    quote_id = make_quote(app, q)
    with app.app_context():
        version_id = services.get_version(db.session, q.org, quote_id).id
    assert download(app, q, quote_id, q.manager, q.org).status_code == 200
    for user_id, status in ((q.manager, 200), (q.director, 200), (q.other_manager, 404)):
        client = app.test_client()
        login_as(client, user_id, q.operator)
        response = client.get(f"/approvals/{version_id}/pdf")
        assert response.status_code == status, user_id
        if status == 200:
            assert FILENAME.match(response.headers["Content-Disposition"])
            assert "Customer\nAcme" in text_of(response.data)
    client = app.test_client()
    login_as(client, q.buyer, q.org)
    assert client.get(f"/approvals/{version_id}/pdf").status_code == 403


@pytest.mark.parametrize(("scopes", "status"), [(["quote"], 200), (["order"], 200),
                                                (["billing"], 403)])
def test_a_partner_downloads_under_a_delegation_with_quotes(app, quoting, factory, scopes,
                                                            status):
    q = quoting
    quote_id = make_quote(app, q)
    partner = factory.org("northwind", kind="partner")
    agent = factory.user(partner, "partner_agent", email="paul@northwind.test")
    with app.app_context():
        db.session.add(Delegation(organisation_id=q.org, partner_id=partner, scopes=scopes,
                                  expires_at=utcnow() + dt.timedelta(days=9)))
        db.session.commit()
    assert download(app, q, quote_id, agent, q.org).status_code == status
