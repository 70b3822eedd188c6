"""Bill-shock alerts: a service at 80 % and at 100 % of its allowance is reported to its
organisation's admins, buyers and finance users (in the portal and by e-mail), each threshold
once per service and month; only the newest month alerts; unlimited plans never do."""

from __future__ import annotations

from io import BytesIO

from conftest import csrf_token, login_as
from sqlalchemy import select

from portal.audit import AuditEvent
from portal.extensions import db
from portal.usage.models import UsageAlert
from usage.usage_data import (
    add_service,
    notifications,
    outbox,
    periods,
    ref_of,
    run_import,
    usage_csv,
)


def cli_import(app, tmp_path, data: bytes):
    path = tmp_path / "usage.csv"
    path.write_bytes(data)
    result = app.test_cli_runner().invoke(args=["usage", "import", str(path)])
    assert result.exit_code == 0, result.output
    return result.output


def alerts(app) -> list[tuple]:
    with app.app_context():
        return [(a.period, str(a.threshold)) for a in db.session.scalars(
            select(UsageAlert).order_by(UsageAlert.period, UsageAlert.threshold))]


def subjects(app, user_id) -> list[str]:
    return [n.subject for n in notifications(app, user_id)]


def test_80_and_100_percent_are_each_told_once_in_the_portal_and_by_e_mail(app, world,
                                                                           tmp_path):
    q = world.q
    service = add_service(app, q)  # 10 SIMs of 5 GB: 50 GB a month
    ref, month = ref_of(app, service), periods(1)[0]
    assert "0 services alerted" in cli_import(app, tmp_path, usage_csv((ref, month, "35")))
    assert notifications(app) == []

    output = cli_import(app, tmp_path, usage_csv((ref, month, "41")))  # corrected: 82 %
    assert "1 service alerted" in output and "3 e-mails sent." in output
    subject = "80 % of the data allowance used: Mobile 5 GB at DE-001"
    for person in (q.admin, q.buyer, world.finance):
        assert subjects(app, person) == [subject]
    assert subjects(app, q.viewer) == []
    note = notifications(app, q.buyer)[0]
    assert note.link == "/usage"
    assert f"In {month}, Mobile 5 GB at site DE-001 used 41 GB of its monthly allowance of " \
           "50 GB (82 %)." in note.body
    mails = outbox(app)
    assert sorted(m["To"].addresses[0].addr_spec for m in mails) == [
        "ada@acme.test", "bob@acme.test", "fay@acme.test"]
    assert all(m["Subject"] == subject for m in mails)
    assert "used 41 GB of its monthly allowance of 50 GB (82 %)" in mails[0].get_content()
    assert "http://localhost/usage" in mails[0].get_content()

    # The same figure again, then a figure still between the thresholds: nothing new.
    cli_import(app, tmp_path, usage_csv((ref, month, "41")))
    cli_import(app, tmp_path, usage_csv((ref, month, "45")))
    assert len(notifications(app)) == 3

    output = cli_import(app, tmp_path, usage_csv((ref, month, "50")))  # 100 %: used up
    assert "1 service alerted" in output
    assert subjects(app, q.buyer) == [subject, "100 % of the data allowance used: Mobile 5 GB "
                                               "at DE-001"]
    cli_import(app, tmp_path, usage_csv((ref, month, "58")))
    assert len(notifications(app)) == 6 and len(outbox(app)) == 6
    assert alerts(app) == [(month, "0.8000"), (month, "1.0000")]
    with app.app_context():
        logged = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "usage:alert").order_by(AuditEvent.id)).all()
        assert [(e.organisation_id, e.after["threshold"], e.after["used"]) for e in logged] == [
            (q.org, "0.80", "41"), (q.org, "1.00", "50")]


def test_a_jump_past_both_thresholds_is_told_once_naming_the_highest(app, world):
    q = world.q
    service = add_service(app, q)
    ref, month = ref_of(app, service), periods(1)[0]
    assert run_import(app, usage_csv((ref, month, "61"))).alerts == 1
    assert subjects(app, q.admin) == ["100 % of the data allowance used: Mobile 5 GB at "
                                      "DE-001"]
    assert alerts(app) == [(month, "0.8000"), (month, "1.0000")]
    # Corrected down to 90 %: 80 % was passed already, so nothing new.
    assert run_import(app, usage_csv((ref, month, "45"))).alerts == 0
    assert len(notifications(app, q.admin)) == 1


def test_past_months_and_unlimited_plans_do_not_alert(app, world):
    q = world.q
    metered = add_service(app, q)
    unlimited = add_service(app, q, "MOB-UNL", site="DE-002", quantity=2)
    older, _, newest = periods()
    result = run_import(app, usage_csv(
        (ref_of(app, metered), older, "75"),  # 150 %, but a month that is not the newest
        (ref_of(app, metered), newest, "5"),
        (ref_of(app, unlimited), newest, "900"),
    ))
    assert result.alerts == 0
    assert notifications(app) == [] and alerts(app) == []


def test_an_upload_tells_the_customer_by_e_mail_after_the_response(app, client, factory, world):
    q = world.q
    service = add_service(app, q)
    operator_admin = factory.user(q.operator, "operator_admin")
    login_as(client, operator_admin, q.operator)
    data = usage_csv((ref_of(app, service), periods(1)[0], "42.5"))
    response = client.post("/operator/usage", data={
        "csrf_token": csrf_token(client, "/operator/usage"),
        "file": (BytesIO(data), "usage.csv")}, content_type="multipart/form-data",
        follow_redirects=True)  # the first response is closed: its e-mails go out
    assert "1 service alerted" in response.get_data(as_text=True)
    assert sorted(m["To"].addresses[0].addr_spec for m in outbox(app)) == [
        "ada@acme.test", "bob@acme.test", "fay@acme.test"]
    assert all(n.emailed_at is not None and n.email_error is None
               for n in notifications(app))
