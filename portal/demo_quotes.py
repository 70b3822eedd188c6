"""Demo quotes of Acme, one in each interesting state: approved and ready to accept, waiting
for the account manager, and a draft (idempotent: nothing is added once Acme has quotes)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from accounts.estate.models import BillingAccount, Site
from accounts.models import Organisation, User
from portal.catalog.store import current_catalog
from portal.db import utcnow
from quotes import approvals, services
from quotes import cart as carts
from quotes.models import Quote

# (title, [(offering, quantity per site, term)], sites, discount asked for, submit)
DEMO_QUOTES = [
    ("Mobile fleet renewal", [("MOB-UNL", 12, 24), ("DEV-PHONE-PRO", 12, 24)], 4, None, True),
    ("Fibre for the German branches", [("BB-FIBRE-1G", 1, 36), ("SDWAN-EDGE", 1, 36)], 3,
     "12", True),
    ("Voice for the French offices", [("VOICE-SIP", 20, 24)], 2, None, False),
]


def load_quotes(session: Session, org: Organisation, buyer: User) -> None:
    """Make the demo quotes of `org` as `buyer`, unless it has quotes already."""
    if session.scalar(select(func.count()).select_from(Quote)
                      .where(Quote.organisation_id == org.id)):
        return
    found = current_catalog(session)
    if found is None:
        return
    catalog_version, catalog = found
    today = utcnow().date()
    account = session.scalars(select(BillingAccount).where(
        BillingAccount.organisation_id == org.id, BillingAccount.country == "DE")).first()
    for title, items, site_count, discount, submit in DEMO_QUOTES:
        country = "FR" if "French" in title else "DE"
        sites = session.scalars(select(Site.id).where(
            Site.organisation_id == org.id, Site.country == country, Site.status == "active")
            .order_by(Site.code).limit(site_count)).all()
        cart = carts.open_cart(session, org.id, buyer.id)
        carts.set_billing_account(session, cart, account.id if account else None)
        for code, quantity, term in items:
            carts.add_lines(session, cart, catalog, list(sites), code, quantity, term)
        quote = services.create_from_cart(session, cart, catalog_version, catalog, buyer,
                                          today, title=title)
        version = quote.versions[0]
        if discount:
            fraction = services.parse_discount(discount)
            for line in list(version.lines):
                services.change_line(session, version, line.id, quantity=line.quantity,
                                     term_months=line.term_months, discount=fraction,
                                     justification="Competing offer from another operator",
                                     today=today)
        if submit:
            approvals.submit(session, version, buyer, today)
        session.flush()
