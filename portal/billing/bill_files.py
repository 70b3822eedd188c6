"""Reading bill files: a TMF678 JSON document or a CSV file becomes a list of `BillData`
(plain values, nothing matched against the database yet), and every problem found on the
way is collected with its place. docs/BILLS.md describes both formats."""

from __future__ import annotations

import csv
import datetime as dt
import json
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from accounts.legacy.layouts import ImportRefused, decode_upload
from portal.billing.models import LineKind
from portal.csv_text import data_rows, strict_reader

CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("1e12")
LIMITS = {"bill_number": 64, "billing_account": 32, "description": 300, "site_code": 32,
          "service_ref": 64, "offering_code": 64, "product_family": 32, "cost_centre": 64}

CSV_BILL_COLUMNS = ("bill_number", "billing_account", "bill_date", "due_date", "period_start",
                    "period_end", "currency", "bill_amount_excl_tax", "bill_tax_amount",
                    "bill_amount_incl_tax")
CSV_LINE_COLUMNS = ("kind", "description", "site_code", "service_ref", "offering_code",
                    "product_family", "cost_centre", "line_period_start", "line_period_end",
                    "quantity", "amount", "tax_rate", "tax_amount")
CSV_COLUMNS = CSV_BILL_COLUMNS + CSV_LINE_COLUMNS
CSV_REQUIRED = ("bill_number", "billing_account", "bill_date", "period_start", "period_end",
                "currency", "bill_amount_excl_tax", "bill_tax_amount", "bill_amount_incl_tax",
                "kind", "description", "amount")
# Site code, offering code, product family and cost centre are read from these
# characteristics of an appliedCustomerBillingRate (TMF678 has no field of its own for them).
CHARACTERISTICS = {"siteCode": "site_code", "offeringCode": "offering_code",
                   "productFamily": "product_family", "costCentre": "cost_centre",
                   "quantity": "quantity"}


@dataclass(frozen=True)
class Problem:
    """One reason a file is refused: where (bill, line or CSV row), which field, why."""

    where: str
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.field} {self.reason}" if self.field else \
            f"{self.where}: {self.reason}"


@dataclass
class LineData:
    """One line of a bill as the file gives it."""

    where: str
    kind: str = ""
    description: str = ""
    site_code: str = ""
    service_ref: str = ""
    offering_code: str = ""
    product_family: str = ""
    cost_centre: str = ""
    period_start: dt.date | None = None
    period_end: dt.date | None = None
    quantity: Decimal = Decimal("1")
    amount: Decimal = Decimal("0")
    tax_rate: Decimal = Decimal("0")
    tax_amount: Decimal = Decimal("0")


@dataclass
class BillData:
    """One bill as the file gives it, with its lines."""

    where: str
    bill_number: str = ""
    billing_account: str = ""
    bill_date: dt.date | None = None
    due_date: dt.date | None = None
    period_start: dt.date | None = None
    period_end: dt.date | None = None
    currency: str = ""
    amount_excl_tax: Decimal = Decimal("0")
    tax_amount: Decimal = Decimal("0")
    amount_incl_tax: Decimal = Decimal("0")
    lines: list[LineData] = field(default_factory=list)


