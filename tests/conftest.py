"""Shared fixtures: a migrated database (SQLite, or PostgreSQL from
PORTAL_TEST_DATABASE_URL), an app per test, clients, factories, a live server."""

from __future__ import annotations

import os
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url
from support.oidc_provider import free_port
from werkzeug.serving import make_server

import accounts.estate.models  # noqa: F401 - every table must be known to empty them
import accounts.legacy.models  # noqa: F401
import portal.billing.models  # noqa: F401
import portal.catalog.models  # noqa: F401
import portal.notifications.models  # noqa: F401
import portal.orders.models  # noqa: F401
import portal.usage.models  # noqa: F401
import quotes.models  # noqa: F401
from accounts.models import Membership, Organisation, User
from accounts.services import create_organisation, set_idp_connection
from portal import create_app
from portal.cli import upgrade_database
from portal.db import Base
from portal.extensions import db

TEST_SECRET = "test-secret-key-that-is-long-enough-0123456789"


@pytest.fixture(autouse=True)
def _reserved_test_domains(monkeypatch):
    """Tests use the `.test` domains that RFC 2606 reserves for testing; the e-mail
    validator refuses them outside its test environment."""
    import email_validator

    monkeypatch.setattr(email_validator, "TEST_ENVIRONMENT", True)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> Iterator[str]:
    """A fresh, migrated database for this test run."""
    server_url = os.environ.get("PORTAL_TEST_DATABASE_URL")
    if not server_url:
        path = tmp_path_factory.mktemp("db") / "portal-test.db"
        url = f"sqlite:///{path}"
        _migrate(url, tmp_path_factory)
        yield url
        return
    base = make_url(server_url)
    name = f"portal_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    try:
        _migrate(url, tmp_path_factory)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _migrate(url: str, tmp_path_factory) -> None:
    app = create_app(_config(url, str(tmp_path_factory.mktemp("instance"))))
    with app.app_context():
        upgrade_database()
    db.engine.dispose()


def _config(url: str, instance: str, **extra) -> dict:
    config = {
        "ENV": "testing",
        "TESTING": True,
        "SECRET_KEY": TEST_SECRET,
        "DATABASE_URL": url,
        "BASE_URL": "http://localhost",
        "DEV_IDP": False,
        "LOGIN_RATE_LIMIT": "1000 per minute",
        "LOG_LEVEL": "WARNING",
        "MAIL_URL": f"file://{instance}/mail",
    }
    config.update(extra)
    return config


def _truncate(engine) -> None:
    if engine.dialect.name == "postgresql":
        # DELETE beats TRUNCATE on a handful of rows; PostgreSQL checks the self-reference
        # at the end of each statement, so this order works.
        with engine.begin() as conn:
            for table in reversed(Base.metadata.sorted_tables):
                conn.execute(table.delete())
        return
    with engine.connect() as conn:
        # Self-references (an organisation's parent) make any delete order fail otherwise.
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        conn.commit()
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
        conn.commit()
        conn.exec_driver_sql("PRAGMA foreign_keys=ON")
        conn.commit()


@pytest.fixture
def make_app(database_url, tmp_path):
    """Build an app on the test database with extra settings; tables are emptied after."""
    apps = []

    def factory(**extra):
        instance = tmp_path / f"instance-{len(apps)}"
        instance.mkdir()
        app = create_app(_config(database_url, str(instance), **extra))
        app.instance_path = str(instance)
        apps.append(app)
        return app

    yield factory
    for app in apps:
        engine = app.extensions["portal_db"].engine
        _truncate(engine)
        engine.dispose()


@pytest.fixture
def app(make_app):
    """The portal as configured for tests."""
    return make_app()


@pytest.fixture
def app_ctx(app):
    """An app context, for calling services directly."""
    with app.app_context():
        yield app


@pytest.fixture
def client(app):
    """A test client of the app."""
    return app.test_client()


@pytest.fixture
def factory(app):
    """Factories for organisations and users."""
    return Factory(app)


