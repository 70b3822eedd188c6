"""The permission matrix: every route declares its permission, and every route answers
every role (and anonymous users) as the role map says; objects of another organisation
answer 404."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from conftest import count_queries, csrf_token, login_as
from sqlalchemy import select

from accounts.apikeys import create_api_key
from accounts.estate import staging
from accounts.estate.csv_sites import preview_import, read_csv
from accounts.estate.models import BillingAccount, Site
from accounts.legacy.models import LegacyAccount, MatchProposal
from accounts.models import (
    AccountManagerAssignment,
    ApiKey,
    Delegation,
    Invitation,
    Organisation,
)
from portal.audit import AuditEvent
from portal.catalog.store import load_version
from portal.db import utcnow
from portal.extensions import db
from portal.security import ROLE_PERMISSIONS, ROLES_BY_ORG_KIND, Permission, Role

# Sample values for URL parameters; object ids are filled in per test.
OPEN_ENDPOINTS = {"static", "bootstrap.static"}


def _routes(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint in OPEN_ENDPOINTS:
            continue
        yield rule, app.view_functions[rule.endpoint]


@pytest.mark.parametrize("dev_idp", [False, True])
def test_every_route_declares_its_permission(make_app, dev_idp):
    app = make_app(DEV_IDP=dev_idp)
    undeclared = [rule.rule for rule, view in _routes(app)
                  if not hasattr(view, "required_permission")]
    assert undeclared == []
    assert any(rule.rule.startswith("/devidp/") for rule, _ in _routes(app)) is dev_idp


WRITES = re.compile(r"^\s*(INSERT|UPDATE|DELETE)\b(?!.*\bweb_sessions\b)", re.I | re.S)


@pytest.mark.parametrize("role", [Role.ADMIN, Role.OPERATOR_ADMIN])
def test_get_pages_change_nothing(client, factory, role):
    """No state change on GET: pages write nothing but the session's own bookkeeping."""
    org_id, user_id, ids = _setup(factory, role)
    login_as(client, user_id, org_id)
    for method, path, permission in PAGES:
        if method != "GET" or permission not in ROLE_PERMISSIONS[role]:
            continue
        with count_queries(client.application) as statements:
            assert client.get(path.format(**ids)).status_code == 200
        assert [s for s in statements if WRITES.match(s)] == [], path


ROLE_ORG = {role: kind for kind, roles in ROLES_BY_ORG_KIND.items() for role in roles}

