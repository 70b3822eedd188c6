"""The portal's own bill run: it rates the service inventory for one month, as the sandbox
billing source (the rules are in docs/BILLS.md, "Bill run").

Everything per service happens in SQL, set-based, whatever the size of the inventory: one
aggregate query gives each billing account's total, one INSERT ... SELECT writes every line.
Only the bills themselves (one per billing account) are built in Python. Amounts are worked
in whole cents with integer arithmetic, so SQLite and PostgreSQL give the same figures to the
cent; dates are reduced to year, month and day numbers for the same reason (the period is one
calendar month, so days inside it are plain day numbers).

A billing account that already has a bill-run bill for the period is left alone: running the
same period twice changes nothing. Like every service, this adds to the caller's session; the
caller commits."""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import (
    BigInteger,
    Integer,
    Numeric,
    String,
    and_,
    case,
    cast,
    extract,
    func,
    insert,
    literal,
    literal_column,
    not_,
    or_,
    select,
    text,
    union_all,
)
from sqlalchemy.orm import Session

from accounts.estate.models import BillingAccount, Service, Site
from accounts.models import Organisation
from portal import audit
from portal.billing.models import Bill, BillLine, LineKind
from portal.catalog.schema import Catalog
from portal.catalog.store import current_catalog
from portal.rules import RuleError

SOURCE_SYSTEM = "portal"
SOURCE_FORMAT = "bill-run"
CENT = Decimal("0.01")
PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
BASIS_POINTS = 10_000  # tax rates are worked in hundredths of a per cent
# A literal with a decimal point divides exactly on PostgreSQL (numeric) and as a real on
# SQLite, where an integer division would drop the cents.
HUNDRED = literal_column("100.0")


class BillRunError(RuleError):
    """The bill run did not run and nothing was changed; the message says why."""


@dataclass(frozen=True)
class Period:
    """One calendar month: 'YYYY-MM', its first and last day and its number of days."""

    label: str
    start: dt.date
    end: dt.date  # inclusive

    @property
    def days(self) -> int:
        """The number of days in the month."""
        return self.end.day

    @property
    def index(self) -> int:
        """Months since year 0, to count whole months between two dates."""
        return self.start.year * 12 + self.start.month

    @classmethod
    def parse(cls, text: str) -> Period:
        """The period named 'YYYY-MM'; BillRunError for anything else."""
        match = PERIOD.match(text or "")
        if match is None:
            raise BillRunError(f"{text!r} is not a period; write it as YYYY-MM, like 2026-10.")
        year, month = int(match[1]), int(match[2])
        last = calendar.monthrange(year, month)[1]
        return cls(text, dt.date(year, month, 1), dt.date(year, month, last))


@dataclass
class RunResult:
    """What a bill run did."""

    period: str
    bills: list[str] = field(default_factory=list)  # bill numbers written
    lines: int = 0
    services: int = 0  # services rated
    already_billed: int = 0  # billing accounts skipped: billed for this period before
    without_account: int = 0  # services in the period with no billing account to bill
    total_excl_tax: Decimal = Decimal("0.00")

    def summary(self) -> str:
        """One sentence for a terminal."""
        text = (f"Bill run {self.period}: {len(self.bills)} bill"
                f"{'s' if len(self.bills) != 1 else ''}, {self.lines} lines for "
                f"{self.services} services, {self.total_excl_tax} before tax; "
                f"{self.already_billed} billing account"
                f"{'s' if self.already_billed != 1 else ''} already billed for the period.")
        if self.without_account:
            one = self.without_account == 1
            text += (f" {self.without_account} service{'' if one else 's'} "
                     f"{'has' if one else 'have'} no billing account and "
                     f"{'was' if one else 'were'} not billed.")
        return text


def bill_number(period: str, account_number: str) -> str:
    """The number of the bill-run bill of a billing account for a period."""
    return f"PR-{period}-{account_number}"


def _lookup(column, values: dict, default):
    """`values[column]` as SQL (a CASE over the catalog's few keys): catalog data joins
    the inventory without a table of its own."""
    if not values:
        return literal(default)
    return case(values, value=column, else_=literal(default))


def _cents(amount: Decimal) -> int:
    return int((amount * 100).to_integral_value(ROUND_HALF_UP))


def _smaller(a, b):
    return case((a < b, a), else_=b)


def _day(column):
    return cast(extract("day", column), Integer)


def _month_index(column):
    return cast(extract("year", column), Integer) * 12 + cast(extract("month", column), Integer)


