"""The rules of legacy imports. Each function takes a session and adds its changes and audit
events to it; the caller commits (or rolls back: an import is all or nothing per file).

An imported account lands in one of three ways:
- its registration or VAT number is one an organisation's accounts already have: it joins
  that organisation (`matched`);
- its name (and postcodes) resemble organisations: proposals wait for an operator admin,
  and its services are held until then (`proposed`);
- nothing resembles it: a new customer organisation is created for it (`unmatched`).
Confirming a proposal joins the organisation (`matched`); rejecting the last one gives the
account its own organisation (`rejected`). Accounts with the same identifiers follow.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, selectinload

from accounts.legacy.index import OrganisationIndex, identity_of
from accounts.legacy.inventory import AccountInfo, Counts, Inventory
from accounts.legacy.layouts import (
    LAYOUTS,
    MAX_BYTES,
    AccountRows,
    ImportRefused,
    ServiceRow,
)
from accounts.legacy.matching import conflicts, fold, name_tokens, registration_key
from accounts.legacy.models import LegacyAccount, MatchProposal
from accounts.models import Organisation
from accounts.services import create_organisation, org_by_slug
from portal import audit
from portal.db import utcnow
from portal.rules import RuleError

SAMPLES = Path(__file__).resolve().parents[2] / "portal" / "demo_data" / "legacy"
CHUNK = 500


class LegacyError(RuleError):
    """A request that breaks a rule; the message is shown to the user as it is."""


@dataclass
class ImportReport:
    """What an import did, in numbers."""

    system: str
    filename: str
    rows: int = 0
    accounts: int = 0
    accounts_created: int = 0
    accounts_updated: int = 0
    organisations_created: int = 0
    matched_by_identifier: int = 0
    proposals_created: int = 0
    awaiting_decision: int = 0
    services_held: int = 0
    sites_created: int = 0
    billing_accounts_created: int = 0
    services_created: int = 0
    services_updated: int = 0
    services_unchanged: int = 0
    seconds: float = 0.0

    CHANGES = ("accounts_created", "accounts_updated", "organisations_created",
               "proposals_created", "sites_created", "billing_accounts_created",
               "services_created", "services_updated")

    @property
    def changed(self) -> bool:
        """Whether the import changed anything at all."""
        return any(getattr(self, name) for name in self.CHANGES)

    def counts(self) -> dict[str, int]:
        """The counts (for the audit trail)."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if f.name not in ("system", "filename", "seconds")}

    def add(self, counts: Counts) -> None:
        """Add what applying one account's services did."""
        for name, value in asdict(counts).items():
            setattr(self, name, getattr(self, name) + value)

    def lines(self) -> list[str]:
        """The report in a few sentences."""
        lines = [f"{self.filename} ({self.system}): {self.rows} rows, {self.accounts} "
                 f"customer account{'s' if self.accounts != 1 else ''}."]
        if not self.changed:
            lines.append(f"Nothing changed: every account and all "
                         f"{self.services_unchanged} services were up to date.")
        else:
            lines += [
                f"Accounts: {self.accounts_created} new, {self.accounts_updated} updated.",
                f"Organisations: {self.organisations_created} created; "
                f"{self.matched_by_identifier} account(s) matched by registration or VAT "
                "number.",
                f"Sites: {self.sites_created} created. Billing accounts: "
                f"{self.billing_accounts_created} created.",
                f"Services: {self.services_created} created, {self.services_updated} "
                f"updated, {self.services_unchanged} unchanged.",
            ]
        if self.awaiting_decision:
            lines.append(
                f"{self.awaiting_decision} account(s) wait for an operator's decision "
                f"({self.proposals_created} new proposal(s)); their {self.services_held} "
                "services are held until then.")
        return lines


def import_file(session: Session, system: str, file, *, filename: str | None = None,
                actor_label: str | None = None) -> ImportReport:
    """Import one customer export of `system` (bytes, a path or a binary file).

    Either every row is valid and the whole file is applied, or ImportRefused is raised
    (naming the bad lines) before anything is written. Importing the same file again
    changes nothing; a changed row updates its account or service in place.
    """
    layout = LAYOUTS.get(system)
    if layout is None:
        raise ImportRefused(f"Unknown system {system!r}: one of {', '.join(LAYOUTS)}.")
    data, name = _read(file, filename)
    parsed = layout.parse(data, name)
    started = time.perf_counter()
    report = ImportReport(system=system, filename=name, rows=parsed.rows,
                          accounts=len(parsed.accounts))
    _Import(session, system, report, actor_label).run(parsed.accounts)
    report.seconds = round(time.perf_counter() - started, 3)
    audit.record(session, "legacy:import", actor_label=actor_label, after={
        "system": system, "file": name, "sha256": hashlib.sha256(data).hexdigest(),
        **report.counts()})
    session.flush()
    return report


