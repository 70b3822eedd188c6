"""Authlib server components of the development IdP: clients, codes and tokens (in memory:
this IdP serves one development process), the signing key, and the OpenID code grant."""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, InvalidRequestError, grants
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc9207 import IssuerParameter
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from flask import current_app, g
from joserfc.jwk import RSAKey

from portal.devidp.personas import REALMS, Persona, client_id, client_secret, issuer, persona

CODE_TTL = 120
TOKEN_TTL = 3600


@dataclass
class DevClient(ClientMixin):
    """The portal, registered at one realm."""

    realm: str
    base_url: str
    secret: str

    def get_client_id(self):
        return client_id(self.realm)

    def get_default_redirect_uri(self):
        return self.redirect_uri

    @property
    def redirect_uri(self) -> str:
        return f"{self.base_url}/sso/{self.realm}/callback"

    def get_allowed_scope(self, scope):
        allowed = {"openid", "email", "profile", "groups"}
        return " ".join(s for s in (scope or "").split() if s in allowed)

    def check_redirect_uri(self, redirect_uri):
        return redirect_uri == self.redirect_uri

    def check_client_secret(self, client_secret):
        return secrets.compare_digest(client_secret or "", self.secret)

    def check_endpoint_auth_method(self, method, endpoint):
        return endpoint != "token" or method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type):
        return response_type == "code"

    def check_grant_type(self, grant_type):
        return grant_type == "authorization_code"


@dataclass
class AuthorizationCode:
    """A code handed to the portal, waiting to be traded for tokens."""

    code: str
    realm: str
    client_id: str
    redirect_uri: str
    scope: str
    login: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: int = field(default_factory=lambda: int(time.time()))

    def get_redirect_uri(self):
        return self.redirect_uri

    def get_scope(self):
        return self.scope

    def get_nonce(self):
        return self.nonce

    def get_auth_time(self):
        return self.auth_time

    def get_acr(self):
        return None

    def get_amr(self):
        return ["pwd"]

    def is_expired(self):
        return time.time() - self.auth_time > CODE_TTL


class Store:
    """Codes and access tokens of this process."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.codes: dict[str, AuthorizationCode] = {}
        self.tokens: dict[str, tuple[str, str, float]] = {}  # token -> realm, login, expiry

    def put_code(self, code: AuthorizationCode) -> None:
        with self.lock:
            self.codes[code.code] = code

    def pop_code(self, code: str) -> AuthorizationCode | None:
        with self.lock:
            return self.codes.pop(code, None)

    def get_code(self, code: str) -> AuthorizationCode | None:
        with self.lock:
            return self.codes.get(code)

    def put_token(self, token: str, realm: str, login: str) -> None:
        with self.lock:
            self.tokens[token] = (realm, login, time.time() + TOKEN_TTL)

    def user_of_token(self, token: str) -> tuple[str, Persona] | None:
        with self.lock:
            entry = self.tokens.get(token)
        if entry is None or entry[2] < time.time():
            return None
        found = persona(entry[0], entry[1])
        return (entry[0], found) if found else None


def signing_key() -> RSAKey:
    """The IdP's RSA key, made once and kept in the instance folder."""
    app = current_app
    key = app.extensions.get("devidp_key")
    if key is None:
        path = Path(app.instance_path) / "devidp-key.json"
        if path.exists():
            key = RSAKey.import_key(json.loads(path.read_text()))
        else:
            key = RSAKey.generate_key(2048, parameters={"kid": secrets.token_hex(8),
                                                        "use": "sig", "alg": "RS256"})
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(key.as_dict(private=True)))
            path.chmod(0o600)
        app.extensions["devidp_key"] = key
    return key


def user_claims(found: Persona, scope: str) -> UserInfo:
    """The claims the scope grants about a persona."""
    scopes = set((scope or "").split())
    info = UserInfo(sub=found.subject)
    if "email" in scopes:
        info.update(email=found.email, email_verified=True)
    if "profile" in scopes:
        info["name"] = found.name
    if "groups" in scopes:
        info["groups"] = list(found.groups)
    return info


class OpenIDCodeGrant(grants.AuthorizationCodeGrant):
    """The code grant, bound to the realm of the request."""

    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def save_authorization_code(self, code, request):
        data = request.payload.data
        current_app.extensions["devidp_store"].put_code(AuthorizationCode(
            code=code, realm=g.devidp_realm, client_id=request.client.get_client_id(),
            redirect_uri=request.payload.redirect_uri, scope=request.payload.scope,
            login=request.user.login, nonce=data.get("nonce"),
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
        ))

    def query_authorization_code(self, code, client):
        found = current_app.extensions["devidp_store"].get_code(code)
        if found and found.client_id == client.get_client_id() and not found.is_expired():
            return found
        return None

    def delete_authorization_code(self, authorization_code):
        current_app.extensions["devidp_store"].pop_code(authorization_code.code)

    def authenticate_user(self, authorization_code):
        return persona(authorization_code.realm, authorization_code.login)


class RealmOpenIDCode(OpenIDCode):
    """ID tokens signed with the IdP's key, issued by the realm's issuer."""

    def exists_nonce(self, nonce, request):
        store = current_app.extensions["devidp_store"]
        with store.lock:
            return any(c.nonce == nonce for c in store.codes.values())

    def resolve_client_private_key(self, client):
        return signing_key()

    def get_client_algorithm(self, client):
        return "RS256"

    def get_client_claims(self, client):
        return {"iss": issuer(current_app.config["BASE_URL"], g.devidp_realm),
                "aud": [client.get_client_id()], "exp": int(time.time()) + 300}

    def get_encode_header(self, client):
        return {"alg": "RS256", "kid": signing_key().kid}

    def generate_user_info(self, user, scope):
        return user_claims(user, scope)


def _query_client(client_id_value: str):
    realm = g.get("devidp_realm")
    if realm not in REALMS or client_id_value != client_id(realm):
        return None
    config = current_app.config
    return DevClient(realm=realm, base_url=config["BASE_URL"],
                     secret=client_secret(config["SECRET_KEY"], realm))


def _save_token(token, request):
    current_app.extensions["devidp_store"].put_token(
        token["access_token"], g.devidp_realm, request.user.login)


class RealmIssuerParameter(IssuerParameter):
    """RFC 9207: the authorization response names its issuer, so the portal can tell IdPs
    apart."""

    def get_issuer(self) -> str | None:
        return issuer(current_app.config["BASE_URL"], g.devidp_realm)


class S256CodeChallenge(CodeChallenge):
    """PKCE required on every authorization request, with S256 only."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant, redirect_uri):
        data = grant.request.payload.data
        if not data.get("code_challenge") or data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("'code_challenge' with 'code_challenge_method=S256' "
                                      "is required", redirect_uri=redirect_uri)
        return super().validate_code_challenge(grant, redirect_uri)


def create_server(app) -> AuthorizationServer:
    """The Authlib authorization server of the development IdP."""
    app.extensions["devidp_store"] = Store()
    server = AuthorizationServer(app, query_client=_query_client, save_token=_save_token)
    server.register_grant(OpenIDCodeGrant, [RealmOpenIDCode(require_nonce=True),
                                            S256CodeChallenge(required=True)])
    server.register_extension(RealmIssuerParameter())
    return server