def _catalog_values(catalog: Catalog) -> dict:
    offerings = catalog.offerings.values()
    months_free = {f"{o.code}|{p.code}": p.months_free
                   for o in offerings for p in o.promotions if p.months_free}
    return dict(
        name={o.code: o.name for o in offerings},
        family={o.code: o.family for o in offerings},
        recurring={o.code: _cents(o.recurring) for o in offerings},
        one_off={o.code: _cents(o.one_off) for o in offerings},
        months_free=months_free,
        tax={country: int(rate * BASIS_POINTS) for country, rate in catalog.tax_rates.items()},
    )


def _ended():
    """A service's end date ends its billing only once it is ceased: on an active or
    suspended service it is the end of the contract term (TMF637 productTerm), after which
    the service rolls on."""
    return and_(Service.status == "ceased", Service.end_date.is_not(None))


def _in_period(period: Period):
    """Services that exist on at least one day of the period (a ceased service without an
    end date has none, nor has one that ended before it started)."""
    return and_(
        Service.start_date <= period.end,
        or_(not_(_ended()),
            and_(Service.end_date >= period.start, Service.end_date >= Service.start_date)),
        not_(and_(Service.status == "ceased", Service.end_date.is_(None))),
    )


def _services_in(period: Period, organisation_id: int | None, *columns, billed=True):
    """SELECT `columns` from the services that exist in the period (of one organisation, or
    all), with their site; joined to the billing account they are billed to when `billed`,
    else only the services that have none."""
    query = (select(*columns).select_from(Service).join(Site, Site.id == Service.site_id)
             .where(_in_period(period)))
    if billed:
        account_id = func.coalesce(Service.billing_account_id, Site.billing_account_id)
        query = query.join(BillingAccount, BillingAccount.id == account_id)
    else:
        query = query.where(Service.billing_account_id.is_(None),
                            Site.billing_account_id.is_(None))
    if organisation_id is not None:
        query = query.where(Service.organisation_id == organisation_id)
    return query


def _rated(period: Period, catalog: Catalog, organisation_id: int | None,
           accounts: list[int] | None = None):
    """One row per service to bill, with what it costs in the period (in cents): of the
    billing accounts not billed for the period yet, or of `accounts`."""
    values = _catalog_values(catalog)
    billed = (select(Bill.billing_account_id)
              .where(Bill.source_system == SOURCE_SYSTEM, Bill.period == period.label,
                     Bill.billing_account_id.is_not(None)))
    starts_inside = Service.start_date >= period.start
    ends_inside = and_(_ended(), Service.end_date <= period.end)
    first = case((starts_inside, _day(Service.start_date)), else_=1)
    last = case((ends_inside, _day(Service.end_date)), else_=period.days)
    # Free promotion months run from the start date to the same day m months later
    # (the month's last day when it is shorter), that day excluded: term_end's calendar.
    free_months = _lookup(Service.offering_code + "|" + Service.promotion_code,
                          values["months_free"], 0)
    months_in = period.index - _month_index(Service.start_date)
    free_last = case(
        (free_months == 0, 0),
        (months_in < free_months, period.days),
        (months_in == free_months, _smaller(_day(Service.start_date), period.days) - 1),
        else_=0)
    free_days = case((free_last >= first, _smaller(free_last, last) - first + 1), else_=0)
    # 64-bit: cents × days × 2 (and × a tax rate in basis points) outgrow a 32-bit integer.
    monthly = case(
        (Service.monthly_charge.is_not(None),
         cast(func.round(Service.monthly_charge * 100), BigInteger)),
        else_=cast(_lookup(Service.offering_code, values["recurring"], 0), BigInteger)
        * Service.quantity)
    charged_days = last - first + 1 - free_days
    # Half-up rounding of monthly × charged / days, in integers.
    recurring = (monthly * charged_days * 2 + period.days) // (2 * period.days)
    one_off = case(
        (starts_inside,
         cast(_lookup(Service.offering_code, values["one_off"], 0), BigInteger)
         * Service.quantity),
        else_=0)
    # Why a recurring line is less than the month's charge, for the reader of the bill.
    charged = cast(charged_days, String)
    note = case(
        (and_(free_days > 0, charged_days == 0), literal(" (promotion: free)")),
        (free_days > 0, " (promotion: charged " + charged + f" of {period.days} days)"),
        (charged_days < period.days, " (" + charged + f" of {period.days} days)"),
        else_=literal(""))
    start = case((starts_inside, Service.start_date), else_=period.start)
    end = case((ends_inside, Service.end_date), else_=period.end)
    query = _services_in(
        period, organisation_id,
        Service.id.label("service_id"),
        Service.organisation_id.label("organisation_id"),
        BillingAccount.id.label("account_id"),
        Site.id.label("site_id"),
        Site.code.label("site_code"),
        Service.source_ref.label("service_ref"),
        Service.offering_code.label("offering_code"),
        _lookup(Service.offering_code, values["family"], "").label("family"),
        func.coalesce(_lookup(Service.offering_code, values["name"], None),
                      func.nullif(Service.description, ""),
                      Service.offering_code).label("name"),
        BillingAccount.cost_centre.label("cost_centre"),
        Service.quantity.label("quantity"),
        start.label("line_start"),
        end.label("line_end"),
        recurring.label("recurring"),
        note.label("note"),
        one_off.label("one_off"),
        _lookup(BillingAccount.country, values["tax"], 0).label("tax"),
    ).where(BillingAccount.id.not_in(billed) if accounts is None
            else BillingAccount.id.in_(accounts))
    return query.subquery("rated")


