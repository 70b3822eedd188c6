"""The catalog pages: the catalog in force for buyers, and for catalog managers the
versions, a version's offerings, the difference between two versions and the upload."""

from __future__ import annotations

import io
import re

import pytest
from catalog_data import base, future, load, offering, to_yaml
from conftest import count_queries, csrf_token, login_as
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage
from werkzeug.test import stream_encode_multipart

from portal.audit import AuditEvent
from portal.catalog.forms import MAX_BYTES
from portal.catalog.models import CatalogVersion
from portal.extensions import db


@pytest.fixture
def buyer(client, factory):
    org_id = factory.org("acme")
    login_as(client, factory.user(org_id, "buyer"), org_id)
    return org_id


@pytest.fixture
def operator(client, factory):
    org_id = factory.org("carrier", kind="operator")
    login_as(client, factory.user(org_id, "operator_admin", email="olga@carrier.test"), org_id)
    return org_id


def html(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def rows(page: str, code: str) -> str:
    match = re.search(rf'<tr data-testid="offering-{re.escape(code)}">(.*?)</tr>', page, re.S)
    return match.group(1) if match else ""


def scheduled_catalog() -> dict:
    """The test catalog with an offering and a promotion that start in the future, and one
    that has ended."""
    data = base()
    data["offerings"].append({
        "code": "BB-FIBRE-2G", "name": "Business Fibre 2 Gbit/s", "family": "broadband",
        "fulfilment": "fixed-bss", "recurring": "129.00", "one_off": "99.00",
        "valid_from": future(30)})
    data["offerings"].append({
        "code": "BB-DSL-OLD", "name": "Old DSL", "family": "broadband",
        "fulfilment": "fixed-bss", "recurring": "19.00", "one_off": "0",
        "valid_to": "2020-12-31"})
    offering(data, "BB-FIBRE-1G")["promotions"] = [
        {"code": "FIBRE-SPRING", "months_free": 3, "valid_from": future(10),
         "valid_to": future(100)}]
    return data


# The catalog in force ----------------------------------------------------------------------


def test_a_buyer_sees_what_is_sold_today_by_family(app, client, buyer):
    load(app, scheduled_catalog())
    page = html(client.get("/catalog"))
    assert re.search(r'class="nav-link active" aria-current="page"\s+href="/catalog">Catalog<',
                     page)
    families = re.findall(r'<h2 class="h4 mt-4" id="(\w+)">', page)
    assert families == ["mobile", "broadband", "sdwan", "device", "accessory"]
    mobile = rows(page, "MOB-UNL")
    assert "Business Mobile Unlimited" in mobile
    assert "25.00 EUR" in mobile and "10.00 EUR" in mobile
    assert "from 50: 10 % off" in mobile and "24 months: 5 % off" in mobile
    assert "SIX-FREE" in mobile and "first 6 months free" in mobile
    assert '<abbr title="Germany">DE</abbr>, <abbr title="France">FR</abbr>' in mobile
    sdwan = rows(page, "SDWAN-EDGE")
    assert "Needs at the site" in sdwan and "<code>BB-FIBRE-1G</code>" in sdwan
    assert "Per site</span> 1 to 2" in sdwan
    phone = rows(page, "DEV-PHONE")
    assert "Plans</span> <code>MOB-UNL</code>" in phone
    assert "Accessories</span> <code>ACC-CASE</code>" in phone
    # Not sold today: not shown, nor the promotion that starts later; no version details.
    assert "BB-FIBRE-2G" not in page and "BB-DSL-OLD" not in page
    assert "FIBRE-SPRING" not in page
    assert "/catalog/versions" not in page and "Version" not in page


def test_before_the_first_load_the_page_says_so(client, buyer):
    page = html(client.get("/catalog"))
    assert "No catalog has been loaded yet." in page and "Upload the first one" not in page


def test_the_catalog_page_runs_a_fixed_number_of_queries(app, client, buyer):
    load(app, base())
    client.get("/catalog")  # the parsed catalog is cached from here on
    with count_queries(app) as few:
        html(client.get("/catalog"))
    big = base()
    for n in range(60):
        big["offerings"].append({"code": f"MOB-X{n}", "name": f"Extra {n}", "family": "mobile",
                                 "fulfilment": "mobile-bss", "recurring": "1.00",
                                 "one_off": "0", "promotions": [{"code": "P",
                                                                 "months_free": 1}]})
    load(app, big)
    client.get("/catalog")
    with count_queries(app) as many:
        page = html(client.get("/catalog"))
    assert "MOB-X59" in page
    assert len(many) == len(few), many


# Versions ----------------------------------------------------------------------------------


def test_the_versions_list_says_who_loaded_what_when(app, client, operator):
    load(app, base(), "spring.yaml", note="Spring prices")
    changed = base()
    offering(changed, "MOB-UNL")["recurring"] = "27.00"
    load(app, changed, "summer.yaml")
    page = html(client.get("/catalog/versions"))
    assert "2 versions." in page
    body = page[page.index("<tbody>"):]
    assert body.index("summer.yaml") < body.index("spring.yaml")
    assert "Spring prices" in body and body.count(">test<") == 2
    assert ('<a href="/catalog/versions/2">2</a> <span class="badge text-bg-success">in force'
            in body)
    assert 'href="/catalog/diff?to=2"' in body


def test_the_versions_list_runs_a_fixed_number_of_queries(app, client, operator):
    load(app, base())
    client.get("/catalog/versions")  # the session's first use writes it; not counted
    with count_queries(app) as few:
        html(client.get("/catalog/versions"))
    for price in ("26.00", "27.00", "28.00", "29.00"):
        changed = base()
        offering(changed, "MOB-UNL")["recurring"] = price
        load(app, changed)
    with count_queries(app) as many:
        assert "5 versions." in html(client.get("/catalog/versions"))
    assert len(many) == len(few), many
    assert not any("source" in s.split("FROM")[0] for s in many if "catalog_versions" in s)


def test_a_version_shows_every_offering_with_scheduled_ones_marked(app, client, operator):
    load(app, scheduled_catalog(), "campaign.yaml", note="Spring campaign")
    page = html(client.get("/catalog/versions/1"))
    assert "campaign.yaml" in page and "Spring campaign" in page
    assert "in force" in page
    fibre_2g = rows(page, "BB-FIBRE-2G")
    assert f'<span class="badge text-bg-info" data-testid="scheduled">from {future(30)}' in fibre_2g
    assert "ended 2020-12-31" in rows(page, "BB-DSL-OLD")
    spring = rows(page, "BB-FIBRE-1G")
    assert "FIBRE-SPRING" in spring and f"from {future(10)} to {future(100)}" in spring
    assert "on sale" in rows(page, "MOB-UNL")
    assert "up to 15 %" in page and "DE 19 %, FR 20 %" in page


def test_a_version_file_can_be_downloaded_as_loaded(app, client, operator):
    text = to_yaml(base())
    load(app, text)
    response = client.get("/catalog/versions/1/source")
    assert response.status_code == 200 and response.get_data(as_text=True) == text
    assert response.headers["Content-Disposition"] == 'attachment; filename="catalog-v1.yaml"'
    assert client.get("/catalog/versions/2/source").status_code == 404


@pytest.mark.parametrize("path", ["/catalog/versions/7", "/catalog/versions/0",
                                  "/catalog/versions/99999999999"])
def test_unknown_versions_answer_404(app, client, operator, path):
    load(app, base())
    assert client.get(path).status_code == 404


def _bigger(data: dict, count: int) -> dict:
    data["offerings"] += [{"code": f"MOB-X{n}", "name": f"Extra {n}", "family": "mobile",
                           "fulfilment": "mobile-bss", "recurring": "1.00", "one_off": "0"}
                          for n in range(count)]
    return data


@pytest.mark.parametrize("path", ["/catalog/versions/{n}", "/catalog/diff",
                                  "/catalog/diff?from=1&to={n}"])
def test_version_and_diff_pages_run_a_fixed_number_of_queries(app, client, operator, path):
    load(app, base())
    load(app, _bigger(base(), 2))
    client.get(path.format(n=2))  # the session's first use and the parsing: not counted
    with count_queries(app) as few:
        html(client.get(path.format(n=2)))
    load(app, _bigger(base(), 50))
    client.get(path.format(n=3))
    with count_queries(app) as many:
        assert "MOB-X49" in html(client.get(path.format(n=3)))
    assert len(many) == len(few), many


# Diff --------------------------------------------------------------------------------------


def test_the_diff_shows_what_changed_readably(app, client, operator):
    load(app, base())
    changed = base()
    offering(changed, "MOB-UNL")["recurring"] = "27.00"
    changed["offerings"].pop()  # ACC-CASE
    offering(changed, "DEV-PHONE")["accessories"] = []
    changed["tax_rates"]["FR"] = "0.21"
    load(app, changed, note="New prices")
    page = html(client.get("/catalog/diff"))  # by default: the version in force vs before
    assert "From <a href=\"/catalog/versions/1\">version 1</a>" in page
    assert "version 2</a>" in page and "“New prices”" in page
    assert "4 changes." in page
    assert re.search(r"<td><code>recurring</code></td><td[^>]*>25.00</td><td[^>]*>27.00</td>",
                     page)
    assert re.search(r"<td><code>FR</code></td><td[^>]*>20 %</td><td[^>]*>21 %</td>", page)
    assert '<span class="badge text-bg-danger">removed</span> Phone case' in page
    backwards = html(client.get("/catalog/diff?from=2&to=1"))
    assert '<span class="badge text-bg-success">added</span> Phone case' in backwards
    same = html(client.get("/catalog/diff?from=2&to=2"))
    assert 'data-testid="no-changes"' in same


def test_the_first_version_is_compared_with_nothing(app, client, operator):
    load(app, base())
    page = html(client.get("/catalog/diff?to=1"))
    assert "From nothing" in page and "5 changes." in page


def test_the_diff_without_versions_and_with_bad_numbers(app, client, operator):
    assert "No catalog has been loaded yet." in html(client.get("/catalog/diff"))
    load(app, base())
    assert client.get("/catalog/diff?from=abc&to=1").status_code == 400
    assert client.get("/catalog/diff?from=-1").status_code == 400
    assert client.get("/catalog/diff?from=5&to=1").status_code == 404
    assert client.get("/catalog/diff?to=99999999999999").status_code == 404


# Upload ------------------------------------------------------------------------------------


def upload(client, content: bytes | str, filename="catalog.yaml", note=""):
    """Post a file to the upload page. The body is encoded in memory: the test client would
    spool a large one to a temporary file it never closes (a ResourceWarning)."""
    data = content.encode() if isinstance(content, str) else content
    body, _, boundary = stream_encode_multipart({
        "csrf_token": csrf_token(client, "/catalog/upload"), "note": note,
        "file": FileStorage(io.BytesIO(data), filename)}, use_tempfile=False)
    return client.post("/catalog/upload", data=body.getvalue(),
                       content_type=f"multipart/form-data; boundary={boundary}")


def _versions(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(CatalogVersion))


def test_a_bad_file_lists_every_error_and_loads_nothing(app, client, operator):
    data = base()
    data["currency"] = "EU"
    offering(data, "MOB-UNL")["recurring"] = "abc"
    del data["offerings"][2]["code"]
    page = html(upload(client, to_yaml(data), "broken.yaml"))
    assert "broken.yaml was not loaded: 3 problems. Nothing has changed." in page
    assert "<li>offering MOB-UNL: recurring: &#34;abc&#34; is not an amount</li>" in page
    assert "<li>offering #3: code is missing</li>" in page
    assert _versions(app) == 0
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "catalog:load")) == 0


