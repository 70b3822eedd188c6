"""Catalog versions: loading a file as the next version (with its audit event), no change
for the same file, reading the version in force or any other (parsed once), and the diff
between two catalogs."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from catalog_data import base, load, offering, to_yaml
from sqlalchemy import func, select

from portal.audit import AuditEvent
from portal.catalog import store
from portal.catalog.diff import Change, diff
from portal.catalog.loader import CatalogError, load_catalog_yaml
from portal.catalog.models import CatalogVersion
from portal.catalog.store import (
    catalog_version,
    current_catalog,
    load_version,
    previous_catalog,
)
from portal.extensions import db


def catalog_of(data: dict):
    return load_catalog_yaml(to_yaml(data))


# Versions in the database ------------------------------------------------------------------


def test_each_new_file_is_the_next_version_with_its_audit_event(app_ctx):
    text = to_yaml(base())
    first = load_version(db.session, text, "spring.yaml", "olga@carrier.test", note=" First ")
    db.session.commit()
    assert (first.number, first.filename, first.loaded_by, first.note) == (
        1, "spring.yaml", "olga@carrier.test", "First")
    assert first.source == text and len(first.sha256) == 64
    changed = base()
    offering(changed, "MOB-UNL")["recurring"] = "27.00"
    second = load_version(db.session, to_yaml(changed), "summer.yaml", "cli")
    db.session.commit()
    assert second.number == 2
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "catalog:load")
                                .order_by(AuditEvent.id)).all()
    assert [e.actor_label for e in events] == ["olga@carrier.test", "cli"]
    assert events[1].target_type == "CatalogVersion" and events[1].target_id == str(second.id)
    assert events[1].before == {"number": 1, "sha256": first.sha256}
    assert events[1].after["number"] == 2 and events[1].after["offerings"] == 5
    assert events[1].after["filename"] == "summer.yaml"


def test_the_same_file_again_changes_nothing(app_ctx):
    text = to_yaml(base())
    assert load_version(db.session, text, "a.yaml", "test") is not None
    db.session.commit()
    assert load_version(db.session, text, "b.yaml", "test") is None
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(CatalogVersion)) == 1
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == 1


def test_going_back_to_an_older_file_is_a_new_version(app):
    original, changed = base(), base()
    offering(changed, "MOB-UNL")["recurring"] = "27.00"
    assert [load(app, original), load(app, changed), load(app, original)] == [1, 2, 3]
    with app.app_context():
        version, catalog = current_catalog(db.session)
        assert version.number == 3
        assert catalog.offerings["MOB-UNL"].recurring == Decimal("25.00")


def test_a_bad_file_raises_every_error_and_adds_nothing(app_ctx):
    data = base()
    data["currency"] = "EU"
    with pytest.raises(CatalogError) as caught:
        load_version(db.session, to_yaml(data), "bad.yaml", "test")
    assert caught.value.errors == ['currency: "EU" is not a currency code (3 capital '
                                   'letters, like EUR)']
    assert not db.session.new
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(CatalogVersion)) == 0


def test_current_and_numbered_versions(app):
    with app.app_context():
        assert current_catalog(db.session) is None
        assert catalog_version(db.session, 1) is None
    changed = base()
    offering(changed, "MOB-UNL")["recurring"] = "27.00"
    load(app, base())
    load(app, changed)
    with app.app_context():
        version, catalog = current_catalog(db.session)
        assert version.number == 2 and catalog.offerings["MOB-UNL"].recurring == Decimal("27")
        old_version, old = catalog_version(db.session, 1)
        assert old.offerings["MOB-UNL"].recurring == Decimal("25")
        assert previous_catalog(db.session, 2)[0].id == old_version.id
        assert previous_catalog(db.session, 1) is None
        assert catalog_version(db.session, 3) is None


def test_the_parsed_catalog_is_kept_per_version(app, monkeypatch):
    load(app, base())
    store._cache.clear()
    calls = []
    real = store.load_catalog_yaml
    monkeypatch.setattr(store, "load_catalog_yaml",
                        lambda text: calls.append(1) or real(text))
    with app.app_context():
        first = current_catalog(db.session)[1]
    with app.app_context():
        again = current_catalog(db.session)[1]
        assert catalog_version(db.session, 1)[1] is first
    assert again is first and len(calls) == 1


def test_a_version_list_does_not_load_the_sources(app):
    load(app, base())
    with app.app_context():
        [version] = store.list_versions(db.session, limit=10)
        assert "source" not in version.__dict__  # deferred
        assert store.count_versions(db.session) == 1 and store.latest_number(db.session) == 1


# The diff, a pure function -----------------------------------------------------------------


def test_identical_catalogs_have_no_differences():
    assert diff(catalog_of(base()), catalog_of(base())) == []


def test_against_nothing_every_offering_is_added():
    changes = diff(None, catalog_of(base()))
    assert [str(c) for c in changes][:2] == [
        "offering MOB-UNL added (Business Mobile Unlimited)",
        "offering BB-FIBRE-1G added (Business Fibre 1 Gbit/s)"]
    assert len(changes) == 5


def test_offerings_added_removed_and_every_changed_field():
    old, new = base(), base()
    mobile = offering(new, "MOB-UNL")
    mobile.update(recurring="27.00", name="Mobile Unlimited 5G",
                  volume_tiers=[{"min": 1, "discount": "0"}, {"min": 40, "discount": "0.12"}],
                  terms={12: "0", 24: "0.05", 36: "0.10"},
                  promotions=[{"code": "SIX-FREE", "months_free": 6, "valid_to": "2030-06-30"}],
                  available_in=["DE", "FR", "NL"], excludes=["BB-FIBRE-1G"],
                  valid_from="2020-01-01", max_quantity=500)
    offering(new, "SDWAN-EDGE")["requires"] = []
    new["offerings"] = [o for o in new["offerings"] if o["code"] != "ACC-CASE"]
    offering(new, "DEV-PHONE")["accessories"] = []
    new["offerings"].append({"code": "TV-BUSINESS", "name": "Business TV", "family": "tv",
                             "fulfilment": "tv-bss", "recurring": "39.00",
                             "one_off": "49.00"})
    changes = diff(catalog_of(old), catalog_of(new))
    assert [str(c) for c in changes] == [
        "offering MOB-UNL: name: Business Mobile Unlimited → Mobile Unlimited 5G",
        "offering MOB-UNL: recurring: 25.00 → 27.00",
        "offering MOB-UNL: volume_tiers: from 1: 0 %, from 50: 10 % → from 1: 0 %, from 40: "
        "12 %",
        "offering MOB-UNL: terms: 12 months: 0 %, 24 months: 5 % → 12 months: 0 %, 24 months: "
        "5 %, 36 months: 10 %",
        "offering MOB-UNL: promotions: SIX-FREE: first 6 months free → SIX-FREE: first 6 "
        "months free (until 2030-06-30)",
        "offering MOB-UNL: excludes: none → BB-FIBRE-1G",
        "offering MOB-UNL: available_in: DE, FR → DE, FR, NL",
        "offering MOB-UNL: max_quantity: no limit → 500",
        "offering MOB-UNL: valid_from: open → 2020-01-01",
        "offering SDWAN-EDGE: requires: BB-FIBRE-1G → none",
        "offering DEV-PHONE: accessories: ACC-CASE → none",
        "offering TV-BUSINESS added (Business TV)",
        "offering ACC-CASE removed (was Phone case)",
    ]


def test_policy_tax_and_settings_changes():
    old, new = base(), base()
    new["approval"]["account_manager_max"] = "0.20"
    new["tax_rates"] = {"DE": "0.19", "FR": "0.21", "NL": "0.21"}
    old["tax_rates"]["GB"] = "0.20"
    new["quote_validity_days"] = 45
    new["currency"] = "GBP"
    changes = diff(catalog_of(old), catalog_of(new))
    assert changes == [
        Change("changed", "catalog", "currency", "EUR", "GBP"),
        Change("changed", "catalog", "quote_validity_days", "30", "45"),
        Change("changed", "approval", "account_manager_max", "15 %", "20 %"),
        Change("changed", "tax rates", "FR", "20 %", "21 %"),
        Change("removed", "tax rates", "GB", old="20 %"),
        Change("added", "tax rates", "NL", new="21 %"),
    ]
    assert str(changes[4]) == "tax rates: GB removed (was 20 %)"
    assert str(changes[5]) == "tax rates: NL added (21 %)"


def test_a_scheduled_campaign_shows_in_the_diff():
    old, new = base(), base()
    start = dt.date(2030, 4, 1)
    offering(new, "BB-FIBRE-1G")["promotions"] = [
        {"code": "FIBRE-SPRING", "months_free": 3, "valid_from": start,
         "valid_to": dt.date(2030, 6, 30)}]
    [change] = diff(catalog_of(old), catalog_of(new))
    assert change.field == "promotions"
    assert change.new == "FIBRE-SPRING: first 3 months free (from 2030-04-01 to 2030-06-30)"