def _lines(rated):
    """The rated services as bill lines: a recurring line for each, a one-off line for each
    that started in the period."""
    common = [rated.c.account_id, rated.c.site_id, rated.c.site_code, rated.c.service_id,
              rated.c.service_ref, rated.c.offering_code, rated.c.family, rated.c.cost_centre,
              rated.c.quantity, rated.c.tax, rated.c.line_start, rated.c.line_end]
    recurring = select(*common, literal(LineKind.RECURRING, String).label("kind"),
                       literal(1).label("kind_order"),
                       (rated.c.name + rated.c.note).label("description"),
                       rated.c.recurring.label("cents"))
    one_off = (select(*common, literal(LineKind.ONE_OFF, String).label("kind"),
                      literal(2).label("kind_order"),
                      (rated.c.name + " (activation)").label("description"),
                      rated.c.one_off.label("cents"))
               .where(rated.c.one_off != 0))
    return union_all(recurring, one_off).subquery("charges")


def _check_tax_rates(session: Session, period: Period, catalog: Catalog,
                     organisation_id: int | None) -> None:
    query = (_services_in(period, organisation_id, BillingAccount.country,
                          func.min(BillingAccount.number))
             .where(BillingAccount.country.not_in(list(catalog.tax_rates) or [""]))
             .group_by(BillingAccount.country))
    missing = session.execute(query).all()
    if missing:
        named = ", ".join(f"{country} (billing account {number})" for country, number in missing)
        raise BillRunError(f"The catalog has no tax rate for {named}; add it to tax_rates and "
                           "run again. Nothing was billed.")


def _without_account(session: Session, period: Period, organisation_id: int | None) -> int:
    return session.scalar(_services_in(period, organisation_id, func.count(),
                                       billed=False)) or 0


def _organisation_id(session: Session, slug: str | None) -> int | None:
    if slug is None:
        return None
    found = session.scalar(select(Organisation.id).where(Organisation.slug == slug))
    if found is None:
        raise BillRunError(f"There is no organisation {slug!r}.")
    return found


def run_bills(session: Session, period_label: str, *, organisation_slug: str | None = None,
              actor_label: str = "cli") -> RunResult:
    """Rate every service of the inventory (or of one organisation) for the month
    `period_label` ('YYYY-MM') and write one bill per billing account not yet billed for it.
    Raises BillRunError, changing nothing, when the period, the organisation, the catalog or
    a tax rate is missing."""
    period = Period.parse(period_label)
    organisation_id = _organisation_id(session, organisation_slug)
    found = current_catalog(session)
    if found is None:
        raise BillRunError("No catalog is loaded; load one with `catalog load` first.")
    catalog = found[1]
    _check_tax_rates(session, period, catalog, organisation_id)
    result = RunResult(period.label)
    result.without_account = _without_account(session, period, organisation_id)
    rated = _rated(period, catalog, organisation_id)
    totals = session.execute(
        select(rated.c.account_id, func.count(), func.sum(rated.c.recurring + rated.c.one_off),
               func.sum(case((rated.c.one_off != 0, 1), else_=0)))
        .group_by(rated.c.account_id)).all()
    if not totals:
        result.already_billed = _already_billed(session, period, organisation_id)
        return result
    accounts = {a.id: a for a in session.scalars(
        select(BillingAccount).where(BillingAccount.id.in_([t[0] for t in totals])))}
    bills = [_bill(accounts[account_id], period, catalog, Decimal(cents or 0) / 100)
             for account_id, _count, cents, _one_offs in totals]
    session.add_all(bills)
    session.flush()
    _tune_for_one_big_statement(session)
    result.services = sum(row[1] for row in totals)
    result.lines = result.services + sum(row[3] for row in totals)
    result.bills = [bill.bill_number for bill in bills]
    result.total_excl_tax = sum((b.amount_excl_tax for b in bills), Decimal("0.00"))
    # The new bills now count as billed: their lines come from the same accounts' services.
    charges = _lines(_rated(period, catalog, organisation_id, accounts=list(accounts)))
    _insert_lines(session, charges, period)
    result.already_billed = _already_billed(session, period, organisation_id) - len(bills)
    _audit(session, bills, period, actor_label)
    return result


