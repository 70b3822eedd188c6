"""Sites: the rules (services) and the pages (list, detail, create, edit, close)."""

from __future__ import annotations

import re

import pytest
from conftest import csrf_token, login_as
from estate_data import add_account, add_services, add_sites
from sqlalchemy import select

from accounts.estate.models import Service, Site
from accounts.estate.services import (
    EstateError,
    check_site_fields,
    close_site,
    create_site,
    update_site,
)
from portal.audit import AuditEvent
from portal.extensions import db

GOOD = {"code": "HQ-1", "name": "Headquarters", "address": "1 Main Street",
        "postcode": "10115", "city": "Berlin", "country": "DE", "contact_name": "Ann Lee",
        "contact_email": "ann@acme.test", "contact_phone": "+49 30 1234"}


@pytest.fixture
def admin(client, factory):
    """An admin of acme, signed in; returns the organisation id."""
    org_id = factory.org("acme")
    login_as(client, factory.user(org_id, "admin", email="admin@acme.test"), org_id)
    return org_id


def codes(response) -> list[str]:
    """The site codes listed on a sites page, in order."""
    html = response.get_data(as_text=True)
    table = html.split('data-testid="sites"')[1].split("</table>")[0]
    return re.findall(r'<a href="/sites/\d+">([^<]+)</a>', table)


def events(app, action):
    with app.app_context():
        return [(e.before, e.after, e.target_id) for e in db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id))]


# The rules -------------------------------------------------------------------------------


def test_site_fields_are_tidied_and_each_problem_is_named():
    values, problems = check_site_fields({**GOOD, "name": "  Headquarters  ", "country": "de"})
    assert problems == {}
    assert values["country"] == "DE" and values["name"] == "Headquarters"
    _, problems = check_site_fields({"code": "a b", "country": "Germany",
                                     "contact_email": "nope", "contact_phone": "ask Bob"})
    assert problems["code"].startswith("'a b' may only hold letters")
    assert problems["name"] == "is missing"
    assert problems["country"].startswith("'GERMANY' is not an ISO 3166 alpha-2")
    assert problems["contact_email"] == "'nope' is not a valid e-mail address"
    assert problems["contact_phone"].startswith("'ask Bob' is not a phone number")


def test_create_update_and_close_are_audited(app_ctx, factory):
    org_id = factory.org("acme")
    site = create_site(db.session, org_id, GOOD)
    db.session.commit()
    with pytest.raises(EstateError) as refused:
        create_site(db.session, org_id, {**GOOD, "name": "Copy"})
    assert refused.value.errors == {"code": "'HQ-1' is already used by another site"}
    db.session.rollback()
    changes = update_site(db.session, site, {**GOOD, "city": "Hamburg"}, None)
    assert changes == {"city": ["Berlin", "Hamburg"]}
    assert update_site(db.session, site, {**GOOD, "city": "Hamburg"}, None) == {}
    close_site(db.session, site)
    db.session.commit()
    actions = db.session.scalars(select(AuditEvent.action).where(
        AuditEvent.action.startswith("site:")).order_by(AuditEvent.id)).all()
    assert actions == ["site:create", "site:update", "site:close"]
    update = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "site:update")).one()
    assert (update.before, update.after) == ({"city": "Berlin"}, {"city": "Hamburg"})
    assert site.status == "closed" and site.closed_at is not None


def test_a_billing_account_of_another_organisation_cannot_be_assigned(app_ctx, factory, app):
    mine, theirs = factory.org("acme"), factory.org("globex")
    foreign = add_account(app, theirs, "G-1")
    with pytest.raises(EstateError) as refused:
        create_site(db.session, mine, GOOD, billing_account_id=foreign)
    assert "billing_account" in refused.value.errors


# Pages -----------------------------------------------------------------------------------


def test_an_admin_creates_a_site_with_a_billing_account(client, admin, app):
    account = add_account(app, admin, "BA-1")
    response = client.post("/sites/new", data={**GOOD, "billing_account": str(account),
                                               "csrf_token": csrf_token(client, "/sites/new")})
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Headquarters" in page and "BA-1" in page and "ann@acme.test" in page
    assert "Site HQ-1 created." in page
    ((before, after, _),) = events(app, "site:create")
    assert before is None and after["code"] == "HQ-1" and after["billing_account_id"] == account


def test_the_site_form_explains_what_is_wrong_and_saves_nothing(client, admin, app):
    add_sites(app, admin, 1, prefix="HQ")  # HQ-00000
    token = csrf_token(client, "/sites/new")
    response = client.post("/sites/new", data={**GOOD, "code": "HQ-00000", "country": "",
                                               "contact_email": "nope", "csrf_token": token})
    page = response.get_data(as_text=True).replace("&#39;", "'")
    assert response.status_code == 200
    assert "Site code 'HQ-00000' is already used by another site." in page
    assert "Country is missing." in page
    assert "Contact e-mail 'nope' is not a valid e-mail address." in page
    response = client.post("/sites/new", data={**GOOD, "contact_phone": "call me",
                                               "csrf_token": token})
    assert "Contact phone 'call me' is not a phone number" in response.get_data(
        as_text=True).replace("&#39;", "'")
    assert len(events(app, "site:create")) == 0