class FileProblems:
    """Collects problems; the readers below report through it and go on reading."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, where: str, name: str, reason: str) -> None:
        """Note a problem."""
        self.problems.append(Problem(where, name, reason))

    def text(self, where: str, name: str, value, *, required: bool = False) -> str:
        """A stripped string, '' when absent; a problem when required and empty or too long."""
        if value is None:
            value = ""
        if not isinstance(value, str):
            self.add(where, name, "must be text")
            return ""
        value = value.strip()
        if required and not value:
            self.add(where, name, "is missing")
        limit = LIMITS.get(_plain(name))
        if limit and len(value) > limit:
            self.add(where, name, f"is longer than {limit} characters")
        return value

    def date(self, where: str, name: str, value, *, required: bool = False) -> dt.date | None:
        """A date written YYYY-MM-DD or as an RFC 3339 date-time (its date is taken)."""
        if value is None or value == "":
            if required:
                self.add(where, name, "is missing")
            return None
        if isinstance(value, str):
            try:
                if len(value.strip()) == 10:
                    return dt.date.fromisoformat(value.strip())
                return dt.datetime.fromisoformat(value.strip()).date()
            except ValueError:
                pass
        self.add(where, name, f"{value!r} is not a date (YYYY-MM-DD)")
        return None

    def number(self, where: str, name: str, value, *, places: int = 2, required: bool = True,
               default: Decimal = Decimal("0"), low: Decimal | None = None,
               high: Decimal = MAX_AMOUNT) -> Decimal:
        """A decimal with at most `places` decimals, from a JSON number or text."""
        if value is None or value == "":
            if required:
                self.add(where, name, "is missing")
            return default
        if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
            self.add(where, name, f"{value!r} is not a number")
            return default
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            number = Decimal("NaN")
        if not number.is_finite():
            self.add(where, name, f"{value!r} is not a number")
            return default
        if number.as_tuple().exponent < -places:
            self.add(where, name, f"{value} has more than {places} decimals")
            return default
        if abs(number) >= high or (low is not None and number < low):
            self.add(where, name, f"{value} is out of range")
            return default
        return number


def _plain(name: str) -> str:
    """The limit key of a field however the format names it."""
    aliases = {"billNo": "bill_number", "billingAccount.id": "billing_account",
               "product.id": "service_ref", "name": "description"}
    name = name.removeprefix("characteristic ")
    return aliases.get(name) or CHARACTERISTICS.get(name) or name


def decode(data: bytes | str, problems: FileProblems) -> str | None:
    """The file as text (UTF-8, at most the size the legacy imports accept), or None with
    the problem noted."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    try:
        return decode_upload(data, "the file")
    except ImportRefused as exc:
        problems.add("file", "", exc.message)
        return None


# --- TMF678 -------------------------------------------------------------------------------


def read_tmf678(data: bytes | str, problems: FileProblems) -> list[BillData]:
    """Bills from a TMF678 CustomerBill document (an object or an array of them), each with
    its lines in `appliedCustomerBillingRate`."""
    text = decode(data, problems)
    if text is None:
        return []
    try:
        document = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        problems.add("file", "", f"is not valid JSON ({exc.msg} at line {exc.lineno}, "
                                 f"column {exc.colno})")
        return []
    items = document if isinstance(document, list) else [document]
    if not items:
        problems.add("file", "", "holds no bill")
    bills = []
    for index, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            problems.add(f"bill {index}", "", "is not a JSON object (a CustomerBill)")
            continue
        bills.append(_tmf_bill(item, index, problems))
    return bills


def _tmf_bill(item: dict, index: int, p: FileProblems) -> BillData:
    number = item.get("billNo")
    where = f"bill {number}" if isinstance(number, str) and number.strip() else f"bill {index}"
    bill = BillData(where)
    bill.bill_number = p.text(where, "billNo", number, required=True)
    account = _object(item, "billingAccount", where, p, required=True)
    bill.billing_account = p.text(where, "billingAccount.id", account.get("id"),
                                  required=True)
    bill.bill_date = p.date(where, "billDate", item.get("billDate"), required=True)
    bill.due_date = p.date(where, "paymentDueDate", item.get("paymentDueDate"))
    period = _object(item, "billingPeriod", where, p, required=True)
    bill.period_start = p.date(where, "billingPeriod.startDateTime",
                               period.get("startDateTime"), required=True)
    bill.period_end = p.date(where, "billingPeriod.endDateTime", period.get("endDateTime"),
                             required=True)
    units = set()
    excluded, unit = _money(item, "taxExcludedAmount", where, p)
    units.add(unit)
    included, unit = _money(item, "taxIncludedAmount", where, p)
    units.add(unit)
    bill.amount_excl_tax, bill.amount_incl_tax = excluded, included
    bill.tax_amount = included - excluded
    rates = item.get("appliedCustomerBillingRate")
    if not isinstance(rates, list) or not rates:
        p.add(where, "appliedCustomerBillingRate", "is missing (a bill needs its lines)")
        rates = []
    for position, rate in enumerate(rates, start=1):
        line_where = f"{where} line {position}"
        if not isinstance(rate, dict):
            p.add(line_where, "", "is not a JSON object (an AppliedCustomerBillingRate)")
            continue
        bill.lines.append(_tmf_line(rate, line_where, p, units))
    units.discard(None)
    if len(units) > 1:
        p.add(where, "unit", f"differs between amounts ({', '.join(sorted(units))})")
    bill.currency = units.pop() if len(units) == 1 else ""
    return bill