def _bill(account: BillingAccount, period: Period, catalog: Catalog,
          amount: Decimal) -> Bill:
    amount = amount.quantize(CENT)
    rate = catalog.tax_rates[account.country]
    tax = (amount * rate).quantize(CENT, ROUND_HALF_UP)
    bill_date = period.end + dt.timedelta(days=1)
    return Bill(organisation_id=account.organisation_id, billing_account_id=account.id,
                source_system=SOURCE_SYSTEM, bill_number=bill_number(period.label,
                                                                      account.number),
                period=period.label, period_start=period.start, period_end=period.end,
                bill_date=bill_date,
                due_date=bill_date + dt.timedelta(days=account.payment_terms_days or 0),
                currency=catalog.currency, amount_excl_tax=amount, tax_amount=tax,
                amount_incl_tax=amount + tax, source_format=SOURCE_FORMAT,
                imported_by="bill run")


def _tune_for_one_big_statement(session: Session) -> None:
    """On PostgreSQL: statistics that know about the bills just written (the planner would
    otherwise believe there are none and look each line's bill up the slow way), and no JIT
    for the rest of the transaction (compiling the catalog's CASE expressions costs more
    than it saves), and memory to number the lines without sorting on disk."""
    if session.get_bind().dialect.name != "postgresql":
        return
    session.execute(text("SET LOCAL jit = off"))
    session.execute(text("SET LOCAL work_mem = '64MB'"))
    session.execute(text("ANALYZE bills"))


def _insert_lines(session: Session, charges, period: Period) -> None:
    """Write every line of the new bills with one INSERT ... SELECT."""
    position = func.row_number().over(
        partition_by=charges.c.account_id,
        order_by=(charges.c.site_code, charges.c.service_id, charges.c.kind_order))
    tax_cents = ((cast(charges.c.cents, BigInteger) * charges.c.tax * 2 + BASIS_POINTS)
                 // (2 * BASIS_POINTS))
    money = Numeric(14, 2)
    # A lookup per line by the bills' billing-account index, not a join: just after they are
    # written the planner believes there are no such bills and would rescan every service
    # for each bill.
    bill_id = (select(Bill.id)
               .where(Bill.billing_account_id == charges.c.account_id,
                      Bill.source_system == SOURCE_SYSTEM, Bill.period == period.label)
               .scalar_subquery())
    rows = (
        select(
            bill_id, position, charges.c.kind, charges.c.description, charges.c.site_id,
            charges.c.service_id, charges.c.service_ref, charges.c.offering_code,
            charges.c.family, charges.c.cost_centre, charges.c.line_start, charges.c.line_end,
            charges.c.quantity, cast(charges.c.cents / HUNDRED, money),
            cast(charges.c.tax / literal_column(f"{BASIS_POINTS}.0"), Numeric(6, 4)),
            cast(tax_cents / HUNDRED, money))
    )
    columns = ["bill_id", "position", "kind", "description", "site_id", "service_id",
               "service_ref", "offering_code", "product_family", "cost_centre",
               "period_start", "period_end", "quantity", "amount", "tax_rate", "tax_amount"]
    session.execute(insert(BillLine).from_select(columns, rows))


def _already_billed(session: Session, period: Period, organisation_id: int | None) -> int:
    query = select(func.count()).select_from(Bill).where(
        Bill.source_system == SOURCE_SYSTEM, Bill.period == period.label)
    if organisation_id is not None:
        query = query.where(Bill.organisation_id == organisation_id)
    return session.scalar(query) or 0


def _audit(session: Session, bills: list[Bill], period: Period, actor_label: str) -> None:
    """One `bill:run` event per organisation billed."""
    by_org: dict[int, list[Bill]] = {}
    for bill in bills:
        by_org.setdefault(bill.organisation_id, []).append(bill)
    for organisation_id, issued in by_org.items():
        audit.record(session, "bill:run", organisation_id=organisation_id,
                     actor_label=actor_label,
                     after={"period": period.label,
                            "bills": [b.bill_number for b in issued],
                            "amount_excl_tax": str(sum(b.amount_excl_tax for b in issued))})
