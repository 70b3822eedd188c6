"""Layered configuration: code defaults, then the instance file, then `PORTAL_*` environment
variables, then the mapping a caller (a test) passes to `create_app`.

Every setting has one name, read in one place (here); the rest of the code reads
`app.config[NAME]`.
"""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask

DEFAULT_SECRET_KEY = "dev-only-insecure-secret-key"  # noqa: S105 - refused in production

ENVIRONMENTS = ("development", "production", "testing")


def defaults(instance_path: str) -> dict:
    """Return the code defaults; paths point into the app's instance folder."""
    return {
        "ENV": "development",
        "SECRET_KEY": DEFAULT_SECRET_KEY,
        "DATA_KEY": None,  # encrypts secrets at rest; None: derived from SECRET_KEY
        "DATABASE_URL": f"sqlite:///{Path(instance_path) / 'portal.db'}",
        "BASE_URL": "http://127.0.0.1:5000",
        "DEV_IDP": None,  # None: on in development only
        "MAIL_URL": f"file://{Path(instance_path) / 'mail'}",
        "SESSION_IDLE_MINUTES": 30,
        "SESSION_ABSOLUTE_HOURS": 12,
        "LOGIN_RATE_LIMIT": "20 per minute",
        "API_RATE_LIMIT": "600 per minute",
        "RATELIMIT_STORAGE_URI": "memory://",
        "SSO_HTTP_TIMEOUT": 10,
        "TRUSTED_PROXIES": 0,  # reverse proxies whose X-Forwarded-* headers are trusted
        "LOG_LEVEL": "INFO",
        "BOOTSTRAP_SERVE_LOCAL": True,
        # Uploads (CSV imports) are refused above this before anything reads them.
        "MAX_CONTENT_LENGTH": 16 * 1024 * 1024,
        "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the (server-side) session
    }


def load(app: Flask, overrides: dict | None) -> None:
    """Fill `app.config` from all layers and derive the settings that depend on others."""
    app.config.from_mapping(defaults(app.instance_path))
    app.config.from_pyfile("portal.cfg", silent=True)
    app.config.from_prefixed_env("PORTAL")
    if overrides:
        app.config.from_mapping(overrides)
    _derive(app.config)
    check(app.config)


def _derive(config) -> None:
    env = config["ENV"]
    if env not in ENVIRONMENTS:
        raise RuntimeError(f"PORTAL_ENV must be one of {', '.join(ENVIRONMENTS)}, not {env!r}")
    if config["DEV_IDP"] is None:
        config["DEV_IDP"] = env == "development"
    production = env == "production"
    config["BASE_URL"] = config["BASE_URL"].rstrip("/")
    config["PREFERRED_URL_SCHEME"] = "https" if production else "http"
    # A name no identity provider uses: cookies ignore ports, so an IdP on 127.0.0.1
    # would otherwise overwrite ours.
    config["SESSION_COOKIE_NAME"] = "__Host-portal_session" if production else "portal_session"
    config["SESSION_COOKIE_SECURE"] = production
    config["SESSION_COOKIE_HTTPONLY"] = True
    config["SESSION_COOKIE_SAMESITE"] = "Lax"
    config["SESSION_COOKIE_PATH"] = "/"
    config["SESSION_COOKIE_DOMAIN"] = None  # __Host- forbids a Domain attribute
    config["RATELIMIT_HEADERS_ENABLED"] = True


def check(config) -> None:
    """Refuse settings that are unsafe in production."""
    if config["ENV"] != "production":
        return
    if config["SECRET_KEY"] in (DEFAULT_SECRET_KEY, "", None) or len(config["SECRET_KEY"]) < 32:
        raise RuntimeError(
            "Refusing to start in production: set PORTAL_SECRET_KEY to a random value "
            "of at least 32 characters."
        )
    if config["DEV_IDP"]:
        raise RuntimeError(
            "Refusing to start in production with the development identity provider enabled "
            "(PORTAL_DEV_IDP)."
        )
    if not config["BASE_URL"].startswith("https://"):
        raise RuntimeError("Refusing to start in production: PORTAL_BASE_URL must be https://")


def instance_path_from_env() -> str | None:
    """Where the instance folder is (PORTAL_INSTANCE_PATH), or None for Flask's default."""
    return os.environ.get("PORTAL_INSTANCE_PATH")
