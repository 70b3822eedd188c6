"""TMF Open API endpoints under `/tmf-api/`: thin handlers over the same services and
models as the pages, authenticated with bearer API keys (see `portal.api.auth`).

Each API is its own blueprint, made by `api_blueprint`: no CSRF (no cookies are used, only
the `Authorization` header), JSON errors with a message, and no caching of answers.
"""

from __future__ import annotations

from flask import Blueprint, Flask

from portal.errors import render_error
from portal.extensions import csrf


class ApiError(Exception):
    """A request the API refuses with `status` and a message for the client."""

    def __init__(self, status: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def error_response(status: int, message: str, headers: dict | None = None):
    """The JSON error `{code, reason, message}` of DESIGN.md (the TMF `Error` shape)."""
    response, status = render_error(status, message)
    response.headers.update(headers or {})
    return response, status


def _api_error(error: ApiError):
    return error_response(error.status, error.message, error.headers)


def _no_store(response):
    # Answers are one organisation's data: never from a shared cache.
    response.headers["Cache-Control"] = "no-store"
    return response


def api_blueprint(name: str, import_name: str, url_prefix: str) -> Blueprint:
    """A blueprint for one API, with the API's conventions set up."""
    bp = Blueprint(name, import_name, url_prefix=url_prefix)
    csrf.exempt(bp)
    bp.register_error_handler(ApiError, _api_error)
    bp.after_request(_no_store)
    return bp


def register(app: Flask) -> None:
    """Register every API blueprint and the OpenAPI document."""
    from portal.api import openapi, tmf620, tmf622, tmf637, tmf648, tmf666, tmf678

    for module in (openapi, tmf666, tmf637, tmf620, tmf648, tmf622, tmf678):
        app.register_blueprint(module.bp)
