"""Layered configuration and the production safety checks."""

import pytest

from portal import create_app
from portal.config import DEFAULT_SECRET_KEY

STRONG = "x" * 40


def _prod(monkeypatch, **env):
    monkeypatch.setenv("PORTAL_ENV", "production")
    monkeypatch.setenv("PORTAL_BASE_URL", "https://portal.example.com")
    for key, value in env.items():
        monkeypatch.setenv(f"PORTAL_{key}", value)


def test_production_refuses_the_default_secret(monkeypatch, tmp_path):
    _prod(monkeypatch, SECRET_KEY=DEFAULT_SECRET_KEY, DEV_IDP="false")
    with pytest.raises(RuntimeError, match="PORTAL_SECRET_KEY"):
        create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/p.db"})


def test_production_refuses_a_missing_secret(monkeypatch, tmp_path):
    _prod(monkeypatch, DEV_IDP="false")
    with pytest.raises(RuntimeError, match="PORTAL_SECRET_KEY"):
        create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/p.db"})


def test_production_refuses_the_development_idp(monkeypatch, tmp_path):
    _prod(monkeypatch, SECRET_KEY=STRONG, DEV_IDP="true")
    with pytest.raises(RuntimeError, match="development identity provider"):
        create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/p.db"})


ORDER_BACKEND = {"ORDER_BACKEND_URL": "https://orders.operator.example/tmf-api/v4",
                 "ORDER_BACKEND_TOKEN": "t" * 32, "ORDER_WEBHOOK_SECRET": "w" * 32}


@pytest.mark.parametrize(("missing", "message"), [
    ("ORDER_BACKEND_URL", "PORTAL_ORDER_BACKEND_URL"),
    ("ORDER_BACKEND_TOKEN", "PORTAL_ORDER_BACKEND_TOKEN"),
    ("ORDER_WEBHOOK_SECRET", "PORTAL_ORDER_WEBHOOK_SECRET"),
])
def test_production_refuses_the_sandbox_order_backend(monkeypatch, tmp_path, missing, message):
    _prod(monkeypatch, SECRET_KEY=STRONG,
          **{k: v for k, v in ORDER_BACKEND.items() if k != missing})
    with pytest.raises(RuntimeError, match=message):
        create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/p.db"})


def test_production_starts_with_safe_settings_and_hardened_cookies(monkeypatch, tmp_path):
    _prod(monkeypatch, SECRET_KEY=STRONG, **ORDER_BACKEND)
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/p.db"})
    assert app.config["DEV_IDP"] is False  # off unless asked for, and refused if asked
    assert app.config["SESSION_COOKIE_NAME"] == "__Host-portal_session"
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert "devidp.discovery" not in app.view_functions
    response = app.test_client().get("/login", base_url="https://portal.example.com")
    assert "max-age=" in response.headers["Strict-Transport-Security"]


def test_development_enables_the_development_idp_by_default(monkeypatch, tmp_path):
    monkeypatch.delenv("PORTAL_ENV", raising=False)
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/d.db"})
    assert app.config["ENV"] == "development"
    assert app.config["DEV_IDP"] is True
    assert "devidp.discovery" in app.view_functions


def test_environment_overrides_defaults_and_test_config_overrides_environment(
    monkeypatch, tmp_path
):
    monkeypatch.setenv("PORTAL_SESSION_IDLE_MINUTES", "7")
    monkeypatch.setenv("PORTAL_BASE_URL", "http://portal.local:8000/")
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/d.db", "ENV": "testing"})
    assert app.config["SESSION_IDLE_MINUTES"] == 7
    assert app.config["BASE_URL"] == "http://portal.local:8000"
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/d.db", "ENV": "testing",
                      "SESSION_IDLE_MINUTES": 3})
    assert app.config["SESSION_IDLE_MINUTES"] == 3


def test_instance_file_sits_between_defaults_and_environment(monkeypatch, tmp_path):
    (tmp_path / "portal.cfg").write_text("SESSION_ABSOLUTE_HOURS = 4\nLOG_LEVEL = 'DEBUG'\n")
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("PORTAL_LOG_LEVEL", "WARNING")
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/d.db", "ENV": "testing"})
    assert app.config["SESSION_ABSOLUTE_HOURS"] == 4
    assert app.config["LOG_LEVEL"] == "WARNING"


def test_an_unknown_environment_is_refused(tmp_path):
    with pytest.raises(RuntimeError, match="PORTAL_ENV"):
        create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/d.db", "ENV": "staging"})