# (method, path, permission) of every protected page; {other} paths are in the 404 test.
PAGES = [
    ("GET", "/dashboard", Permission.DASHBOARD_VIEW),
    ("GET", "/organisation/members", Permission.USERS_VIEW),
    ("GET", "/organisation/sso", Permission.SSO_MANAGE),
    ("POST", "/organisation/sso", Permission.SSO_MANAGE),
    ("GET", "/audit", Permission.AUDIT_VIEW),
    ("GET", "/audit/{event}", Permission.AUDIT_VIEW),
    ("GET", "/operator/organisations", Permission.ORGS_MANAGE),
    ("POST", "/organisation/members/{member}/deactivate", Permission.USERS_MANAGE),
    ("POST", "/organisation/members/{member}/activate", Permission.USERS_MANAGE),
    ("POST", "/organisation/members/invite", Permission.USERS_MANAGE),
    ("POST", "/organisation/members/{member}/roles", Permission.USERS_MANAGE),
    ("POST", "/organisation/invitations/{invitation}/revoke", Permission.USERS_MANAGE),
    ("GET", "/organisation/api-keys", Permission.APIKEYS_MANAGE),
    ("POST", "/organisation/api-keys", Permission.APIKEYS_MANAGE),
    ("POST", "/organisation/api-keys/{api_key}/revoke", Permission.APIKEYS_MANAGE),
    ("GET", "/organisation/delegations", Permission.DELEGATIONS_MANAGE),
    ("POST", "/organisation/delegations", Permission.DELEGATIONS_MANAGE),
    ("POST", "/organisation/delegations/{delegation}/revoke", Permission.DELEGATIONS_MANAGE),
    ("GET", "/configurator", Permission.QUOTES_CREATE),
    ("POST", "/configurator/lines", Permission.QUOTES_CREATE),
    ("POST", "/configurator/lines/{member}", Permission.QUOTES_CREATE),
    ("POST", "/configurator/lines/{member}/delete", Permission.QUOTES_CREATE),
    ("POST", "/configurator/companions", Permission.QUOTES_CREATE),
    ("POST", "/configurator/billing-account", Permission.QUOTES_CREATE),
    ("POST", "/configurator/clear", Permission.QUOTES_CREATE),
    ("GET", "/operator/account-managers", Permission.ACCOUNT_MANAGERS_MANAGE),
    ("POST", "/operator/account-managers", Permission.ACCOUNT_MANAGERS_MANAGE),
    ("POST", "/operator/account-managers/{assignment}/remove",
     Permission.ACCOUNT_MANAGERS_MANAGE),
    ("GET", "/operator/legacy", Permission.LEGACY_IMPORT),
    ("POST", "/operator/legacy/import", Permission.LEGACY_IMPORT),
    ("GET", "/operator/legacy/proposals", Permission.LEGACY_IMPORT),
    ("POST", "/operator/legacy/proposals/{proposal}/confirm", Permission.LEGACY_IMPORT),
    ("POST", "/operator/legacy/proposals/{proposal}/reject", Permission.LEGACY_IMPORT),
    ("GET", "/operator/legacy/accounts", Permission.LEGACY_IMPORT),
    ("GET", "/sites", Permission.SITES_VIEW),
    ("GET", "/sites/new", Permission.SITES_MANAGE),
    ("POST", "/sites/new", Permission.SITES_MANAGE),
    ("GET", "/sites/{site}", Permission.SITES_VIEW),
    ("GET", "/sites/{site}/edit", Permission.SITES_MANAGE),
    ("POST", "/sites/{site}/edit", Permission.SITES_MANAGE),
    ("POST", "/sites/{site}/close", Permission.SITES_MANAGE),
    ("GET", "/sites/import", Permission.SITES_MANAGE),
    ("POST", "/sites/import", Permission.SITES_MANAGE),
    ("POST", "/sites/import/{import_token}/commit", Permission.SITES_MANAGE),
    ("GET", "/sites/export.csv", Permission.SITES_VIEW),
    ("GET", "/billing-accounts", Permission.BILLING_ACCOUNTS_VIEW),
    ("GET", "/billing-accounts/new", Permission.BILLING_ACCOUNTS_MANAGE),
    ("POST", "/billing-accounts/new", Permission.BILLING_ACCOUNTS_MANAGE),
    ("GET", "/billing-accounts/{billing_account}", Permission.BILLING_ACCOUNTS_VIEW),
    ("GET", "/billing-accounts/{billing_account}/edit", Permission.BILLING_ACCOUNTS_MANAGE),
    ("POST", "/billing-accounts/{billing_account}/edit", Permission.BILLING_ACCOUNTS_MANAGE),
    ("GET", "/inventory", Permission.INVENTORY_VIEW),
    ("GET", "/usage", Permission.INVENTORY_VIEW),
    ("POST", "/offers/{offer}/accept", Permission.ORDERS_CREATE),
    ("POST", "/offers/{offer}/dismiss", Permission.ORDERS_CREATE),
    ("GET", "/operator/usage", Permission.OFFERS_MANAGE),
    ("POST", "/operator/usage", Permission.OFFERS_MANAGE),
    ("GET", "/operator/offer-rules", Permission.OFFERS_MANAGE),
    ("POST", "/operator/offer-rules", Permission.OFFERS_MANAGE),
    ("GET", "/catalog", Permission.CATALOG_VIEW),
    ("GET", "/catalog/versions", Permission.CATALOG_MANAGE),
    ("GET", "/catalog/versions/{catalog_version}", Permission.CATALOG_MANAGE),
    ("GET", "/catalog/versions/{catalog_version}/source", Permission.CATALOG_MANAGE),
    ("GET", "/catalog/diff", Permission.CATALOG_MANAGE),
    ("GET", "/catalog/upload", Permission.CATALOG_MANAGE),
    ("POST", "/catalog/upload", Permission.CATALOG_MANAGE),
    ("GET", "/orders", Permission.ORDERS_VIEW),
    ("GET", "/orders/{order}", Permission.ORDERS_VIEW),
    ("POST", "/orders/{order}/cancel", Permission.ORDERS_CREATE),
    ("GET", "/inventory/{service}/change", Permission.ORDERS_CREATE),
    ("POST", "/inventory/{service}/change", Permission.ORDERS_CREATE),
    ("GET", "/sites/{site}/add-service", Permission.ORDERS_CREATE),
    ("POST", "/sites/{site}/add-service", Permission.ORDERS_CREATE),
    ("GET", "/operator/orders", Permission.ORDERS_OPERATE),
    ("POST", "/operator/orders/parts/{order_part}/retry", Permission.ORDERS_OPERATE),
    ("GET", "/quotes/{quote}/versions/{version_number}/pdf", Permission.QUOTES_VIEW),
    ("GET", "/approvals/{quote_version}/pdf", Permission.QUOTES_APPROVE),
    ("GET", "/quotes", Permission.QUOTES_VIEW),
    ("POST", "/quotes", Permission.QUOTES_CREATE),
    ("GET", "/quotes/{quote}", Permission.QUOTES_VIEW),
    ("GET", "/quotes/{quote}/diff", Permission.QUOTES_VIEW),
    ("POST", "/quotes/{quote}/lines/{quote_line}", Permission.QUOTES_CREATE),
    ("POST", "/quotes/{quote}/lines/{quote_line}/delete", Permission.QUOTES_CREATE),
    ("POST", "/quotes/{quote}/submit", Permission.QUOTES_CREATE),
    ("POST", "/quotes/{quote}/versions", Permission.QUOTES_CREATE),
    ("POST", "/quotes/{quote}/cancel", Permission.QUOTES_CREATE),
    ("POST", "/quotes/{quote}/accept", Permission.ORDERS_CREATE),
    ("GET", "/approvals", Permission.QUOTES_APPROVE),
    ("GET", "/approvals/{quote_version}", Permission.QUOTES_APPROVE),
    ("POST", "/approvals/{quote_version}", Permission.QUOTES_APPROVE),
    ("GET", "/bills", Permission.BILLS_VIEW),
    ("GET", "/bills/{bill_period}", Permission.BILLS_VIEW),
    ("GET", "/bills/{bill_period}/pdf", Permission.BILLS_VIEW),
    ("GET", "/bills/{bill_period}/csv", Permission.BILLS_VIEW),
    ("GET", "/bills/source/{bill}", Permission.BILLS_VIEW),
    ("GET", "/bills/source/{bill}/pdf", Permission.BILLS_VIEW),
]
SIGNED_IN_ONLY = [("POST", "/logout"), ("POST", "/switch-org"), ("GET", "/notifications"),
                  ("POST", "/notifications/{notification}/read"),
                  ("POST", "/notifications/read-all")]


