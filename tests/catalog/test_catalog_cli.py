"""`flask --app app catalog load FILE | check FILE | versions`."""

from __future__ import annotations

from catalog_data import base, offering, to_yaml
from sqlalchemy import func, select

from portal.audit import AuditEvent
from portal.catalog.demo import DEMO_CATALOG
from portal.catalog.models import CatalogVersion
from portal.extensions import db


def run(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


def _write(tmp_path, data, name="catalog.yaml"):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else to_yaml(data), encoding="utf-8")
    return str(path)


def _count(app, model=CatalogVersion):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def test_load_prints_the_new_version_and_says_no_change_the_second_time(app, tmp_path):
    path = _write(tmp_path, base())
    result = run(app, "catalog", "load", path, "--note", "Spring prices")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"Catalog version 1 loaded from {path}."
    again = run(app, "catalog", "load", path)
    assert again.exit_code == 0
    assert again.output.strip() == f"No change: {path} is identical to the catalog in force."
    changed = base()
    offering(changed, "MOB-UNL")["recurring"] = "27.00"
    assert "Catalog version 2 loaded" in run(app, "catalog", "load",
                                             _write(tmp_path, changed, "v2.yaml")).output
    with app.app_context():
        versions = db.session.scalars(select(CatalogVersion).order_by(CatalogVersion.number))
        assert [(v.number, v.filename, v.loaded_by, v.note) for v in versions] == [
            (1, "catalog.yaml", "cli", "Spring prices"), (2, "v2.yaml", "cli", "")]
    assert _count(app, AuditEvent) == 2


def test_a_bad_file_lists_every_error_exits_1_and_writes_nothing(app, tmp_path):
    data = base()
    data["currency"] = "EU"
    offering(data, "MOB-UNL")["recurring"] = "abc"
    path = _write(tmp_path, data)
    result = run(app, "catalog", "load", path)
    assert result.exit_code == 1
    assert f"{path} was not loaded: 2 problems." in result.output
    assert '  - currency: "EU" is not a currency code' in result.output
    assert '  - offering MOB-UNL: recurring: "abc" is not an amount' in result.output
    assert _count(app) == 0 and _count(app, AuditEvent) == 0


def test_a_file_that_is_not_utf8_is_refused(app, tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("currency: EUR\nname: Télé\n".encode("latin-1"))
    result = run(app, "catalog", "load", str(path))
    assert result.exit_code == 1 and "is not UTF-8 text" in result.output
    assert _count(app) == 0


def test_check_validates_without_loading(app, tmp_path):
    ok = run(app, "catalog", "check", str(DEMO_CATALOG))
    assert ok.exit_code == 0, ok.output
    assert "catalog.yaml is valid: 23 offerings" in ok.output
    data = base()
    del data["offerings"][0]["code"]
    bad = run(app, "catalog", "check", _write(tmp_path, data))
    assert bad.exit_code == 1 and "offering #1: code is missing" in bad.output
    assert _count(app) == 0


def test_versions_lists_them_newest_first(app, tmp_path):
    assert "No catalog loaded yet" in run(app, "catalog", "versions").output
    run(app, "catalog", "load", _write(tmp_path, base()), "--note", "first")
    changed = base()
    offering(changed, "MOB-UNL")["recurring"] = "27.00"
    run(app, "catalog", "load", _write(tmp_path, changed, "second.yaml"))
    lines = run(app, "catalog", "versions").output.splitlines()
    assert lines[0].startswith("*    2 ") and "cli  second.yaml" in lines[0]
    assert lines[1].startswith("     1 ") and lines[1].endswith("first")
    assert lines[2] == "* in force"
