"""The development IdP's realms (one per demo organisation, as each company has its own
IdP) and their people: one demo user per role."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass


@dataclass(frozen=True)
class Persona:
    """A person the development IdP can sign in."""

    login: str
    name: str
    email: str
    groups: tuple[str, ...]
    title: str

    @property
    def subject(self) -> str:
        """A stable subject that is not the e-mail (the portal must not rely on it)."""
        return "dev-" + hashlib.sha256(self.email.encode()).hexdigest()[:16]


# group -> role, the same shape an admin enters for a real IdP.
GROUP_ROLES = {
    "customer": {"portal-admins": "admin", "portal-buyers": "buyer",
                 "portal-finance": "finance", "portal-viewers": "viewer"},
    "partner": {"partner-admins": "partner_admin", "partner-agents": "partner_agent"},
    "operator": {"b2b-account-managers": "account_manager",
                 "b2b-sales-directors": "sales_director", "b2b-portal-admins": "operator_admin"},
}

REALMS: dict[str, dict] = {
    "carrier": {
        "name": "Carrier Telecom", "kind": "operator", "domain": "carrier.example",
        "people": [
            Persona("amelia", "Amelia Hart", "amelia.hart@carrier.example",
                    ("b2b-account-managers",), "Account manager"),
            Persona("sam", "Samuel Ortiz", "samuel.ortiz@carrier.example",
                    ("b2b-sales-directors",), "Sales director"),
            Persona("olga", "Olga Novak", "olga.novak@carrier.example",
                    ("b2b-portal-admins",), "Operator admin"),
        ],
    },
    "acme": {
        "name": "Acme Industries", "kind": "customer", "domain": "acme.example",
        "people": [
            Persona("ada", "Ada Admin", "ada.admin@acme.example", ("portal-admins",),
                    "Customer admin"),
            Persona("bob", "Bob Buyer", "bob.buyer@acme.example", ("portal-buyers",), "Buyer"),
            Persona("fiona", "Fiona Finance", "fiona.finance@acme.example",
                    ("portal-finance",), "Finance"),
            Persona("victor", "Victor Viewer", "victor.viewer@acme.example",
                    ("portal-viewers",), "Viewer"),
        ],
    },
    "globex": {
        "name": "Globex Corporation", "kind": "customer", "domain": "globex.example",
        "people": [
            Persona("grace", "Grace Admin", "grace.admin@globex.example", ("portal-admins",),
                    "Customer admin"),
            Persona("gus", "Gus Buyer", "gus.buyer@globex.example", ("portal-buyers",), "Buyer"),
        ],
    },
    "northwind": {
        "name": "Northwind Partners", "kind": "partner", "domain": "northwind.example",
        "people": [
            Persona("nadia", "Nadia Partner", "nadia.partner@northwind.example",
                    ("partner-admins",), "Partner admin"),
            Persona("paul", "Paul Agent", "paul.agent@northwind.example", ("partner-agents",),
                    "Partner agent"),
        ],
    },
}


def client_id(realm: str) -> str:
    """The client id the portal uses at a realm."""
    return f"portal-{realm}"


def client_secret(secret_key: str, realm: str) -> str:
    """The realm's client secret, derived from the app's secret key so that the IdP and the
    portal agree without storing it twice."""
    return hmac.new(secret_key.encode(), f"devidp:{realm}".encode(), hashlib.sha256).hexdigest()


def issuer(base_url: str, realm: str) -> str:
    """The realm's issuer URL."""
    return f"{base_url}/devidp/{realm}"


def persona(realm: str, login: str) -> Persona | None:
    """The person with this login in the realm, if any."""
    for person in REALMS.get(realm, {}).get("people", []):
        if person.login == login:
            return person
    return None
