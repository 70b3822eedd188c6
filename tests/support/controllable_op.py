"""A small, controllable OpenID Connect provider for relying-party tests.

The portal is the relying party (RP).  To exercise the OpenID RP conformance
cases (bad signatures, ``alg: none``, wrong issuer/audience, key rotation,
...) the tests need an OP whose misbehaviour can be switched on per test.
This module provides one: :class:`ControllableOP` runs a real HTTP server on
``127.0.0.1`` in a background thread so the RP talks to it over the network
exactly as it would talk to a production OP (discovery, JWKS fetch, token
exchange, UserInfo).

The WSGI app is written with plain werkzeug ``Request``/``Response`` rather
than Flask so that it shares no application state, config or extensions with
the portal under test.

Note: the file name matches pytest's ``test_*.py`` pattern (the name was
imposed by the test layout), so nothing in here may be called ``test_*`` or
``Test*``; otherwise pytest would try to collect it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, unquote_plus, urlencode, urlsplit, urlunsplit

import requests
from joserfc import jwk, jwt
from werkzeug.datastructures import MultiDict
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

__all__ = ["DEFAULT_USER", "ControllableOP", "drive_login"]

#: The user that is "logged in" at the OP unless a test sets ``op.user``.
DEFAULT_USER: dict[str, Any] = {
    "sub": "user-0001",
    "email": "alice@example.com",
    "name": "Alice Example",
    "groups": ["customers"],
}

# RFC 7636 section 4.1: code_verifier = 43*128unreserved.
_CODE_VERIFIER_RE = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")

_CODE_LIFETIME = 60  # seconds; authorization codes are short-lived by design


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _s256(code_verifier: str) -> str:
    return _b64url(hashlib.sha256(code_verifier.encode("ascii")).digest())


def _add_query(url: str, params: dict[str, str]) -> str:
    """Append ``params`` to ``url`` keeping any query it already has.

    Redirect URIs may legitimately carry a query component (RFC 6749 3.1.2),
    so the parameters are merged instead of blindly concatenated.
    """
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query.extend(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    resp = Response(json.dumps(data), status=status, mimetype="application/json")
    # Token and UserInfo responses carry secrets; RFC 6749 5.1 requires
    # them not to be cached, and it does no harm for the other documents.
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Pragma"] = "no-cache"
    for name, value in (headers or {}).items():
        resp.headers[name] = value
    return resp


def _oauth_error(
    error: str, description: str, status: int = 400, headers: dict[str, str] | None = None
) -> Response:
    return _json({"error": error, "error_description": description}, status=status, headers=headers)


class _QuietHandler(WSGIRequestHandler):
    """Request handler that does not print an access-log line per request.

    The default handler logs every request, which floods pytest's captured
    output for no benefit; failures are reported through responses instead.
    """

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class ControllableOP:
    """A controllable OpenID Connect provider running on ``127.0.0.1``.

    It supports the authorization code flow with mandatory PKCE (S256) and
    ``nonce``, confidential-client authentication with ``client_secret_basic``
    or ``client_secret_post``, RS256-signed ID tokens, UserInfo, a JWKS
    endpoint and RP-initiated logout.  There is no login UI: ``/authorize``
    authenticates whatever user is stored in :attr:`user`.

    Misbehaviour is switched on by setting plain attributes before driving a
    login (all off by default); they are read when the relevant endpoint is
    hit, so a test can flip them between requests:

    ``bad_signature``
        Sign the ID token with a key that is not published in the JWKS, but
        still put the published ``kid`` in the header.
    ``claims_override`` / ``claims_remove``
        Dict merged into the ID token claims, then set of claim names removed
        from them (removal wins over override).
    ``alg_none``
        Issue an unsigned ID token (header ``{"alg": "none"}``, empty
        signature).  Takes precedence over ``bad_signature``.
    ``omit_kid``
        Leave ``kid`` out of the JWS header.
    ``extra_jwks_keys``
        Publish this many additional, unrelated RSA keys in the JWKS.  They
        are listed *before* the signing key so an RP that just takes the
        first key is caught out.
    ``userinfo_sub``
        If not ``None``, UserInfo returns this ``sub``.
    ``discovery_issuer``
        If not ``None``, the discovery document advertises this issuer.
    ``callback_iss``
        If not ``None``, the authorization response carries this ``iss``.

    Counters (``discovery_requests``, ``jwks_requests``,
    ``authorize_requests``, ``token_requests``, ``userinfo_requests``,
    ``logout_requests``) count every request to the endpoint, successful or
    not; :meth:`reset_counters` zeroes them.

    Usable as a context manager (``with ControllableOP(...) as op:``), which
    starts and stops the server.
    """

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        redirect_uris: Iterable[str],
        *,
        user: dict[str, Any] | None = None,
        post_logout_redirect_uris: Iterable[str] | None = None,
        token_lifetime: int = 300,
    ) -> None:
        """Configure the OP with one registered confidential client.

        :param client_id: the registered client's ``client_id``.
        :param client_secret: its secret (``client_secret_basic`` or
            ``client_secret_post`` are both accepted at the token endpoint).
        :param redirect_uris: registered redirect URIs; ``redirect_uri`` at
            the authorization endpoint must match one of them exactly.
        :param user: the initially logged-in user (defaults to a copy of
            :data:`DEFAULT_USER`); can be changed later via :attr:`user`.
        :param post_logout_redirect_uris: allowed ``post_logout_redirect_uri``
            values at ``/logout``; ``None`` (default) allows any, which is
            enough for tests and avoids registering the portal's URL twice.
        :param token_lifetime: lifetime in seconds of access and ID tokens.
        """
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uris: list[str] = list(redirect_uris)
        self.post_logout_redirect_uris: list[str] | None = (
            None if post_logout_redirect_uris is None else list(post_logout_redirect_uris)
        )
        self.token_lifetime = token_lifetime

        #: The user that ``/authorize`` authenticates; ``None`` makes the
        #: authorization endpoint answer ``error=login_required``.
        self.user: dict[str, Any] | None = dict(DEFAULT_USER) if user is None else user

        # --- conformance knobs (see class docstring) ---
        self.bad_signature: bool = False
        self.claims_override: dict[str, Any] = {}
        self.claims_remove: set[str] = set()
        self.alg_none: bool = False
        self.omit_kid: bool = False
        self.extra_jwks_keys: int = 0
        self.userinfo_sub: str | None = None
        self.discovery_issuer: str | None = None
        self.callback_iss: str | None = None

        # --- counters ---
        self.discovery_requests = 0
        self.jwks_requests = 0
        self.authorize_requests = 0
        self.token_requests = 0
        self.userinfo_requests = 0
        self.logout_requests = 0

        # --- observations for assertions ---
        #: Parameters of the last authorization request (a plain dict).
        self.last_authorize_params: dict[str, str] | None = None
        #: Client authentication method used by the last successful token
        #: request: ``"client_secret_basic"`` or ``"client_secret_post"``.
        self.last_token_auth_method: str | None = None
        #: The last ID token issued (compact serialization).
        self.last_id_token: str | None = None
        #: Parameters of the last ``/logout`` request.
        self.last_logout_params: dict[str, str] | None = None
        #: Unexpected exceptions raised while handling requests (they are
        #: also answered with HTTP 500); a test can assert this stays empty.
        self.server_errors: list[BaseException] = []

        # A single lock: the server is threaded and tests mutate state
        # (rotate_keys, counters) from the main thread concurrently.
        self._lock = threading.RLock()
        self._signing_key: jwk.RSAKey | None = None
        self._rogue_key: jwk.RSAKey | None = None
        self._extra_keys: list[jwk.RSAKey] = []
        self._codes: dict[str, dict[str, Any]] = {}
        self._access_tokens: dict[str, dict[str, Any]] = {}
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._issuer: str | None = None

    # ------------------------------------------------------------------
    # lifecycle
    # ------------------------------------------------------------------

    def start(self) -> ControllableOP:
        """Generate the signing key (once) and start serving on a free port.

        Returns ``self`` so ``op = ControllableOP(...).start()`` works.
        """
        if self._server is not None:
            raise RuntimeError("ControllableOP is already running")
        with self._lock:
            if self._signing_key is None:
                self._signing_key = self._new_key()
        # Port 0 lets the OS pick a free port, so parallel test workers
        # (pytest-xdist) never collide.
        server = make_server(
            "127.0.0.1", 0, self._wsgi_app, threaded=True, request_handler=_QuietHandler
        )
        self._server = server
        self._issuer = f"http://127.0.0.1:{server.server_port}"
        # A short poll interval keeps stop() (which waits for the serve loop
        # to notice the shutdown) from adding ~0.5 s to every test.
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="ControllableOP",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the server and release its socket; safe to call twice."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> ControllableOP:
        """Start the server."""
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        """Stop the server."""
        self.stop()

    @property
    def issuer(self) -> str:
        """The real issuer, ``http://127.0.0.1:<port>`` (only once started)."""
        if self._issuer is None:
            raise RuntimeError("ControllableOP has not been started")
        return self._issuer

    @property
    def discovery_url(self) -> str:
        """URL of the ``/.well-known/openid-configuration`` document."""
        return f"{self.issuer}/.well-known/openid-configuration"

    @property
    def authorization_endpoint(self) -> str:
        """URL of ``/authorize``."""
        return f"{self.issuer}/authorize"

    @property
    def token_endpoint(self) -> str:
        """URL of ``/token``."""
        return f"{self.issuer}/token"

    @property
    def userinfo_endpoint(self) -> str:
        """URL of ``/userinfo``."""
        return f"{self.issuer}/userinfo"

    @property
    def jwks_uri(self) -> str:
        """URL of ``/jwks``."""
        return f"{self.issuer}/jwks"

    @property
    def end_session_endpoint(self) -> str:
        """URL of ``/logout``."""
        return f"{self.issuer}/logout"

    # ------------------------------------------------------------------
    # keys
    # ------------------------------------------------------------------

    @staticmethod
    def _new_key(kid: str | None = None) -> jwk.RSAKey:
        kid = kid or f"op-{secrets.token_hex(6)}"
        return jwk.RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"})

    @property
    def signing_kid(self) -> str:
        """``kid`` of the current (published) signing key."""
        with self._lock:
            if self._signing_key is None:
                self._signing_key = self._new_key()
            return str(self._signing_key.kid)

    def rotate_keys(self) -> str:
        """Replace the signing key by a new one with a new ``kid``.

        From now on the JWKS publishes only the new key (plus any
        ``extra_jwks_keys``), so an RP holding a cached JWKS meets an unknown
        ``kid`` and has to refetch (rp-key-rotation-op-sign-key-native).
        Returns the new ``kid``.
        """
        new_key = self._new_key()
        with self._lock:
            self._signing_key = new_key
        return str(new_key.kid)

    def jwks(self) -> dict[str, Any]:
        """The public JWKS as ``/jwks`` currently serves it (no counting)."""
        with self._lock:
            signing = self._signing_key
            if signing is None:
                signing = self._signing_key = self._new_key()
            # Extra keys are generated lazily and kept, so the JWKS stays
            # stable between fetches while the knob is unchanged.
            while len(self._extra_keys) < self.extra_jwks_keys:
                self._extra_keys.append(self._new_key(f"extra-{len(self._extra_keys) + 1}"))
            keys = [*self._extra_keys[: max(self.extra_jwks_keys, 0)], signing]
        return jwk.KeySet(keys).as_dict(private=False)

    def reset_counters(self) -> None:
        """Zero all request counters."""
        with self._lock:
            self.discovery_requests = 0
            self.jwks_requests = 0
            self.authorize_requests = 0
            self.token_requests = 0
            self.userinfo_requests = 0
            self.logout_requests = 0

    # ------------------------------------------------------------------
    # token construction
    # ------------------------------------------------------------------

    def _user_claims(self, user: dict[str, Any]) -> dict[str, Any]:
        claims: dict[str, Any] = {"sub": user["sub"]}
        if "email" in user:
            claims["email"] = user["email"]
            claims["email_verified"] = user.get("email_verified", True)
        for name in ("name", "groups"):
            if name in user:
                claims[name] = user[name]
        return claims

    def _make_id_token(self, user: dict[str, Any], nonce: str) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            **self._user_claims(user),
            "aud": self.client_id,
            "exp": now + self.token_lifetime,
            "iat": now,
            "nonce": nonce,
        }
        claims.update(self.claims_override)
        for name in self.claims_remove:
            claims.pop(name, None)

        if self.alg_none:
            # joserfc refuses to produce "none" tokens (rightly), so the
            # unsecured JWS of RFC 7515 appendix A.5 is assembled by hand.
            header = _b64url(json.dumps({"alg": "none"}).encode())
            payload = _b64url(json.dumps(claims).encode())
            return f"{header}.{payload}."

        with self._lock:
            signing = self._signing_key
            assert signing is not None
            key = signing
            if self.bad_signature:
                # The rogue key is never published; the header still names
                # the published kid, so only signature verification fails.
                if self._rogue_key is None:
                    self._rogue_key = self._new_key("rogue")
                key = self._rogue_key
        header: dict[str, Any] = {"alg": "RS256"}
        if not self.omit_kid:
            header["kid"] = signing.kid
        return jwt.encode(header, claims, key, algorithms=["RS256"])

    # ------------------------------------------------------------------
    # WSGI plumbing
    # ------------------------------------------------------------------

    def _wsgi_app(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        routes = {
            "/.well-known/openid-configuration": self._discovery,
            "/authorize": self._authorize,
            "/token": self._token,
            "/userinfo": self._userinfo,
            "/jwks": self._jwks,
            "/logout": self._logout,
        }
        handler = routes.get(request.path)
        if handler is None:
            response = _json({"error": "not_found"}, status=404)
        else:
            try:
                response = handler(request)
            except Exception as exc:  # report, do not kill the server thread
                # Recorded so a test can fail loudly on OP bugs rather than
                # see a confusing RP-side error.
                self.server_errors.append(exc)
                response = _oauth_error("server_error", f"{type(exc).__name__}: {exc}", status=500)
        return response(environ, start_response)

    def _count(self, counter: str) -> None:
        with self._lock:
            setattr(self, counter, getattr(self, counter) + 1)

    # ------------------------------------------------------------------
    # endpoints
    # ------------------------------------------------------------------

    def _discovery(self, request: Request) -> Response:
        self._count("discovery_requests")
        advertised_issuer = self.issuer if self.discovery_issuer is None else self.discovery_issuer
        return _json(
            {
                "issuer": advertised_issuer,
                "authorization_endpoint": self.authorization_endpoint,
                "token_endpoint": self.token_endpoint,
                "userinfo_endpoint": self.userinfo_endpoint,
                "jwks_uri": self.jwks_uri,
                "end_session_endpoint": self.end_session_endpoint,
                "response_types_supported": ["code"],
                "response_modes_supported": ["query"],
                "grant_types_supported": ["authorization_code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "scopes_supported": ["openid", "email", "profile", "groups"],
                "claims_supported": [
                    "sub",
                    "iss",
                    "aud",
                    "exp",
                    "iat",
                    "nonce",
                    "email",
                    "email_verified",
                    "name",
                    "groups",
                ],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                ],
                "authorization_response_iss_parameter_supported": True,
            }
        )

    def _jwks(self, request: Request) -> Response:
        self._count("jwks_requests")
        return _json(self.jwks())

    def _authorize(self, request: Request) -> Response:
        self._count("authorize_requests")
        # OIDC Core 3.1.2.1: the authorization endpoint must accept GET and POST.
        params = request.values
        self.last_authorize_params = params.to_dict()

        client_id = params.get("client_id")
        redirect_uri = params.get("redirect_uri")
        # RFC 6749 4.1.2.1: with an unknown client or redirect_uri the OP
        # must not redirect (that would be an open redirector).
        if client_id != self.client_id:
            return _oauth_error("invalid_request", "unknown client_id")
        if redirect_uri not in self.redirect_uris:
            return _oauth_error("invalid_request", "redirect_uri is not registered for this client")

        state = params.get("state")
        error = self._check_authorize_params(params)
        if error is None and self.user is None:
            error = ("login_required", "no user is logged in at the OP")
        if error is not None:
            return self._authorize_redirect(
                redirect_uri, {"error": error[0], "error_description": error[1]}, state
            )

        assert self.user is not None
        code = secrets.token_urlsafe(32)
        with self._lock:
            self._codes[code] = {
                "client_id": client_id,
                "redirect_uri": redirect_uri,
                "code_challenge": params["code_challenge"],
                "nonce": params["nonce"],
                "scope": params["scope"],
                # Snapshot: a test may switch op.user before the code is
                # redeemed; the token must describe who actually logged in.
                "user": json.loads(json.dumps(self.user)),
                "expires_at": time.time() + _CODE_LIFETIME,
            }
        return self._authorize_redirect(redirect_uri, {"code": code}, state)

    @staticmethod
    def _check_authorize_params(params: MultiDict[str, str]) -> tuple[str, str] | None:
        if params.get("response_type") != "code":
            return ("unsupported_response_type", "only response_type=code is supported")
        if "openid" not in params.get("scope", "").split():
            return ("invalid_scope", "scope must include openid")
        if not params.get("code_challenge"):
            return ("invalid_request", "code_challenge is required (PKCE)")
        if params.get("code_challenge_method") != "S256":
            return ("invalid_request", "code_challenge_method must be S256")
        if not params.get("nonce"):
            return ("invalid_request", "nonce is required")
        return None

    def _authorize_redirect(
        self, redirect_uri: str, result: dict[str, str], state: str | None
    ) -> Response:
        if state is not None:
            result["state"] = state
        # RFC 9207: iss on every authorization response, errors included.
        result["iss"] = self.callback_iss if self.callback_iss is not None else self.issuer
        resp = Response(status=302)
        resp.headers["Location"] = _add_query(redirect_uri, result)
        resp.headers["Cache-Control"] = "no-store"
        return resp

    def _authenticate_client(self, request: Request) -> tuple[str | None, Response | None]:
        """Return ``(auth_method, None)`` on success or ``(None, error_response)``."""
        authorization = request.headers.get("Authorization", "")
        form_id = request.form.get("client_id")
        form_secret = request.form.get("client_secret")

        if authorization.lower().startswith("basic "):
            if form_secret is not None:
                # RFC 6749 2.3: a client MUST NOT use more than one method.
                return None, _oauth_error(
                    "invalid_request", "multiple client authentication methods used"
                )
            try:
                decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
                raw_id, raw_secret = decoded.split(":", 1)
            except ValueError:
                return None, self._invalid_client("malformed Basic credentials")
            # RFC 6749 2.3.1 wants id/secret form-urlencoded before Basic
            # encoding, but many clients (authlib included) skip that; accept
            # both spellings.
            candidates = {(raw_id, raw_secret), (unquote_plus(raw_id), unquote_plus(raw_secret))}
            if form_id is not None and form_id not in {c[0] for c in candidates}:
                return None, self._invalid_client(
                    "client_id in body does not match Basic credentials"
                )
            if any(self._client_matches(cid, sec) for cid, sec in candidates):
                return "client_secret_basic", None
            return None, self._invalid_client("bad client credentials")

        if form_id is not None and form_secret is not None:
            if self._client_matches(form_id, form_secret):
                return "client_secret_post", None
            return None, self._invalid_client("bad client credentials")
        return None, self._invalid_client("client authentication required")

    def _client_matches(self, client_id: str, client_secret: str) -> bool:
        # Constant-time comparison, as a real OP would do, so the helper
        # does not model a timing side channel as acceptable.
        id_ok = hmac.compare_digest(client_id.encode(), self.client_id.encode())
        secret_ok = hmac.compare_digest(client_secret.encode(), self.client_secret.encode())
        return id_ok and secret_ok

    @staticmethod
    def _invalid_client(description: str) -> Response:
        return _oauth_error(
            "invalid_client",
            description,
            status=401,
            headers={"WWW-Authenticate": 'Basic realm="ControllableOP"'},
        )

    def _token(self, request: Request) -> Response:
        self._count("token_requests")
        if request.method != "POST":
            return _oauth_error("invalid_request", "token endpoint requires POST", status=405)

        auth_method, error_response = self._authenticate_client(request)
        if error_response is not None:
            return error_response

        form = request.form
        if form.get("grant_type") != "authorization_code":
            return _oauth_error("unsupported_grant_type", "only authorization_code is supported")

        with self._lock:
            # pop(): codes are single-use (RFC 6749 4.1.2), even when the
            # exchange below fails.
            grant = self._codes.pop(form.get("code", ""), None)
        if grant is None or grant["expires_at"] < time.time():
            return _oauth_error("invalid_grant", "unknown, used or expired authorization code")
        if grant["client_id"] != self.client_id:
            return _oauth_error("invalid_grant", "code was issued to another client")
        if form.get("redirect_uri") != grant["redirect_uri"]:
            return _oauth_error(
                "invalid_grant", "redirect_uri does not match the authorization request"
            )
        verifier = form.get("code_verifier")
        if not verifier or not _CODE_VERIFIER_RE.match(verifier):
            return _oauth_error("invalid_grant", "missing or malformed code_verifier")
        if not hmac.compare_digest(_s256(verifier), grant["code_challenge"]):
            return _oauth_error("invalid_grant", "code_verifier does not match code_challenge")

        id_token = self._make_id_token(grant["user"], grant["nonce"])
        access_token = secrets.token_urlsafe(32)
        with self._lock:
            self._access_tokens[access_token] = {
                "user": grant["user"],
                "expires_at": time.time() + self.token_lifetime,
            }
            self.last_id_token = id_token
            self.last_token_auth_method = auth_method
        return _json(
            {
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": self.token_lifetime,
                "id_token": id_token,
                "scope": grant["scope"],
            }
        )

    def _userinfo(self, request: Request) -> Response:
        self._count("userinfo_requests")
        authorization = request.headers.get("Authorization", "")
        if not authorization.lower().startswith("bearer "):
            return Response(
                status=401, headers={"WWW-Authenticate": 'Bearer realm="ControllableOP"'}
            )
        token = authorization[7:].strip()
        with self._lock:
            entry = self._access_tokens.get(token)
        if entry is None or entry["expires_at"] < time.time():
            return Response(
                status=401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
            )
        claims = self._user_claims(entry["user"])
        if self.userinfo_sub is not None:
            claims["sub"] = self.userinfo_sub
        return _json(claims)

    def _logout(self, request: Request) -> Response:
        self._count("logout_requests")
        params = request.values
        self.last_logout_params = params.to_dict()
        target = params.get("post_logout_redirect_uri")
        if target:
            if (
                self.post_logout_redirect_uris is not None
                and target not in self.post_logout_redirect_uris
            ):
                return _oauth_error("invalid_request", "post_logout_redirect_uri is not registered")
            extra = {"state": params["state"]} if params.get("state") else {}
            resp = Response(status=302)
            resp.headers["Location"] = _add_query(target, extra) if extra else target
            return resp
        # There is no OP-side session (no cookies), so "ending" it is just
        # acknowledging; tests inspect last_logout_params instead.
        return Response("Logged out", status=200, mimetype="text/plain")


def drive_login(http: requests.Session, authorize_url: str) -> requests.Response:
    """Perform the OP leg of a login without a browser.

    GETs ``authorize_url`` (an authorization request URL pointing at a
    :class:`ControllableOP`) with ``allow_redirects=False`` and returns the
    302 response, whose ``Location`` is the RP callback carrying ``code``,
    ``state`` and ``iss`` (or ``error``).  Raises ``AssertionError`` if the
    OP did not redirect, e.g. because the client_id or redirect_uri is not
    registered — that makes the failing test point at the cause.
    """
    response = http.get(authorize_url, allow_redirects=False, timeout=10)
    if response.status_code != 302 or "Location" not in response.headers:
        raise AssertionError(
            f"OP did not redirect to the RP: HTTP {response.status_code}: {response.text[:500]}"
        )
    return response
