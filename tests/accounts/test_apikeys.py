"""API keys: created by admins with the token shown once and only its hash stored, listed,
revoked; the same from the command line; audited without the token."""

from __future__ import annotations

import hashlib
import json
import re

import pytest
from conftest import csrf_token, login_as
from sqlalchemy import select

from accounts.apikeys import authenticate, create_api_key, key_roles, revoke_api_key
from accounts.models import ApiKey, Organisation
from accounts.services import AccountError
from portal.audit import AuditEvent
from portal.extensions import db

TOKEN_RE = re.compile(r"pk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}")
ACCOUNTS_API = "/tmf-api/accountManagement/v4/billingAccount"


def _org(app, org_id):
    return db.session.get(Organisation, org_id)


def _events(action):
    return db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)).all()


def test_a_new_key_gives_its_token_once_and_keeps_only_its_hash(app, factory):
    org_id = factory.org("acme")
    with app.app_context():
        key, token = create_api_key(db.session, _org(app, org_id), "ERP sync", "buyer")
        db.session.commit()
        assert TOKEN_RE.fullmatch(token)
        assert token.startswith(f"pk_{key.prefix}_")
        assert key.secret_hash == hashlib.sha256(token.encode()).hexdigest()
        row = db.session.execute(select(ApiKey.__table__)).mappings().one()
        assert token not in json.dumps({k: str(v) for k, v in row.items()})
        assert authenticate(db.session, token).id == key.id


def test_authenticate_refuses_wrong_malformed_and_revoked_tokens(app, factory):
    org_id = factory.org("acme")
    with app.app_context():
        key, token = create_api_key(db.session, _org(app, org_id), "ERP", "viewer")
        db.session.commit()
        for bad in (None, "", "pk_", token + "x", token[:-1] + ("a" if token[-1] != "a" else "b"),
                    token.replace(key.prefix, "0" * 12), "Bearer " + token):
            assert authenticate(db.session, bad) is None, bad
        revoke_api_key(db.session, key, actor_label="test")
        db.session.commit()
        assert authenticate(db.session, token) is None
        with pytest.raises(AccountError, match="revoked already"):
            revoke_api_key(db.session, key)


def test_key_roles_follow_the_organisation_kind_and_admins_only_give_admin(app, factory):
    customer = factory.org("acme")
    partner = factory.org("northwind", kind="partner")
    with app.app_context():
        acme = _org(app, customer)
        assert key_roles(acme, ["admin"]) == ("admin", "buyer", "finance", "viewer")
        assert key_roles(acme, ["buyer"]) == ("buyer", "finance", "viewer")
        assert key_roles(_org(app, partner), ["partner_admin"]) == (
            "partner_admin", "partner_agent")
        with pytest.raises(AccountError, match="cannot hold the role 'partner_agent'"):
            create_api_key(db.session, acme, "x", "partner_agent")
        with pytest.raises(AccountError, match="cannot hold the role 'admin'"):
            create_api_key(db.session, acme, "x", "admin", actor_roles=["buyer"])
        for name in ("", "   ", "x" * 101):
            with pytest.raises(AccountError):
                create_api_key(db.session, acme, name, "viewer")


def _admin(client, factory, slug="acme", kind="customer", role="admin"):
    org_id = factory.org(slug, kind=kind)
    user_id = factory.user(org_id, role, email=f"boss@{slug}.test")
    login_as(client, user_id, org_id)
    return org_id, user_id


