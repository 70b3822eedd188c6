"""Usage imports: a CSV file of data used per service and month, all or nothing (every
problem named with its row), the catalog's allowance when the file gives none, the same file
again changes nothing, a corrected figure replaces the record; by command and by the
operator's upload page."""

from __future__ import annotations

from decimal import Decimal

import pytest
from conftest import csrf_token, login_as
from sqlalchemy import func, select

from portal.audit import AuditEvent
from portal.extensions import db
from portal.usage.imports import UsageImportError, import_usage
from portal.usage.measures import period_of, shift
from portal.usage.models import UsageRecord
from usage.usage_data import (
    HEADER,
    add_service,
    periods,
    ref_of,
    run_import,
    today,
    usage_csv,
)


def records(app) -> list[tuple]:
    with app.app_context():
        return [(r.service_id, r.period, r.used, r.allowance, r.unit) for r in db.session.scalars(
            select(UsageRecord).order_by(UsageRecord.service_id, UsageRecord.period))]


def events(app, action: str) -> list[AuditEvent]:
    """The audit events of `action`, oldest first (detached, fully loaded)."""
    with app.app_context():
        found = list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)
                                        .order_by(AuditEvent.id)))
        db.session.expunge_all()
        return found


def test_a_file_is_imported_and_the_allowance_defaults_to_the_catalogs(app, world):
    q = world.q
    five = add_service(app, q, "MOB-5GB", quantity=10)
    unlimited = add_service(app, q, "MOB-UNL", site="DE-002", quantity=3)
    p1, p2, p3 = periods()
    result = run_import(app, usage_csv(
        (ref_of(app, five), p1, "31.25"),  # 5 GB x 10 SIMs from the catalog
        (ref_of(app, five), p2, "12500", "", "MB"),  # the same allowance in MB
        (ref_of(app, five), p3, "30", "45"),  # the file's own allowance wins
        (ref_of(app, unlimited), p3, "80.5"),
        (ref_of(app, unlimited), p2, "70", "unlimited"),
    ))
    assert result.summary() == ("5 usage records imported (5 new, 0 corrected), 0 already "
                                "there and unchanged; 0 services alerted, 0 plan "
                                "recommendations made.")
    assert records(app) == [
        (five, p1, Decimal("31.25"), Decimal("50"), "GB"),
        (five, p2, Decimal("12500"), Decimal("50000"), "MB"),
        (five, p3, Decimal("30"), Decimal("45"), "GB"),
        (unlimited, p2, Decimal("70"), None, "GB"),
        (unlimited, p3, Decimal("80.5"), None, "GB"),
    ]
    [event] = events(app, "usage:import")
    assert event.organisation_id == q.org and event.actor_label == "test"
    assert event.after == {"file": "usage.csv", "new": 5, "corrected": 0, "unchanged": 0,
                           "periods": [p1, p2, p3]}


def test_the_same_file_again_changes_nothing(app, world):
    service = add_service(app, world.q)
    data = usage_csv(*((ref_of(app, service), p, "3.5") for p in periods()))
    run_import(app, data)
    first = records(app)
    with app.app_context():
        stamps = list(db.session.scalars(select(UsageRecord.imported_at)
                                         .order_by(UsageRecord.id)))
    again = run_import(app, data)
    assert (again.new, again.corrected, again.unchanged) == (0, 0, 3)
    assert records(app) == first
    with app.app_context():
        assert list(db.session.scalars(select(UsageRecord.imported_at)
                                       .order_by(UsageRecord.id))) == stamps
    assert len(events(app, "usage:import")) == 1  # the second import changed nothing


