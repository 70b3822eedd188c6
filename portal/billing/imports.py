"""Importing bills from the billing systems: a TMF678 JSON document or a CSV file (formats in
docs/BILLS.md). A file is imported whole or not at all: every bill is read, matched and
checked first, every problem is collected, and only a file without any problem is written
(with one `bill:import` audit event per bill). A bill already imported from the same
system under the same number is skipped when identical and refused when it differs.

Like every service, these add to the caller's session; the caller commits."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from accounts.estate.models import BillingAccount, Service, Site
from portal import audit
from portal.billing.bill_files import (
    BillData,
    FileProblems,
    LineData,
    Problem,
    known_kind,
    read_csv,
    read_tmf678,
)
from portal.billing.models import Bill, BillLine, LineKind
from portal.rules import RuleError

MAX_LISTED = 50  # a file this wrong is the wrong file; listing more helps nobody
BILL_FIELDS = ("organisation_id", "billing_account_id", "period", "period_start",
               "period_end", "bill_date", "due_date", "currency", "amount_excl_tax",
               "tax_amount", "amount_incl_tax")
LINE_FIELDS = ("position", "kind", "description", "site_id", "service_id", "service_ref",
               "offering_code", "product_family", "cost_centre", "period_start", "period_end",
               "quantity", "amount", "tax_rate", "tax_amount")


class BillImportError(RuleError):
    """The file was not imported and nothing was changed; `problems` lists every reason,
    each naming its bill, line or CSV row and field."""

    def __init__(self, problems: list[Problem]):
        count = len(problems)
        super().__init__(f"The file was not imported: {count} problem{'s' if count != 1 else ''}"
                         "; nothing was changed.")
        self.problems = problems

    def lines(self) -> list[str]:
        """The message and one line per problem (the first MAX_LISTED), for a terminal."""
        listed = [str(p) for p in self.problems[:MAX_LISTED]]
        if len(self.problems) > MAX_LISTED:
            listed.append(f"... and {len(self.problems) - MAX_LISTED} more")
        return [str(self), *listed]


@dataclass
class ImportResult:
    """What an import did: the bill numbers imported and those skipped as already there."""

    source_system: str
    imported: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    lines: int = 0  # lines of the imported bills

    def summary(self) -> str:
        """One sentence for a terminal or a page."""
        return (f"{len(self.imported)} bill{'s' if len(self.imported) != 1 else ''} of "
                f"{self.source_system} imported ({self.lines} lines), {len(self.skipped)} "
                "already imported and unchanged.")


def import_tmf678(session: Session, data: bytes | str, source_system: str,
                  actor_label: str) -> ImportResult:
    """Import the TMF678 CustomerBill document `data` from `source_system`: all its bills,
    or none and a BillImportError listing every problem."""
    return _import(session, data, source_system, actor_label, "tmf678", read_tmf678)


def import_csv(session: Session, data: bytes, source_system: str,
               actor_label: str) -> ImportResult:
    """Import the bills CSV file `data` from `source_system`: all its bills, or none and a
    BillImportError listing every problem."""
    return _import(session, data, source_system, actor_label, "csv", read_csv)


def _import(session: Session, data, source_system: str, actor_label: str, source_format: str,
            reader: Callable[[bytes | str, FileProblems], list[BillData]]) -> ImportResult:
    problems = FileProblems()
    source_system = source_system.strip()
    if not source_system or len(source_system) > 32:
        problems.add("command", "system", "must be a name of at most 32 characters")
    bills = reader(data, problems)
    matcher = _Matcher(session, source_system, bills)
    planned = [matcher.plan(bill, problems) for bill in bills]
    if problems.problems:
        raise BillImportError(problems.problems)
    result = ImportResult(source_system)
    with session.begin_nested():  # a failure while writing leaves nothing half-written
        for bill, values in zip(bills, planned, strict=True):
            existing = matcher.existing.get(bill.bill_number)
            if existing is not None:
                result.skipped.append(bill.bill_number)
                continue
            _write(session, values, source_system, source_format, actor_label)
            result.imported.append(bill.bill_number)
            result.lines += len(values["lines"])
    return result


class _Matcher:
    """Everything a file's bills refer to, read in a fixed number of queries."""

    def __init__(self, session: Session, source_system: str, bills: list[BillData]):
        numbers = {b.billing_account for b in bills if b.billing_account}
        self.accounts: dict[str, list[BillingAccount]] = {}
        for account in session.scalars(select(BillingAccount).where(
                BillingAccount.number.in_(numbers))):
            self.accounts.setdefault(account.number, []).append(account)
        org_ids = {a.organisation_id for found in self.accounts.values() for a in found}
        codes = {line.site_code for b in bills for line in b.lines if line.site_code}
        self.sites = {(s.organisation_id, s.code): s for s in session.scalars(
            select(Site).where(Site.organisation_id.in_(org_ids), Site.code.in_(codes)))}
        refs = {line.service_ref for b in bills for line in b.lines if line.service_ref}
        self.services = {s.source_ref: s for s in session.scalars(select(Service).where(
            Service.source_system == source_system, Service.source_ref.in_(refs)))}
        self.site_codes = {s.id: s.code for s in session.scalars(select(Site).where(
            Site.id.in_({s.site_id for s in self.services.values()})))}
        self.existing = {b.bill_number: b for b in session.scalars(
            select(Bill).options(selectinload(Bill.lines)).where(
                Bill.source_system == source_system,
                Bill.bill_number.in_({b.bill_number for b in bills if b.bill_number})))}
        self.source_system = source_system
        self.seen: dict[str, str] = {}

    def plan(self, bill: BillData, p: FileProblems) -> dict:
        """The bill's column values (and its lines'), noting every problem in `p`."""
        where = bill.where
        if bill.bill_number in self.seen:
            p.add(where, "bill number", f"{bill.bill_number} is also {self.seen[bill.bill_number]}")
        elif bill.bill_number:
            self.seen[bill.bill_number] = where
        account = self._account(bill, p)
        org_id = account.organisation_id if account else None
        if bill.period_start and bill.period_end and bill.period_end < bill.period_start:
            p.add(where, "period end", f"{bill.period_end} is before the period start "
                                       f"{bill.period_start}")
        if not bill.lines:
            p.add(where, "", "has no lines")
        lines = [self._line(line, position, org_id, p)
                 for position, line in enumerate(bill.lines, start=1)]
        self._totals(bill, p)
        values = {
            "organisation_id": org_id, "billing_account_id": account.id if account else None,
            "bill_number": bill.bill_number,
            "period": bill.period_start.strftime("%Y-%m") if bill.period_start else "",
            "period_start": bill.period_start, "period_end": bill.period_end,
            "bill_date": bill.bill_date, "due_date": bill.due_date, "currency": bill.currency,
            "amount_excl_tax": bill.amount_excl_tax, "tax_amount": bill.tax_amount,
            "amount_incl_tax": bill.amount_incl_tax, "lines": lines,
        }
        existing = self.existing.get(bill.bill_number)
        if existing is not None and account is not None and _content(existing) != _content(
                values):
            p.add(where, "", f"bill {bill.bill_number} of system {self.source_system} was "
                             "already imported with other content")
        return values

    def _account(self, bill: BillData, p: FileProblems) -> BillingAccount | None:
        if not bill.billing_account:
            return None
        found = self.accounts.get(bill.billing_account, [])
        if len(found) > 1:
            p.add(bill.where, "billing account", f"{bill.billing_account} is the number of "
                                                 f"accounts of {len(found)} organisations")
            return None
        if not found:
            p.add(bill.where, "billing account", f"{bill.billing_account} is not a known "
                                                 "billing account")
            return None
        return found[0]

    def _line(self, line: LineData, position: int, org_id: int | None,
              p: FileProblems) -> dict:
        where = line.where
        if line.kind and not known_kind(line.kind):
            p.add(where, "kind", f"{line.kind!r} is not one of {', '.join(LineKind.ALL)}")
        if line.period_start and line.period_end and line.period_end < line.period_start:
            p.add(where, "period end", f"{line.period_end} is before the period start "
                                       f"{line.period_start}")
        site = service = None
        if line.site_code and org_id is not None:
            site = self.sites.get((org_id, line.site_code))
            if site is None:
                p.add(where, "site", f"{line.site_code} is not a site of the billing "
                                     "account's organisation")
        if line.service_ref and org_id is not None:
            service = self.services.get(line.service_ref)
            if service is None or service.organisation_id != org_id:
                p.add(where, "service", f"{line.service_ref} is not a {self.source_system} "
                                        "service of the billing account's organisation")
                service = None
        if site is not None and service is not None and service.site_id != site.id:
            p.add(where, "site", f"{line.site_code} is not the site of service "
                                 f"{line.service_ref} ({self.site_codes.get(service.site_id)})")
        site_id = site.id if site else (service.site_id if service else None)
        return {
            "position": position, "kind": line.kind, "description": line.description,
            "site_id": site_id, "service_id": service.id if service else None,
            "service_ref": line.service_ref,
            "offering_code": line.offering_code or (service.offering_code if service else ""),
            "product_family": line.product_family, "cost_centre": line.cost_centre,
            "period_start": line.period_start, "period_end": line.period_end,
            "quantity": line.quantity, "amount": line.amount, "tax_rate": line.tax_rate,
            "tax_amount": line.tax_amount,
        }

    @staticmethod
    def _totals(bill: BillData, p: FileProblems) -> None:
        amount = sum((line.amount for line in bill.lines), Decimal("0"))
        tax = sum((line.tax_amount for line in bill.lines), Decimal("0"))
        if bill.amount_excl_tax != amount:
            p.add(bill.where, "amount excluding tax", f"{bill.amount_excl_tax} is not the sum "
                                                      f"of its lines ({amount})")
        if bill.tax_amount != tax:
            p.add(bill.where, "tax", f"{bill.tax_amount} is not the sum of its lines' tax "
                                     f"({tax})")
        if bill.amount_incl_tax != bill.amount_excl_tax + bill.tax_amount:
            p.add(bill.where, "amount including tax", f"{bill.amount_incl_tax} is not the "
                                                      "amount excluding tax plus tax "
                                                      f"({bill.amount_excl_tax + bill.tax_amount})")


def _content(bill: Bill | dict) -> tuple:
    """What makes two copies of a bill the same (not who imported it, when, or from which
    format)."""
    def get(obj, name):
        return obj[name] if isinstance(obj, dict) else getattr(obj, name)

    lines = get(bill, "lines")
    return (tuple(get(bill, f) for f in BILL_FIELDS),
            tuple(tuple(get(line, f) for f in LINE_FIELDS) for line in lines))


def _write(session: Session, values: dict, source_system: str, source_format: str,
           actor_label: str) -> None:
    lines = values["lines"]
    bill = Bill(**{k: v for k, v in values.items() if k != "lines"},
                source_system=source_system, source_format=source_format,
                imported_by=actor_label, lines=[BillLine(**line) for line in lines])
    session.add(bill)
    session.flush()
    audit.record(session, "bill:import", organisation_id=bill.organisation_id, target=bill,
                 actor_label=actor_label,
                 after={"source_system": source_system, "bill_number": bill.bill_number,
                        "format": source_format, "period": bill.period,
                        "currency": bill.currency, "lines": len(lines),
                        "amount_excl_tax": str(bill.amount_excl_tax),
                        "tax_amount": str(bill.tax_amount),
                        "amount_incl_tax": str(bill.amount_incl_tax)})