def _shapes(path: str) -> list[str]:
    """`/a/<int:x>/b` and `/a/{x}/b` both become `/a/{}/b`; `<any(p, q):x>` gives each."""
    match = re.search(r"<any\(([^)]*)\):\w+>", path)
    paths = [path.replace(match.group(0), option.strip())
             for option in match.group(1).split(",")] if match else [path]
    return [re.sub(r"<[^>]+>|\{\w+\}", "{}", p) for p in paths]


def test_the_matrix_lists_every_protected_route(app):
    """A new protected route must be added to PAGES (so it is checked for every role)."""
    listed = {(method, _shapes(path)[0]) for method, path, _ in PAGES}
    listed |= {(method, _shapes(path)[0]) for method, path in SIGNED_IN_ONLY}
    for rule, view in _routes(app):
        if getattr(view, "is_public", False) or rule.rule.startswith("/tmf-api/"):
            continue
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            for shape in _shapes(rule.rule):
                assert (method, shape) in listed, f"{method} {shape} is not in the matrix"


def _legacy_proposal() -> int:
    """An open proposal: a legacy account that looks like a customer organisation."""
    candidate = Organisation(slug="legacy-candidate", name="Candidate GmbH", kind="customer")
    account = LegacyAccount(system="mobile-bss", external_id="M-1", name="Candidate",
                            country="DE", status="proposed", held_rows=[])
    proposal = MatchProposal(account=account, organisation=candidate, score=90,
                             reasons=["names alike"], status="open")
    db.session.add(proposal)
    db.session.commit()
    return proposal.id


CATALOG = """
currency: EUR
approval: {auto_max: "0.05", account_manager_max: "0.15", sales_director_max: "0.30"}
tax_rates: {DE: "0.19"}
offerings:
  - {code: MOB-UNL, name: Mobile, family: mobile, fulfilment: mobile-bss, recurring: "25.00",
     one_off: "10.00", available_in: [DE]}
"""