def test_a_billing_account_of_another_organisation_is_not_a_choice(client, admin, factory, app):
    foreign = add_account(app, factory.org("globex"), "G-1")
    response = client.post("/sites/new", data={**GOOD, "billing_account": str(foreign),
                                               "csrf_token": csrf_token(client, "/sites/new")})
    assert response.status_code == 200 and "Not a valid choice" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalars(select(Site)).all() == []


def test_editing_a_site_can_bill_its_services_to_the_new_account(client, admin, app):
    old, new = add_account(app, admin, "BA-OLD"), add_account(app, admin, "BA-NEW")
    (site_id,) = add_sites(app, admin, 1, account_id=old)
    add_services(app, admin, site_id, 3, account_id=old)
    form = client.get(f"/sites/{site_id}/edit").get_data(as_text=True)
    assert f'<option selected value="{old}">' in form or f'value="{old}" selected' in form
    data = {**GOOD, "code": "S-00000", "billing_account": str(new),
            "csrf_token": csrf_token(client, "/sites/new")}
    client.post(f"/sites/{site_id}/edit", data=data)
    with app.app_context():
        assert db.session.get(Site, site_id).billing_account_id == new
        assert set(db.session.scalars(select(Service.billing_account_id))) == {old}
    client.post(f"/sites/{site_id}/edit", data={**data, "bill_services": "y"})
    with app.app_context():
        assert set(db.session.scalars(select(Service.billing_account_id))) == {new}
    (first, second) = events(app, "site:update")
    assert first[1]["billing_account_id"] == new and first[1]["name"] == "Headquarters"
    assert second[1] == {"services_billed_to_site_account": 3}


def test_a_site_with_active_or_suspended_services_cannot_be_closed(client, admin, app):
    (site_id,) = add_sites(app, admin, 1)
    add_services(app, admin, site_id, 2, status="active")
    add_services(app, admin, site_id, 1, status="suspended")
    add_services(app, admin, site_id, 4, status="ceased")
    detail = client.get(f"/sites/{site_id}").get_data(as_text=True)
    assert ("This site still has 2 active services and 1 suspended service. Cease or move "
            "them before closing the site.") in detail
    assert re.search(r"<button[^>]*disabled[^>]*>Close site", detail)
    response = client.post(f"/sites/{site_id}/close",
                           data={"csrf_token": csrf_token(client, "/sites/new")},
                           follow_redirects=True)
    assert ("Site S-00000 was not closed. This site still has 2 active services and 1 "
            "suspended service.") in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Site, site_id).status == "active"
    assert events(app, "site:close") == []


def test_a_site_with_only_ceased_services_closes(client, admin, app):
    (site_id,) = add_sites(app, admin, 1)
    add_services(app, admin, site_id, 2, status="ceased")
    response = client.post(f"/sites/{site_id}/close",
                           data={"csrf_token": csrf_token(client, "/sites/new")},
                           follow_redirects=True)
    assert "Site S-00000 is closed." in response.get_data(as_text=True)
    assert events(app, "site:close") == [({"status": "active"}, {"status": "closed"},
                                          str(site_id))]
    again = client.post(f"/sites/{site_id}/close",
                        data={"csrf_token": csrf_token(client, "/sites/new")},
                        follow_redirects=True)
    assert "already closed" in again.get_data(as_text=True)


def test_closing_needs_a_post_with_the_csrf_token(client, admin, app):
    (site_id,) = add_sites(app, admin, 1)
    assert client.get(f"/sites/{site_id}/close").status_code == 405
    assert client.post(f"/sites/{site_id}/close").status_code == 400
    with app.app_context():
        assert db.session.get(Site, site_id).status == "active"


def test_another_organisations_sites_answer_404_and_stay_unchanged(client, admin, factory, app):
    other = factory.org("globex")
    (theirs,) = add_sites(app, other, 1, prefix="G")
    token = csrf_token(client, "/sites/new")
    assert client.get(f"/sites/{theirs}").status_code == 404
    assert client.get(f"/sites/{theirs}/edit").status_code == 404
    assert client.post(f"/sites/{theirs}/edit", data={**GOOD, "csrf_token": token}
                       ).status_code == 404
    assert client.post(f"/sites/{theirs}/close", data={"csrf_token": token}).status_code == 404
    assert "G-00000" not in client.get("/sites").get_data(as_text=True)
    assert "G-00000" not in client.get("/sites/export.csv").get_data(as_text=True)
    with app.app_context():
        site = db.session.get(Site, theirs)
        assert (site.name, site.status) == ("Site G-00000", "active")