def _tmf_line(rate: dict, where: str, p: FileProblems, units: set) -> LineData:
    line = LineData(where)
    line.kind = p.text(where, "type", rate.get("type"), required=True)
    line.description = p.text(where, "name", rate.get("name") or rate.get("description"),
                              required=True)
    product = _object(rate, "product", where, p)
    line.service_ref = p.text(where, "product.id", product.get("id"))
    characteristics = rate.get("characteristic") or []
    if not isinstance(characteristics, list):
        p.add(where, "characteristic", "must be a list")
        characteristics = []
    for characteristic in characteristics:
        name = characteristic.get("name") if isinstance(characteristic, dict) else None
        attr = CHARACTERISTICS.get(name)
        if attr is None:
            continue  # other characteristics are the source's own business
        label = f"characteristic {name}"
        value = characteristic.get("value")
        if attr == "quantity":
            line.quantity = p.number(where, label, value, places=3, default=Decimal("1"),
                                     low=Decimal("0"))
        else:
            setattr(line, attr, p.text(where, label, value))
    coverage = _object(rate, "periodCoverage", where, p)
    line.period_start = p.date(where, "periodCoverage.startDateTime",
                               coverage.get("startDateTime"))
    line.period_end = p.date(where, "periodCoverage.endDateTime", coverage.get("endDateTime"))
    line.amount, unit = _money(rate, "taxExcludedAmount", where, p)
    units.add(unit)
    taxes = rate.get("appliedTax") or []
    if not isinstance(taxes, list):
        p.add(where, "appliedTax", "must be a list")
        taxes = []
    for number, tax in enumerate(taxes, start=1):
        label = f"appliedTax[{number}]"
        if not isinstance(tax, dict):
            p.add(where, label, "is not an object")
            continue
        amount, unit = _money(tax, "taxAmount", where, p, label=f"{label}.taxAmount")
        units.add(unit)
        line.tax_amount += amount
        line.tax_rate += p.number(where, f"{label}.taxRate", tax.get("taxRate"), places=4,
                                  required=False, low=Decimal("0"), high=Decimal("1"))
    if rate.get("taxIncludedAmount") is not None:
        included, unit = _money(rate, "taxIncludedAmount", where, p)
        units.add(unit)
        if included != line.amount + line.tax_amount:
            p.add(where, "taxIncludedAmount", f"{included} is not taxExcludedAmount plus "
                                              f"appliedTax ({line.amount + line.tax_amount})")
    return line


def _object(item: dict, name: str, where: str, p: FileProblems, *,
            required: bool = False) -> dict:
    value = item.get(name)
    if value is None:
        if required:
            p.add(where, name, "is missing")
        return {}
    if not isinstance(value, dict):
        p.add(where, name, "must be an object")
        return {}
    return value


def _money(item: dict, name: str, where: str, p: FileProblems,
           label: str | None = None) -> tuple[Decimal, str | None]:
    label = label or name
    money = _object(item, name, where, p, required=True)
    if not money:
        return Decimal("0"), None
    unit = money.get("unit")
    if not isinstance(unit, str) or len(unit) != 3 or not unit.isalpha() or not unit.isupper():
        p.add(where, f"{label}.unit", f"{unit!r} is not a currency code (like EUR)")
        unit = None
    return p.number(where, f"{label}.value", money.get("value")), unit


# --- CSV ----------------------------------------------------------------------------------