def _catalog_version() -> int:
    """A loaded catalog (its version number)."""
    version = load_version(db.session, CATALOG, "catalog.yaml", "test")
    db.session.commit()
    return version.number


def _setup(factory, role):
    org_id = factory.org("home", kind=ROLE_ORG[role])
    user_id = factory.user(org_id, role)
    member_id = factory.user(org_id, role, email="colleague@home.test")
    with factory.app.app_context():
        event = AuditEvent(action="test:event", organisation_id=org_id)
        invitation = Invitation(organisation_id=org_id, email="new@home.test", role=role)
        partner = Organisation(slug="partner-x", name="Partner X", kind="partner")
        delegation = Delegation(organisation_id=org_id, partner=partner, scopes=["quote"],
                                expires_at=utcnow() + dt.timedelta(days=30))
        assignment = AccountManagerAssignment(organisation_id=org_id, user_id=member_id)
        db.session.add_all([event, invitation, delegation, assignment])
        db.session.commit()
        event_id, invitation_id = event.id, invitation.id
        extra_ids = {"delegation": delegation.id, "assignment": assignment.id}
        api_key, _ = create_api_key(db.session, db.session.get(Organisation, org_id),
                                    "matrix key", role)
        db.session.commit()
        extra_ids["proposal"] = _legacy_proposal()
        extra_ids["catalog_version"] = _catalog_version()
        extra_ids.update(_estate(org_id, user_id))
        extra_ids.update(_quote(org_id, user_id, extra_ids["site"]))
        extra_ids.update(_order(org_id, user_id, extra_ids["site"]))
        extra_ids["notification"] = _notification(org_id, user_id)
        extra_ids["offer"] = _offer(org_id, extra_ids["service"])
        extra_ids.update(_bill(org_id, extra_ids["billing_account"], extra_ids["site"]))
    return org_id, user_id, {"event": event_id, "member": member_id,
                             "invitation": invitation_id, "api_key": api_key.id,
                             **extra_ids}


def _estate(org_id: int, user_id: int) -> dict:
    """A billing account and a site of the organisation, and a site import the user
    previewed (inside an app context)."""
    account = BillingAccount(organisation_id=org_id, number="BA-1", name="Main", country="DE")
    site = Site(organisation_id=org_id, code="S-1", name="Site", address="1 Road",
                postcode="1000", city="Berlin", country="DE", billing_account=account)
    db.session.add_all([account, site])
    data = b"code,name,address,postcode,city,country\nS-2,Shop,2 Road,1000,Berlin,DE\n"
    fingerprint = preview_import(db.session, org_id, read_csv(data)).fingerprint
    db.session.commit()  # last: a read after it would leave the caller's objects expired
    token = staging.stage(data, org_id=org_id, user_id=user_id, filename="sites.csv",
                          fingerprint=fingerprint)
    return {"site": site.id, "billing_account": account.id, "import_token": token}


def _quote(org_id: int, user_id: int, site_id: int) -> dict:
    """A quote of the organisation (version 1, in progress, one line), with the user
    assigned to the organisation as account manager (inside an app context)."""
    from accounts.models import User
    from portal.catalog.store import current_catalog
    from quotes import cart as carts
    from quotes import services

    db.session.add(AccountManagerAssignment(organisation_id=org_id, user_id=user_id))
    catalog_version, catalog = current_catalog(db.session)
    cart = carts.open_cart(db.session, org_id, user_id)
    carts.add_lines(db.session, cart, catalog, [site_id], "MOB-UNL", 2, 12)
    quote = services.create_from_cart(db.session, cart, catalog_version, catalog,
                                      db.session.get(User, user_id), dt.date.today())
    db.session.commit()
    version = quote.versions[0]
    return {"quote": quote.id, "quote_version": version.id, "quote_line": version.lines[0].id,
            "version_number": version.version}


def _bill(org_id: int, account_id: int, site_id: int) -> dict:
    """A source bill of the organisation for 2026-10, one line at the site (inside an app
    context)."""
    from support.bills import add_bill, line

    bill_id = add_bill(db.session, org_id, account_id, [line("10.00", "1.90", site_id=site_id)])
    db.session.commit()
    return {"bill": bill_id, "bill_period": "2026-10"}


def _notification(org_id: int, user_id: int) -> int:
    """A notification for the user (inside an app context)."""
    from portal.notifications.services import notify

    notification = notify(db.session, user_id, org_id, "Matrix", "A notification.", "/")
    db.session.commit()
    return notification.id