def test_the_list_searches_name_code_city_and_postcode(client, admin, app):
    add_sites(app, admin, 1, prefix="AAA", name="Harbour office", city="Hamburg",
              postcode="20095")
    add_sites(app, admin, 1, prefix="BBB", name="Mountain lodge", city="Munich",
              postcode="80331")
    assert codes(client.get("/sites?q=harbour")) == ["AAA-00000"]
    assert codes(client.get("/sites?q=bbb")) == ["BBB-00000"]
    assert codes(client.get("/sites?q=munich")) == ["BBB-00000"]
    assert codes(client.get("/sites?q=2009")) == ["AAA-00000"]
    assert codes(client.get("/sites?q=100%25")) == []  # LIKE wildcards are literal


def test_the_list_filters_by_country_status_and_billing_account(client, admin, app):
    account = add_account(app, admin, "BA-1")
    add_sites(app, admin, 2, prefix="DE")
    add_sites(app, admin, 1, prefix="FR", country="FR", account_id=account)
    add_sites(app, admin, 1, prefix="OLD", status="closed")
    assert codes(client.get("/sites?country=FR")) == ["FR-00000"]
    assert codes(client.get("/sites?status=closed")) == ["OLD-00000"]
    assert codes(client.get(f"/sites?billing_account={account}")) == ["FR-00000"]
    assert codes(client.get("/sites?country=DE&status=active&sort=code")) == [
        "DE-00000", "DE-00001"]
    page = client.get("/sites").get_data(as_text=True)
    assert '<option value="FR">France (FR)</option>' in page  # countries in use are offered
    assert client.get("/sites?status=nonsense&billing_account=x&page=-3").status_code == 200


@pytest.mark.parametrize("key,ascending", [
    ("name", ["C-00000", "B-00000", "A-00000"]),
    ("code", ["A-00000", "B-00000", "C-00000"]),
    ("city", ["B-00000", "A-00000", "C-00000"]),
    ("country", ["C-00000", "A-00000", "B-00000"]),
    ("status", ["A-00000", "C-00000", "B-00000"]),
])
def test_the_list_sorts_by_each_column_both_ways(client, admin, app, key, ascending):
    add_sites(app, admin, 1, prefix="A", name="Zeta", city="Bonn", country="DE")
    add_sites(app, admin, 1, prefix="B", name="Theta", city="Aachen", country="FR",
              status="closed")
    add_sites(app, admin, 1, prefix="C", name="Alpha", city="Celle", country="AT")
    assert codes(client.get(f"/sites?sort={key}")) == ascending
    assert codes(client.get(f"/sites?sort={key}&dir=desc")) == ascending[::-1]


def test_sort_headers_say_how_the_list_is_sorted(client, admin):
    page = client.get("/sites?sort=city&dir=desc&country=DE").get_data(as_text=True)
    assert re.search(r'<th scope="col" aria-sort="descending">\s*<a href="[^"]*sort=city', page)
    header = re.search(r'data-testid="sort-city"', page)
    assert header
    link = re.search(r'href="(/sites\?[^"]*)" data-testid="sort-city"', page).group(1)
    assert "dir=asc" in link and "country=DE" in link and "page=1" in link


def test_the_list_is_paginated(client, admin, app):
    add_sites(app, admin, 120)
    first = client.get("/sites?sort=code")
    assert codes(first)[0] == "S-00000" and len(codes(first)) == 50
    text = first.get_data(as_text=True)
    assert "120 sites" in text and "Page 1 of 3" in text
    assert codes(client.get("/sites?sort=code&page=3")) == [f"S-{n:05d}" for n in range(100, 120)]
    assert codes(client.get("/sites?sort=code&page=99"))[0] == "S-00100"  # the last page


def test_the_detail_page_lists_the_sites_services_and_links_to_the_rest(client, admin, app):
    account = add_account(app, admin, "BA-9")
    (site_id,) = add_sites(app, admin, 1, account_id=account)
    add_services(app, admin, site_id, 105, account_id=account, offering="FIBRE-1G")
    page = client.get(f"/sites/{site_id}").get_data(as_text=True)
    assert "105 services; the first 100 are listed" in page
    assert "/inventory?site=S-00000" in page
    assert page.count("<code>FIBRE-1G</code>") == 100
    assert f'href="/billing-accounts/{account}">BA-9</a>' in page


def test_people_who_may_only_look_see_no_change_buttons(client, factory, app):
    org_id = factory.org("acme")
    (site_id,) = add_sites(app, org_id, 1)
    login_as(client, factory.user(org_id, "viewer"), org_id)
    listing = client.get("/sites").get_data(as_text=True)
    assert "Add a site" not in listing and "Import from CSV" not in listing
    detail = client.get(f"/sites/{site_id}").get_data(as_text=True)
    assert "Close site" not in detail and f"/sites/{site_id}/edit" not in detail
    assert client.get(f"/sites/{site_id}/edit").status_code == 403