def import_samples(session: Session, actor_label: str | None = "demo") -> list[ImportReport]:
    """Import the shipped sample exports of the three systems (portal/demo_data/legacy):
    a handful of companies known to several systems under other ids and spellings."""
    return [import_file(session, layout.system, SAMPLES / layout.sample,
                        actor_label=actor_label) for layout in LAYOUTS.values()]


def _read(file, filename: str | None) -> tuple[bytes, str]:
    if isinstance(file, bytes | bytearray):
        return bytes(file), filename or "the file"
    if isinstance(file, str | Path):
        path = Path(file)
        with path.open("rb") as handle:
            return handle.read(MAX_BYTES + 1), filename or path.name
    stream: BinaryIO = file
    name = filename or getattr(file, "filename", None) or getattr(file, "name", "the file")
    return stream.read(MAX_BYTES + 1), Path(str(name)).name


class _Import:
    """One file's accounts placed one after the other, so that a company twice in the file
    is found the second time."""

    def __init__(self, session: Session, system: str, report: ImportReport,
                 actor_label: str | None):
        self.session = session
        self.system = system
        self.report = report
        self.actor_label = actor_label
        self.inventory = Inventory(session)
        self.index = OrganisationIndex(session)
        self.waiting: dict[str, LegacyAccount] = {}  # identifier -> a proposed account

    def run(self, accounts: list[AccountRows]) -> None:
        known = self._load_accounts([a.customer_id for a in accounts])
        self._load_waiting(accounts)
        self.inventory.prefetch(self.system, (s.service_id for a in accounts
                                              for s in a.services))
        for rows in accounts:
            account = known.get(rows.customer_id)
            if account is None:
                account = LegacyAccount(system=self.system, external_id=rows.customer_id,
                                        status="new", proposals=[])  # placed below
                self.session.add(account)
                self.report.accounts_created += 1
            elif _update(account, rows):
                self.report.accounts_updated += 1
            _describe(account, rows)
            if account.organisation_id is not None and account.status != "proposed":
                self.index.add_account(account, rows.services)
                self.report.add(_apply(self.inventory, account, rows.services))
            else:
                self._place(account, rows)

    def _load_accounts(self, ids: list[str]) -> dict[str, LegacyAccount]:
        found: dict[str, LegacyAccount] = {}
        for start in range(0, len(ids), CHUNK):
            for account in self.session.scalars(
                select(LegacyAccount)
                .options(selectinload(LegacyAccount.proposals))
                .where(LegacyAccount.system == self.system,
                       LegacyAccount.external_id.in_(ids[start:start + CHUNK]))
            ):
                found[account.external_id] = account
        return found

    def _load_waiting(self, accounts: list[AccountRows]) -> None:
        vats = sorted({a.vat for a in accounts if a.vat})
        regs = sorted({registration_key(a.registration, a.country) for a in accounts
                       if a.registration})
        for values, column in ((vats, LegacyAccount.vat),
                               (regs, LegacyAccount.registration_key)):
            for start in range(0, len(values), CHUNK):
                for account in self.session.scalars(
                    select(LegacyAccount)
                    .options(selectinload(LegacyAccount.proposals))
                    .where(LegacyAccount.status == "proposed",
                           column.in_(values[start:start + CHUNK]))
                ):
                    self._remember_waiting(account)

    def _remember_waiting(self, account: LegacyAccount) -> None:
        for key in (account.vat, account.registration_key):
            if key:
                self.waiting.setdefault(key, account)

    def _place(self, account: LegacyAccount, rows: AccountRows) -> None:
        """Match a new (or still undecided) account: by identifier, else propose
        look-alikes, else give it an organisation of its own."""
        identity = identity_of(account, rows.services)
        org_id, how = self.index.by_identifier(identity)
        if org_id is not None:
            self.report.matched_by_identifier += 1
            self._link(account, org_id, "matched", how, rows.services)
            return
        proposals = self._propose(account, identity)
        if any(p.status == "open" for p in account.proposals):
            held = [service.to_json() for service in rows.services]
            if account.held_rows != held:
                account.held_rows = held
            account.status = "proposed"
            self._remember_waiting(account)
            self.report.proposals_created += proposals
            self.report.awaiting_decision += 1
            self.report.services_held += len(held)
            return
        org = _new_organisation(self.session, account, self.actor_label)
        self.index.add_organisation(org.id, org.name)
        self.report.organisations_created += 1
        self._link(account, org.id, "unmatched", "created", rows.services)

    def _propose(self, account: LegacyAccount, identity) -> int:
        """Add proposals for look-alike organisations not proposed before; returns how
        many were added."""
        decided = {p.organisation_id for p in account.proposals}
        candidates = {org_id: (score, reasons)
                      for org_id, score, reasons in self.index.look_alikes(identity)}
        twin = next((self.waiting[k] for k in (account.vat, account.registration_key)
                     if k and k in self.waiting and self.waiting[k] is not account), None)
        if twin is not None:
            # The same company by identifier already waits: propose what it was proposed,
            # so that one decision settles both (see _follow).
            why = (f"same {'VAT' if twin.vat and twin.vat == account.vat else 'registration'}"
                   f" number as {twin.label}, which waits for a decision")
            for proposal in twin.proposals:
                if proposal.status == "open":
                    score, reasons = candidates.get(proposal.organisation_id,
                                                    (0.0, proposal.reasons))
                    candidates[proposal.organisation_id] = (
                        max(score, proposal.score / 100), [why, *reasons])
        added = 0
        for org_id, (score, reasons) in sorted(candidates.items(),
                                               key=lambda item: (-item[1][0], item[0])):
            if org_id in decided:
                continue
            decided.add(org_id)
            account.proposals.append(MatchProposal(
                organisation_id=org_id, score=round(score * 100), reasons=reasons,
                status="open"))
            added += 1
        return added

    def _link(self, account: LegacyAccount, org_id: int, status: str, how: str,
              services: list[ServiceRow]) -> None:
        self.report.add(_link(self.session, self.inventory, account, org_id, status, how,
                              services))
        self.index.add_account(account, services)


