"""Sites as CSV: reading an upload (encoding, header, limits), checking every row against
the site rules and the organisation's data, and writing the export, which re-imports
unchanged. The format is documented in docs/SITES_CSV.md.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts.estate.models import SITE_STATUSES, BillingAccount, Site
from accounts.estate.services import (
    FORMULA_START,
    PHONE_RE,
    SITE_FIELDS,
    check_site_fields,
    open_service_counts,
    why_site_cannot_close,
)
from portal.csv_text import data_rows, strict_reader

COLUMNS = (*SITE_FIELDS, "status", "billing_account")
REQUIRED_COLUMNS = ("code", "name", "address", "postcode", "city", "country")
MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 20_000
LIMITS = f"{MAX_BYTES // (1024 * 1024)} MB and {MAX_ROWS:,} rows"
SAVE_AS = "Save it as “CSV UTF-8 (comma delimited)” and upload that file."


class CsvFileError(ValueError):
    """The file as a whole is refused (not CSV, not UTF-8, no header, too big); the
    message says why in plain words."""


@dataclass
class CsvRow:
    """One data row: where it starts in the file and its cells by column."""

    line: int
    cells: dict[str, str]
    problem: str | None = None  # the row itself is malformed (wrong number of values)


@dataclass
class ParsedFile:
    """The columns the header names and every non-blank data row."""

    columns: tuple[str, ...]
    rows: list[CsvRow]


def read_csv(data: bytes) -> ParsedFile:
    """Decode and split an uploaded file into rows, or raise CsvFileError saying why the
    whole file is refused. Accepts UTF-8 with or without a byte-order mark, separated by
    commas (or semicolons, as some spreadsheets save CSV)."""
    if len(data) > MAX_BYTES:
        raise CsvFileError(f"The file is larger than the limit of {LIMITS}. Split it into "
                           "smaller files.")
    if not data.strip():
        raise CsvFileError("The file is empty.")
    if data.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
        raise CsvFileError(f"This is a spreadsheet workbook (like .xlsx), not a CSV file. "
                           f"{SAVE_AS}")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise CsvFileError(f"The file is UTF-16 text, not UTF-8. {SAVE_AS}")
    if b"\x00" in data:
        raise CsvFileError("This is not a CSV file: it holds binary data.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise CsvFileError(f"The file is not UTF-8 text (the first character that is not "
                           f"is on line {line}). {SAVE_AS}") from None
    reader = strict_reader(text)
    try:
        columns = _header(next(reader, []))
        rows: list[CsvRow] = []
        for start, cells in data_rows(reader):
            if len(rows) == MAX_ROWS:
                raise CsvFileError(f"The file has more than {MAX_ROWS:,} rows, the limit of "
                                   "one import. Split it into smaller files.")
            row = CsvRow(start, dict(zip(columns, cells, strict=False)))
            if len(cells) != len(columns):
                row.problem = (f"has {len(cells)} values but the header names "
                               f"{len(columns)} columns")
            rows.append(row)
    except csv.Error as exc:
        hint = (" (a quoted value is not closed)" if "end of data" in str(exc) else "")
        raise CsvFileError(f"The file cannot be read as CSV near line {reader.line_num}: "
                           f"{exc}{hint}.") from None
    if not rows:
        raise CsvFileError("The file has a header but no sites.")
    return ParsedFile(columns, rows)


def _header(cells: list[str]) -> tuple[str, ...]:
    names = tuple(c.strip().lower() for c in cells)
    expected = ", ".join(COLUMNS)
    if not set(names) & set(COLUMNS):
        raise CsvFileError("The first line is not a header of site columns, so this does not "
                           f"look like a sites CSV file. The first line must name the columns, "
                           f"for example: {expected}.")
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    unknown = [c or "(empty)" for c in names if c not in COLUMNS]
    doubled = sorted({c for c in names if c and names.count(c) > 1})
    problems = []
    if missing:
        problems.append(f"missing column{'s' if len(missing) > 1 else ''}: {', '.join(missing)}")
    if unknown:
        problems.append(f"unknown column{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}")
    if doubled:
        problems.append(f"column{'s' if len(doubled) > 1 else ''} named twice: "
                        f"{', '.join(doubled)}")
    if problems:
        raise CsvFileError(f"The header row is wrong ({'; '.join(problems)}). The columns are: "
                           f"{expected}; the first six are required.")
    return names


@dataclass
class RowError:
    """A row that cannot be imported, and every reason why."""

    line: int
    code: str
    reasons: list[str]


@dataclass
class PlannedSite:
    """A row that will create or update a site, with every column's new value."""

    line: int
    code: str
    values: dict
    site_id: int | None = None
    changes: dict[str, tuple[str, str]] = field(default_factory=dict)  # shown as numbers
    before_status: str | None = None
    closed_at: dt.datetime | None = None


