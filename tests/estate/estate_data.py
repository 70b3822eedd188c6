"""Estate rows for tests, written in bulk (Core inserts), and CSV files of sites."""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools

from sqlalchemy import func, insert, select

from accounts.estate.csv_sites import COLUMNS
from accounts.estate.models import BillingAccount, Service, Site
from portal.extensions import db

_refs = itertools.count(1)


def add_account(app, org_id: int, number: str = "BA-1", **extra) -> int:
    """A billing account of the organisation; returns its id."""
    values = {"organisation_id": org_id, "number": number, "name": f"Account {number}",
              "currency": "EUR", "address": "1 Billing Street", "postcode": "10115",
              "city": "Berlin", "country": "DE", "payment_terms_days": 30,
              "cost_centre": "", "delivery": "portal", "status": "active", **extra}
    with app.app_context():
        account_id = db.session.execute(insert(BillingAccount).values(values)
                                        .returning(BillingAccount.id)).scalar_one()
        db.session.commit()
        return account_id


def site_values(code: str, **extra) -> dict:
    """The columns of a site as the CSV names them (billing_account is a number)."""
    return {"code": code, "name": f"Site {code}", "address": f"{code} Main Street",
            "postcode": "10115", "city": "Berlin", "country": "DE", "contact_name": "",
            "contact_email": "", "contact_phone": "", "status": "active",
            "billing_account": "", **extra}


def add_sites(app, org_id: int, count: int, prefix: str = "S", account_id: int | None = None,
              **extra) -> list[int]:
    """`count` sites coded PREFIX-00000...; returns their ids in code order."""
    rows = []
    for n in range(count):
        values = site_values(f"{prefix}-{n:05d}", **extra)
        values.pop("billing_account")
        rows.append({**values, "organisation_id": org_id, "billing_account_id": account_id})
    with app.app_context():
        db.session.execute(insert(Site), rows)
        db.session.commit()
        return list(db.session.scalars(
            select(Site.id).where(Site.organisation_id == org_id,
                                  Site.code.startswith(f"{prefix}-")).order_by(Site.code)))


def add_services(app, org_id: int, site_id: int, count: int, status: str = "active",
                 account_id: int | None = None, offering: str = "MOB-UNL",
                 source_system: str = "portal", **extra) -> None:
    """`count` services at a site."""
    rows = [{"organisation_id": org_id, "site_id": site_id, "billing_account_id": account_id,
             "offering_code": offering, "description": f"{offering} line", "quantity": 1,
             "status": status, "start_date": dt.date(2025, 1, 1), "term_months": 24,
             "end_date": dt.date(2027, 1, 1), "promotion_code": "",
             "source_system": source_system, "source_ref": f"T-{next(_refs)}", **extra}
            for _ in range(count)]
    with app.app_context():
        db.session.execute(insert(Service), rows)
        db.session.commit()


def count_sites(app, org_id: int | None = None) -> int:
    """How many sites there are (of one organisation, or all)."""
    with app.app_context():
        stmt = select(func.count()).select_from(Site)
        if org_id is not None:
            stmt = stmt.where(Site.organisation_id == org_id)
        return db.session.scalar(stmt)


def csv_bytes(rows, columns=COLUMNS, bom: bool = False, delimiter: str = ",") -> bytes:
    """A CSV file of sites: `rows` are dicts by column (or lists of cells)."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([row.get(c, "") for c in columns] if isinstance(row, dict) else row)
    return (("\ufeff" if bom else "") + out.getvalue()).encode()
