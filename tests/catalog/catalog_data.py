"""Catalog files for tests: a small valid catalog as data (to break one field at a time),
written out as YAML, and loaded as versions."""

from __future__ import annotations

import copy
import datetime as dt

import yaml

from portal.catalog.store import load_version
from portal.extensions import db

BASE = {
    "currency": "EUR",
    "approval": {"auto_max": "0.05", "account_manager_max": "0.15",
                 "sales_director_max": "0.30"},
    "quote_validity_days": 30,
    "tax_rates": {"DE": "0.19", "FR": "0.20"},
    "offerings": [
        {"code": "MOB-UNL", "name": "Business Mobile Unlimited", "family": "mobile",
         "fulfilment": "mobile-bss", "recurring": "25.00", "one_off": "10.00",
         "volume_tiers": [{"min": 1, "discount": "0"}, {"min": 50, "discount": "0.10"}],
         "terms": {12: "0", 24: "0.05"},
         "promotions": [{"code": "SIX-FREE", "months_free": 6}],
         "available_in": ["DE", "FR"]},
        {"code": "BB-FIBRE-1G", "name": "Business Fibre 1 Gbit/s", "family": "broadband",
         "fulfilment": "fixed-bss", "recurring": "89.00", "one_off": "99.00",
         "terms": {24: "0", 36: "0.10"}, "available_in": ["DE", "FR"]},
        {"code": "SDWAN-EDGE", "name": "SD-WAN edge", "family": "sdwan",
         "fulfilment": "fixed-bss", "recurring": "120.00", "one_off": "250.00",
         "terms": {24: "0", 36: "0.10"}, "requires": ["BB-FIBRE-1G"], "max_quantity": 2,
         "available_in": ["DE"]},
        {"code": "DEV-PHONE", "name": "Smartphone", "family": "device",
         "fulfilment": "mobile-bss", "recurring": "0.00", "one_off": "499.00",
         "plans": ["MOB-UNL"], "accessories": ["ACC-CASE"]},
        {"code": "ACC-CASE", "name": "Phone case", "family": "accessory",
         "fulfilment": "mobile-bss", "recurring": "0", "one_off": "19.00"},
    ],
}
CODES = [o["code"] for o in BASE["offerings"]]


def base() -> dict:
    """A fresh copy of the valid test catalog, to change."""
    return copy.deepcopy(BASE)


def offering(data: dict, code: str) -> dict:
    """The offering `code` of catalog data."""
    return next(o for o in data["offerings"] if o["code"] == code)


def to_yaml(data: dict) -> str:
    """Catalog data as a YAML file."""
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def future(days: int = 30) -> dt.date:
    """A day `days` from today (UTC)."""
    return dt.datetime.now(dt.UTC).date() + dt.timedelta(days=days)


def load(app, data: dict | str, filename: str = "catalog.yaml", note: str = "") -> int:
    """Load catalog data (or YAML text) as the next version; returns its number."""
    text = data if isinstance(data, str) else to_yaml(data)
    with app.app_context():
        version = load_version(db.session, text, filename, "test", note=note)
        db.session.commit()
        return version.number
