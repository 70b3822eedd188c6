"""A customer ready to quote, shared by the quote tests, the API tests and the benchmarks:
the operator with two account managers (one assigned) and a sales director, a customer with
sites, a billing account, a buyer, and a small catalog."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from accounts.estate.models import BillingAccount, Site
from accounts.models import AccountManagerAssignment, User
from portal.catalog.store import current_catalog, load_version
from portal.extensions import db
from quotes import cart as carts
from quotes import services

CATALOG = """
currency: EUR
approval: {auto_max: "0.05", account_manager_max: "0.15", sales_director_max: "0.30"}
quote_validity_days: 30
tax_rates: {DE: "0.19", FR: "0.20"}
offerings:
  - code: MOB-UNL
    name: Business Mobile Unlimited
    family: mobile
    fulfilment: mobile-bss
    recurring: "25.00"
    one_off: "10.00"
    volume_tiers: [{min: 1, discount: "0"}, {min: 50, discount: "0.10"}]
    terms: {12: "0", 24: "0.05"}
    promotions: [{code: THREE-FREE, months_free: 3}]
    available_in: [DE, FR]
  - code: FIBRE
    name: Business Fibre
    family: broadband
    fulfilment: fixed-bss
    recurring: "80.00"
    one_off: "100.00"
    terms: {24: "0", 36: "0.10"}
    available_in: [DE, FR]
"""


@dataclass
class Quoting:
    """Ids of everything `setup_quoting` made."""

    org: int
    other_org: int
    operator: int
    buyer: int
    viewer: int
    admin: int
    manager: int  # account manager assigned to the customer
    other_manager: int  # account manager of another customer only
    director: int  # sales director
    account: int
    sites: dict[str, int]


def setup_quoting(factory, app, sites: int = 3) -> Quoting:
    """Make the operator, the customer (with `sites` German sites and one French site) and
    another customer, and load the catalog above."""
    operator = factory.org("carrier", kind="operator")
    org = factory.org("acme")
    other = factory.org("globex")
    ids = {
        "buyer": factory.user(org, "buyer", email="bob@acme.test"),
        "viewer": factory.user(org, "viewer", email="victor@acme.test"),
        "admin": factory.user(org, "admin", email="ada@acme.test"),
        "manager": factory.user(operator, "account_manager", email="amelia@carrier.test"),
        "other_manager": factory.user(operator, "account_manager", email="otto@carrier.test"),
        "director": factory.user(operator, "sales_director", email="sam@carrier.test"),
    }
    with app.app_context():
        account = BillingAccount(organisation_id=org, number="BA-1", name="Acme GmbH",
                                 address="Hauptstr. 1", postcode="10115", city="Berlin",
                                 country="DE")
        db.session.add(account)
        made = [Site(organisation_id=org, code=f"DE-{n:03d}", name=f"Site {n}",
                     address="Street 1", postcode="10000", city="Berlin", country="DE")
                for n in range(1, sites + 1)]
        made.append(Site(organisation_id=org, code="FR-001", name="Paris", address="Rue 1",
                         postcode="75001", city="Paris", country="FR"))
        db.session.add_all(made)
        db.session.add(AccountManagerAssignment(organisation_id=org, user_id=ids["manager"]))
        db.session.add(AccountManagerAssignment(organisation_id=other,
                                                user_id=ids["other_manager"]))
        load_version(db.session, CATALOG, "test.yaml", "test")
        db.session.commit()
        site_ids = {site.code: site.id for site in made}
        account_id = account.id
    return Quoting(org=org, other_org=other, operator=operator, account=account_id,
                   sites=site_ids, **ids)


def make_quote(app, q: Quoting, lines=(("DE-001", "MOB-UNL", 10, 24),),
               today: dt.date | None = None, discounts: dict[int, str] | None = None) -> int:
    """A quote of the customer made through the cart, as the buyer; `discounts` asks for a
    negotiated discount (percent) on lines by position. Returns the quote id."""
    today = today or dt.date.today()
    with app.app_context():
        buyer = db.session.get(User, q.buyer)
        cart = carts.open_cart(db.session, q.org, q.buyer)
        for site, code, quantity, term in lines:
            catalog_version, catalog = current_catalog(db.session)
            carts.add_lines(db.session, cart, catalog, [q.sites[site]], code, quantity, term)
        catalog_version, catalog = current_catalog(db.session)
        quote = services.create_from_cart(db.session, cart, catalog_version, catalog, buyer,
                                          today)
        version = quote.versions[0]
        for position, percent in (discounts or {}).items():
            line = version.lines[position - 1]
            services.change_line(db.session, version, line.id, quantity=line.quantity,
                                 term_months=line.term_months,
                                 discount=services.parse_discount(percent),
                                 justification="Competing offer", today=today)
        db.session.commit()
        return quote.id
