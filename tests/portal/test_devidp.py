"""The development IdP: every demo person signs in through it over real HTTP, as
`make run` serves it; it behaves as a strict OpenID provider."""

from __future__ import annotations

import re

import pytest
import requests

from portal.devidp.personas import GROUP_ROLES, REALMS

CSRF = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')


@pytest.fixture
def demo(demo_server):
    return demo_server


def sign_in(server, email: str, login: str) -> requests.Session:
    http = requests.Session()
    page = http.get(f"{server.url}/login")
    to_idp = http.post(f"{server.url}/login", allow_redirects=False, data={
        "csrf_token": CSRF.search(page.text).group(1), "email": email})
    assert to_idp.status_code == 302, to_idp.text
    picker = http.get(to_idp.headers["Location"])
    assert f'data-testid="persona-{login}"' in picker.text
    back = http.post(picker.url, allow_redirects=False, data={
        "csrf_token": CSRF.search(picker.text).group(1), "login": login})
    assert back.status_code == 302 and "/callback?" in back.headers["Location"]
    landed = http.get(back.headers["Location"], allow_redirects=False)
    assert landed.status_code == 302, landed.text
    assert landed.headers["Location"] == "/dashboard"
    return http


PEOPLE = [(slug, person) for slug, realm in REALMS.items() for person in realm["people"]]


@pytest.mark.parametrize("slug,person", PEOPLE, ids=[p.login for _, p in PEOPLE])
def test_every_demo_person_signs_in_with_their_role(demo, slug, person):
    http = sign_in(demo, person.email, person.login)
    dashboard = http.get(f"{demo.url}/dashboard")
    assert dashboard.status_code == 200
    role = GROUP_ROLES[REALMS[slug]["kind"]][person.groups[0]]
    label = role.replace("_", " ").capitalize()
    assert f"Signed in as {person.name} · {label}" in dashboard.text
    assert REALMS[slug]["name"] in dashboard.text


def test_the_idp_refuses_a_wrong_client_secret_and_a_missing_pkce(demo):
    issuer = f"{demo.url}/devidp/acme"
    token = requests.post(f"{issuer}/token", data={
        "grant_type": "authorization_code", "code": "x",
        "redirect_uri": f"{demo.url}/sso/acme/callback"}, auth=("portal-acme", "wrong"))
    assert token.status_code == 401
    no_pkce = requests.get(f"{issuer}/authorize", params={
        "response_type": "code", "client_id": "portal-acme", "scope": "openid",
        "redirect_uri": f"{demo.url}/sso/acme/callback", "nonce": "n", "state": "s"},
        allow_redirects=False)
    assert no_pkce.status_code == 302
    assert "code_challenge" in no_pkce.headers["Location"]


def test_discovery_names_the_realm_issuer(demo):
    metadata = requests.get(f"{demo.url}/devidp/globex/.well-known/openid-configuration").json()
    assert metadata["issuer"] == f"{demo.url}/devidp/globex"
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert requests.get(f"{demo.url}/devidp/nobody/jwks").status_code == 404


def test_a_person_of_one_realm_cannot_sign_in_to_another_organisation(demo):
    """Acme's IdP realm does not list Globex people; and the globex e-mail goes to globex."""
    http = requests.Session()
    page = http.get(f"{demo.url}/login")
    to_idp = http.post(f"{demo.url}/login", allow_redirects=False, data={
        "csrf_token": CSRF.search(page.text).group(1), "email": "grace.admin@globex.example"})
    assert "/devidp/globex/" in to_idp.headers["Location"]
    picker = http.get(to_idp.headers["Location"].replace("/devidp/globex/", "/devidp/acme/"))
    # The acme realm refuses the globex client outright.
    assert picker.status_code == 400