def _describe(account: LegacyAccount, rows: AccountRows) -> None:
    for name, value in _fields(rows).items():
        if getattr(account, name) != value:
            setattr(account, name, value)


def _fields(rows: AccountRows) -> dict:
    return {
        "name": rows.name, "registration": rows.registration,
        "registration_key": registration_key(rows.registration, rows.country),
        "vat": rows.vat, "address": rows.street, "postcode": rows.postcode,
        "city": rows.city, "country": rows.country,
    }


def _update(account: LegacyAccount, rows: AccountRows) -> bool:
    """Whether the export says something new about a known account (then it is stamped)."""
    changed = any(getattr(account, name) != value for name, value in _fields(rows).items())
    if account.status == "proposed":
        changed = changed or account.held_rows != [s.to_json() for s in rows.services]
    if changed:
        account.updated_at = utcnow()
    return changed


def _apply(inventory: Inventory, account: LegacyAccount,
           services: Iterable[ServiceRow]) -> Counts:
    info = AccountInfo(name=account.name, address=account.address,
                       postcode=account.postcode, city=account.city, country=account.country)
    return inventory.apply(account.organisation_id, account.system, services, info)


def _link(session: Session, inventory: Inventory, account: LegacyAccount, org_id: int,
          status: str, how: str, services: list[ServiceRow]) -> Counts:
    """Make `account` part of organisation `org_id`, close its open proposals and bring in
    its services."""
    account.organisation_id = org_id
    account.status = status
    account.matched_by = how
    account.held_rows = None
    for proposal in account.proposals:
        if proposal.status == "open":
            proposal.status = "superseded"
            proposal.decided_at = utcnow()
    session.flush()
    return _apply(inventory, account, services)


def _held(account: LegacyAccount) -> list[ServiceRow]:
    return [ServiceRow.from_json(row) for row in account.held_rows or []]


def _free_slug(session: Session, name: str) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", fold(" ".join(name_tokens(name)))).strip("-")
    base = base[:58].rstrip("-") or "customer"
    slug, number = base, 1
    while org_by_slug(session, slug) is not None:
        number += 1
        slug = f"{base}-{number}"
    return slug


def _new_organisation(session: Session, account: LegacyAccount,
                      actor_label: str | None) -> Organisation:
    return create_organisation(session, _free_slug(session, account.name), account.name,
                               "customer", [], actor_label=actor_label)


def _follow(session: Session, inventory: Inventory, account: LegacyAccount) -> list[str]:
    """Link the accounts that wait for a decision but share `account`'s VAT or registration
    number (the same company in another system) to its organisation. Returns their labels."""
    conditions = []
    if account.vat:
        conditions.append(LegacyAccount.vat == account.vat)
    if account.registration_key:
        conditions.append(LegacyAccount.registration_key == account.registration_key)
    if not conditions:
        return []
    twins = session.scalars(
        select(LegacyAccount)
        .options(selectinload(LegacyAccount.proposals))
        .where(LegacyAccount.status == "proposed", LegacyAccount.id != account.id,
               or_(*conditions))
        .order_by(LegacyAccount.id)
    ).all()
    followed = []
    mine = identity_of(account, [])
    for twin in twins:
        if conflicts(identity_of(twin, []), mine):
            continue
        how = "vat" if account.vat and twin.vat == account.vat else "registration"
        _link(session, inventory, twin, account.organisation_id, "matched", how, _held(twin))
        followed.append(twin.label)
    return followed


