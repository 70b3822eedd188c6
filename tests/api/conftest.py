"""Fixtures of the API tests: the official TMF specifications (read from
PORTAL_TMF_SPEC_DIR, never copied into the project), an estate in two organisations, and API
keys."""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import jsonschema_rs
import pytest

from accounts.apikeys import create_api_key
from accounts.estate.models import BillingAccount, Service, Site
from accounts.models import Organisation
from portal.billing.models import Bill, BillLine
from portal.extensions import db

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SPEC_FILES = {
    "TMF666": "TMF666-Account-v4.swagger.json",
    "TMF637": "TMF637-ProductInventory-v4.swagger.json",
    "TMF620": "TMF620-ProductCatalog-v4.swagger.json",
    "TMF648": "TMF648-Quote-v4.swagger.json",
    "TMF622": "TMF622-ProductOrdering-v4.swagger.json",
    "TMF678": "TMF678-CustomerBill-v4.swagger.json",
}


def spec_dir() -> Path:
    """Where the official specifications are: PORTAL_TMF_SPEC_DIR (relative to the project
    root unless absolute), by default ../shared/tmf beside the project."""
    folder = Path(os.environ.get("PORTAL_TMF_SPEC_DIR") or "../shared/tmf")
    return folder if folder.is_absolute() else (PROJECT_ROOT / folder).resolve()


@functools.cache
def _read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def load_spec(name: str) -> dict:
    """The swagger document of `name` (TMF666, TMF637). Where the folder is missing the test
    is skipped (a user's fresh clone), except under CI=true, where it fails."""
    path = spec_dir() / SPEC_FILES[name]
    if not path.is_file():
        message = (f"the official TMF specification {SPEC_FILES[name]} is not in {spec_dir()} "
                   "(set PORTAL_TMF_SPEC_DIR)")
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}; CI requires it")
        pytest.skip(message)
    return _read(path)


@pytest.fixture
def tmf_spec():
    """`tmf_spec("TMF666")`: the official swagger document (skip or CI failure if absent)."""
    return load_spec


@functools.cache
def _validator(name: str, definition: str):
    spec = load_spec(name)
    # Swagger 2.0 definitions are JSON Schema draft 4 (give or take keywords it ignores).
    schema = {"$ref": f"#/definitions/{definition}", "definitions": spec["definitions"]}
    return jsonschema_rs.Draft4Validator(schema, validate_formats=True)


@pytest.fixture
def assert_tmf(tmf_spec):
    """`assert_tmf("TMF666", "BillingAccount", item)`: the item validates against the
    official definition (required attributes, types, formats such as date-time)."""

    def check(name: str, definition: str, instance) -> None:
        tmf_spec(name)  # skip or fail here, with the message, when the spec is missing
        errors = [str(error) for error in _validator(name, definition).iter_errors(instance)]
        assert errors == [], f"{definition} does not validate:\n" + "\n\n".join(errors)

    return check


@dataclass
class Estate:
    """Ids of what `estate` created, by short name."""

    org: int
    other_org: int
    accounts: dict[str, int] = field(default_factory=dict)
    sites: dict[str, int] = field(default_factory=dict)
    services: dict[str, int] = field(default_factory=dict)


def add_estate(session, org_id: int, tag: str, services: int = 3) -> dict:
    """A billing account, two sites and `services` services (cycling statuses) of an
    organisation; returns the new ids by name."""
    account = BillingAccount(organisation_id=org_id, number=f"BA-{tag}", name=f"{tag} HQ",
                             currency="EUR", address="1 Main Street", postcode="10115",
                             city="Berlin", country="DE", cost_centre="CC-7",
                             delivery="email")
    spare = BillingAccount(organisation_id=org_id, number=f"BA-{tag}-2", name=f"{tag} Spare",
                           currency="GBP", country="GB", status="closed")
    session.add_all([account, spare])
    session.flush()
    sites = [Site(organisation_id=org_id, code=f"{tag}-S{i}", name=f"{tag} site {i}",
                  address=f"{i} High Street", postcode="75001", city="Paris", country="FR",
                  billing_account_id=account.id) for i in (1, 2)]
    session.add_all(sites)
    session.flush()
    statuses = ("active", "suspended", "ceased")
    rows = []
    for i in range(services):
        status = statuses[i % 3]
        rows.append(Service(
            organisation_id=org_id, site_id=sites[i % 2].id,
            billing_account_id=account.id if i % 2 == 0 else None,
            offering_code="MOB-UNL" if i % 2 == 0 else "FIB-1G",
            description=f"{tag} service {i}", quantity=i + 1, status=status,
            start_date=dt.date(2024, 1, 1), term_months=24,
            end_date=dt.date(2025, 6, 30) if status == "ceased" else None,
            monthly_charge=Decimal("25.50") if i % 2 == 0 else None,
            source_system="portal", source_ref=f"{tag}-{i}"))
    session.add_all(rows)
    session.flush()
    return {"account": account.id, "spare": spare.id, "site1": sites[0].id,
            "site2": sites[1].id, "services": [s.id for s in rows]}