class Factory:
    """Make organisations and members directly through the services."""

    def __init__(self, app):
        self.app = app

    def org(self, slug: str, kind: str = "customer", domains=None, issuer: str | None = None,
            role_map: dict | None = None, client_id: str | None = None,
            client_secret: str = "s3cret", parent: str | None = None) -> int:
        """Create an organisation (with an IdP connection if `issuer`); returns its id."""
        with self.app.app_context():
            org = create_organisation(db.session, slug, slug.title(), kind,
                                      domains if domains is not None else [f"{slug}.test"],
                                      parent_slug=parent)
            if issuer:
                set_idp_connection(db.session, org, issuer, client_id or f"portal-{slug}",
                                   client_secret, role_map or {})
            db.session.commit()
            return org.id

    def user(self, org_id: int, *roles: str, email: str | None = None,
             issuer: str = "https://idp.test", source: str = "manual") -> int:
        """Create a user holding `roles` in the organisation; returns the user id."""
        with self.app.app_context():
            org = db.session.get(Organisation, org_id)
            email = email or f"{'-'.join(roles) or 'nobody'}-{uuid.uuid4().hex[:6]}@{org.slug}.test"
            user = User(issuer=issuer, subject=uuid.uuid4().hex, email=email, name=email)
            db.session.add(user)
            for role in roles:
                db.session.add(Membership(user=user, organisation_id=org.id, role=role,
                                          source=source))
            db.session.commit()
            return user.id


def login_as(client, user_id: int, org_id: int | None = None) -> None:
    """Sign a test client in by writing the session (what the SSO callback would do)."""
    with client.session_transaction() as session:
        session["_user_id"] = str(user_id)
        session["_fresh"] = True
        if org_id is not None:
            session["org_id"] = org_id


@pytest.fixture
def quoting(app, factory):
    """A customer ready to quote, its account managers and the sales director (see
    support.quoting)."""
    from support.quoting import setup_quoting

    return setup_quoting(factory, app)


@pytest.fixture
def order_world(make_app, factory):
    """Start the portal over HTTP and the sandbox order backend as its own process (with
    fault settings): `world = order_world(failure_rate=0.3)` (see support.order_world)."""
    from support.order_world import start_order_world

    stops = []

    def start(**faults):
        world, stop = start_order_world(make_app, factory, LiveServer, **faults)
        stops.append(stop)
        return world

    yield start
    for stop in stops:
        stop()


@pytest.fixture
def signed_in(client, factory):
    """Sign the client in as a new member of a new organisation: `signed_in('admin')`."""

    def sign(*roles, kind="customer", slug="acme"):
        org_id = factory.org(slug, kind=kind)
        user_id = factory.user(org_id, *roles)
        login_as(client, user_id, org_id)
        return org_id, user_id

    return sign


CSRF_RE = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')


def csrf_token(client, path: str = "/login") -> str:
    """A CSRF token of the client's session, read from a page's form."""
    html = client.get(path, follow_redirects=True).get_data(as_text=True)
    match = CSRF_RE.search(html)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


@contextmanager
def count_queries(app):
    """Count the SQL statements the app runs inside the block: `with count_queries(app) as n`."""
    engine = app.extensions["portal_db"].engine
    statements: list[str] = []

    def before(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", before)


class LiveServer:
    """The app served over real HTTP on 127.0.0.1 in a thread."""

    def __init__(self, app, port: int):
        self.app = app
        self.url = f"http://127.0.0.1:{port}"
        self._server = make_server("127.0.0.1", port, app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True)

    def start(self) -> LiveServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def live_server(make_app):
    """Start the app with extra settings on a free port: `live_server(DEV_IDP=True)`."""
    servers = []

    def start(**extra):
        port = free_port()
        app = make_app(BASE_URL=f"http://127.0.0.1:{port}", **extra)
        server = LiveServer(app, port).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def demo_server(live_server):
    """The portal over HTTP with the development IdP and the demo organisations, as
    `make run` serves it."""
    from portal.demo import load_demo

    server = live_server(DEV_IDP=True)
    with server.app.app_context():
        load_demo()
    return server
