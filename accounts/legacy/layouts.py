"""The customer export of each legacy system: its columns, what they mean, how to read them.

Each system writes its own CSV: other separators, column names, date formats, status codes
and country spellings. A `Layout` turns one export into the same shape for all
(`ParsedExport`: customer accounts, each with its services and their sites), or refuses the
whole file naming every bad line. Parsing reads nothing from and writes nothing to the
database; docs/LEGACY_IMPORT.md describes the layouts for the people who produce the files.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation

from accounts.legacy.matching import (
    is_valid_registration,
    is_valid_vat,
    normalise_registration,
    normalise_vat,
)

MAX_BYTES = 5 * 1024 * 1024  # about 25,000 rows; a bigger export is split by customer
MAX_ROWS = 25_000
MAX_PROBLEMS = 50  # a file this wrong is the wrong file; listing more helps nobody
MAX_TERM_MONTHS = 120

SERVICE_STATUSES = ("active", "suspended", "ceased")

# ISO 3166 codes of the countries the operator serves, and the spellings exports use.
COUNTRY_CODES = frozenset({
    "AT", "BE", "CH", "CZ", "DE", "DK", "ES", "FI", "FR", "GB", "GR", "IE", "IT", "LU",
    "NL", "NO", "PL", "PT", "SE",
})
COUNTRY_NAMES = {
    "austria": "AT", "osterreich": "AT", "österreich": "AT", "belgium": "BE",
    "belgique": "BE", "belgie": "BE", "switzerland": "CH", "schweiz": "CH", "suisse": "CH",
    "czechia": "CZ", "czech republic": "CZ", "germany": "DE", "deutschland": "DE",
    "denmark": "DK", "spain": "ES", "espana": "ES", "españa": "ES", "finland": "FI",
    "france": "FR", "united kingdom": "GB", "great britain": "GB", "uk": "GB",
    "greece": "GR", "ireland": "IE", "italy": "IT", "italia": "IT", "luxembourg": "LU",
    "netherlands": "NL", "the netherlands": "NL", "nederland": "NL", "holland": "NL",
    "norway": "NO", "poland": "PL", "polska": "PL", "portugal": "PT", "sweden": "SE",
}

# The longest value each field may hold (the columns they end up in).
MAX_LENGTH = {
    "customer_id": 64, "name": 200, "registration": 64, "vat": 32, "street": 300,
    "postcode": 16, "city": 100, "service_id": 64, "offering": 64, "description": 200,
    "billing_account": 32, "site_ref": 32, "site_name": 200,
}
REQUIRED = ("customer_id", "name", "street", "postcode", "city", "country", "service_id",
            "offering", "quantity", "status", "start_date", "term")


class ImportRefused(ValueError):
    """The file was not imported, and nothing was changed. `problems` lists the bad lines as
    (line number, reason); the message says what is wrong with the file as a whole."""

    def __init__(self, message: str, problems: list[tuple[int, str]] | None = None):
        super().__init__(message)
        self.message = message
        self.problems = problems or []

    def lines(self) -> list[str]:
        """The message and one line per problem, for a terminal or a page."""
        return [self.message] + [f"line {line}: {reason}" for line, reason in self.problems]


@dataclass(frozen=True)
class SiteRow:
    """Where a service is, as the export spells it."""

    street: str
    postcode: str
    city: str
    country: str
    ref: str = ""  # the system's own site id, when it has one
    name: str = ""


@dataclass(frozen=True)
class ServiceRow:
    """One service of a customer in the export."""

    line: int
    service_id: str
    offering: str
    description: str
    quantity: int
    status: str
    start_date: dt.date
    term: int
    monthly_charge: Decimal | None
    billing_account: str
    site: SiteRow

    def to_json(self) -> dict:
        """A JSON-able copy (kept with an account that waits for an operator's decision)."""
        data = asdict(self)
        data["start_date"] = self.start_date.isoformat()
        data["monthly_charge"] = None if self.monthly_charge is None else str(
            self.monthly_charge)
        return data

    @classmethod
    def from_json(cls, data: dict) -> ServiceRow:
        """The row `to_json` wrote."""
        data = dict(data)
        data["site"] = SiteRow(**data["site"])
        data["start_date"] = dt.date.fromisoformat(data["start_date"])
        if data["monthly_charge"] is not None:
            data["monthly_charge"] = Decimal(data["monthly_charge"])
        return cls(**data)


@dataclass
class AccountRows:
    """A customer account of the export with all its services. Its address is the one of
    its first row."""

    customer_id: str
    name: str
    registration: str  # normalised, '' if none
    vat: str  # normalised with its country prefix, '' if none
    street: str
    postcode: str
    city: str
    country: str
    line: int
    services: list[ServiceRow] = field(default_factory=list)


@dataclass
class ParsedExport:
    """A whole export, valid in every row."""

    system: str
    rows: int
    accounts: list[AccountRows]


Column = str | tuple[str, ...]  # several columns joined by a space (street + house number)


@dataclass(frozen=True)
class Layout:
    """One system's CSV layout: separator, columns -> fields, and how values are written."""

    system: str
    label: str
    sample: str  # the shipped sample's file name
    delimiter: str
    date_format: str
    date_hint: str
    fields: dict[str, Column]
    statuses: dict[str, str]  # the system's code (any case) -> portal status
    decimal_comma: bool = False

    @property
    def columns(self) -> list[str]:
        """Every column the header must have."""
        names: list[str] = []
        for column in self.fields.values():
            names.extend((column,) if isinstance(column, str) else column)
        return names

    def parse(self, data: bytes, filename: str = "the file") -> ParsedExport:
        """Read a whole export, or raise ImportRefused naming the problem (a wrong layout,
        encoding or size) or every bad line with its reason."""
        text = decode_upload(data, filename)
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=self.delimiter,
                            strict=True)
        header = self._header(reader, filename)
        position = {name: header.index(name) for name in self.columns}
        problems: list[tuple[int, str]] = []
        accounts: dict[str, AccountRows] = {}
        seen_services: dict[str, int] = {}
        rows = 0
        line = reader.line_num
        while True:
            start = line + 1
            try:
                raw = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                raise ImportRefused(f"{filename} is not a readable {self.label} export "
                                    f"({exc}).", [(start, str(exc))]) from None
            line = reader.line_num
            if not any(value.strip() for value in raw):
                continue  # a blank line
            rows += 1
            if rows > MAX_ROWS:
                raise ImportRefused(f"{filename} has more than {MAX_ROWS:,} rows; split the "
                                    "export by customer.")
            if len(raw) != len(header):
                problems.append((start, f"has {len(raw)} fields, the header has "
                                        f"{len(header)}"))
                continue
            values = self._values(raw, position)
            try:
                service, account = self._read_row(start, values)
                _add(accounts, seen_services, account, service)
            except RowProblem as problem:
                problems.append((start, str(problem)))
            if len(problems) >= MAX_PROBLEMS:
                break
        if problems:
            more = " (only the first ones are listed)" if len(problems) >= MAX_PROBLEMS else ""
            count = f"{len(problems)} bad row{'s' if len(problems) != 1 else ''}"
            raise ImportRefused(f"{filename} was not imported: {count}{more}; nothing was "
                                "changed.", problems)
        if not rows:
            raise ImportRefused(f"{filename} has a header but no rows.")
        return ParsedExport(self.system, rows, list(accounts.values()))

    def _header(self, reader, filename: str) -> list[str]:
        try:
            header = [name.strip() for name in next(reader)]
        except StopIteration:
            raise ImportRefused(f"{filename} is empty.") from None
        except csv.Error as exc:
            raise ImportRefused(f"{filename} is not a readable CSV file ({exc}).") from None
        missing = [name for name in self.columns if name not in header]
        if not missing:
            return header
        other = next((layout for layout in LAYOUTS.values()
                      if layout is not self and layout.matches(header)), None)
        hint = f" It looks like a {other.label} export ({other.system})." if other else ""
        raise ImportRefused(
            f"{filename} is not a {self.label} export: the header lacks "
            f"{', '.join(missing[:6])}{' and more' if len(missing) > 6 else ''}.{hint} "
            f"A {self.label} export has the columns {self.delimiter.join(self.columns)} "
            f"separated by {_SEPARATOR_NAMES.get(self.delimiter, self.delimiter)!s}."
        )

    def matches(self, header: list[str]) -> bool:
        """Whether a header (split with some other separator) has this layout's columns."""
        joined = ",".join(header)
        for separator in (",", ";", "|", "\t"):
            names = {name.strip() for name in joined.replace(separator, ",").split(",")}
            if set(self.columns) <= names:
                return True
        return False

    @staticmethod
    def _values(raw: list[str], position: dict[str, int]) -> Callable[[Column], str]:
        def value(column: Column) -> str:
            if isinstance(column, str):
                return raw[position[column]].strip()
            return " ".join(v for v in (raw[position[c]].strip() for c in column) if v)

        return value

    def _read_row(self, line: int, value) -> tuple[ServiceRow, AccountRows]:
        fields = {name: value(column) for name, column in self.fields.items()}
        for name in REQUIRED:
            if name in fields and not fields[name]:
                raise RowProblem(f"{self._column_name(name)} is empty")
        for name, limit in MAX_LENGTH.items():
            if len(fields.get(name, "")) > limit:
                raise RowProblem(f"{self._column_name(name)} is longer than {limit} "
                                 "characters")
        country = _country(fields["country"])
        registration = normalise_registration(fields.get("registration", ""))
        if registration and not is_valid_registration(registration):
            raise RowProblem(f"{self._column_name('registration')} "
                             f"{fields['registration']!r} is not a registration number")
        vat = normalise_vat(fields.get("vat", ""), country)
        if vat and not is_valid_vat(vat):
            raise RowProblem(f"{self._column_name('vat')} {fields['vat']!r} is not a VAT "
                             "number")
        site = SiteRow(street=fields["street"], postcode=fields["postcode"],
                       city=fields["city"], country=country,
                       ref=fields.get("site_ref", ""), name=fields.get("site_name", ""))
        service = ServiceRow(
            line=line,
            service_id=fields["service_id"],
            offering=fields["offering"].upper(),
            description=fields.get("description", ""),
            quantity=self._integer("quantity", fields["quantity"], 1, 100_000),
            status=self._status(fields["status"]),
            start_date=self._date(fields["start_date"]),
            term=self._integer("term", fields["term"], 0, MAX_TERM_MONTHS),
            monthly_charge=self._money(fields.get("monthly_charge", "")),
            billing_account=fields.get("billing_account", ""),
            site=site,
        )
        account = AccountRows(
            customer_id=fields["customer_id"], name=fields["name"], registration=registration,
            vat=vat, street=site.street, postcode=site.postcode, city=site.city,
            country=country, line=line,
        )
        return service, account

    def _column_name(self, name: str) -> str:
        column = self.fields[name]
        return column if isinstance(column, str) else "+".join(column)

    def _integer(self, name: str, text: str, low: int, high: int) -> int:
        try:
            number = int(text)
        except ValueError:
            raise RowProblem(f"{self._column_name(name)} {text!r} is not a whole number") from None
        if not low <= number <= high:
            raise RowProblem(f"{self._column_name(name)} {number} is not between {low} and "
                             f"{high}")
        return number

    def _status(self, text: str) -> str:
        status = {code.casefold(): s for code, s in self.statuses.items()}.get(text.casefold())
        if status is None:
            known = ", ".join(self.statuses)
            raise RowProblem(f"{self._column_name('status')} {text!r} is not a known status "
                             f"({known})")
        return status

    def _date(self, text: str) -> dt.date:
        try:
            return dt.datetime.strptime(text, self.date_format).date()
        except ValueError:
            raise RowProblem(f"{self._column_name('start_date')} {text!r} is not a date "
                             f"({self.date_hint})") from None

    def _money(self, text: str) -> Decimal | None:
        if not text or "monthly_charge" not in self.fields:
            return None
        cleaned = text.replace(" ", "")
        if self.decimal_comma:
            cleaned = cleaned.replace(".", "").replace(",", ".")
        try:
            amount = Decimal(cleaned)
        except InvalidOperation:
            raise RowProblem(f"{self._column_name('monthly_charge')} {text!r} is not an "
                             "amount") from None
        if not amount.is_finite() or amount < 0 or amount >= Decimal("1e10"):
            raise RowProblem(f"{self._column_name('monthly_charge')} {text!r} is not an "
                             "amount")
        return amount.quantize(Decimal("0.01"))