def _offer(org_id: int, service_id: int) -> int:
    """An open upgrade offer for the organisation's service (inside an app context)."""
    from decimal import Decimal

    from portal.usage.models import Offer

    offer = Offer(organisation_id=org_id, service_id=service_id, kind="upgrade",
                  evidence="contract ends 2030-01-01", from_offering_code="MOB-UNL",
                  offering_code="MOB-UNL", offering_name="Mobile", mrc_before=Decimal("50"),
                  mrc_after=Decimal("50"), monthly_difference=Decimal("0"), currency="EUR",
                  reason="Matrix.")
    db.session.add(offer)
    db.session.commit()
    return offer.id


def _order(org_id: int, user_id: int, site_id: int) -> dict:
    """A service at the site and an order suspending it, not yet sent (inside an app
    context)."""
    from accounts.estate.models import Service
    from portal.orders.services import ItemSpec, place_order

    service = Service(organisation_id=org_id, site_id=site_id, offering_code="MOB-UNL",
                      description="Mobile", quantity=2, start_date=dt.date(2020, 1, 1),
                      term_months=12, source_system="mobile-bss", source_ref="M-1")
    db.session.add(service)
    db.session.flush()
    order = place_order(db.session, org_id, [ItemSpec(
        "suspend", "MOB-UNL", "Mobile", "mobile-bss", site_id, 2, 12,
        service_id=service.id)], source="change", user_id=user_id)
    db.session.commit()
    return {"service": service.id, "order": order.id, "order_part": order.parts[0].id}


@pytest.mark.parametrize("method,path,permission", PAGES)
def test_anonymous_users_are_sent_to_sign_in(client, factory, method, path, permission):
    _, _, ids = _setup(factory, Role.ADMIN)
    data = {"csrf_token": csrf_token(client)} if method == "POST" else None
    response = client.open(path.format(**ids), method=method, data=data)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("method,path,permission", PAGES)
def test_each_role_gets_exactly_what_its_permissions_allow(
    client, factory, role, method, path, permission
):
    org_id, user_id, ids = _setup(factory, role)
    login_as(client, user_id, org_id)
    data = {"csrf_token": csrf_token(client)} if method == "POST" else None
    response = client.open(path.format(**ids), method=method, data=data)
    if permission in ROLE_PERMISSIONS[role]:
        # Allowed in: a page, a redirect, or (for a POST with an empty form) a validation
        # answer; never a refusal or a crash.
        allowed = (200, 302) if method == "GET" else (200, 302, 400, 404, 409, 422)
        assert response.status_code in allowed, (role, path, response.status_code)
    else:
        assert response.status_code == 403, (role, path, response.status_code)


@pytest.mark.parametrize("method,path", SIGNED_IN_ONLY)
def test_sign_out_and_switching_need_a_session(client, method, path):
    response = client.open(path.format(notification=1), method=method,
                           data={"csrf_token": csrf_token(client)})
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


@pytest.mark.parametrize("role", list(Role))
def test_every_role_reads_its_own_notifications(client, factory, role):
    org_id, user_id, ids = _setup(factory, role)
    login_as(client, user_id, org_id)
    with count_queries(client.application) as statements:
        assert client.get("/notifications").status_code == 200
    assert [s for s in statements if WRITES.match(s)] == []
    for method, path in SIGNED_IN_ONLY:
        if path.startswith("/notifications/"):
            response = client.open(path.format(**ids), method=method,
                                   data={"csrf_token": csrf_token(client, "/notifications")})
            assert response.status_code == 302, (role, path)


