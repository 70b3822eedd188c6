"""Consolidated bills (`make bench`): the CSV export of a 1,000,000-line bill streams in
flat memory (its peak next to a 10,000-line export's, measured in the same run), and the PDF
of a 40-site consolidated bill next to a 1-site one. Prints figures and ratios; asserts the
exports are whole and exact, never a time or a memory limit.

    make bench PYTEST_ARGS="-k bills"
    PORTAL_TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/postgres \\
        make bench PYTEST_ARGS="-k bills"
"""

from __future__ import annotations

import io
import resource
import statistics
import time
import tracemalloc
from decimal import Decimal

import pypdf
from support.bills import add_account, add_bill, add_bulk_lines, add_sites, line

from accounts.models import Organisation
from portal.billing import documents, export
from portal.extensions import db

BIG, SMALL = 1_000_000, 10_000
PDF_ROUNDS = 3


def _org_with_lines(factory, slug: str, lines: int, sites: int = 40) -> tuple[int, Decimal]:
    """An organisation with one bill of `lines` lines over `sites` sites (one INSERT ...
    SELECT); returns its id and the bill's amount including tax."""
    org = factory.org(slug)
    account = add_account(db.session, org, "BA-1")
    site_ids = add_sites(db.session, org, sites)
    bill = add_bill(db.session, org, account, [line("1.00", "0.20", site_id=site_ids[0])])
    excl, tax = add_bulk_lines(db.session, bill, lines - 1, site_ids)
    db.session.commit()
    return org, excl + tax + Decimal("1.20")


def _stream(org: int) -> tuple[int, int, str]:
    """Consume the export chunk by chunk as a response would: bytes, chunks, last row."""
    size = chunks = 0
    last = ""
    for chunk in export.consolidated_csv(db.session, org, "2026-10"):
        size += len(chunk.encode())
        chunks += 1
        last = chunk
    db.session.rollback()  # end the read transaction, as a request's end does
    return size, chunks, last.splitlines()[-1]


def _measure(org: int) -> dict:
    start = time.perf_counter()
    size, chunks, total_row = _stream(org)
    seconds = time.perf_counter() - start
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    _stream(org)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"seconds": seconds, "size": size, "chunks": chunks, "total_row": total_row,
            "peak": peak, "rss_growth": (rss_after - rss_before) * 1024}


def test_the_csv_of_a_million_lines_streams_in_flat_memory(app_ctx, factory):
    start = time.perf_counter()
    small, small_incl = _org_with_lines(factory, "small", SMALL)
    big, big_incl = _org_with_lines(factory, "big", BIG)
    made = time.perf_counter() - start
    results = {SMALL: _measure(small), BIG: _measure(big)}
    for lines, incl in ((SMALL, small_incl), (BIG, big_incl)):
        assert results[lines]["total_row"].endswith(f",{incl:.2f}"), results[lines]
    dialect = db.engine.dialect.name
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\n{SMALL + BIG:,} lines inserted in {made:.1f} s ({dialect}); the process's peak "
          f"resident memory after all the exports: {rss:.0f} MiB")
    print(f"{'CSV export':<22}{'lines/s':>10}{'s':>7}{'MiB out':>9}{'chunks':>8}"
          f"{'peak KiB':>10}{'x 10k':>7}{'RSS growth MiB':>16}")
    for lines, r in results.items():
        print(f"{f'{lines:,} lines':<22}{lines / r['seconds']:>10,.0f}{r['seconds']:>7.1f}"
              f"{r['size'] / 2**20:>9.1f}{r['chunks']:>8}{r['peak'] / 1024:>10.0f}"
              f"{r['peak'] / results[SMALL]['peak']:>7.2f}{r['rss_growth'] / 2**20:>16.1f}")
    print(f"peak Python memory of the 1M-line export: "
          f"{results[BIG]['peak'] / results[BIG]['size']:.2%} of the file it wrote")


def _timed(action) -> tuple[float, object]:
    times, result = [], None
    for _ in range(PDF_ROUNDS):
        start = time.perf_counter()
        result = action()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def _bills_over_sites(factory, slug: str, sites: int) -> Organisation:
    """Three source systems' bills over `sites` sites: per site, 4 mobile lines, 2 fixed
    lines and a TV line, plus a credit on every fifth site."""
    org = factory.org(slug)
    account = add_account(db.session, org, "BA-1", cost_centre="CC-1")
    site_ids = add_sites(db.session, org, sites)
    for system, family, per_site in (("mobile-bss", "mobile", 4), ("fixed-bss", "broadband", 2),
                                     ("tv-bss", "tv", 1)):
        lines = [line("25.00", "4.75", site_id=site, product_family=family,
                      offering_code=f"{family.upper()}-{n}", description=f"{family} {n}")
                 for site in site_ids for n in range(per_site)]
        if system == "mobile-bss":
            lines += [line("-5.00", "-0.95", kind="credit", site_id=site,
                           product_family=family, description="Goodwill credit")
                      for site in site_ids[::5]]
        add_bill(db.session, org, account, lines, system=system)
    db.session.commit()
    return db.session.get(Organisation, org)


def test_the_pdf_of_a_40_site_consolidated_bill(app_ctx, factory):
    one = _bills_over_sites(factory, "one", 1)
    forty = _bills_over_sites(factory, "forty", 40)
    rows = []
    for label, org in (("1 site (baseline)", one), ("40 sites", forty)):
        seconds, pdf = _timed(lambda org=org: documents.consolidated_pdf(
            db.session, org, "2026-10"))
        reader = pypdf.PdfReader(io.BytesIO(pdf))
        assert "Total due (EUR)" in reader.pages[0].extract_text()
        rows.append((label, seconds, len(reader.pages), len(pdf)))
    base = rows[0][1]
    print(f"\n{'consolidated PDF':<22}{'median s':>9}{'pages':>7}{'KiB':>7}{'x 1 site':>10}")
    for label, seconds, pages, size in rows:
        print(f"{label:<22}{seconds:>9.2f}{pages:>7}{size / 1024:>7.0f}{seconds / base:>10.2f}")
