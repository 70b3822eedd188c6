"""Endpoints of the development IdP: discovery, keys, the pick-a-person page, token,
UserInfo and end of session."""

from __future__ import annotations

from authlib.oauth2 import OAuth2Error
from flask import Blueprint, abort, current_app, g, jsonify, redirect, render_template, request

from portal.devidp.personas import REALMS, client_id, issuer, persona
from portal.devidp.server import create_server, signing_key, user_claims
from portal.extensions import csrf
from portal.security import public

bp = Blueprint("devidp", __name__, url_prefix="/devidp/<realm>")


@bp.record_once
def _setup(state):
    state.app.extensions["devidp_server"] = create_server(state.app)


@bp.url_value_preprocessor
def _pick_realm(_endpoint, values):
    realm = values.pop("realm", None)
    if realm not in REALMS:
        abort(404)
    g.devidp_realm = realm


@bp.url_defaults
def _keep_realm(_endpoint, values):
    values.setdefault("realm", g.get("devidp_realm"))


def _server():
    return current_app.extensions["devidp_server"]


@bp.get("/.well-known/openid-configuration")
@public
def discovery():
    """OpenID provider metadata of the realm."""
    base = issuer(current_app.config["BASE_URL"], g.devidp_realm)
    return jsonify(
        issuer=base,
        authorization_endpoint=f"{base}/authorize",
        token_endpoint=f"{base}/token",
        userinfo_endpoint=f"{base}/userinfo",
        jwks_uri=f"{base}/jwks",
        end_session_endpoint=f"{base}/logout",
        response_types_supported=["code"],
        grant_types_supported=["authorization_code"],
        subject_types_supported=["public"],
        id_token_signing_alg_values_supported=["RS256"],
        scopes_supported=["openid", "email", "profile", "groups"],
        claims_supported=["sub", "email", "email_verified", "name", "groups"],
        code_challenge_methods_supported=["S256"],
        token_endpoint_auth_methods_supported=["client_secret_basic", "client_secret_post"],
        authorization_response_iss_parameter_supported=True,
    )


@bp.get("/jwks")
@public
def jwks():
    """The public signing key."""
    return jsonify(keys=[signing_key().as_dict(private=False)])


@bp.route("/authorize", methods=["GET", "POST"])
@public
def authorize():
    """Show the realm's demo people; the chosen one is signed in to the portal."""
    server = _server()
    realm = REALMS[g.devidp_realm]
    try:
        grant = server.get_consent_grant(end_user=None)
    except OAuth2Error as error:
        if getattr(error, "redirect_uri", None):
            return server.handle_error_response(None, error)  # back to the client
        return render_template("devidp/error.html", error=error, realm=realm), 400
    if request.method == "GET":
        return render_template("devidp/authorize.html", realm=realm,
                               realm_slug=g.devidp_realm, grant=grant,
                               hidden=request.args.items(multi=True))
    chosen = persona(g.devidp_realm, request.form.get("login", ""))
    if chosen is None:
        return render_template("devidp/authorize.html", realm=realm,
                               realm_slug=g.devidp_realm, grant=grant,
                               hidden=request.args.items(multi=True),
                               error="Pick one of the people listed."), 400
    return server.create_authorization_response(grant_user=chosen, grant=grant)


@bp.post("/token")
@public
@csrf.exempt
def token():
    """Trade a code (with its PKCE verifier) for tokens."""
    return _server().create_token_response()


@bp.get("/userinfo")
@public
def userinfo():
    """The claims of the bearer token's person."""
    auth = request.headers.get("Authorization", "")
    scheme, _, value = auth.partition(" ")
    found = current_app.extensions["devidp_store"].user_of_token(value) \
        if scheme.lower() == "bearer" else None
    if found is None or found[0] != g.devidp_realm:
        response = jsonify(error="invalid_token")
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        return response
    return jsonify(user_claims(found[1], "openid email profile groups"))


@bp.get("/logout")
@public
def logout():
    """End the session at the IdP (it keeps none) and go back to the portal."""
    target = request.args.get("post_logout_redirect_uri", "")
    base = current_app.config["BASE_URL"]
    if target.startswith(base + "/"):
        return redirect(target)
    return render_template("devidp/logged_out.html", client_id=client_id(g.devidp_realm))
