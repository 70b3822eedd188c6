"""Importing usage: a CSV file of data used per service and period (the layout is in
docs/USAGE.md). All or nothing: every row is read and matched first and every problem is
collected with its row; only a file without any problem is written. A record identical to
the one already there is skipped; one with other figures replaces it (a correction). Then,
in the same transaction, the bill-shock alerts and the plan recommendations of the services
imported. Like every service, this adds to the caller's session; the caller commits."""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from accounts.estate.models import Service
from accounts.legacy.layouts import ImportRefused, decode_upload
from portal import audit
from portal.catalog.schema import ALLOWANCE_UNITS, Catalog
from portal.catalog.store import current_catalog
from portal.csv_text import data_rows, strict_reader
from portal.db import utcnow
from portal.rules import RuleError
from portal.usage.alerts import raise_alerts
from portal.usage.measures import is_period, period_of, service_allowance
from portal.usage.models import UsageRecord
from portal.usage.notices import ALERT_ROLES, OFFER_ROLES, Audience
from portal.usage.recommendations import evaluate_recommendations
from portal.usage.rules import current_rules

COLUMNS = ("source_system", "service_ref", "period", "used", "allowance", "unit")
REQUIRED = ("source_system", "service_ref", "period", "used", "unit")
MAX_LISTED = 50  # a file this wrong is the wrong file; listing more helps nobody
MAX_DATA = Decimal("1e11")  # what Numeric(14, 3) holds
UNLIMITED = "unlimited"
CHUNK = 5000  # ids per IN (...): far below every database's limit on parameters


class UsageImportError(RuleError):
    """The file was not imported and nothing changed; `problems` names each row and why."""

    def __init__(self, problems: list[str]):
        count = len(problems)
        super().__init__(f"The file was not imported: {count} problem{'s' if count != 1 else ''}"
                         "; nothing was changed.")
        self.problems = problems

    def lines(self) -> list[str]:
        """The message and one line per problem (the first MAX_LISTED)."""
        listed = self.problems[:MAX_LISTED]
        if len(self.problems) > MAX_LISTED:
            listed = [*listed, f"... and {len(self.problems) - MAX_LISTED} more"]
        return [str(self), *listed]


@dataclass
class Row:
    """One row of the file, read and checked on its own."""

    line: int
    source_system: str
    service_ref: str
    period: str
    used: Decimal | None
    allowance: Decimal | None  # None: unlimited, or not given (see `allowance_given`)
    allowance_given: bool
    unit: str


@dataclass
class ImportResult:
    """What an import did."""

    new: int = 0
    corrected: int = 0
    unchanged: int = 0
    alerts: int = 0
    offers: int = 0

    def summary(self) -> str:
        """One sentence for a terminal or a page."""
        records = self.new + self.corrected
        return (f"{records} usage record{'s' if records != 1 else ''} imported ({self.new} new, "
                f"{self.corrected} corrected), {self.unchanged} already there and unchanged; "
                f"{self.alerts} service{'s' if self.alerts != 1 else ''} alerted, "
                f"{self.offers} plan recommendation{'s' if self.offers != 1 else ''} made.")


def import_usage(session: Session, data: bytes, actor_label: str, filename: str = "",
                 day: dt.date | None = None) -> ImportResult:
    """Import the usage CSV `data`: every record, or none and a UsageImportError listing
    every problem; then alert and recommend (same transaction)."""
    day = day or utcnow().date()
    problems: list[str] = []
    rows = read_rows(data, problems, day)
    found = current_catalog(session)
    catalog = found[1] if found else None
    services = _services(session, rows)
    planned = _plan(rows, services, catalog, problems)
    if problems:
        raise UsageImportError(problems)
    return _write(session, planned, catalog, actor_label, filename, day)