def _open_proposal(session: Session, proposal_id: int) -> MatchProposal:
    proposal = session.scalars(
        select(MatchProposal)
        .options(selectinload(MatchProposal.account).selectinload(LegacyAccount.proposals),
                 selectinload(MatchProposal.organisation))
        .where(MatchProposal.id == proposal_id)
    ).first()
    if proposal is None:
        raise LegacyError(f"There is no proposal #{proposal_id}.")
    if proposal.status != "open":
        raise LegacyError(f"Proposal #{proposal_id} was already {proposal.status}.")
    return proposal


def _decide(proposal: MatchProposal, status: str, actor_user_id: int | None,
            actor_label: str | None) -> None:
    proposal.status = status
    proposal.decided_at = utcnow()
    proposal.decided_by_id = actor_user_id
    proposal.decided_by_label = actor_label or ""


def confirm_proposal(session: Session, proposal_id: int, *, actor_user_id: int | None = None,
                     actor_label: str | None = None) -> MatchProposal:
    """The account is the proposed organisation: link it, bring in its held services, and
    link the waiting accounts with its registration or VAT number too."""
    proposal = _open_proposal(session, proposal_id)
    account = proposal.account
    _decide(proposal, "confirmed", actor_user_id, actor_label)
    inventory = Inventory(session)
    counts = _link(session, inventory, account, proposal.organisation_id, "matched",
                   "operator", _held(account))
    followed = _follow(session, inventory, account)
    audit.record(session, "legacy:confirm", organisation_id=proposal.organisation_id,
                 target=proposal, actor_user_id=actor_user_id, actor_label=actor_label,
                 after={"account": account.label, "name": account.name,
                        "organisation": proposal.organisation.slug, "score": proposal.score,
                        "followed": followed, **asdict(counts)})
    return proposal


def reject_proposal(session: Session, proposal_id: int, *, actor_user_id: int | None = None,
                    actor_label: str | None = None) -> MatchProposal:
    """The account is not the proposed organisation. When no other proposal of it is open,
    it becomes a customer of its own (a new organisation, with its held services), and the
    waiting accounts with its registration or VAT number join it."""
    proposal = _open_proposal(session, proposal_id)
    account = proposal.account
    _decide(proposal, "rejected", actor_user_id, actor_label)
    after = {"account": account.label, "name": account.name,
             "candidate": proposal.organisation.slug, "score": proposal.score}
    still_open = [p for p in account.proposals if p.status == "open"]
    if still_open:
        after["open_proposals"] = len(still_open)
    else:
        org = _new_organisation(session, account, actor_label)
        inventory = Inventory(session)
        counts = _link(session, inventory, account, org.id, "rejected", "separate",
                       _held(account))
        after.update(organisation=org.slug, followed=_follow(session, inventory, account),
                     **asdict(counts))
    audit.record(session, "legacy:reject", organisation_id=proposal.organisation_id,
                 target=proposal, actor_user_id=actor_user_id, actor_label=actor_label,
                 after=after)
    return proposal


def count_open_proposals(session: Session) -> int:
    """How many proposals wait for a decision."""
    return session.scalar(select(func.count()).select_from(MatchProposal)
                          .where(MatchProposal.status == "open"))


def open_proposals(session: Session, limit: int = 50, offset: int = 0) -> list[MatchProposal]:
    """Proposals that wait for a decision, best score first, with their account and
    candidate organisation loaded."""
    return list(session.scalars(
        select(MatchProposal)
        .options(selectinload(MatchProposal.account), selectinload(MatchProposal.organisation))
        .where(MatchProposal.status == "open")
        .order_by(MatchProposal.score.desc(), MatchProposal.id)
        .limit(limit).offset(offset)
    ))


def accounts_by_organisation(session: Session, org_ids: Iterable[int]
                             ) -> dict[int, list[LegacyAccount]]:
    """The legacy accounts of each of these organisations (one query)."""
    grouped: dict[int, list[LegacyAccount]] = {}
    ids = sorted(set(org_ids))
    if not ids:
        return grouped
    for account in session.scalars(
        select(LegacyAccount).where(LegacyAccount.organisation_id.in_(ids))
        .order_by(LegacyAccount.system, LegacyAccount.external_id)
    ):
        grouped.setdefault(account.organisation_id, []).append(account)
    return grouped