class RowProblem(ValueError):
    """What is wrong with one row (its line is added by the caller)."""


_SEPARATOR_NAMES = {";": "semicolons", ",": "commas", "|": "vertical bars", "\t": "tabs"}


def decode_upload(data: bytes, filename: str) -> str:
    """An uploaded file's text (UTF-8, a BOM allowed), refused with the reason when it is
    too large, empty or not text (ImportRefused)."""
    if len(data) > MAX_BYTES:
        raise ImportRefused(f"{filename} is larger than {MAX_BYTES // (1024 * 1024)} MB; split "
                            "the export by customer.")
    if not data.strip():
        raise ImportRefused(f"{filename} is empty.")
    if b"\x00" in data:
        raise ImportRefused(f"{filename} is not a text file (CSV).")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ImportRefused(
            f"{filename} is not UTF-8 text (the first bad byte is on line {line}); export it "
            "as UTF-8.") from None


def _country(text: str) -> str:
    code = text.strip()
    if code.upper() in COUNTRY_CODES:
        return code.upper()
    named = COUNTRY_NAMES.get(code.casefold())
    if named:
        return named
    raise RowProblem(f"country {text!r} is not one the operator serves")


def _add(accounts: dict[str, AccountRows], seen: dict[str, int], account: AccountRows,
         service: ServiceRow) -> None:
    if service.service_id in seen:
        raise RowProblem(f"service {service.service_id} is also on line "
                         f"{seen[service.service_id]}")
    known = accounts.get(account.customer_id)
    if known is None:
        accounts[account.customer_id] = known = account
    else:
        for name, label in (("name", "named"), ("registration", "registered as"),
                            ("vat", "VAT number")):
            if getattr(known, name) != getattr(account, name):
                raise RowProblem(
                    f"customer {account.customer_id} is {label} {getattr(known, name)!r} on "
                    f"line {known.line} but {getattr(account, name)!r} here")
    seen[service.service_id] = service.line
    known.services.append(service)