def test_a_good_file_becomes_the_next_version_and_shows_the_diff(app, client, operator):
    load(app, base())
    changed = base()
    offering(changed, "MOB-UNL")["recurring"] = "27.00"
    response = upload(client, to_yaml(changed), "summer.yaml", note="Summer prices")
    assert response.status_code == 302
    assert response.headers["Location"] == "/catalog/diff?to=2"
    page = html(client.get(response.headers["Location"]))
    assert "Catalog version 2 is loaded from summer.yaml" in page
    assert "1 change." in page
    with app.app_context():
        version = db.session.scalars(select(CatalogVersion).where(
            CatalogVersion.number == 2)).one()
        assert (version.filename, version.loaded_by, version.note) == (
            "summer.yaml", "olga@carrier.test", "Summer prices")
        event = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "catalog:load", AuditEvent.target_id == str(version.id))).one()
        assert event.actor_label == "olga@carrier.test" and event.actor_user_id is not None
        assert event.organisation_id == operator


def test_the_same_file_again_changes_nothing(app, client, operator):
    text = to_yaml(base())
    load(app, text)
    response = upload(client, text)
    assert response.status_code == 302 and response.headers["Location"] == "/catalog/versions"
    assert "No change: catalog.yaml is identical" in html(client.get("/catalog/versions"))
    assert _versions(app) == 1


