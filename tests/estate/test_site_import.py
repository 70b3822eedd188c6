"""Importing sites from CSV: the preview lists every bad row, the commit is all or nothing,
files that are not UTF-8 CSV or too big are refused, re-imports and round trips change
nothing."""

from __future__ import annotations

import datetime as dt
import io
import re
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import count_queries, csrf_token, login_as
from estate_data import (
    add_account,
    add_services,
    add_sites,
    count_sites,
    csv_bytes,
    site_values,
)
from sqlalchemy import select
from werkzeug.datastructures import FileStorage
from werkzeug.test import stream_encode_multipart

from accounts.estate import csv_sites, staging
from accounts.estate.models import Site
from portal.audit import AuditEvent
from portal.extensions import db

TOKEN_RE = re.compile(r'action="/sites/import/([A-Za-z0-9_-]+)/commit"')


@pytest.fixture
def admin(client, factory):
    """An admin of acme, signed in; returns (org_id, user_id)."""
    org_id = factory.org("acme")
    user_id = factory.user(org_id, "admin", email="admin@acme.test")
    login_as(client, user_id, org_id)
    return org_id, user_id


def upload(client, data: bytes, filename: str = "sites.csv", token: bool = True):
    """Post a file to the import page; returns the response.

    The body is encoded in memory: the test client would spool a large one to a temporary
    file it never closes (a ResourceWarning, an error under filterwarnings=error).
    """
    fields = {"file": FileStorage(io.BytesIO(data), filename)}
    if token:
        fields["csrf_token"] = csrf_token(client, "/sites/import")
    body, _, boundary = stream_encode_multipart(fields, use_tempfile=False)
    return client.post("/sites/import", data=body.getvalue(),
                       content_type=f"multipart/form-data; boundary={boundary}")


def commit(client, token: str):
    return client.post(f"/sites/import/{token}/commit",
                       data={"csrf_token": csrf_token(client, "/sites/import")})


def preview_token(response) -> str:
    match = TOKEN_RE.search(response.get_data(as_text=True))
    assert match, "the preview offers no commit"
    return match.group(1)


def import_file(client, data: bytes):
    """Upload, then commit; returns the commit's response."""
    preview = upload(client, data)
    assert preview.status_code == 200
    return commit(client, preview_token(preview))


def audit_events(app, action: str) -> list[SimpleNamespace]:
    """The audit events with this action, as plain objects (usable after the session)."""
    with app.app_context():
        return [SimpleNamespace(**{c.key: getattr(e, c.key) for c in AuditEvent.__table__.c})
                for e in db.session.scalars(select(AuditEvent).where(AuditEvent.action == action))]


def text(response) -> str:
    """The page's text with tags and repeated spaces removed, for reading messages."""
    html = response.get_data(as_text=True)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("&#39;", "'")


def test_a_good_file_is_previewed_then_imported_with_an_audit_event(client, admin, app):
    org_id, _ = admin
    add_account(app, org_id, "BA-7")
    rows = [site_values("HQ", name="Headquarters", country="de", billing_account="BA-7",
                        contact_email="ops@acme.test", contact_phone="+49 30 1234-5"),
            site_values("SHOP-1", status="closed")]
    preview = upload(client, csv_bytes(rows))
    page = text(preview)
    assert "2 rows read" in page and "2 to create" in page
    assert count_sites(app) == 0  # the preview writes nothing
    response = commit(client, preview_token(preview))
    assert response.status_code == 302 and response.headers["Location"] == "/sites"
    assert "2 created, 0 updated, 0 unchanged" in text(client.get("/sites"))
    with app.app_context():
        sites = {s.code: s for s in db.session.scalars(select(Site))}
        assert sites["HQ"].country == "DE" and sites["HQ"].billing_account.number == "BA-7"
        assert sites["HQ"].contact_phone == "+49 30 1234-5"
        assert sites["SHOP-1"].status == "closed" and sites["SHOP-1"].closed_at is not None
        assert sites["HQ"].closed_at is None
    (event,) = audit_events(app, "sites:import")
    assert event.organisation_id == org_id and event.actor_label == "admin@acme.test"
    assert event.after["created"] == 2 and event.after["updated"] == 0
    assert event.after["file"] == "sites.csv" and len(event.after["sha256"]) == 64


