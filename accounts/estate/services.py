"""The rules of a customer's estate: what a site and a billing account must look like, and
the changes made to them (create, edit, close, bulk import).

Each function takes a session; the caller commits, so a change and its audit event are
written together or not at all. Pages, the API and the CLI all call these.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from accounts.estate.countries import is_country
from accounts.estate.models import (
    DELIVERY_PREFERENCES,
    BillingAccount,
    Service,
    Site,
)
from portal import audit
from portal.db import utcnow
from portal.rules import RuleError

if TYPE_CHECKING:
    from accounts.estate.csv_sites import ImportPreview

SITE_FIELDS = ("code", "name", "address", "postcode", "city", "country", "contact_name",
               "contact_email", "contact_phone")
SITE_REQUIRED = frozenset({"code", "name", "address", "postcode", "city", "country"})
BILLING_FIELDS = ("number", "name", "currency", "address", "postcode", "city", "country",
                  "cost_centre", "delivery")
BILLING_REQUIRED = frozenset({"number", "name", "currency", "address", "postcode", "city",
                              "country", "delivery"})
# The currencies bills are issued in (ISO 4217); a closed list catches typos like "EUT".
CURRENCIES = ("EUR", "GBP", "USD", "CHF", "SEK", "DKK", "NOK", "PLN", "CZK", "HUF", "RON")
MAX_PAYMENT_TERMS_DAYS = 180
# Services that still run at a site: the site cannot close while it has any.
OPEN_SERVICE_STATUSES = ("active", "suspended")

CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")
PHONE_RE = re.compile(r"^\+?[0-9][0-9 ()./-]*$")
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
# A cell starting with one of these is run as a formula by spreadsheets (CSV injection).
FORMULA_START = ("=", "+", "-", "@")


class EstateError(RuleError):
    """A change that breaks a rule. `errors` maps a field to what is wrong with it (the
    problem reads after the field's name: "name" + " is missing")."""

    def __init__(self, message: str | None = None, errors: Mapping[str, str] | None = None):
        self.errors = dict(errors or {})
        super().__init__(message or "; ".join(f"{f} {p}" for f, p in self.errors.items()))


@functools.cache
def _max_length(model, field: str) -> int:
    return model.__table__.c[field].type.length


@functools.lru_cache(maxsize=65_536)
def _is_email(value: str) -> bool:
    # Cached: an import checks the same addresses at its preview and again at its commit.
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


def _text_problem(model, field: str, value: str, required: bool) -> str | None:
    """What is wrong with one trimmed text value, in words, or None."""
    if not value:
        return "is missing" if required else None
    if field == "country" and not is_country(value):
        return f"'{value}' is not an ISO 3166 alpha-2 country code (like DE, FR or GB)"
    limit = _max_length(model, field)
    if len(value) > limit:
        return f"is longer than {limit} characters ({len(value)})"
    if CONTROL_RE.search(value):
        return "contains a line break or another control character"
    if field == "contact_phone":
        if not PHONE_RE.match(value):
            return f"'{value}' is not a phone number (digits, spaces and + ( ) . / - only)"
        return None
    if value.startswith(FORMULA_START):
        return "must not start with =, +, - or @ (spreadsheets run such cells as formulas)"
    if field in ("code", "number") and not CODE_RE.match(value):
        return (f"'{value}' may only hold letters, digits and . _ / - and must start with a "
                "letter or digit")
    if field == "contact_email" and not _is_email(value):
        return f"'{value}' is not a valid e-mail address"
    return None


def check_site_fields(raw: Mapping[str, str | None]) -> tuple[dict[str, str], dict[str, str]]:
    """Tidy a site's text fields (trimmed, country in upper case) and say what is wrong
    with each. Returns (values, problems by field); the same rules serve the form and the
    CSV import."""
    values: dict[str, str] = {}
    problems: dict[str, str] = {}
    for field in SITE_FIELDS:
        value = (raw.get(field) or "").strip()
        if field == "country":
            value = value.upper()
        values[field] = value
        problem = _text_problem(Site, field, value, field in SITE_REQUIRED)
        if problem:
            problems[field] = problem
    return values, problems


def site_snapshot(site: Site) -> dict:
    """What the audit trail keeps of a site."""
    data = {field: getattr(site, field) for field in SITE_FIELDS}
    data.update(status=site.status, billing_account_id=site.billing_account_id)
    return data


def _billing_account_of_org(session: Session, org_id: int,
                            account_id: int | None) -> BillingAccount | None:
    if account_id is None:
        return None
    account = session.scalars(select(BillingAccount).where(
        BillingAccount.id == account_id, BillingAccount.organisation_id == org_id)).first()
    if account is None:
        raise EstateError(errors={"billing_account": "is not one of your billing accounts"})
    return account


def _code_taken(session: Session, org_id: int, code: str, except_id: int | None) -> bool:
    stmt = select(Site.id).where(Site.organisation_id == org_id, Site.code == code)
    if except_id is not None:
        stmt = stmt.where(Site.id != except_id)
    return session.scalar(stmt.limit(1)) is not None


def create_site(session: Session, org_id: int, raw: Mapping[str, str | None],
                billing_account_id: int | None = None) -> Site:
    """Add an active site to the organisation; its code must be new there. Audited as
    `site:create`."""
    values, problems = check_site_fields(raw)
    if "code" not in problems and _code_taken(session, org_id, values["code"], None):
        problems["code"] = f"'{values['code']}' is already used by another site"
    if problems:
        raise EstateError(errors=problems)
    account = _billing_account_of_org(session, org_id, billing_account_id)
    site = Site(organisation_id=org_id, status="active", billing_account=account, **values)
    session.add(site)
    session.flush()
    audit.record(session, "site:create", organisation_id=org_id, target=site,
                 after=site_snapshot(site))
    return site


def update_site(session: Session, site: Site, raw: Mapping[str, str | None],
                billing_account_id: int | None, *, bill_services: bool = False) -> dict:
    """Change a site's details and billing account; with `bill_services`, its services
    are billed to that account too. Returns what changed (field -> [before, after]);
    audited as `site:update` when anything did."""
    values, problems = check_site_fields(raw)
    if "code" not in problems and _code_taken(session, site.organisation_id, values["code"],
                                              site.id):
        problems["code"] = f"'{values['code']}' is already used by another site"
    if problems:
        raise EstateError(errors=problems)
    account = _billing_account_of_org(session, site.organisation_id, billing_account_id)
    before = site_snapshot(site)
    for field, value in values.items():
        setattr(site, field, value)
    site.billing_account_id = account.id if account else None
    after = site_snapshot(site)
    changes = {k: [before[k], after[k]] for k in after if before[k] != after[k]}
    if bill_services:
        moved = session.execute(
            update(Service)
            .where(Service.site_id == site.id, Service.organisation_id == site.organisation_id,
                   Service.billing_account_id.is_distinct_from(site.billing_account_id))
            .values(billing_account_id=site.billing_account_id)
            .execution_options(synchronize_session=False)
        ).rowcount
        if moved:
            changes["services_billed_to_site_account"] = [None, moved]
    if changes:
        audit.record(session, "site:update", organisation_id=site.organisation_id, target=site,
                     before={k: v[0] for k, v in changes.items()},
                     after={k: v[1] for k, v in changes.items()})
    return changes


def open_service_counts(session: Session, site_ids) -> dict[int, dict[str, int]]:
    """Active and suspended services per site: {site_id: {"active": n, "suspended": m}}."""
    ids = list(site_ids)
    if not ids:
        return {}
    counts: dict[int, dict[str, int]] = {}
    rows = session.execute(
        select(Service.site_id, Service.status, func.count())
        .where(Service.site_id.in_(ids), Service.status.in_(OPEN_SERVICE_STATUSES))
        .group_by(Service.site_id, Service.status))
    for site_id, status, count in rows:
        counts.setdefault(site_id, {})[status] = count
    return counts


def why_site_cannot_close(counts: Mapping[str, int]) -> str | None:
    """The reason, in plain words, a site with these open service counts cannot close."""
    active, suspended = counts.get("active", 0), counts.get("suspended", 0)
    if not active and not suspended:
        return None
    parts = [f"{n} {status} service{'s' if n != 1 else ''}"
             for status, n in (("active", active), ("suspended", suspended)) if n]
    return (f"This site still has {' and '.join(parts)}. Cease or move them before closing "
            "the site.")


def close_site(session: Session, site: Site) -> Site:
    """Close a site that has no active or suspended services. Audited as `site:close`."""
    if site.status == "closed":
        raise EstateError("This site is already closed.")
    reason = why_site_cannot_close(open_service_counts(session, [site.id]).get(site.id, {}))
    if reason:
        raise EstateError(reason)
    site.status = "closed"
    site.closed_at = utcnow()
    audit.record(session, "site:close", organisation_id=site.organisation_id, target=site,
                 before={"status": "active"}, after={"status": "closed"})
    return site


def check_billing_fields(raw: Mapping) -> tuple[dict, dict[str, str]]:
    """Tidy a billing account's fields and say what is wrong with each (as for sites)."""
    values: dict = {}
    problems: dict[str, str] = {}
    for field in BILLING_FIELDS:
        value = (raw.get(field) or "").strip()
        if field in ("country", "currency"):
            value = value.upper()
        values[field] = value
        problem = _text_problem(BillingAccount, field, value, field in BILLING_REQUIRED)
        if problem:
            problems[field] = problem
    if values["currency"] and values["currency"] not in CURRENCIES:
        problems["currency"] = f"'{values['currency']}' is not one of {', '.join(CURRENCIES)}"
    if values["delivery"] and values["delivery"] not in DELIVERY_PREFERENCES:
        problems["delivery"] = f"must be one of {', '.join(DELIVERY_PREFERENCES)}"
    terms = raw.get("payment_terms_days")
    if terms is None or terms == "":
        problems["payment_terms_days"] = "is missing"
    else:
        try:
            values["payment_terms_days"] = int(terms)
        except (TypeError, ValueError):
            problems["payment_terms_days"] = "must be a whole number of days"
        else:
            if not 0 <= values["payment_terms_days"] <= MAX_PAYMENT_TERMS_DAYS:
                problems["payment_terms_days"] = (
                    f"must be between 0 and {MAX_PAYMENT_TERMS_DAYS} days")
    return values, problems


def billing_snapshot(account: BillingAccount) -> dict:
    """What the audit trail keeps of a billing account."""
    return {field: getattr(account, field) for field in (*BILLING_FIELDS, "payment_terms_days")}


def _number_taken(session: Session, org_id: int, number: str, except_id: int | None) -> bool:
    stmt = select(BillingAccount.id).where(BillingAccount.organisation_id == org_id,
                                           BillingAccount.number == number)
    if except_id is not None:
        stmt = stmt.where(BillingAccount.id != except_id)
    return session.scalar(stmt.limit(1)) is not None


def create_billing_account(session: Session, org_id: int, raw: Mapping) -> BillingAccount:
    """Add a billing account; its number must be new in the organisation. Audited as
    `billing_account:create`."""
    values, problems = check_billing_fields(raw)
    if "number" not in problems and _number_taken(session, org_id, values["number"], None):
        problems["number"] = f"'{values['number']}' is already used by another account"
    if problems:
        raise EstateError(errors=problems)
    account = BillingAccount(organisation_id=org_id, status="active", **values)
    session.add(account)
    session.flush()
    audit.record(session, "billing_account:create", organisation_id=org_id, target=account,
                 after=billing_snapshot(account))
    return account


def update_billing_account(session: Session, account: BillingAccount, raw: Mapping) -> dict:
    """Change a billing account. Returns what changed (field -> [before, after]); audited
    as `billing_account:update` when anything did."""
    values, problems = check_billing_fields(raw)
    if "number" not in problems and _number_taken(session, account.organisation_id,
                                                  values["number"], account.id):
        problems["number"] = f"'{values['number']}' is already used by another account"
    if problems:
        raise EstateError(errors=problems)
    before = billing_snapshot(account)
    for field, value in values.items():
        setattr(account, field, value)
    after = billing_snapshot(account)
    changes = {k: [before[k], after[k]] for k in after if before[k] != after[k]}
    if changes:
        audit.record(session, "billing_account:update", organisation_id=account.organisation_id,
                     target=account, before={k: v[0] for k, v in changes.items()},
                     after={k: v[1] for k, v in changes.items()})
    return changes


IMPORT_COLUMNS = (*SITE_FIELDS, "status", "billing_account_id")


def apply_site_import(session: Session, org_id: int, preview: ImportPreview, *,
                      filename: str, digest: str) -> dict[str, int]:
    """Write a validated import preview: all its new sites and changes in a few bulk
    statements (no per-row flush). The preview must have no errors and must have been
    validated in this transaction. Audited once as `sites:import` with the counts."""
    if preview.errors:
        raise EstateError("The file has errors; nothing was imported.")
    now = utcnow()
    table = Site.__table__
    if preview.creates:
        session.execute(insert(table), [
            {**{c: p.values[c] for c in IMPORT_COLUMNS}, "organisation_id": org_id,
             "created_at": now, "closed_at": now if p.values["status"] == "closed" else None}
            for p in preview.creates])
    if preview.updates:
        # One executemany; every row sets the same columns, unchanged ones to their value.
        session.execute(
            update(table).where(table.c.id == bindparam("site_id"),
                                table.c.organisation_id == org_id),
            [{**{c: p.values[c] for c in IMPORT_COLUMNS}, "site_id": p.site_id,
              "closed_at": _closed_at(p, now)} for p in preview.updates])
    counts = preview.counts()
    audit.record(session, "sites:import", organisation_id=org_id,
                 after={**counts, "file": filename[:200], "sha256": digest})
    return counts


def _closed_at(planned, now):
    if planned.values["status"] == planned.before_status:
        return planned.closed_at
    return now if planned.values["status"] == "closed" else None