@dataclass
class ImportPreview:
    """What an import would do: the bad rows, the sites created and updated."""

    rows: int
    errors: list[RowError] = field(default_factory=list)
    creates: list[PlannedSite] = field(default_factory=list)
    updates: list[PlannedSite] = field(default_factory=list)
    unchanged: int = 0

    def counts(self) -> dict[str, int]:
        """Rows read, sites created, updated (of which closed and reopened), unchanged."""
        closing = [p for p in self.updates if p.changes.get("status", ("", ""))[1] == "closed"]
        opening = [p for p in self.updates if p.changes.get("status", ("", ""))[1] == "active"]
        return {"rows": self.rows, "created": len(self.creates), "updated": len(self.updates),
                "closed": len(closing), "reopened": len(opening), "unchanged": self.unchanged}

    @property
    def fingerprint(self) -> str:
        """A digest of everything the import would write: the commit refuses to go ahead
        when it differs from the preview's."""
        plan = [["create", p.code, p.values] for p in self.creates]
        plan += [["update", p.site_id, p.code, p.values, p.changes] for p in self.updates]
        plan.append(["unchanged", self.unchanged])
        text = json.dumps(plan, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()


EXISTING_COLUMNS = (Site.id, *(getattr(Site, f) for f in SITE_FIELDS), Site.status,
                    Site.billing_account_id, Site.closed_at)


def preview_import(session: Session, org_id: int, parsed: ParsedFile) -> ImportPreview:
    """Check every row against the site rules and the organisation's sites and billing
    accounts, and work out what the import would create and update (sites are matched by
    code). Reads the organisation's sites and accounts in two queries, plus one for open
    services when the file closes existing sites."""
    existing = {row.code: row for row in session.execute(
        select(*EXISTING_COLUMNS).where(Site.organisation_id == org_id))}
    accounts = dict(session.execute(select(BillingAccount.number, BillingAccount.id).where(
        BillingAccount.organisation_id == org_id)).all())
    numbers = {v: k for k, v in accounts.items()}
    preview = ImportPreview(rows=len(parsed.rows))
    first_line: dict[str, int] = {}
    closing: list[PlannedSite] = []
    for row in parsed.rows:
        code = (row.cells.get("code") or "").strip()
        current = existing.get(code)
        raw = {c: row.cells.get(c, getattr(current, c, "") if current else "")
               for c in SITE_FIELDS}
        values, problems = check_site_fields(raw)
        reasons = [row.problem] if row.problem else []
        reasons += [f"{f} {p}" for f, p in problems.items()]
        if code and code in first_line:
            reasons.append(f"code '{code}' is also on line {first_line[code]}")
        elif code:
            first_line[code] = row.line
        status = (row.cells.get("status") or "").strip().lower()
        if not status:
            status = current.status if current else "active"
        elif status not in SITE_STATUSES:
            reasons.append(f"status '{status}' must be one of {', '.join(SITE_STATUSES)}")
        values["status"] = status
        if "billing_account" in row.cells:
            number = row.cells["billing_account"].strip()
            values["billing_account_id"] = accounts.get(number) if number else None
            if number and number not in accounts:
                reasons.append(f"billing_account '{number}' is not one of your billing "
                               "accounts")
        else:
            values["billing_account_id"] = current.billing_account_id if current else None
        if reasons:
            preview.errors.append(RowError(row.line, code, reasons))
            continue
        planned = PlannedSite(row.line, code, values)
        if current is None:
            preview.creates.append(planned)
            continue
        planned.site_id, planned.before_status = current.id, current.status
        planned.closed_at = current.closed_at
        for column in (*SITE_FIELDS, "status", "billing_account_id"):
            before, after = getattr(current, column), values[column]
            if before == after:
                continue
            if column == "billing_account_id":  # shown as account numbers, as in the file
                planned.changes["billing_account"] = (numbers.get(before, ""),
                                                      numbers.get(after, ""))
            else:
                planned.changes[column] = (before, after)
        if not planned.changes:
            preview.unchanged += 1
            continue
        preview.updates.append(planned)
        if current.status != "closed" and status == "closed":
            closing.append(planned)
    _refuse_closing_with_open_services(session, preview, closing)
    return preview


def _refuse_closing_with_open_services(session: Session, preview: ImportPreview,
                                       closing: list[PlannedSite]) -> None:
    if not closing:
        return
    counts = open_service_counts(session, [p.site_id for p in closing])
    for planned in closing:
        reason = why_site_cannot_close(counts.get(planned.site_id, {}))
        if reason:
            preview.updates.remove(planned)
            preview.errors.append(RowError(planned.line, planned.code, [
                f"status 'closed' is refused: {reason[0].lower()}{reason[1:]}"]))
    preview.errors.sort(key=lambda e: e.line)


def _cell(value) -> str:
    """A value as a CSV cell; text a spreadsheet would run as a formula gets a leading
    apostrophe (the portal never accepts such values, but other sources might)."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_START) and not PHONE_RE.match(text):
        return "'" + text
    return text


def export_csv(rows: Iterable, columns: tuple[str, ...] = COLUMNS) -> str:
    """Sites as CSV text in the import format (UTF-8 with a byte-order mark, so that
    spreadsheets read the accents right). `rows` have the site columns and
    `billing_account` (the account number)."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(getattr(row, c)) for c in columns])
    return out.getvalue()