def test_every_bad_row_is_listed_with_its_line_and_reason_and_nothing_is_written(
        client, admin, app):
    org_id, _ = admin
    add_account(app, org_id, "BA-1")
    rows = [
        site_values("OK-1"),                                         # line 2: fine
        site_values("NO-NAME", name=""),                             # 3
        site_values("LONG", name="x" * 201),                         # 4
        site_values("BAD-COUNTRY", country="XX"),                    # 5
        site_values("BAD-MAIL", contact_email="not-an-address"),     # 6
        site_values("OK-1", name="Again"),                           # 7 duplicate of line 2
        site_values("BAD-ACCOUNT", billing_account="BA-404"),        # 8
        site_values("BAD-STATUS", status="demolished"),              # 9
        ["SHORT", "Too few values"],                                 # 10
        site_values("FORMULA", name="=HYPERLINK(\"http://x\")"),     # 11
        site_values("BAD-PHONE", contact_phone="call me"),           # 12
        site_values("bad code!"),                                    # 13
        site_values("", city=""),                                    # 14: two reasons
        site_values("MULTI", address="line\nbreak", postcode="1" * 17),  # 15-16
        site_values("OK-2"),                                         # 17
    ]
    response = upload(client, csv_bytes(rows))
    assert response.status_code == 200
    page = text(response)
    assert "rows have errors, so nothing has been imported" in page
    expected = [
        (3, "name is missing"),
        (4, "name is longer than 200 characters (201)"),
        (5, "country 'XX' is not an ISO 3166 alpha-2 country code"),
        (6, "contact_email 'not-an-address' is not a valid e-mail address"),
        (7, "code 'OK-1' is also on line 2"),
        (8, "billing_account 'BA-404' is not one of your billing accounts"),
        (9, "status 'demolished' must be one of active, closed"),
        (10, "has 2 values but the header names 11 columns"),
        (11, "name must not start with =, +, - or @"),
        (12, "contact_phone 'call me' is not a phone number"),
        (13, "code 'bad code!' may only hold letters, digits and . _ / -"),
        (14, "code is missing"),
        (14, "city is missing"),
        (15, "address contains a line break"),
        (15, "postcode is longer than 16 characters"),
    ]
    html = response.get_data(as_text=True).replace("&#39;", "'")
    table = html.split('data-testid="import-errors"')[1].split("</table>")[0]
    rows_html = {int(m.group(1)): m.group(2) for m in re.finditer(
        r'<th scope="row">(\d+)</th>(.*?)</tr>', table, re.S)}
    assert sorted(rows_html) == [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]
    for line, reason in expected:
        assert reason in rows_html[line], (line, reason)
    assert "15 to create" not in page and "/commit" not in html
    assert count_sites(app) == 0
    assert audit_events(app, "sites:import") == []


def test_one_bad_row_among_many_writes_nothing(client, admin, app):
    rows = [site_values(f"S-{n}") for n in range(50)]
    rows[37]["country"] = "ZZ"
    response = upload(client, csv_bytes(rows))
    assert "Line" in text(response) and "country 'ZZ'" in text(response)
    assert ">39</th>" in response.get_data(as_text=True)  # header is line 1
    assert "/commit" not in response.get_data(as_text=True)
    assert count_sites(app) == 0


def test_line_numbers_count_physical_lines_across_quoted_line_breaks(client, admin):
    data = (b"code,name,address,postcode,city,country\n"
            b'A,"Name",\"Building 1\nFloor 2\",1000,Berlin,DE\n'
            b"B,Name,Street,1000,Berlin,XX\n")
    page = upload(client, data).get_data(as_text=True)
    assert re.search(r'<th scope="row">4</th>\s*<td>B</td>', page)
    assert re.search(r'<th scope="row">2</th>\s*<td>A</td>', page)  # the line break