def test_an_admin_creates_a_key_and_sees_the_token_only_once(app, client, factory):
    org_id, user_id = _admin(client, factory)
    page = client.get("/organisation/api-keys").get_data(as_text=True)
    assert "No keys yet" in page and 'href="/organisation/api-keys"' in page  # nav item
    response = client.post("/organisation/api-keys", data={
        "csrf_token": csrf_token(client, "/organisation/api-keys"), "name": "ERP sync",
        "role": "finance"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    tokens = TOKEN_RE.findall(html)
    assert len(set(tokens)) == 1
    token = tokens[0]
    assert response.headers["Cache-Control"] == "no-store"
    again = client.get("/organisation/api-keys").get_data(as_text=True)
    assert token not in again
    with app.app_context():
        key = db.session.scalars(select(ApiKey)).one()
        prefix = key.prefix
        assert (key.name, key.role, key.organisation_id, key.created_by_id) == (
            "ERP sync", "finance", org_id, user_id)
        assert key.secret_hash == hashlib.sha256(token.encode()).hexdigest()
        event = _events("apikey:create")[0]
        assert event.actor_label == "boss@acme.test" and event.organisation_id == org_id
        assert event.after == {"name": "ERP sync", "role": "finance", "prefix": key.prefix}
        assert token not in json.dumps([event.before, event.after])
        assert key.secret_hash not in json.dumps([event.before, event.after])
    for text in ("ERP sync", "Finance", prefix, "boss@acme.test", "never", "active"):
        assert text in again
    # The token works on the API at once.
    assert client.get(ACCOUNTS_API, headers={"Authorization": f"Bearer {token}"}
                      ).status_code == 200


def test_invalid_keys_are_explained_and_nothing_is_created(app, client, factory):
    _admin(client, factory)
    for data, message in [({"name": "", "role": "viewer"}, "Name the system"),
                          ({"name": "x", "role": "partner_agent"}, "Not a valid choice")]:
        response = client.post("/organisation/api-keys", data={
            "csrf_token": csrf_token(client, "/organisation/api-keys"), **data})
        assert response.status_code == 200
        assert message in response.get_data(as_text=True)
        assert not TOKEN_RE.search(response.get_data(as_text=True))
    with app.app_context():
        assert db.session.scalars(select(ApiKey)).all() == []
        assert _events("apikey:create") == []


def test_a_partner_admin_chooses_among_partner_roles(client, factory):
    _admin(client, factory, slug="northwind", kind="partner", role="partner_admin")
    page = client.get("/organisation/api-keys").get_data(as_text=True)
    options = re.findall(r'<option[^>]*value="([^"]+)"', page)
    assert options == ["partner_admin", "partner_agent"]


def test_revoking_a_key_stops_it_and_is_audited(app, client, factory):
    org_id, _ = _admin(client, factory)
    with app.app_context():
        key, token = create_api_key(db.session, _org(app, org_id), "Old ERP", "viewer")
        db.session.commit()
        key_id, prefix = key.id, key.prefix
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get(ACCOUNTS_API, headers=headers).status_code == 200
    response = client.post(f"/organisation/api-keys/{key_id}/revoke",
                           data={"csrf_token": csrf_token(client, "/organisation/api-keys")})
    assert response.status_code == 302
    assert client.get(ACCOUNTS_API, headers=headers).status_code == 401
    page = client.get("/organisation/api-keys").get_data(as_text=True)
    assert "revoked" in page and "Revoke<span" not in page
    with app.app_context():
        assert db.session.get(ApiKey, key_id).revoked_at is not None
        event = _events("apikey:revoke")[0]
        assert event.actor_label == "boss@acme.test" and event.target_id == str(key_id)
        assert event.before["prefix"] == prefix
    # Twice: told, nothing else happens.
    client.post(f"/organisation/api-keys/{key_id}/revoke",
                data={"csrf_token": csrf_token(client, "/organisation/api-keys")})
    with app.app_context():
        assert len(_events("apikey:revoke")) == 1


def test_revoking_without_a_csrf_token_is_refused(app, client, factory):
    org_id, _ = _admin(client, factory)
    with app.app_context():
        key, _ = create_api_key(db.session, _org(app, org_id), "ERP", "viewer")
        db.session.commit()
        key_id = key.id
    assert client.post(f"/organisation/api-keys/{key_id}/revoke", data={}).status_code == 400
    with app.app_context():
        assert db.session.get(ApiKey, key_id).revoked_at is None


def run(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


def test_the_cli_prints_a_working_token_once(app, factory):
    org_id = factory.org("acme")
    result = run(app, "apikey", "create", "--org", "acme", "--name", "Billing export",
                 "--role", "finance")
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert TOKEN_RE.fullmatch(token)  # alone on stdout: TOKEN=$(flask apikey create ...)
    assert "shown only this once" in result.stderr
    with app.app_context():
        key = authenticate(db.session, token)
        assert (key.organisation_id, key.name, key.role, key.created_by_id) == (
            org_id, "Billing export", "finance", None)
        prefix = key.prefix
        assert _events("apikey:create")[0].actor_label == "cli"
    response = app.test_client().get(ACCOUNTS_API, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    revoked = run(app, "apikey", "revoke", prefix)
    assert revoked.exit_code == 0, revoked.output
    assert app.test_client().get(ACCOUNTS_API, headers={
        "Authorization": f"Bearer {token}"}).status_code == 401
    with app.app_context():
        assert _events("apikey:revoke")[0].actor_label == "cli"


def test_the_cli_refuses_bad_input_and_writes_nothing(app, factory):
    factory.org("acme")
    cases = [
        (["--org", "nope", "--name", "x", "--role", "viewer"], "No organisation 'nope'"),
        (["--org", "acme", "--name", "x", "--role", "partner_agent"], "cannot hold the role"),
        (["--org", "acme", "--name", " ", "--role", "viewer"], "needs a name"),
    ]
    for args, message in cases:
        result = run(app, "apikey", "create", *args)
        assert result.exit_code != 0 and message in result.output, (args, result.output)
        assert not TOKEN_RE.search(result.output)
    assert run(app, "apikey", "revoke", "0" * 12).exit_code != 0
    with app.app_context():
        assert db.session.scalars(select(ApiKey)).all() == []


def test_revoking_an_id_beyond_any_key_answers_404(client, factory):
    _admin(client, factory)
    response = client.post("/organisation/api-keys/99999999999/revoke",
                           data={"csrf_token": csrf_token(client, "/organisation/api-keys")})
    assert response.status_code == 404
