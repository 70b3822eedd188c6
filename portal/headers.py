"""Security headers on every response."""

from __future__ import annotations

from flask import Flask, request
from flask_login import current_user

# No inline script anywhere: every script is a file under /static.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "frame-ancestors 'none'"
)


def init_app(app: Flask) -> None:
    """Add the headers after every request."""
    production = app.config["ENV"] == "production"

    @app.after_request
    def add_security_headers(response):
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CSP)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if production:
            headers.setdefault("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
        if request.endpoint != "static" and (
            current_user.is_authenticated or request.endpoint is None
            or request.path.startswith(("/sso/", "/login", "/devidp"))
        ):
            # Signed-in pages and sign-in steps must never come back from a shared cache
            # or the back button after sign-out.
            headers["Cache-Control"] = "no-store"
            headers["Pragma"] = "no-cache"
        return response
