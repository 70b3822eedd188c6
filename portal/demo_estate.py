"""The demo customers' estate: sites in four countries, billing accounts, and services as
the three legacy systems know them. Deterministic, so every `make run` shows the same."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from accounts.estate.models import BillingAccount, Service, Site
from accounts.models import Organisation

CITIES = {
    "DE": [("Berlin", "10115", "Friedrichstraße"), ("München", "80331", "Marienplatz"),
           ("Hamburg", "20095", "Mönckebergstraße"), ("Köln", "50667", "Hohe Straße")],
    "FR": [("Paris", "75002", "Rue de la Paix"), ("Lyon", "69002", "Rue de la République"),
           ("Lille", "59000", "Rue Faidherbe")],
    "GB": [("London", "EC1A 1BB", "King Street"), ("Manchester", "M1 1AE", "Market Street"),
           ("Leeds", "LS1 5AA", "Briggate")],
    "NL": [("Amsterdam", "1012 JS", "Damrak"), ("Rotterdam", "3011 AD", "Coolsingel"),
           ("Utrecht", "3511 LX", "Oudegracht")],
}
SITE_KINDS = ["Office", "Shop", "Warehouse", "Branch"]
# (offering code, description, source system, monthly charge, quantity range)
PRODUCTS = [
    ("MOB-UNL", "Business Mobile Unlimited", "mobile-bss", "25.00", (5, 40)),
    ("MOB-20GB", "Business Mobile 20 GB", "mobile-bss", "15.00", (2, 25)),
    ("BB-FIBRE-1G", "Business Fibre 1 Gbit/s", "fixed-bss", "89.00", (1, 1)),
    ("BB-FIBRE-300", "Business Fibre 300 Mbit/s", "fixed-bss", "49.00", (1, 1)),
    ("SDWAN-EDGE", "SD-WAN edge", "fixed-bss", "120.00", (1, 2)),
    ("VOICE-SIP", "SIP trunk channels", "fixed-bss", "6.50", (4, 30)),
    ("TV-BUSINESS", "Business TV package", "tv-bss", "39.00", (1, 3)),
]
BILLING_ACCOUNTS = {
    "acme": [("ACME-DE-01", "Acme Germany", "DE", "EUR", "Friedrichstraße 10", "10115", "Berlin"),
             ("ACME-FR-01", "Acme France", "FR", "EUR", "Rue de la Paix 2", "75002", "Paris"),
             ("ACME-UK-01", "Acme UK", "GB", "GBP", "King Street 8", "EC1A 1BB", "London")],
    "globex": [("GLX-NL-01", "Globex Benelux", "NL", "EUR", "Damrak 70", "1012 JS",
                "Amsterdam")],
}


def load_estate(session: Session, org: Organisation, site_count: int, seed: int) -> None:
    """Give `org` sites, billing accounts and services, unless it has sites already."""
    if session.scalar(select(func.count()).select_from(Site).where(
            Site.organisation_id == org.id)):
        return
    rng = random.Random(seed)  # noqa: S311 - repeatable demo data, not security
    accounts = {}
    for number, name, country, currency, address, postcode, city in BILLING_ACCOUNTS[org.slug]:
        account = BillingAccount(organisation_id=org.id, number=number, name=name,
                                 country=country, currency=currency, address=address,
                                 postcode=postcode, city=city, cost_centre=f"CC-{country}",
                                 delivery="portal")
        session.add(account)
        accounts[country] = account
    session.flush()
    fallback = next(iter(accounts.values()))
    countries = list(CITIES)
    sites = []
    for n in range(site_count):
        country = countries[n % len(countries)] if org.slug == "acme" else "NL"
        city, postcode, street = rng.choice(CITIES[country])
        # Acme's Dutch sites are billed from Germany.
        account = accounts.get(country) or accounts.get("DE", fallback)
        sites.append({
            "organisation_id": org.id, "code": f"{org.slug.upper()[:3]}-{country}-{n + 1:03d}",
            "name": f"{city} {rng.choice(SITE_KINDS)} {n + 1}",
            "address": f"{street} {rng.randint(1, 180)}", "postcode": postcode, "city": city,
            "country": country, "contact_name": f"Site contact {n + 1}",
            "contact_email": f"site{n + 1}@{org.slug}.example", "status": "active",
            "billing_account_id": account.id,
        })
    session.execute(insert(Site), sites)
    site_rows = session.execute(
        select(Site.id, Site.billing_account_id).where(Site.organisation_id == org.id)
        .order_by(Site.id)).all()
    services = []
    today = dt.date.today()
    for site_id, account_id in site_rows:
        for code, description, system, charge, (low, high) in rng.sample(PRODUCTS, k=4):
            start = today - dt.timedelta(days=rng.randint(30, 900))
            term = rng.choice([12, 24, 36])
            quantity = rng.randint(low, high)
            services.append({
                "organisation_id": org.id, "site_id": site_id, "billing_account_id": account_id,
                "offering_code": code, "description": description,
                "quantity": quantity,
                "status": "suspended" if rng.random() < 0.04 else "active",
                "start_date": start, "term_months": term,
                "end_date": start + dt.timedelta(days=term * 30),
                "promotion_code": "SIX-FREE" if rng.random() < 0.1 else "",
                # The service's whole monthly charge, as an order sets it: unit price × units.
                "monthly_charge": Decimal(charge) * quantity, "source_system": system,
                "source_ref": f"{system.split('-')[0].upper()}-{org.slug}-{site_id}-{code}",
            })
    session.execute(insert(Service), services)
