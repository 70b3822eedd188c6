"""The sign-in page's own behaviour: validation, rate limits, switching organisation."""

from __future__ import annotations

import json
import logging

from conftest import csrf_token, login_as
from sqlalchemy import select

from portal.audit import AuditEvent
from portal.extensions import db
from portal.logs import JsonFormatter


def test_the_login_form_explains_a_malformed_address(client):
    response = client.post("/login", data={"csrf_token": csrf_token(client), "email": "bob"})
    assert response.status_code == 400
    assert "Enter a valid e-mail address" in response.get_data(as_text=True)


def test_login_attempts_are_rate_limited(make_app):
    app = make_app(LOGIN_RATE_LIMIT="3 per minute")
    client = app.test_client()
    token = csrf_token(client)
    statuses = [client.post("/login", data={"csrf_token": token, "email": f"x{n}@nowhere.test"})
                .status_code for n in range(4)]
    assert statuses == [400, 400, 400, 429]
    last = client.post("/login", data={"csrf_token": token, "email": "x@nowhere.test"})
    assert "Too many attempts" in last.get_data(as_text=True)
    # The SSO callback has a limit of its own.
    callbacks = [client.get("/sso/nobody/callback?code=x&state=y").status_code
                 for _ in range(4)]
    assert callbacks == [404, 404, 404, 429]


def test_a_member_of_several_organisations_switches_from_the_header(client, factory, app):
    parent = factory.org("acme-group")
    child = factory.org("acme-fr", parent="acme-group")
    user_id = factory.user(parent, "admin", email="ada@acme-group.test")
    with app.app_context():
        from accounts.models import Membership

        db.session.add(Membership(user_id=user_id, organisation_id=child, role="viewer"))
        db.session.commit()
    login_as(client, user_id, parent)
    page = client.get("/dashboard").get_data(as_text=True)
    assert 'id="org-switch"' in page and "Acme-Fr" in page
    response = client.post("/switch-org", data={"csrf_token": csrf_token(client, "/dashboard"),
                                                "org_id": str(child)})
    assert response.status_code == 302
    page = client.get("/dashboard").get_data(as_text=True)
    assert '<h1 class="h2 mb-1">Acme-Fr</h1>' in page and "· Viewer" in page
    # The viewer role in the subsidiary does not carry the parent's admin rights.
    assert client.get("/organisation/members").status_code == 403
    with app.app_context():
        event = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "auth:switch_org")).one()
        assert event.organisation_id == child and event.before == {"organisation_id": parent}


def test_request_log_lines_are_json_with_the_request_fields():
    record = logging.makeLogRecord({"msg": "request", "levelname": "INFO", "name": "portal",
                                    "request_id": "abc123", "status": 200, "path": "/x"})
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "request"
    assert (line["request_id"], line["status"], line["path"]) == ("abc123", 200, "/x")