def add_bill(session, org_id: int, account_id: int | None, number: str,
             bill_date: dt.date = dt.date(2026, 11, 2), lines: int = 2) -> int:
    """A bill of October 2026 with `lines` lines of 10.00 + 19 % tax each; its id."""
    amount, tax = Decimal("10.00") * lines, Decimal("1.90") * lines
    bill = Bill(organisation_id=org_id, billing_account_id=account_id, source_system="test",
                bill_number=number, period="2026-10", period_start=dt.date(2026, 10, 1),
                period_end=dt.date(2026, 10, 31), bill_date=bill_date, currency="EUR",
                amount_excl_tax=amount, tax_amount=tax, amount_incl_tax=amount + tax,
                source_format="tmf678", lines=[
                    BillLine(position=n, kind="recurring", description=f"Charge {n}",
                             amount=Decimal("10.00"), tax_rate=Decimal("0.19"),
                             tax_amount=Decimal("1.90")) for n in range(1, lines + 1)])
    session.add(bill)
    session.flush()
    return bill.id


@pytest.fixture
def estate(app, factory) -> Estate:
    """Acme (customer) with billing accounts, sites and services; Globex (customer) with its
    own, which Acme's keys must never reach."""
    acme = factory.org("acme")
    globex = factory.org("globex")
    with app.app_context():
        mine = add_estate(db.session, acme, "acme")
        theirs = add_estate(db.session, globex, "globex")
        db.session.commit()
    return Estate(
        org=acme, other_org=globex,
        accounts={"mine": mine["account"], "spare": mine["spare"],
                  "theirs": theirs["account"]},
        sites={"one": mine["site1"], "two": mine["site2"], "theirs": theirs["site1"]},
        services={"all": mine["services"], "theirs": theirs["services"]},
    )


@pytest.fixture
def make_key(app):
    """`make_key(org_id, role)`: a new key's token."""

    def make(org_id: int, role: str = "viewer", name: str = "test key") -> str:
        with app.app_context():
            org = db.session.get(Organisation, org_id)
            _, token = create_api_key(db.session, org, name, role)
            db.session.commit()
            return token

    return make



def bearer(token: str) -> dict:
    """The header of an API call with `token`."""
    return {"Authorization": f"Bearer {token}"}


class ApiClient:
    """Calls to one TMF collection (`.../quote`) with an API key: `get`, `post`, `patch`."""

    def __init__(self, client, token: str, collection: str) -> None:
        self.client = client
        self.collection = collection
        self.headers = bearer(token)

    def get(self, path: str | None = None, **params):
        """GET the collection (or `path`) with query parameters."""
        return self.client.get(path or self.collection, query_string=params,
                               headers=self.headers)

    def post(self, body, content_type: str = "application/json"):
        """POST `body` (an object, or a raw string) to the collection."""
        data = body if isinstance(body, str) else json.dumps(body)
        return self.client.post(self.collection, data=data, content_type=content_type,
                                headers=self.headers)

    def patch(self, resource_id, body, content_type: str = "application/merge-patch+json"):
        """PATCH one resource of the collection."""
        return self.client.patch(f"{self.collection}/{resource_id}", data=json.dumps(body),
                                 content_type=content_type, headers=self.headers)


@pytest.fixture
def api_client(client):
    """`api_client(token, collection)`: an ApiClient of the test client."""
    return lambda token, collection: ApiClient(client, token, collection)
