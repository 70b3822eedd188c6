"""Bring a legacy account's services into its organisation's estate: one site per place
whatever the spelling, billing accounts by number, one service per (system, service id),
updated in place when the export changes."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts.estate.models import BillingAccount, Service, Site
from accounts.legacy.layouts import ServiceRow, SiteRow
from accounts.legacy.matching import address_key, fold

CURRENCIES = {"GB": "GBP", "CH": "CHF", "CZ": "CZK", "DK": "DKK", "NO": "NOK", "PL": "PLN",
              "SE": "SEK"}  # elsewhere EUR
CHUNK = 500  # values per IN (...): well under every backend's limit on bound parameters


@dataclass
class Counts:
    """What applying rows did."""

    sites_created: int = 0
    billing_accounts_created: int = 0
    services_created: int = 0
    services_updated: int = 0
    services_unchanged: int = 0


@dataclass
class AccountInfo:
    """The legacy account the rows come from (names new billing accounts)."""

    name: str
    address: str
    postcode: str
    city: str
    country: str


class _Estate:
    """One organisation's sites (by normalised address) and billing accounts (by number)."""

    def __init__(self, session: Session, org_id: int):
        self.session = session
        self.org_id = org_id
        sites = session.scalars(select(Site).where(Site.organisation_id == org_id)).all()
        self.sites = {address_key(s.address, s.postcode, s.country): s for s in sites}
        self.codes = {s.code for s in sites}
        self.billing = {b.number: b for b in session.scalars(
            select(BillingAccount).where(BillingAccount.organisation_id == org_id))}

    def site_for(self, row: SiteRow, counts: Counts) -> Site:
        key = address_key(row.street, row.postcode, row.country)
        site = self.sites.get(key)
        if site is None:
            site = Site(organisation_id=self.org_id, code=self._code(row),
                        name=(row.name or f"{row.city}, {row.street}")[:200],
                        address=row.street, postcode=row.postcode, city=row.city,
                        country=row.country)
            self.session.add(site)
            self.session.flush()  # its id, to compare services' site_id
            self.sites[key] = site
            self.codes.add(site.code)
            counts.sites_created += 1
        return site

    def _code(self, row: SiteRow) -> str:
        if row.ref and row.ref not in self.codes:
            return row.ref
        city = re.sub(r"[^A-Z]", "", fold(row.city).upper())[:3] or "X"
        number = 1
        while f"{row.country}-{city}-{number:02d}" in self.codes:
            number += 1
        return f"{row.country}-{city}-{number:02d}"

    def billing_for(self, number: str, account: AccountInfo, counts: Counts):
        if not number:
            return None
        billing = self.billing.get(number)
        if billing is None:
            billing = BillingAccount(
                organisation_id=self.org_id, number=number, name=account.name[:200],
                currency=CURRENCIES.get(account.country, "EUR"), address=account.address,
                postcode=account.postcode, city=account.city, country=account.country)
            self.session.add(billing)
            self.session.flush()
            self.billing[number] = billing
            counts.billing_accounts_created += 1
        return billing


class Inventory:
    """Writes services of legacy accounts, loading each organisation's estate once."""

    def __init__(self, session: Session):
        self.session = session
        self._estates: dict[int, _Estate] = {}
        self._services: dict[tuple[str, str], Service] = {}

    def prefetch(self, system: str, refs: Iterable[str]) -> None:
        """Load the services of `system` with these ids in a few queries (before `apply`)."""
        refs = sorted(set(refs) - {ref for sys, ref in self._services if sys == system})
        for start in range(0, len(refs), CHUNK):
            for service in self.session.scalars(select(Service).where(
                    Service.source_system == system,
                    Service.source_ref.in_(refs[start:start + CHUNK]))):
                self._services[(system, service.source_ref)] = service

    def apply(self, org_id: int, system: str, rows: Iterable[ServiceRow],
              account: AccountInfo) -> Counts:
        """Create or update the services of `rows` in organisation `org_id`, at their sites
        (created when no site of the organisation has that address, however spelled).
        Sites and billing accounts that exist are never changed: people may have edited
        them in the portal."""
        counts = Counts()
        estate = self._estates.get(org_id)
        if estate is None:
            estate = self._estates[org_id] = _Estate(self.session, org_id)
        rows = list(rows)
        self.prefetch(system, (row.service_id for row in rows))
        for row in rows:
            site = estate.site_for(row.site, counts)
            billing = estate.billing_for(row.billing_account, account, counts)
            values = {
                "organisation_id": org_id,
                "site_id": site.id,
                "billing_account_id": billing.id if billing else None,
                "offering_code": row.offering,
                "description": row.description,
                "quantity": row.quantity,
                "status": row.status,
                "start_date": row.start_date,
                "term_months": row.term,
                "monthly_charge": row.monthly_charge,
            }
            service = self._services.get((system, row.service_id))
            if service is None:
                service = Service(source_system=system, source_ref=row.service_id, **values)
                self.session.add(service)
                self._services[(system, row.service_id)] = service
                counts.services_created += 1
            elif any(getattr(service, name) != value for name, value in values.items()):
                for name, value in values.items():
                    setattr(service, name, value)
                counts.services_updated += 1
            else:
                counts.services_unchanged += 1
        return counts