@pytest.mark.parametrize("content,message", [
    ("Télé: ü".encode("latin-1"), "The file is not UTF-8 text"),
    (b"x" * (MAX_BYTES + 1), "The file is larger than 1 MB."),
], ids=["latin-1", "too-large"])
def test_files_that_cannot_be_read_are_refused(app, client, operator, content, message):
    assert message in html(upload(client, content))
    assert _versions(app) == 0


def test_a_request_over_the_limit_is_refused_before_it_is_read(app, client, operator):
    response = upload(client, b"#" * (MAX_BYTES + 128 * 1024))
    assert response.status_code == 413
    assert "The file is larger than 1 MB." in response.get_data(as_text=True)
    assert _versions(app) == 0


def test_an_upload_without_a_file_or_a_token(app, client, operator):
    page = html(client.post("/catalog/upload", data={
        "csrf_token": csrf_token(client, "/catalog/upload")}))
    assert "Choose a catalog file (YAML) to upload." in page
    assert client.post("/catalog/upload", data={
        "file": (io.BytesIO(to_yaml(base()).encode()), "c.yaml")},
        content_type="multipart/form-data").status_code == 400
    assert _versions(app) == 0


def test_the_upload_page_offers_the_version_in_force(app, client, operator):
    assert "download version" not in html(client.get("/catalog/upload"))
    load(app, base())
    assert 'href="/catalog/versions/1/source">download version 1</a>' in html(
        client.get("/catalog/upload"))


