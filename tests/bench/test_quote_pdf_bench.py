"""The PDF of a 1,000-line quote through the portal, next to WeasyPrint rendering the same
HTML from a file (what the portal adds: loading, the template, the fetcher, the response);
and the quotes list at a fixed number of SQL queries, 10 quotes or 500 (`make bench`)."""

from __future__ import annotations

import datetime as dt
import io
import statistics
import time

import pypdf
import pytest
import weasyprint
from conftest import count_queries, login_as
from support.quoting import setup_quoting
from timing import BASELINE, measure

from accounts.models import Organisation, User
from portal.catalog.store import current_catalog
from portal.extensions import db
from quotes import services
from quotes.pdf import render_quote_html

LINES = 1000
ROUNDS = 3
LIST_ROUNDS = 30
TODAY = dt.date.today()


def _timed(action, rounds: int = ROUNDS) -> tuple[float, float, float, object]:
    """Median and fastest run of `action` in seconds, its median CPU seconds (steadier on a
    busy machine: rendering is all in this process), and its last result."""
    times, cpu, result = [], [], None
    for _ in range(rounds):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = action()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(times), min(times), statistics.median(cpu), result


def _quote(q, sites: list[int], quantity: int = 2) -> int:
    catalog_version, catalog = current_catalog(db.session)
    quote = services.create_from_requests(
        db.session, q.org, [(site, "MOB-UNL", quantity, 24) for site in sites], q.account,
        catalog_version, catalog, db.session.get(User, q.buyer), TODAY)
    db.session.commit()
    return quote.id


def test_the_pdf_of_a_1000_line_quote(app, factory, tmp_path):
    q = setup_quoting(factory, app, sites=LINES)
    start = time.perf_counter()
    with app.app_context():
        quote_id = _quote(q, [q.sites[f"DE-{n:03d}"] for n in range(1, LINES + 1)])
    made = time.perf_counter() - start
    client = app.test_client()
    login_as(client, q.buyer, q.org)
    path = f"/quotes/{quote_id}/versions/1/pdf"

    def through_the_portal():
        response = client.get(path)
        assert response.status_code == 200 and response.mimetype == "application/pdf"
        return response.data

    with app.test_request_context():
        version = services.get_version(db.session, q.org, quote_id, 1)
        html = render_quote_html(version, db.session.get(Organisation, q.org).name)
    source = tmp_path / "quote.html"
    source.write_text(html, encoding="utf-8")

    portal_median, portal_min, portal_cpu, pdf = _timed(through_the_portal)
    file_median, file_min, file_cpu, _ = _timed(
        lambda: weasyprint.HTML(filename=str(source)).write_pdf())
    pages = len(pypdf.PdfReader(io.BytesIO(pdf)).pages)
    print(f"\n1,000-line quote made through the services in {made:.1f} s; "
          f"PDF {len(pdf) / 1024:.0f} KiB, {pages} pages")
    print(f"{'PDF of a 1,000-line quote':<46}{'median s':>9}{'min s':>8}{'CPU s':>8}"
          f"{'x file':>8}{'x (CPU)':>9}")
    print(f"{'WeasyPrint, same HTML from a file (baseline)':<46}{file_median:>9.2f}"
          f"{file_min:>8.2f}{file_cpu:>8.2f}{1:>8.2f}{1:>9.2f}")
    print(f"{'GET /quotes/<id>/versions/1/pdf (portal)':<46}{portal_median:>9.2f}"
          f"{portal_min:>8.2f}{portal_cpu:>8.2f}{portal_median / file_median:>8.2f}"
          f"{portal_cpu / file_cpu:>9.2f}")


def test_the_quotes_list_runs_a_fixed_number_of_queries(app, factory):
    if "quotes.index" not in app.view_functions:
        pytest.skip("the quotes list page (GET /quotes, endpoint quotes.index) is not "
                    "registered yet")
    q = setup_quoting(factory, app, sites=3)
    sites = [q.sites["DE-001"]]
    client = app.test_client()
    login_as(client, q.buyer, q.org)
    counts, timings = {}, {}
    made = 0
    for total in (10, 500):
        start = time.perf_counter()
        with app.app_context():
            while made < total:
                _quote(q, sites, quantity=1 + made % 5)
                made += 1
        elapsed = time.perf_counter() - start
        assert client.get("/quotes").status_code == 200  # warm: session, caches
        with count_queries(app) as statements:
            assert client.get("/quotes").status_code == 200
        counts[total] = len(statements)
        timings[total] = measure(client, "/quotes", LIST_ROUNDS)
        print(f"\n{total} quotes made in {elapsed:.1f} s; GET /quotes ran {counts[total]} "
              f"SQL statements")
    base_median, base_p95 = measure(client, BASELINE[1], LIST_ROUNDS)
    print(f"{'page':<40}{'median ms':>10}{'p95 ms':>10}{'x baseline':>12}")
    print(f"{BASELINE[0]:<40}{base_median:>10.2f}{base_p95:>10.2f}{1:>12.1f}")
    for total, (median, p95) in timings.items():
        label = f"/quotes ({total} quotes, {counts[total]} queries)"
        print(f"{label:<40}{median:>10.2f}{p95:>10.2f}{median / base_median:>12.1f}")
    assert counts[10] == counts[500]