@pytest.mark.parametrize("method,path", [
    ("GET", "/audit/{event}"),
    ("POST", "/organisation/members/{member}/roles"),
    ("POST", "/organisation/invitations/{invitation}/revoke"),
    ("POST", "/organisation/delegations/{delegation}/revoke"),
    ("POST", "/organisation/members/{member}/deactivate"),
    ("POST", "/organisation/members/{member}/activate"),
    ("POST", "/organisation/api-keys/{api_key}/revoke"),
    ("GET", "/sites/{site}"),
    ("GET", "/sites/{site}/edit"),
    ("POST", "/sites/{site}/edit"),
    ("POST", "/sites/{site}/close"),
    ("POST", "/sites/import/{import_token}/commit"),
    ("GET", "/billing-accounts/{billing_account}"),
    ("GET", "/billing-accounts/{billing_account}/edit"),
    ("POST", "/billing-accounts/{billing_account}/edit"),
    ("GET", "/orders/{order}"),
    ("POST", "/orders/{order}/cancel"),
    ("GET", "/inventory/{service}/change"),
    ("POST", "/inventory/{service}/change"),
    ("GET", "/sites/{site}/add-service"),
    ("POST", "/sites/{site}/add-service"),
    ("GET", "/quotes/{quote}/versions/{version_number}/pdf"),
    ("GET", "/quotes/{quote}"),
    ("GET", "/quotes/{quote}/diff"),
    ("POST", "/quotes/{quote}/lines/{quote_line}"),
    ("POST", "/quotes/{quote}/lines/{quote_line}/delete"),
    ("POST", "/quotes/{quote}/submit"),
    ("POST", "/quotes/{quote}/versions"),
    ("POST", "/quotes/{quote}/cancel"),
    ("POST", "/quotes/{quote}/accept"),
    ("POST", "/offers/{offer}/accept"),
    ("POST", "/offers/{offer}/dismiss"),
    ("GET", "/bills/source/{bill}"),
    ("GET", "/bills/source/{bill}/pdf"),
])
def test_objects_of_another_organisation_answer_404(client, factory, method, path):
    _, _, theirs = _setup(factory, Role.ADMIN)
    mine = factory.org("mine")
    me = factory.user(mine, Role.ADMIN)
    login_as(client, me, mine)
    data = {"csrf_token": csrf_token(client)} if method == "POST" else None
    response = client.open(path.format(**theirs), method=method, data=data)
    assert response.status_code == 404
    with factory.app.app_context():
        # Nothing happened to the other organisation's member.
        from accounts.models import User

        assert db.session.get(User, theirs["member"]).active is True
        assert db.session.get(ApiKey, theirs["api_key"]).revoked_at is None
        assert db.session.get(Site, theirs["site"]).status == "active"
        assert db.session.scalars(select(Site).where(Site.code == "S-2")).first() is None
        from portal.orders.models import Order

        assert [(o.id, o.cancel_requested_at) for o in db.session.scalars(select(Order))] \
            == [(theirs["order"], None)]
        from quotes.models import QuoteVersion

        assert db.session.get(QuoteVersion, theirs["quote_version"]).state == "inProgress"
        from portal.usage.models import Offer

        assert db.session.get(Offer, theirs["offer"]).status == "open"


def test_switching_to_an_organisation_without_membership_answers_404(client, factory):
    mine = factory.org("mine")
    other = factory.org("other")
    me = factory.user(mine, Role.ADMIN)
    login_as(client, me, mine)
    response = client.post("/switch-org", data={"csrf_token": csrf_token(client),
                                                 "org_id": str(other)})
    assert response.status_code == 404


def test_operator_admins_see_every_organisations_events(client, factory):
    customer = factory.org("customer")
    operator = factory.org("carrier", kind="operator")
    admin = factory.user(operator, Role.OPERATOR_ADMIN)
    with factory.app.app_context():
        event = AuditEvent(action="test:customer-event", organisation_id=customer)
        db.session.add(event)
        db.session.commit()
        event_id = event.id
    login_as(client, admin, operator)
    assert client.get(f"/audit/{event_id}").status_code == 200
    assert "test:customer-event" in client.get("/audit").get_data(as_text=True)


@pytest.mark.parametrize("path", ["/organisation/sso", "/organisation/members/1/deactivate",
                                  "/logout", "/switch-org"])
def test_posts_without_a_csrf_token_are_refused(client, factory, path):
    org_id = factory.org("home")
    user_id = factory.user(org_id, Role.ADMIN)
    login_as(client, user_id, org_id)
    response = client.post(path, data={})
    assert response.status_code == 400
    with factory.app.app_context():
        assert db.session.scalars(
            select(AuditEvent).where(AuditEvent.action.in_(["sso:update", "auth:logout"]))
        ).all() == []


@pytest.mark.parametrize("path", ["/audit/99999999999999", "/sites/2147483648",
                                  "/audit/0", "/audit/-1"])
def test_ids_outside_the_database_range_answer_404(client, factory, path):
    org_id = factory.org("home")
    login_as(client, factory.user(org_id, Role.ADMIN), org_id)
    assert client.get(path).status_code == 404