@pytest.mark.parametrize("data,filename,message", [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "photo.png", "This is not a CSV file"),
    (b"PK\x03\x04\x14\x00\x06\x00", "sites.xlsx", "spreadsheet workbook (like .xlsx), not a CSV"),
    (b"Dear team,\nplease add our new shop.\n", "note.txt",
     "does not look like a sites CSV file"),
    (b"", "empty.csv", "The file is empty"),
    (b"code,name,address,postcode,city,country\n", "header.csv", "has a header but no sites"),
    ("code,name,address,postcode,city,country\nM1,Müller,Straße 1,1000,Köln,DE\n"
     .encode("latin-1"), "latin1.csv", "not UTF-8 text (the first character that is not is on "
                                       "line 2)"),
    ("code,name\n".encode("utf-16"), "utf16.csv", "UTF-16 text, not UTF-8"),
    (b"code,name,address,postcode\nA,B,C,D\n", "partial.csv",
     "missing columns: city, country"),
    (b"code,name,address,postcode,city,country,colour\nA,B,C,D,E,DE,red\n", "extra.csv",
     "unknown column: colour"),
    (b"code,name,address,postcode,city,country,city\nA,B,C,D,E,DE,F\n", "twice.csv",
     "column named twice: city"),
    (b'code,name,address,postcode,city,country\nA,"unclosed,C,D,E,DE\n', "quote.csv",
     "cannot be read as CSV near line 2: unexpected end of data (a quoted value is not"),
    (b'code,name,address,postcode,city,country\nA,"B"x,C,D,E,DE\n', "stray.csv",
     "cannot be read as CSV near line 2"),
])
def test_files_that_are_not_utf8_csv_of_sites_are_refused_with_a_clear_error(
        client, admin, app, data, filename, message):
    response = upload(client, data, filename)
    assert response.status_code == 200
    assert message in text(response)
    assert 'data-testid="file-errors"' in response.get_data(as_text=True)
    assert count_sites(app) == 0


