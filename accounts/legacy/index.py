"""What the portal knows of each customer organisation, for matching imported accounts:
names, registration and VAT numbers, postcodes (from its own name, its legacy accounts and
its sites), with look-ups by identifier, postcode and name."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts.estate.models import Site
from accounts.legacy.layouts import ServiceRow
from accounts.legacy.matching import (
    PROPOSE_AT,
    Identity,
    conflicts,
    name_tokens,
    normalise_postcode,
    similarity,
)
from accounts.legacy.models import LegacyAccount
from accounts.models import Organisation

MAX_PROPOSALS = 3  # look-alikes proposed per account, best first


def identity_of(account: LegacyAccount, services: Iterable[ServiceRow]) -> Identity:
    """An account's identity: its name, identifiers and the postcodes of its sites."""
    identity = Identity()
    identity.add(name=account.name, registration=account.registration_key, vat=account.vat,
                 postcodes=[account.postcode, *(s.site.postcode for s in services)])
    return identity


def _prefixes(name: str) -> set[str]:
    # Three letters catch abbreviations too ("Ind." / "Industries").
    return {token[:3] for token in name_tokens(name)}


class OrganisationIndex:
    """The customer organisations' identities, read from the database on first use (three
    queries) and kept up to date by the import as it links accounts."""

    def __init__(self, session: Session):
        self.session = session
        self.loaded = False
        self.identities: dict[int, Identity] = defaultdict(Identity)
        self.by_vat: dict[str, set[int]] = defaultdict(set)
        self.by_registration: dict[str, set[int]] = defaultdict(set)
        self.by_postcode: dict[str, set[int]] = defaultdict(set)
        self.by_prefix: dict[str, set[int]] = defaultdict(set)

    def _load(self) -> None:
        if self.loaded:
            return
        self.loaded = True  # the queries flush pending changes first: they are included
        customers = select(Organisation.id).where(Organisation.kind == "customer")
        for org_id, name in self.session.execute(
                select(Organisation.id, Organisation.name).where(Organisation.kind == "customer")):
            self._add(org_id, name=name)
        for row in self.session.execute(
            select(LegacyAccount.organisation_id, LegacyAccount.name,
                   LegacyAccount.registration_key, LegacyAccount.vat, LegacyAccount.postcode)
            .where(LegacyAccount.organisation_id.in_(customers))
        ):
            self._add(row.organisation_id, name=row.name, registration=row.registration_key,
                      vat=row.vat, postcodes=[row.postcode])
        for org_id, postcode in self.session.execute(
                select(Site.organisation_id, Site.postcode).distinct()
                .where(Site.organisation_id.in_(customers))):
            self._add(org_id, postcodes=[postcode])

    def _add(self, org_id: int, name: str = "", registration: str = "", vat: str = "",
             postcodes: Iterable[str] = ()) -> None:
        postcodes = [p for p in postcodes if p]
        self.identities[org_id].add(name=name, registration=registration, vat=vat,
                                    postcodes=postcodes)
        if vat:
            self.by_vat[vat].add(org_id)
        if registration:
            self.by_registration[registration].add(org_id)
        for postcode in postcodes:
            self.by_postcode[normalise_postcode(postcode)].add(org_id)
        for prefix in _prefixes(name):
            self.by_prefix[prefix].add(org_id)

    def add_organisation(self, org_id: int, name: str) -> None:
        """Know a new organisation (before it has accounts)."""
        if self.loaded:
            self._add(org_id, name=name)

    def add_account(self, account: LegacyAccount, services: Iterable[ServiceRow]) -> None:
        """Know what a linked account says of its organisation."""
        if self.loaded:
            identity = identity_of(account, services)
            self._add(account.organisation_id, name=account.name,
                      registration=account.registration_key, vat=account.vat,
                      postcodes=identity.postcodes)

    def _sharing_identifiers(self, identity: Identity) -> tuple[set[int], set[int]]:
        self._load()
        by_vat = set().union(*(self.by_vat.get(v, set()) for v in identity.vats))
        by_registration = set().union(
            *(self.by_registration.get(r, set()) for r in identity.registrations))
        return by_vat, by_registration

    def by_identifier(self, identity: Identity) -> tuple[int | None, str]:
        """The one organisation that has this VAT or registration number, and which of the
        two matched ("vat" or "registration"); None when no organisation has them, when
        they point to different ones, or when its other identifier differs."""
        by_vat, by_registration = self._sharing_identifiers(identity)
        found = by_vat | by_registration
        if len(found) != 1:
            return None, ""
        org_id = next(iter(found))
        if conflicts(identity, self.identities[org_id]):
            return None, ""
        return org_id, "vat" if org_id in by_vat else "registration"

    def look_alikes(self, identity: Identity) -> list[tuple[int, float, list[str]]]:
        """Organisations that may be this company, best first, as (id, score, reasons):
        those alike enough by name and postcode, and those sharing an identifier that
        `by_identifier` could not decide on."""
        by_vat, by_registration = self._sharing_identifiers(identity)
        candidates = set(by_vat | by_registration)
        for postcode in identity.postcodes:
            candidates |= self.by_postcode.get(postcode, set())
        for name in identity.names:
            for prefix in _prefixes(name):
                candidates |= self.by_prefix.get(prefix, set())
        found = []
        for org_id in candidates:
            theirs = self.identities[org_id]
            if org_id in by_vat or org_id in by_registration:
                score, reasons = similarity(identity, theirs, check_identifiers=False)
                shared = "VAT" if org_id in by_vat else "registration"
                reasons = [f"same {shared} number", *conflicts(identity, theirs), *reasons]
                found.append((org_id, max(score, PROPOSE_AT), reasons))
                continue
            score, reasons = similarity(identity, theirs)
            if score >= PROPOSE_AT:
                found.append((org_id, score, reasons))
        found.sort(key=lambda item: (-item[1], item[0]))
        return found[:MAX_PROPOSALS]
