"""Error pages in plain words (JSON for API and machine clients)."""

from __future__ import annotations

from flask import Flask, current_app, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

MESSAGES = {
    400: ("Bad request", "The request could not be understood. Please go back and try again."),
    401: ("Please sign in", "You need to sign in to see this page."),
    403: ("Not allowed", "Your role does not allow this. Ask your administrator if you "
          "need it."),
    404: ("Not found", "There is nothing here, or you do not have access to it."),
    405: ("Not allowed", "This address does not accept that kind of request."),
    413: ("File too large", "The upload is larger than the portal accepts ({limit}). Split "
          "the file and upload the parts."),
    429: ("Too many attempts", "Too many requests in a short time. Wait a minute and try "
          "again."),
    500: ("Something went wrong", "An unexpected error happened. It has been logged; please "
          "try again."),
    503: ("Unavailable", "The portal is briefly unavailable. Please try again shortly."),
}


def _wants_json() -> bool:
    return request.path.startswith(("/tmf-api/", "/hooks/")) or (
        request.accept_mimetypes.best == "application/json"
    )


def render_error(status: int, detail: str | None = None):
    """The error page (or JSON `{code, reason, message}`) for `status`."""
    title, message = MESSAGES.get(status, (f"Error {status}", "The request failed."))
    if detail:
        message = detail
    if "{limit}" in message:
        limit = current_app.config.get("MAX_CONTENT_LENGTH") or 0
        message = message.format(limit=f"{limit / 1024 / 1024:g} MB")
    if _wants_json():
        return jsonify(code=str(status), reason=title, message=message), status
    return render_template("errors/error.html", status=status, title=title,
                           message=message), status


def init_app(app: Flask) -> None:
    """Register the handlers."""

    @app.errorhandler(CSRFError)
    def csrf_error(error):
        return render_error(400, "The form had expired or did not come from this site. "
                            "Please reload the page and try again.")

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        return render_error(error.code or 500)

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception):
        app.logger.exception("unhandled error")
        return render_error(500)