def test_buyers_cannot_manage_the_catalog(app, client, buyer):
    load(app, base())
    for path in ("/catalog/versions", "/catalog/versions/1", "/catalog/diff",
                 "/catalog/upload", "/catalog/versions/1/source"):
        assert client.get(path).status_code == 403, path


# The demo ----------------------------------------------------------------------------------


def test_the_demo_buyer_sees_the_demo_catalog(app, client):
    from accounts.models import Organisation, User
    from portal.demo import load_demo

    with app.app_context():
        load_demo()
        acme = db.session.scalars(select(Organisation).where(Organisation.slug == "acme")).one()
        bob = db.session.scalars(select(User).where(
            User.email == "bob.buyer@acme.example")).one()
        acme_id, bob_id = acme.id, bob.id
        assert db.session.scalar(select(func.count()).select_from(CatalogVersion)) == 1
        load_demo()  # idempotent: the catalog is not loaded twice
        assert db.session.scalar(select(func.count()).select_from(CatalogVersion)) == 1
    login_as(client, bob_id, acme_id)
    page = html(client.get("/catalog"))
    for code in ("MOB-UNL", "BB-FIBRE-1G", "SDWAN-EDGE", "VOICE-SIP", "TV-BUSINESS",
                 "DEV-PHONE-PRO", "ACC-HEADSET-BT"):
        assert f'data-testid="offering-{code}"' in page, code
    assert "SIX-FREE" in page