MOBILE = Layout(
    system="mobile-bss",
    label="mobile BSS",
    sample="mobile-bss-customers.csv",
    delimiter=";",
    date_format="%d.%m.%Y",
    date_hint="DD.MM.YYYY",
    decimal_comma=True,
    fields={
        "customer_id": "CUST_ID", "name": "CUST_NAME", "registration": "REG_NO",
        "vat": "VAT", "street": "ADDR", "postcode": "ZIP", "city": "CITY", "country": "CC",
        "billing_account": "BAN", "service_id": "SUB_ID", "offering": "TARIFF",
        "description": "TARIFF_NAME", "quantity": "QTY", "status": "STATUS",
        "start_date": "ACT_DATE", "term": "TERM_M", "monthly_charge": "MRC",
    },
    statuses={"ACT": "active", "SUS": "suspended", "BAR": "suspended", "TRM": "ceased"},
)

FIXED = Layout(
    system="fixed-bss",
    label="fixed/broadband BSS",
    sample="fixed-bss-customers.csv",
    delimiter=",",
    date_format="%Y-%m-%d",
    date_hint="YYYY-MM-DD",
    fields={
        "customer_id": "account_number", "name": "company", "registration": "company_reg",
        "vat": "vat_id", "site_ref": "site_ref", "site_name": "site_name",
        "street": "street", "postcode": "postal_code", "city": "town", "country": "country",
        "service_id": "line_id", "offering": "product", "description": "product_name",
        "quantity": "qty", "status": "line_status", "start_date": "start_date",
        "term": "contract_months", "billing_account": "billing_account",
        "monthly_charge": "monthly_fee",
    },
    statuses={"in service": "active", "suspended": "suspended", "barred": "suspended",
              "ceased": "ceased"},
)

TV = Layout(
    system="tv-bss",
    label="TV BSS",
    sample="tv-bss-customers.csv",
    delimiter="|",
    date_format="%Y%m%d",
    date_hint="YYYYMMDD",
    fields={
        "customer_id": "SubscriberNo", "name": "LegalName", "vat": "TaxNumber",
        "street": ("Street", "HouseNo"), "postcode": "PostCode", "city": "Locality",
        "country": "Country", "service_id": "ContractNo", "offering": "Package",
        "description": "PackageName", "quantity": "Boxes", "status": "State",
        "start_date": "Since", "term": "CommitmentMonths", "billing_account": "BillingAcct",
    },
    statuses={"ACTIVE": "active", "PAUSED": "suspended", "CANCELLED": "ceased"},
)

LAYOUTS: dict[str, Layout] = {layout.system: layout for layout in (MOBILE, FIXED, TV)}
SYSTEMS = tuple(LAYOUTS)
