"""Estate page timings and the 10,000-row site import, next to a baseline measured in the
same run (`make bench`).

A generated customer with 5,000 sites and 50,000 services. Prints median and p95 per page
and the ratio to a static page of the same app, then the import's preview and commit times.
No time limits: these machines are noisy; the ratios are what to compare across runs.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import time

from conftest import csrf_token, login_as
from sqlalchemy import insert, select
from timing import print_table
from werkzeug.datastructures import FileStorage
from werkzeug.test import stream_encode_multipart

from accounts.estate.csv_sites import COLUMNS
from accounts.estate.models import SERVICE_STATUSES, SOURCE_SYSTEMS, BillingAccount, Service, Site
from portal.extensions import db

ROUNDS = 100
SITES = 5_000
SERVICES = 50_000
ACCOUNTS = 20
IMPORT_ROWS = 10_000
COUNTRIES = ("DE", "FR", "GB", "NL", "AT")
CITIES = ("Berlin", "Paris", "London", "Amsterdam", "Vienna", "Hamburg", "Lyon", "Leeds")
OFFERINGS = ("MOB-UNL", "MOB-BASIC", "FIBRE-1G", "FIBRE-500", "SDWAN-S", "VOICE-SIP", "TV-BASIC")


def _generate(app, org_id: int) -> None:
    """The customer's estate, written with bulk Core inserts."""
    with app.app_context():
        db.session.execute(insert(BillingAccount), [
            {"organisation_id": org_id, "number": f"BA-{n:03d}", "name": f"Account {n}",
             "country": COUNTRIES[n % 5], "status": "active"} for n in range(ACCOUNTS)])
        accounts = db.session.scalars(select(BillingAccount.id).where(
            BillingAccount.organisation_id == org_id).order_by(BillingAccount.id)).all()
        db.session.execute(insert(Site), [
            {"organisation_id": org_id, "code": f"SITE-{n:05d}", "name": f"Branch {n}",
             "address": f"{n} High Street", "postcode": f"{10000 + n}",
             "city": CITIES[n % len(CITIES)], "country": COUNTRIES[n % 5],
             "status": "closed" if n % 50 == 0 else "active",
             "billing_account_id": accounts[n % ACCOUNTS]} for n in range(SITES)])
        sites = db.session.execute(select(Site.id, Site.billing_account_id).where(
            Site.organisation_id == org_id).order_by(Site.id)).all()
        db.session.execute(insert(Service), [
            {"organisation_id": org_id, "site_id": sites[n % SITES][0],
             "billing_account_id": sites[n % SITES][1],
             "offering_code": OFFERINGS[n % len(OFFERINGS)], "description": "",
             "quantity": 1 + n % 7, "status": SERVICE_STATUSES[n % 3],
             "start_date": dt.date(2024, 1, 1) + dt.timedelta(days=n % 700),
             "term_months": 24, "source_system": SOURCE_SYSTEMS[n % 4],
             "source_ref": f"B-{n}"} for n in range(SERVICES)])
        db.session.commit()


def _import_file() -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for n in range(IMPORT_ROWS):
        # Half update existing sites (new names), half create new ones.
        code = f"SITE-{n:05d}" if n < IMPORT_ROWS // 2 else f"NEW-{n:05d}"
        writer.writerow([code, f"Imported {n}", f"{n} Station Road", f"{20000 + n}",
                         CITIES[n % len(CITIES)], COUNTRIES[n % 5], "Site manager",
                         f"site{n}@acme.test", "+49 30 1234", "active",
                         f"BA-{n % ACCOUNTS:03d}"])
    return out.getvalue().encode()


def _timed_import(client, data: bytes) -> tuple[float, float]:
    fields = {"file": FileStorage(io.BytesIO(data), "bench.csv"),
              "csrf_token": csrf_token(client, "/sites/import")}
    body, _, boundary = stream_encode_multipart(fields, use_tempfile=False)
    start = time.perf_counter()
    preview = client.post("/sites/import", data=body.getvalue(),
                          content_type=f"multipart/form-data; boundary={boundary}")
    preview_s = time.perf_counter() - start
    token = re.search(r'/sites/import/([\w-]+)/commit', preview.get_data(as_text=True)).group(1)
    start = time.perf_counter()
    response = client.post(f"/sites/import/{token}/commit",
                           data={"csrf_token": csrf_token(client, "/sites/import")})
    commit_s = time.perf_counter() - start
    assert response.status_code == 302
    return preview_s, commit_s


def test_estate_timings(client, factory, app):
    org_id = factory.org("acme")
    admin = factory.user(org_id, "admin", email="admin@acme.test")
    started = time.perf_counter()
    _generate(app, org_id)
    generated = time.perf_counter() - started
    login_as(client, admin, org_id)
    with app.app_context():
        account = db.session.scalar(select(BillingAccount.id).where(
            BillingAccount.number == "BA-007"))
    print(f"\n{SITES:,} sites, {SERVICES:,} services generated in {generated:.1f} s")
    pages = [
        ("/sites (first page)", "/sites"),
        ("/sites?q=hamburg (search)", "/sites?q=hamburg"),
        ("/sites?country=FR&status=active (filter)", "/sites?country=FR&status=active"),
        ("/sites?billing_account=... (filter)", f"/sites?billing_account={account}"),
        ("/sites?sort=city&dir=desc&page=99 (late)", "/sites?sort=city&dir=desc&page=99"),
        ("/inventory (first page)", "/inventory"),
        ("/inventory?q=fibre&status=active", "/inventory?q=fibre&status=active"),
        ("/inventory?site=SITE-04242", "/inventory?site=SITE-04242"),
        ("/inventory?sort=site&dir=desc&page=900 (late)",
         "/inventory?sort=site&dir=desc&page=900"),
        ("/billing-accounts/... (detail)", f"/billing-accounts/{account}"),
    ]
    print_table(client, pages)
    preview_s, commit_s = _timed_import(client, _import_file())
    print(f"CSV import of {IMPORT_ROWS:,} rows (half new, half updates): "
          f"preview {preview_s:.2f} s, commit {commit_s:.2f} s")
    with app.app_context():
        assert db.session.query(Site).filter(Site.organisation_id == org_id).count() == \
            SITES + IMPORT_ROWS // 2