def read_csv(data: bytes, problems: FileProblems) -> list[BillData]:
    """Bills from a CSV file: one row per bill line, the bill's own columns repeated on each
    of its rows (which must agree)."""
    text = decode(data, problems)
    if text is None:
        return []
    reader = strict_reader(text)
    try:
        header = [name.strip().lower() for name in next(reader, [])]
        if not _csv_header(header, problems):
            return []
        bills: dict[str, BillData] = {}
        first_row: dict[str, tuple[int, dict]] = {}
        for line, cells in data_rows(reader):
            where = f"row {line}"
            if len(cells) != len(header):
                problems.add(where, "", f"has {len(cells)} values but the header names "
                                        f"{len(header)} columns")
                continue
            _csv_row(dict(zip(header, cells, strict=True)), line, bills, first_row, problems)
    except csv.Error as exc:
        problems.add("file", "", f"cannot be read as CSV near line {reader.line_num} ({exc})")
        return []
    if not bills and not problems.problems:
        problems.add("file", "", "has a header but no rows")
    return list(bills.values())


def _csv_header(header: list[str], problems: FileProblems) -> bool:
    missing = [c for c in CSV_REQUIRED if c not in header]
    unknown = [c or "(empty)" for c in header if c not in CSV_COLUMNS]
    doubled = sorted({c for c in header if c and header.count(c) > 1})
    for names, what in ((missing, "misses the columns"), (unknown, "has unknown columns"),
                        (doubled, "names columns twice")):
        if names:
            problems.add("header", "", f"{what} {', '.join(names)} (the columns are "
                                       f"{', '.join(CSV_COLUMNS)})")
    return not (missing or unknown or doubled)


def _csv_row(cells: dict, line: int, bills: dict[str, BillData],
             first_row: dict[str, tuple[int, dict]], p: FileProblems) -> None:
    where = f"row {line}"
    number = p.text(where, "bill_number", cells["bill_number"], required=True)
    if not number:
        return
    header = {c: cells.get(c, "").strip() for c in CSV_BILL_COLUMNS}
    bill = bills.get(number)
    if bill is None:
        bill = bills[number] = BillData(f"bill {number} (row {line})", number)
        first_row[number] = (line, header)
        bill.billing_account = p.text(where, "billing_account", header["billing_account"],
                                      required=True)
        bill.bill_date = p.date(where, "bill_date", header["bill_date"], required=True)
        bill.due_date = p.date(where, "due_date", header["due_date"])
        bill.period_start = p.date(where, "period_start", header["period_start"],
                                   required=True)
        bill.period_end = p.date(where, "period_end", header["period_end"], required=True)
        bill.currency = header["currency"].upper()
        if len(bill.currency) != 3 or not bill.currency.isalpha():
            p.add(where, "currency", f"{header['currency']!r} is not a currency code "
                                     "(like EUR)")
        bill.amount_excl_tax = p.number(where, "bill_amount_excl_tax",
                                        header["bill_amount_excl_tax"])
        bill.tax_amount = p.number(where, "bill_tax_amount", header["bill_tax_amount"])
        bill.amount_incl_tax = p.number(where, "bill_amount_incl_tax",
                                        header["bill_amount_incl_tax"])
    else:
        first, values = first_row[number]
        for column in CSV_BILL_COLUMNS:
            if values[column] != header[column]:
                p.add(where, column, f"{header[column]!r} differs from {values[column]!r} on "
                                     f"row {first} of the same bill {number}")
    item = LineData(where)
    item.kind = p.text(where, "kind", cells["kind"], required=True)
    item.description = p.text(where, "description", cells["description"], required=True)
    for name in ("site_code", "service_ref", "offering_code", "product_family",
                 "cost_centre"):
        setattr(item, name, p.text(where, name, cells.get(name, "")))
    item.period_start = p.date(where, "line_period_start", cells.get("line_period_start"))
    item.period_end = p.date(where, "line_period_end", cells.get("line_period_end"))
    item.quantity = p.number(where, "quantity", cells.get("quantity"), places=3,
                             required=False, default=Decimal("1"), low=Decimal("0"))
    item.amount = p.number(where, "amount", cells["amount"])
    item.tax_rate = p.number(where, "tax_rate", cells.get("tax_rate"), places=4,
                             required=False, low=Decimal("0"), high=Decimal("1"))
    item.tax_amount = p.number(where, "tax_amount", cells.get("tax_amount"), required=False)
    bill.lines.append(item)


def known_kind(kind: str) -> bool:
    """Whether a line kind is one the portal knows."""
    return kind in LineKind.ALL
