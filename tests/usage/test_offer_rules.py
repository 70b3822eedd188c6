"""The offer rules are data the operator's admins edit on a page (checked, audited), and what
they say decides the alerts, the recommendations and the upgrade offers."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from conftest import count_queries, csrf_token, login_as
from sqlalchemy import func, select

from portal.audit import AuditEvent
from portal.extensions import db
from portal.usage.models import Offer, OfferRules
from usage.usage_data import (
    add_service,
    notifications,
    periods,
    ref_of,
    run_import,
    usage_csv,
)

WRITES = re.compile(r"^\s*(INSERT|UPDATE|DELETE)\b(?!.*\bweb_sessions\b)", re.I | re.S)
GOOD = {"alerts_enabled": "y", "alert_thresholds": "50, 90", "recommendations_enabled": "y",
        "lookback_periods": "3", "min_periods_exceeded": "1", "upgrades_enabled": "y",
        "upgrade_days_before_end": "90"}


@pytest.fixture
def operator(client, factory, world):
    """The client signed in as an operator admin."""
    user = factory.user(world.q.operator, "operator_admin", email="olga@carrier.test")
    login_as(client, user, world.q.operator)
    return user


def post_rules(client, **changes):
    data = {**GOOD, **changes}
    data = {k: v for k, v in data.items() if v is not None}  # an unticked box is not sent
    return client.post("/operator/offer-rules",
                       data={"csrf_token": csrf_token(client, "/operator/offer-rules"), **data})


def saved(app):
    with app.app_context():
        rules = db.session.get(OfferRules, 1)
        return None if rules is None else (rules.alert_thresholds, rules.lookback_periods,
                                           rules.min_periods_exceeded,
                                           rules.upgrade_days_before_end, rules.alerts_enabled)


def test_the_page_shows_the_defaults_and_looking_writes_nothing(app, client, operator):
    client.get("/operator/offer-rules")
    with count_queries(app) as statements:
        html = client.get("/operator/offer-rules").get_data(as_text=True)
    assert [s for s in statements if WRITES.match(s)] == []
    assert 'value="80, 100"' in html
    assert re.search(r'name="lookback_periods"[^>]*value="3"', html)
    assert re.search(r'name="min_periods_exceeded"[^>]*value="2"', html)
    assert re.search(r'name="upgrade_days_before_end"[^>]*value="60"', html)
    assert html.count("checked") == 3
    assert "The defaults: nobody has changed them yet." in html
    assert saved(app) is None


@pytest.mark.parametrize("changes,message", [
    ({"alert_thresholds": "80, lots"}, "Write the thresholds as percentages, like 80, 100."),
    ({"alert_thresholds": "0, 100"}, "Each alert threshold must be above 0 % and at most 500 %."),
    ({"alert_thresholds": "80, 80"}, "Each alert threshold may be given once."),
    ({"alert_thresholds": "10 20 30 40 50 60"}, "Give 1 to 5 alert thresholds."),
    ({"min_periods_exceeded": "4"}, "At most the months looked back (3)."),
    ({"lookback_periods": "0"}, "Number must be between 1 and 24."),
    ({"upgrade_days_before_end": "400"}, "Number must be between 1 and 365."),
    ({"upgrade_days_before_end": ""}, "This field is required."),
])
def test_bad_rules_are_refused_and_change_nothing(app, client, operator, changes, message):
    response = post_rules(client, **changes)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert saved(app) is None
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "offers:rules")) == 0


def test_an_operator_admin_changes_the_rules_with_an_audit_event(app, client, operator):
    response = post_rules(client, alerts_enabled=None)
    assert response.status_code == 302
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "The offer rules were saved" in html
    assert "by olga@carrier.test" in html and 'value="50, 90"' in html
    assert saved(app) == (["0.50", "0.90"], 3, 1, 90, False)
    with app.app_context():
        [event] = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "offers:rules")).all()
        assert event.actor_user_id == operator
        assert event.before["alert_thresholds"] == ["0.80", "1.00"] and event.before["defaults"]
        assert event.after == {"alerts_enabled": False, "alert_thresholds": ["0.50", "0.90"],
                               "recommendations_enabled": True, "lookback_periods": 3,
                               "min_periods_exceeded": 1, "upgrades_enabled": True,
                               "upgrade_days_before_end": 90}


def test_the_rules_decide_alerts_recommendations_and_upgrades(app, client, operator, world):
    q = world.q
    service = add_service(app, q)  # 50 GB a month
    start = dt.date(2025, 1, 15)
    fibre = add_service(app, q, "FIBRE-100", site="DE-002", quantity=1, start=start)
    end = dt.date(2027, 1, 15)
    older, middle, newest = periods()
    ref = ref_of(app, service)
    # The defaults: 55 % alerts nobody, one month over of three recommends nothing, 61 days
    # before the contract's end is too early.
    run_import(app, usage_csv((ref, older, "60"), (ref, middle, "20"), (ref, newest, "27.5")))
    assert notifications(app) == []
    app.test_cli_runner().invoke(args=["offers", "evaluate", "--date",
                                       str(end - dt.timedelta(days=61))])
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Offer)) == 0

    assert post_rules(client).status_code == 302  # 50 % and 90 %, 1 month of 3, 90 days
    run_import(app, usage_csv((ref, newest, "27.6")))  # a correction: 55 % again
    assert [n.subject for n in notifications(app, world.finance)] == [
        "50 % of the data allowance used: Mobile 5 GB at DE-001"]
    app.test_cli_runner().invoke(args=["offers", "evaluate", "--date",
                                       str(end - dt.timedelta(days=61))])
    with app.app_context():
        made = {(o.service_id, o.kind) for o in db.session.scalars(select(Offer))}
    assert made == {(service, "recommendation"), (fibre, "upgrade")}


def test_switched_off_rules_make_nothing(app, client, operator, world):
    q = world.q
    service = add_service(app, q)
    add_service(app, q, "FIBRE-100", site="DE-002", quantity=1, start=dt.date(2025, 1, 15))
    assert post_rules(client, alerts_enabled=None, recommendations_enabled=None,
                      upgrades_enabled=None).status_code == 302
    ref = ref_of(app, service)
    result = run_import(app, usage_csv(*((ref, month, "99") for month in periods())))
    assert (result.alerts, result.offers) == (0, 0)
    app.test_cli_runner().invoke(args=["offers", "evaluate", "--date", "2027-01-01"])
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Offer)) == 0
    assert notifications(app) == []


def test_only_the_operators_admins_see_the_rules(app, client, world):
    login_as(client, world.q.admin, world.q.org)
    assert client.get("/operator/offer-rules").status_code == 403
    assert client.post("/operator/offer-rules", data={
        "csrf_token": csrf_token(client, "/dashboard"), **GOOD}).status_code == 403
    assert saved(app) is None
