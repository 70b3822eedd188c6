"""Single sign-on with each organisation's own OpenID provider.

One Authlib client per organisation, built from its `IdpConnection`, does the authorization
code flow with PKCE (S256), state and nonce. The ID token check is ours and strict: a fixed
list of signature algorithms (never `none`), issuer and audience pinned to the connection,
`exp`, `iat`, `nonce`; an unknown key id refreshes the JWKS once (key rotation).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import requests
from authlib.integrations.base_client import MismatchingStateError, OAuthError
from authlib.integrations.flask_client import FlaskOAuth2App
from flask import current_app, request
from joserfc import jws, jwt
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    InvalidClaimError,
    InvalidKeyIdError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import KeySet

from accounts.models import IdpConnection
from portal.crypto import unseal

SIGNING_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384",
                      "ES512", "EdDSA"]
CLOCK_LEEWAY_SECONDS = 60
METADATA_TTL_SECONDS = 3600


@dataclass
class SignInError(Exception):
    """A refused sign-in: `reason` is a short tag for the audit trail, `message` is shown
    to the person in plain words."""

    reason: str
    message: str

    def __str__(self) -> str:
        return f"{self.reason}: {self.message}"


CLAIM_MESSAGES = {
    "iss": "The sign-in came from an identity provider other than your organisation's.",
    "aud": "The identity provider issued the sign-in for another application.",
    "exp": "The sign-in had expired. Please try again.",
    "iat": "The sign-in carried no valid issue time.",
    "nonce": "The sign-in did not match the one this browser started. Please try again.",
    "sub": "The identity provider did not say who you are.",
    "azp": "The identity provider issued the sign-in for another application.",
}


class OrganisationOIDCClient(FlaskOAuth2App):
    """Authlib's Flask client with the discovery issuer and the ID token checked strictly
    against the organisation's pinned connection."""

    pinned_issuer: str = ""

    def load_server_metadata(self):
        """Discovery, refused when it names another issuer than the pinned one."""
        try:
            metadata = super().load_server_metadata()
        except (requests.RequestException, ValueError) as exc:
            raise SignInError(
                "idp-unreachable",
                "Your organisation's identity provider could not be reached. "
                "Please try again later.",
            ) from exc
        if metadata.get("issuer") != self.pinned_issuer:
            raise SignInError(
                "discovery-issuer-mismatch",
                "Your organisation's identity provider announced a different issuer than the "
                "one configured for it, so the sign-in was refused.",
            )
        return metadata

    def parse_id_token(self, token, nonce, claims_options=None, claims_cls=None, leeway=120):
        """Validate the ID token; returns its claims or raises SignInError."""
        raw = token.get("id_token")
        if not raw:
            raise SignInError("no-id-token", "The identity provider sent no ID token.")
        return verify_id_token(
            raw,
            fetch_keys=lambda force: self.fetch_jwk_set(force=force),
            issuer=self.pinned_issuer,
            client_id=self.client_id,
            nonce=nonce,
        )