def read_rows(data: bytes, problems: list[str], day: dt.date) -> list[Row]:
    """The file's rows, each checked on its own; problems are added to `problems`."""
    try:
        text = decode_upload(data, "The file")
    except ImportRefused as exc:
        problems.append(exc.message)
        return []
    reader = strict_reader(text)
    rows = []
    try:
        header = [name.strip().lower() for name in next(reader, [])]
        if not _header(header, problems):
            return []
        for line, cells in data_rows(reader):
            if len(cells) != len(header):
                problems.append(f"row {line}: has {len(cells)} values but the header names "
                                f"{len(header)} columns")
                continue
            rows.append(_row(dict(zip(header, cells, strict=True)), line, problems, day))
    except csv.Error as exc:
        problems.append(f"The file cannot be read as CSV near line {reader.line_num} ({exc})")
        return []
    if not rows and not problems:
        problems.append("The file has a header but no rows.")
    return rows


def _header(header: list[str], problems: list[str]) -> bool:
    missing = [c for c in REQUIRED if c not in header]
    unknown = [c or "(empty)" for c in header if c not in COLUMNS]
    doubled = sorted({c for c in header if c and header.count(c) > 1})
    for names, what in ((missing, "misses the columns"), (unknown, "has unknown columns"),
                        (doubled, "names columns twice")):
        if names:
            problems.append(f"header: {what} {', '.join(names)} (the columns are "
                            f"{', '.join(COLUMNS)})")
    return not (missing or unknown or doubled)


def _number(text: str, where: str, name: str, problems: list[str],
            positive: bool = False) -> Decimal | None:
    try:
        number = Decimal(text)
    except InvalidOperation:
        number = Decimal("NaN")
    if not number.is_finite():
        problems.append(f"{where}: {name} {text!r} is not a number")
    elif number < 0 or (positive and number == 0) or number >= MAX_DATA:
        problems.append(f"{where}: {name} {text} must be {'above' if positive else 'at least'} "
                        "0 and below 100,000,000,000")
    elif number.as_tuple().exponent < -3:
        problems.append(f"{where}: {name} {text} has more than 3 decimals")
    else:
        return number
    return None


def _row(cells: dict, line: int, problems: list[str], day: dt.date) -> Row:
    where = f"row {line}"
    values = {name: cells.get(name, "").strip() for name in COLUMNS}
    for name, limit in (("source_system", 16), ("service_ref", 64)):
        if not values[name]:
            problems.append(f"{where}: {name} is missing")
        elif len(values[name]) > limit:
            problems.append(f"{where}: {name} is longer than {limit} characters")
    period = values["period"]
    if not is_period(period):
        problems.append(f"{where}: period {period!r} is not a month written YYYY-MM")
    elif period > period_of(day):
        problems.append(f"{where}: period {period} is in the future")
    used = None
    if not values["used"]:
        problems.append(f"{where}: used is missing")
    else:
        used = _number(values["used"], where, "used", problems)
    allowance, given = None, bool(values["allowance"])
    if given and values["allowance"].lower() != UNLIMITED:
        allowance = _number(values["allowance"], where, "allowance", problems, positive=True)
    unit = values["unit"]
    if unit not in ALLOWANCE_UNITS:
        problems.append(f"{where}: unit {unit!r} is not one of {', '.join(ALLOWANCE_UNITS)}")
    return Row(line, values["source_system"], values["service_ref"], period, used, allowance,
               given, unit)


def _chunks(values, size: int = CHUNK):
    values = sorted(values)
    for start in range(0, len(values), size):
        yield values[start:start + size]


def _services(session: Session, rows: list[Row]) -> dict[tuple[str, str], Service]:
    """The services the rows name, by (source system, reference), with their sites."""
    refs = {r.service_ref for r in rows if r.source_system and r.service_ref}
    found = {}
    for chunk in _chunks(refs):
        for service in session.scalars(select(Service).options(joinedload(Service.site))
                                       .where(Service.source_ref.in_(chunk))):
            found[(service.source_system, service.source_ref)] = service
    return found