def test_a_corrected_figure_replaces_the_record(app, world):
    service = add_service(app, world.q)
    [p] = periods(1)
    run_import(app, usage_csv((ref_of(app, service), p, "3.5")))
    corrected = run_import(app, usage_csv((ref_of(app, service), p, "4.25")))
    assert (corrected.new, corrected.corrected, corrected.unchanged) == (0, 1, 0)
    assert records(app) == [(service, p, Decimal("4.25"), Decimal("50"), "GB")]
    [event] = events(app, "usage:correct")
    assert event.before == {"period": p, "used": "3.500", "allowance": "50.000", "unit": "GB"}
    assert event.after == {"period": p, "used": "4.25", "allowance": "50.000", "unit": "GB"}


def _bad_file(app, service_ref):
    p = periods(1)[0]
    future = shift(period_of(today()), 1)
    return {
        "missing column": f"source_system,service_ref,period,used\nmobile-bss,{service_ref},"
                          f"{p},1\n",
        "unknown column": f"{HEADER},usage\nmobile-bss,{service_ref},{p},1,,GB,2\n",
        "doubled column": f"{HEADER},unit\nmobile-bss,{service_ref},{p},1,,GB,GB\n",
        "bad month": usage_csv((service_ref, "2026-13", "1")),
        "future month": usage_csv((service_ref, future, "1")),
        "text used": usage_csv((service_ref, p, "abc")),
        "negative used": usage_csv((service_ref, p, "-1")),
        "four decimals": usage_csv((service_ref, p, "1.2345")),
        "zero allowance": usage_csv((service_ref, p, "1", "0")),
        "unknown unit": usage_csv((service_ref, p, "1", "", "KB")),
        "unknown service": usage_csv(("NOPE-1", p, "1")),
        "twice": usage_csv((service_ref, p, "1"), (service_ref, p, "2")),
        "values": f"{HEADER}\nmobile-bss,{service_ref},{p},1,GB\n",
        "no used": usage_csv((service_ref, p, "")),
        "no reference": usage_csv(("", p, "1")),
        "empty": "",
        "header only": f"{HEADER}\n",
        "not utf-8": f"{HEADER}\nmobile-bss,{service_ref},{p},1,,GB\n".encode() + b"\xff\n",
    }


EXPECTED = {
    "missing column": "header: misses the columns unit (the columns are source_system, "
                      "service_ref, period, used, allowance, unit)",
    "unknown column": "header: has unknown columns usage (the columns are source_system, "
                      "service_ref, period, used, allowance, unit)",
    "doubled column": "header: names columns twice unit (the columns are source_system, "
                      "service_ref, period, used, allowance, unit)",
    "bad month": "row 2: period '2026-13' is not a month written YYYY-MM",
    "future month": "row 2: period {future} is in the future",
    "text used": "row 2: used 'abc' is not a number",
    "negative used": "row 2: used -1 must be at least 0 and below 100,000,000,000",
    "four decimals": "row 2: used 1.2345 has more than 3 decimals",
    "zero allowance": "row 2: allowance 0 must be above 0 and below 100,000,000,000",
    "unknown unit": "row 2: unit 'KB' is not one of MB, GB, TB",
    "unknown service": "row 2: service NOPE-1 of mobile-bss is not in the inventory",
    "twice": "row 3: service {ref} has a row for {period} already (row 2)",
    "values": "row 2: has 5 values but the header names 6 columns",
    "no used": "row 2: used is missing",
    "no reference": "row 2: service_ref is missing",
    "empty": "The file is empty.",
    "header only": "The file has a header but no rows.",
    "not utf-8": "The file is not UTF-8 text (the first bad byte is on line 3); export it as "
                 "UTF-8.",
}


@pytest.mark.parametrize("case", list(EXPECTED))
def test_a_bad_file_changes_nothing_and_names_the_row_and_the_reason(app, world, case):
    service = add_service(app, world.q)
    ref = ref_of(app, service)
    data = _bad_file(app, ref)[case]
    with app.app_context():
        with pytest.raises(UsageImportError) as caught:
            import_usage(db.session, data if isinstance(data, bytes) else data.encode(), "test")
        db.session.rollback()
    expected = EXPECTED[case].format(future=shift(period_of(today()), 1), ref=ref,
                                     period=periods(1)[0])
    assert caught.value.problems == [expected]
    assert str(caught.value) == "The file was not imported: 1 problem; nothing was changed."
    assert records(app) == []


