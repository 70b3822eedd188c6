"""Bearer API keys on the TMF APIs: `@api_require(Permission.X)`.

The key decides everything the session does on pages: the organisation acted for, the role
and so the permissions. They are put on `g` under the same names as for a signed-in user, so
the tenant loaders (`tenant_get_or_404`) and audit events work unchanged. Session cookies are
ignored here: an API call is authenticated by its `Authorization` header alone.
"""

from __future__ import annotations

import functools

from flask import current_app, g, request

from accounts.apikeys import authenticate, mark_used, prefix_of
from portal.api import ApiError
from portal.extensions import db, limiter
from portal.security import Permission, permissions_of

REALM = 'Bearer realm="tmf-api"'


def bearer_token() -> str | None:
    """The token of the request's `Authorization: Bearer ...` header, if any."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _rate_limit_key() -> str:
    # Per key: one client's burst does not slow the others down. Only called once the key
    # has been authenticated (see api_require), so the prefix is a real key's.
    key = g.get("api_key")
    return f"apikey:{key.prefix}" if key is not None else f"addr:{request.remote_addr}"


def _rate_limit() -> str:
    return current_app.config["API_RATE_LIMIT"]


# One budget per key across every API endpoint, not one per endpoint.
_per_key_limit = limiter.shared_limit(_rate_limit, scope="tmf-api", key_func=_rate_limit_key)


def _unauthorized(message: str, error: str | None = None) -> ApiError:
    challenge = REALM + (f', error="{error}"' if error else "")
    return ApiError(401, message, {"WWW-Authenticate": challenge})


def _load_key_context() -> None:
    token = bearer_token()
    if token is None:
        raise _unauthorized("Send an API key as `Authorization: Bearer <token>`.")
    if prefix_of(token) is None:
        raise _unauthorized("The API key is malformed.", "invalid_token")
    key = authenticate(db.session, token)
    if key is None:
        raise _unauthorized("The API key is unknown or revoked.", "invalid_token")
    if mark_used(db.session, key):
        db.session.commit()
    g.api_key = key
    g.current_org = key.organisation
    g.current_org_id = key.organisation_id
    g.current_roles = (key.role,)
    g.current_permissions = permissions_of([key.role])
    g.current_context = None
    g.acting_via_org_id = None


def api_require(permission: Permission):
    """Declare the permission an API view needs: no or a bad key answers 401 with a
    `WWW-Authenticate` challenge, a key whose role lacks `permission` 403; each key is
    rate-limited (`API_RATE_LIMIT`) across all API endpoints."""

    def decorator(view):
        limited = _per_key_limit(view)

        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            _load_key_context()
            if permission not in g.current_permissions:
                raise ApiError(403, f"The key's role ({g.api_key.role}) does not allow "
                                    f"{permission.value}.",
                               {"WWW-Authenticate": REALM + ', error="insufficient_scope"'})
            return limited(*args, **kwargs)

        wrapped.required_permission = permission
        wrapped.api_key_auth = True
        return wrapped

    return decorator