def _plan(rows: list[Row], services: dict, catalog: Catalog | None,
          problems: list[str]) -> list[tuple[Row, Service, Decimal | None]]:
    """Each row with its service and allowance; problems of matching added."""
    seen: dict[tuple[int, str], int] = {}
    planned = []
    for row in rows:
        where = f"row {row.line}"
        service = services.get((row.source_system, row.service_ref))
        if service is None:
            if row.source_system and row.service_ref:
                problems.append(f"{where}: service {row.service_ref} of {row.source_system} is "
                                "not in the inventory")
            continue
        key = (service.id, row.period)
        if key in seen:
            problems.append(f"{where}: service {row.service_ref} has a row for {row.period} "
                            f"already (row {seen[key]})")
            continue
        seen[key] = row.line
        allowance = row.allowance
        if not row.allowance_given:
            offering = catalog.offerings.get(service.offering_code) if catalog else None
            if offering is None or offering.allowance is None:
                problems.append(f"{where}: allowance is missing and {service.offering_code} has "
                                "no allowance in the catalog")
                continue
            if row.unit in ALLOWANCE_UNITS:
                allowance = service_allowance(offering.allowance, service.quantity, row.unit)
        planned.append((row, service, allowance))
    return planned


def _write(session: Session, planned: list, catalog: Catalog | None, actor_label: str,
           filename: str, day: dt.date) -> ImportResult:
    result = ImportResult()
    periods = sorted({row.period for row, _, _ in planned})
    existing = {}
    for chunk in _chunks({service.id for _, service, _ in planned}):
        for record in session.scalars(select(UsageRecord).where(
                UsageRecord.service_id.in_(chunk), UsageRecord.period.in_(periods))):
            existing[(record.service_id, record.period)] = record
    changed: list[UsageRecord] = []
    by_org: dict[int, dict] = {}
    for row, service, allowance in planned:
        counts = by_org.setdefault(service.organisation_id,
                                   {"new": 0, "corrected": 0, "unchanged": 0, "periods": set()})
        counts["periods"].add(row.period)
        figures = {"used": row.used, "allowance": allowance, "unit": row.unit}
        record = existing.get((service.id, row.period))
        if record is None:
            record = UsageRecord(organisation_id=service.organisation_id, service=service,
                                 service_id=service.id, period=row.period,
                                 imported_by=actor_label[:320], **figures)
            session.add(record)
            counts["new"] += 1
        elif (record.used, record.allowance, record.unit) == (row.used, allowance, row.unit):
            counts["unchanged"] += 1
            continue
        else:
            before = _figures(record)
            record.used, record.allowance, record.unit = row.used, allowance, row.unit
            record.imported_by = actor_label[:320]
            counts["corrected"] += 1
            audit.record(session, "usage:correct", organisation_id=service.organisation_id,
                         target=record, actor_label=actor_label, before=before,
                         after=_figures(record))
        changed.append(record)
    session.flush()
    for org_id, counts in by_org.items():
        result.new += counts["new"]
        result.corrected += counts["corrected"]
        result.unchanged += counts["unchanged"]
        if not counts["new"] + counts["corrected"]:
            continue  # the same figures again: nothing changed, nothing to record
        audit.record(session, "usage:import", organisation_id=org_id, actor_label=actor_label,
                     after={"file": filename[-200:], "new": counts["new"],
                            "corrected": counts["corrected"], "unchanged": counts["unchanged"],
                            "periods": sorted(counts["periods"])})
    rules = current_rules(session)
    result.alerts = raise_alerts(session, changed, rules, catalog,
                                 Audience(session, ALERT_ROLES), actor_label)
    if catalog is not None and changed:
        offers = evaluate_recommendations(session, rules, catalog, day,
                                          Audience(session, OFFER_ROLES), actor_label,
                                          {record.service_id for record in changed})
        result.offers = len(offers)
    return result


def _figures(record: UsageRecord) -> dict:
    return {"period": record.period, "used": str(record.used),
            "allowance": None if record.allowance is None else str(record.allowance),
            "unit": record.unit}