def test_utf8_with_a_byte_order_mark_and_semicolons_are_accepted(client, admin, app):
    rows = [site_values("K-1", name="Kühne & Söhne", city="Köln")]
    import_file(client, csv_bytes(rows, bom=True, delimiter=";"))
    with app.app_context():
        site = db.session.scalars(select(Site)).one()
        assert (site.code, site.name, site.city) == ("K-1", "Kühne & Söhne", "Köln")


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(client, admin, app):
    line = ",".join(site_values("X").values()) + "\n"
    data = b"code,name,address,postcode,city,country\n" + line.encode() * (
        6 * 1024 * 1024 // len(line))
    assert len(data) > csv_sites.MAX_BYTES + 64 * 1024
    response = upload(client, data)
    assert response.status_code == 413
    assert "larger than the limit of 5 MB and 20,000 rows" in text(response)
    assert count_sites(app) == 0


def test_a_file_just_over_the_byte_limit_but_inside_the_request_limit_is_refused(
        client, admin, app):
    # The request limit leaves room for the form around the file; the file itself is
    # checked against the exact limit.
    data = b"code,name,address,postcode,city,country\n" + b"#" * csv_sites.MAX_BYTES
    response = upload(client, data)
    assert response.status_code == 200
    assert "larger than the limit of 5 MB" in text(response)


def test_a_file_over_the_row_limit_is_refused(client, admin, app):
    rows = [[f"R{n}", "n", "a", "p", "c", "DE"] for n in range(csv_sites.MAX_ROWS + 1)]
    data = csv_bytes(rows, columns=("code", "name", "address", "postcode", "city", "country"))
    assert len(data) < csv_sites.MAX_BYTES
    response = upload(client, data)
    assert "more than 20,000 rows" in text(response)
    assert count_sites(app) == 0


def test_existing_sites_are_matched_by_code_and_updated(client, admin, app):
    org_id, _ = admin
    add_account(app, org_id, "BA-1")
    add_sites(app, org_id, 3, prefix="S")
    rows = [site_values("S-00000"), site_values("S-00001", name="Renamed", billing_account="BA-1"),
            site_values("S-00002", status="closed"), site_values("NEW-1")]
    preview = upload(client, csv_bytes(rows))
    page = text(preview)
    assert "1 to create" in page and "2 to update (1 closed)" in page and "1 unchanged" in page
    assert "name: Site S-00001 → Renamed" in page
    assert "billing_account: (empty) → BA-1" in page
    assert "status: active → closed" in page
    commit(client, preview_token(preview))
    with app.app_context():
        sites = {s.code: s for s in db.session.scalars(select(Site))}
        assert sites["S-00001"].name == "Renamed" and sites["S-00001"].billing_account_id
        assert sites["S-00002"].status == "closed" and sites["S-00002"].closed_at is not None
        assert sites["S-00000"].closed_at is None and len(sites) == 4
    (event,) = audit_events(app, "sites:import")
    assert {k: event.after[k] for k in ("rows", "created", "updated", "closed", "unchanged")} == {
        "rows": 4, "created": 1, "updated": 2, "closed": 1, "unchanged": 1}


def test_columns_left_out_keep_the_values_of_existing_sites(client, admin, app):
    org_id, _ = admin
    account = add_account(app, org_id, "BA-1")
    add_sites(app, org_id, 1, prefix="S", account_id=account, contact_name="Ann",
              contact_email="ann@acme.test")
    columns = ("code", "name", "address", "postcode", "city", "country")
    import_file(client, csv_bytes([site_values("S-00000", city="Hamburg")], columns=columns))
    with app.app_context():
        site = db.session.scalars(select(Site)).one()
        assert site.city == "Hamburg"
        assert (site.contact_name, site.contact_email, site.billing_account_id) == (
            "Ann", "ann@acme.test", account)


def test_closing_a_site_with_running_services_by_import_is_refused(client, admin, app):
    org_id, _ = admin
    (site_id,) = add_sites(app, org_id, 1, prefix="S")
    add_services(app, org_id, site_id, 2, status="active")
    add_services(app, org_id, site_id, 1, status="suspended")
    response = upload(client, csv_bytes([site_values("S-00000", status="closed")]))
    assert ("status 'closed' is refused: this site still has 2 active services and 1 "
            "suspended service" in text(response))
    assert "/commit" not in response.get_data(as_text=True)


def test_importing_the_same_file_twice_changes_nothing_the_second_time(client, admin, app):
    org_id, _ = admin
    add_account(app, org_id, "BA-1")
    data = csv_bytes([site_values(f"S-{n}", billing_account="BA-1") for n in range(20)])
    import_file(client, data)
    again = upload(client, data)
    page = text(again)
    assert "0 to create" in page and "0 to update" in page and "20 unchanged" in page
    assert "nothing to import" in page and "/commit" not in again.get_data(as_text=True)
    assert count_sites(app) == 20
    assert len(audit_events(app, "sites:import")) == 1


def test_an_export_re_imports_unchanged(client, admin, app):
    org_id, _ = admin
    add_account(app, org_id, "BA-1")
    rows = [site_values("A-1", name='Café "Zum Hafen", Nord', address="Kai 1; Tor 2",
                        city="Düsseldorf", contact_name="Zoë O'Neil",
                        contact_email="zoe@acme.test", contact_phone="+49 (211) 555-0",
                        billing_account="BA-1"),
            site_values("A-2", status="closed", country="FR", city="Paris")]
    import_file(client, csv_bytes(rows))
    exported = client.get("/sites/export.csv")
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    assert exported.headers["Content-Disposition"].startswith('attachment; filename="sites-acme-')
    assert exported.data.startswith("\ufeff".encode())
    assert exported.data.decode("utf-8-sig").splitlines()[0] == ",".join(csv_sites.COLUMNS)
    again = upload(client, exported.data, "export.csv")
    page = text(again)
    assert "2 unchanged" in page and "nothing to import" in page
    # And the export of the export is the same file.
    assert client.get("/sites/export.csv").data == exported.data


def test_the_export_follows_the_list_filters(client, admin, app):
    org_id, _ = admin
    add_sites(app, org_id, 3, prefix="DE")
    add_sites(app, org_id, 2, prefix="FR", country="FR")
    body = client.get("/sites/export.csv?country=FR").data.decode("utf-8-sig")
    assert len(body.splitlines()) == 3 and "DE-00000" not in body


def test_the_export_defuses_spreadsheet_formulas_from_other_sources(client, admin, app):
    org_id, _ = admin
    add_sites(app, org_id, 1, prefix="S", name="=cmd|' /C calc'!A0", contact_phone="+44 20 7946")
    body = client.get("/sites/export.csv").data.decode("utf-8-sig")
    assert ",'=cmd|" in body and ",+44 20 7946," in body


def test_the_commit_checks_again_and_refuses_when_sites_changed_since_the_preview(
        client, admin, app):
    org_id, _ = admin
    add_sites(app, org_id, 1, prefix="S")
    preview = upload(client, csv_bytes([site_values("S-00000", name="From file"),
                                        site_values("NEW-1")]))
    token = preview_token(preview)
    add_sites(app, org_id, 1, prefix="NEW", name="Made meanwhile")  # creates NEW-00000
    with app.app_context():  # someone renames the site meanwhile
        db.session.scalars(select(Site).where(Site.code == "S-00000")).one().name = "Other"
        db.session.commit()
    response = commit(client, token)
    assert response.status_code == 409
    assert "changed since the preview, so nothing was imported" in text(response)
    with app.app_context():
        assert db.session.scalars(select(Site.name).where(Site.code == "S-00000")).one() == \
            "Other"
    assert count_sites(app) == 2 and audit_events(app, "sites:import") == []
    # The new preview can be committed as it is.
    assert commit(client, preview_token(response)).status_code == 302
    assert count_sites(app) == 3


def test_the_commit_refuses_when_a_row_became_bad(client, admin, app):
    org_id, _ = admin
    account = add_account(app, org_id, "BA-1")
    preview = upload(client, csv_bytes([site_values("N-1", billing_account="BA-1")]))
    token = preview_token(preview)
    with app.app_context():
        from accounts.estate.models import BillingAccount

        db.session.get(BillingAccount, account).number = "BA-RENAMED"
        db.session.commit()
    response = commit(client, token)
    assert response.status_code == 409
    assert "billing_account 'BA-1' is not one of your billing accounts" in text(response)
    assert count_sites(app) == 0


def test_a_preview_can_be_committed_once_only_by_its_user_in_its_organisation(
        client, factory, admin, app):
    org_id, _ = admin
    token = preview_token(upload(client, csv_bytes([site_values("N-1")])))
    colleague = factory.user(org_id, "admin", email="colleague@acme.test")
    login_as(client, colleague, org_id)
    assert commit(client, token).status_code == 404
    other_org = factory.org("globex")
    other_admin = factory.user(other_org, "admin")
    login_as(client, other_admin, other_org)
    assert commit(client, token).status_code == 404
    assert count_sites(app) == 0
    login_as(client, admin[1], org_id)
    assert commit(client, token).status_code == 302
    assert commit(client, token).status_code == 404
    assert commit(client, "../../etc/passwd").status_code == 404
    assert count_sites(app) == 1


def test_an_expired_preview_cannot_be_committed(client, admin, app, monkeypatch):
    token = preview_token(upload(client, csv_bytes([site_values("N-1")])))
    later = dt.datetime.now(dt.UTC) + staging.LIFETIME + dt.timedelta(minutes=1)
    monkeypatch.setattr(staging, "utcnow", lambda: later)
    assert commit(client, token).status_code == 404
    assert count_sites(app) == 0


def test_uploads_and_commits_need_the_csrf_token(client, admin, app):
    response = upload(client, csv_bytes([site_values("N-1")]), token=False)
    assert response.status_code == 400
    token = preview_token(upload(client, csv_bytes([site_values("N-1")])))
    assert client.post(f"/sites/import/{token}/commit").status_code == 400
    assert count_sites(app) == 0


def test_the_upload_form_asks_for_a_file(client, admin):
    response = client.post("/sites/import", data={"csrf_token": csrf_token(client)})
    assert "Choose a CSV file to upload." in text(response)


def test_the_commit_writes_in_a_fixed_number_of_statements(client, admin, app):
    org_id, _ = admin

    def statements_for(count: int, prefix: str) -> int:
        add_sites(app, org_id, count, prefix=f"OLD{prefix}")
        rows = [site_values(f"NEW{prefix}-{n}") for n in range(count)]
        rows += [site_values(f"OLD{prefix}-{n:05d}", name="Changed") for n in range(count)]
        token = preview_token(upload(client, csv_bytes(rows)))
        with count_queries(app) as statements:
            assert commit(client, token).status_code == 302
        return len(statements)

    assert statements_for(10, "A") == statements_for(300, "B")


def test_ten_thousand_rows_import_in_seconds(client, admin, app):
    org_id, _ = admin
    add_account(app, org_id, "BA-1")
    rows = [site_values(f"BULK-{n:05d}", billing_account="BA-1" if n % 2 else "",
                        contact_email=f"site{n}@acme.test") for n in range(10_000)]
    data = csv_bytes(rows)
    start = time.perf_counter()
    preview = upload(client, data)
    assert "10,000 to create" in text(preview)
    response = commit(client, preview_token(preview))
    elapsed = time.perf_counter() - start
    assert response.status_code == 302
    assert count_sites(app, org_id) == 10_000
    assert elapsed < 30, f"10,000 rows took {elapsed:.1f} s"  # generous: shared machines


def test_the_documented_examples_import(client, admin, app):
    org_id, _ = admin
    add_account(app, org_id, "ACME-DE-01")
    add_account(app, org_id, "ACME-FR-01")
    doc = (Path(__file__).resolve().parents[2] / "docs" / "SITES_CSV.md").read_text()
    full, minimal = re.findall(r"```csv\n(.*?)```", doc, re.S)
    assert "3 to create" in text(upload(client, full.encode()))
    import_file(client, full.encode())
    import_file(client, minimal.encode())
    with app.app_context():
        sites = {s.code: s for s in db.session.scalars(select(Site))}
        assert sites["PAR-01"].name == "Paris shop, Rue de la Paix"
        assert sites["LON-02"].status == "closed" and sites["LON-02"].billing_account_id is None
        assert sites["AMS-01"].country == "NL"


def test_a_code_created_by_another_request_during_the_commit_writes_nothing(
        client, admin, app, monkeypatch):
    org_id, _ = admin
    from accounts.estate import views

    real_apply = views.apply_site_import

    def racing_apply(session, org, preview, **kwargs):
        # Another request inserts one of the file's codes just before the bulk insert.
        session.execute(Site.__table__.insert().values(
            organisation_id=org, code="N-2", name="Raced", address="a", postcode="1",
            city="c", country="DE", contact_name="", contact_email="", contact_phone="",
            status="active", created_at=dt.datetime.now(dt.UTC)))
        return real_apply(session, org, preview, **kwargs)

    token = preview_token(upload(client, csv_bytes([site_values(f"N-{n}") for n in (1, 2, 3)])))
    monkeypatch.setattr(views, "apply_site_import", racing_apply)
    response = commit(client, token)
    assert response.status_code == 409
    assert "changed since the preview" in text(response)
    assert count_sites(app, org_id) == 0 and audit_events(app, "sites:import") == []