def test_one_bad_row_among_good_ones_imports_nothing(app, world):
    q = world.q
    five = add_service(app, q)
    fibre = add_service(app, q, "FIBRE-100", site="DE-002", quantity=1)
    p1, p2, p3 = periods()
    data = usage_csv((ref_of(app, five), p1, "3"), (ref_of(app, fibre), p2, "300"),
                     (ref_of(app, five), p3, "4"))
    with app.app_context(), pytest.raises(UsageImportError) as caught:
        import_usage(db.session, data, "test")
    assert caught.value.problems == [
        "row 3: allowance is missing and FIBRE-100 has no allowance in the catalog"]
    assert records(app) == []
    # With its own allowance the fibre line is fine, and semicolons separate as well.
    text = data.decode().replace(f"{p2},300,", f"{p2},300,1000").replace(",", ";")
    assert run_import(app, text.encode()).new == 3


def test_the_command_imports_or_lists_every_problem(app, world, tmp_path):
    service = add_service(app, world.q)
    p1, p2, _ = periods()
    good = tmp_path / "usage.csv"
    good.write_bytes(usage_csv((ref_of(app, service), p1, "3"), (ref_of(app, service), p2, "4")))
    result = app.test_cli_runner().invoke(args=["usage", "import", str(good)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "2 usage records imported (2 new, 0 corrected), 0 already there and unchanged; "
        "0 services alerted, 0 plan recommendations made."]
    bad = tmp_path / "bad.csv"
    bad.write_bytes(usage_csv(("NOPE", p1, "x"), (ref_of(app, service), "2020-1", "1")))
    result = app.test_cli_runner().invoke(args=["usage", "import", str(bad)])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "Error: The file was not imported: 3 problems; nothing was changed.",
        "row 2: used 'x' is not a number",
        "row 3: period '2020-1' is not a month written YYYY-MM",
        "row 2: service NOPE of mobile-bss is not in the inventory",
    ]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(UsageRecord)) == 2


def _upload(client, data: bytes, name="usage.csv"):
    from io import BytesIO

    return client.post("/operator/usage", data={
        "csrf_token": csrf_token(client, "/operator/usage"),
        "file": (BytesIO(data), name)}, content_type="multipart/form-data")


def test_the_operators_admin_uploads_usage(app, client, factory, world):
    q = world.q
    service = add_service(app, q)
    operator_admin = factory.user(q.operator, "operator_admin", email="olga@carrier.test")
    login_as(client, operator_admin, q.operator)
    page = client.get("/operator/usage").get_data(as_text=True)
    assert "Nothing imported yet." in page
    p1, p2, _ = periods()
    refused = _upload(client, usage_csv((ref_of(app, service), p1, "3"), ("GONE", p2, "1")))
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert "The file was not imported: 1 problem; nothing was changed." in html
    assert "row 3: service GONE of mobile-bss is not in the inventory" in html
    assert records(app) == []
    done = _upload(client, usage_csv((ref_of(app, service), p1, "3")), "october.csv")
    assert done.status_code == 302
    page = client.get(done.headers["Location"]).get_data(as_text=True)
    assert "1 usage record imported (1 new, 0 corrected)" in page
    row = page.split('data-testid="usage-imports"')[1]
    assert "olga@carrier.test" in row and "Acme" in row and "october.csv" in row
    [event] = events(app, "usage:import")
    assert event.actor_user_id == operator_admin


def test_only_the_operators_admins_may_upload(app, client, world):
    q = world.q
    login_as(client, q.admin, q.org)
    assert client.get("/operator/usage").status_code == 403
    assert client.post("/operator/usage", data={
        "csrf_token": csrf_token(client, "/dashboard")}).status_code == 403