def verify_id_token(raw: str, fetch_keys, issuer: str, client_id: str, nonce: str) -> dict:
    """Check an ID token's signature and claims; `fetch_keys(force)` returns the JWKS.

    Returns the claims; raises SignInError with the reason otherwise.
    """
    try:
        header = jws.extract_compact(raw.encode()).headers()
    except (JoseError, ValueError) as exc:
        raise SignInError("id-token-malformed", "The identity provider sent a malformed "
                          "ID token.") from exc
    if header.get("alg") not in SIGNING_ALGORITHMS:
        raise SignInError(
            "id-token-alg",
            f"The identity provider signed the ID token with {header.get('alg')!r}, "
            "which is not accepted.",
        )
    try:
        token = _decode(raw, fetch_keys, force=False)
    except InvalidKeyIdError:
        try:
            token = _decode(raw, fetch_keys, force=True)  # the IdP may have rotated keys
        except InvalidKeyIdError as exc:
            if not header.get("kid"):
                raise SignInError(
                    "id-token-kid-missing",
                    "The ID token did not name its signing key, and your identity provider "
                    "publishes several, so it could not be verified.",
                ) from exc
            raise SignInError(
                "id-token-unknown-key",
                "The ID token was signed with a key your identity provider does not publish.",
            ) from exc
    claims = token.claims
    registry = jwt.JWTClaimsRegistry(
        leeway=CLOCK_LEEWAY_SECONDS,
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": client_id},
        sub={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
        nonce={"essential": True, "value": nonce},
    )
    try:
        registry.validate(claims)
    except ExpiredTokenError as exc:
        raise SignInError("id-token-expired", CLAIM_MESSAGES["exp"]) from exc
    except (MissingClaimError, InvalidClaimError) as exc:
        claim = exc.claim.split(",")[0]  # MissingClaimError lists all missing ones
        raise SignInError(f"id-token-{claim}", CLAIM_MESSAGES.get(
            claim, "The identity provider's ID token was not valid.")) from exc
    iat = claims["iat"]
    if not isinstance(iat, int | float) or iat > time.time() + CLOCK_LEEWAY_SECONDS:
        raise SignInError("id-token-iat", CLAIM_MESSAGES["iat"])
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    # OpenID Connect Core 3.1.3.7: azp must name us when there are several audiences, and
    # when present at all.
    if (len(audiences) > 1 or "azp" in claims) and claims.get("azp") != client_id:
        raise SignInError("id-token-azp", CLAIM_MESSAGES["azp"])
    return claims


def _decode(raw: str, fetch_keys, force: bool):
    keys = KeySet.import_key_set(fetch_keys(force))
    try:
        return jwt.decode(raw, keys, algorithms=SIGNING_ALGORITHMS)
    except BadSignatureError as exc:
        raise SignInError(
            "id-token-bad-signature",
            "The ID token's signature did not verify: it was not issued by your organisation's "
            "identity provider.",
        ) from exc
    except InvalidKeyIdError:
        raise
    except (JoseError, ValueError) as exc:
        raise SignInError("id-token-invalid", "The identity provider's ID token could not be "
                          "verified.") from exc


def client_for(connection: IdpConnection) -> OrganisationOIDCClient:
    """The Authlib client of a connection; rebuilt when the connection changes and hourly,
    so discovery and keys are fetched once, not at every sign-in."""
    version = (connection.id, connection.issuer, connection.client_id,
               connection.client_secret, connection.scopes)
    # Kept per app (tests build many apps): organisation id -> (version, built at, client)
    clients = current_app.extensions.setdefault("portal_sso_clients", {})
    cached = clients.get(connection.organisation_id)
    if cached and cached[0] == version and time.monotonic() - cached[1] < METADATA_TTL_SECONDS:
        return cached[2]
    oauth = current_app.extensions["authlib.integrations.flask_client"]
    name = f"org-{connection.organisation_id}"
    oauth._clients.pop(name, None)  # the registry caches clients by name; rebuild this one
    client = oauth.register(
        name=name,
        client_cls=OrganisationOIDCClient,
        client_id=connection.client_id,
        client_secret=unseal(connection.client_secret),
        server_metadata_url=f"{connection.issuer}/.well-known/openid-configuration",
        client_kwargs={
            "scope": connection.scopes,
            "code_challenge_method": "S256",
            "token_endpoint_auth_method": "client_secret_basic",
            "default_timeout": current_app.config["SSO_HTTP_TIMEOUT"],
        },
    )
    client.pinned_issuer = connection.issuer
    clients[connection.organisation_id] = (version, time.monotonic(), client)
    return client


def exchange_code(client: OrganisationOIDCClient, connection: IdpConnection) -> dict:
    """Finish the flow at the callback: check the `iss` parameter, the state, trade the
    code (with the PKCE verifier) for tokens, validate the ID token and check UserInfo.

    Returns the merged claims (ID token first, UserInfo filling gaps).
    """
    error = request.args.get("error")
    if error:
        detail = request.args.get("error_description") or error
        raise SignInError("idp-error", f"Your identity provider refused the sign-in: {detail}")
    metadata = client.load_server_metadata()
    iss = request.args.get("iss")
    if iss is not None and iss != connection.issuer:
        raise SignInError("callback-issuer-mismatch", "The sign-in response came from an "
                          "identity provider other than your organisation's.")
    if iss is None and metadata.get("authorization_response_iss_parameter_supported"):
        raise SignInError("callback-issuer-missing", "The sign-in response did not say which "
                          "identity provider sent it.")
    try:
        token = client.authorize_access_token()
    except MismatchingStateError as exc:
        raise SignInError(
            "state-mismatch",
            "This sign-in was not started from this browser, or it took too long. "
            "Please sign in again.",
        ) from exc
    except OAuthError as exc:
        raise SignInError("token-error", "Your identity provider did not complete the "
                          f"sign-in ({exc.error}).") from exc
    except requests.RequestException as exc:
        raise SignInError("idp-unreachable", "Your organisation's identity provider could "
                          "not be reached. Please try again later.") from exc
    claims = dict(token.get("userinfo") or {})
    if not claims:
        raise SignInError("no-id-token", "The identity provider sent no ID token.")
    if metadata.get("userinfo_endpoint"):
        try:
            info = client.userinfo(token=token)
        except (requests.RequestException, OAuthError, ValueError) as exc:
            raise SignInError("userinfo-error", "Your identity provider did not answer the "
                              "request for your profile.") from exc
        if info.get("sub") != claims.get("sub"):
            raise SignInError("userinfo-sub-mismatch", "The identity provider's profile "
                              "answer was about someone else, so the sign-in was refused.")
        for key, value in info.items():
            claims.setdefault(key, value)
    claims["_id_token"] = token.get("id_token")
    return claims


def end_session_url(connection: IdpConnection, id_token: str | None, return_to: str) -> str | None:
    """The IdP's RP-initiated logout URL, where it has one."""
    client = client_for(connection)
    try:
        metadata = client.load_server_metadata()
    except SignInError:
        return None
    if not metadata.get("end_session_endpoint"):
        return None
    return client.create_logout_url(
        post_logout_redirect_uri=return_to, id_token_hint=id_token,
    )["url"]
