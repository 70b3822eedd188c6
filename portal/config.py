"""Layered configuration: code defaults, then the instance file, then `PORTAL_*` environment
variables, then the mapping a caller (a test) passes to `create_app`.

Every setting has one name, read in one place (here); the rest of the code reads
`app.config[NAME]`.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask

from portal.mail import check_url

DEFAULT_SECRET_KEY = "dev-only-insecure-secret-key"  # noqa: S105 - refused in production

ENVIRONMENTS = ("development", "production", "testing")
SANDBOX_PATH = "/sandbox/order-backend"  # where `make run` serves the sandbox order backend
SANDBOX_SECRETS = ("sandbox-token", "sandbox-webhook-secret")


def defaults(instance_path: str) -> dict:
    """Return the code defaults; paths point into the app's instance folder."""
    return {
        "ENV": "development",
        "SECRET_KEY": DEFAULT_SECRET_KEY,
        "DATA_KEY": None,  # encrypts secrets at rest; None: derived from SECRET_KEY
        "DATABASE_URL": f"sqlite:///{Path(instance_path) / 'portal.db'}",
        "BASE_URL": "http://127.0.0.1:5000",
        "DEV_IDP": None,  # None: on in development only
        "MAIL_URL": f"file://{Path(instance_path) / 'mail'}",  # the development outbox
        "MAIL_FROM": None,  # None: "Carrier Business <portal@host of BASE_URL>"
        "MAIL_TIMEOUT": 10,  # seconds to wait for the SMTP server
        "SESSION_IDLE_MINUTES": 30,
        "SESSION_ABSOLUTE_HOURS": 12,
        "LOGIN_RATE_LIMIT": "20 per minute",
        "API_RATE_LIMIT": "600 per minute",
        "RATELIMIT_STORAGE_URI": "memory://",
        "SSO_HTTP_TIMEOUT": 10,
        # The order backend (DESIGN.md). None: in development, the sandbox that `make run`
        # mounts at /sandbox/order-backend; elsewhere it must be set.
        "ORDER_BACKEND_URL": None,
        "ORDER_BACKEND_TOKEN": "sandbox-token",  # noqa: S105 - the sandbox's; refused in production
        "ORDER_WEBHOOK_SECRET": "sandbox-webhook-secret",  # noqa: S105 - idem
        "ORDER_BACKEND_TIMEOUT": 10,  # seconds to wait for an answer
        "ORDER_DISPATCH_BATCH": 20,
        "ORDER_DISPATCH_LEASE": 60,  # seconds a dispatcher holds a message it is sending
        "ORDER_DISPATCH_MAX_ATTEMPTS": 8,
        "ORDER_DISPATCH_BASE_DELAY": 2,  # seconds before the first retry, doubling
        "ORDER_DISPATCH_MAX_DELAY": 600,
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
    _derive_mail(config)
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
    if not config["ORDER_BACKEND_URL"]:
        config["ORDER_BACKEND_URL"] = f"{config['BASE_URL']}{SANDBOX_PATH}"


def _derive_mail(config) -> None:
    try:
        check_url(config["MAIL_URL"])
    except ValueError as exc:
        raise RuntimeError(str(exc)) from None
    if not config["MAIL_FROM"]:
        host = urlsplit(config["BASE_URL"]).hostname or "localhost"
        config["MAIL_FROM"] = f"Carrier Business <portal@{host}>"
    config["MAIL_TIMEOUT"] = float(config["MAIL_TIMEOUT"])


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
    if config["ORDER_BACKEND_URL"].endswith(SANDBOX_PATH):
        raise RuntimeError("Refusing to start in production without PORTAL_ORDER_BACKEND_URL.")
    for name in ("ORDER_BACKEND_TOKEN", "ORDER_WEBHOOK_SECRET"):
        if config[name] in SANDBOX_SECRETS or len(config[name] or "") < 16:
            raise RuntimeError(f"Refusing to start in production: set PORTAL_{name} (at least "
                               f"16 characters).")


def instance_path_from_env() -> str | None:
    """Where the instance folder is (PORTAL_INSTANCE_PATH), or None for Flask's default."""
    return os.environ.get("PORTAL_INSTANCE_PATH")
