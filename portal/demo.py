"""Demo data: the operator `carrier`, customers `acme` and `globex`, partner `northwind`,
each signing in through its own realm of the development IdP."""

from __future__ import annotations

from flask import current_app
from sqlalchemy import func, select

from accounts.models import Organisation
from accounts.services import create_organisation, org_by_slug, set_idp_connection
from portal.devidp import personas
from portal.extensions import db

DEMO_ACTOR = "demo"


def load_demo(only_if_empty: bool = False) -> bool:
    """Create the demo organisations and their SSO connections; idempotent. Returns whether
    anything was created."""
    session = db.session
    if only_if_empty and session.scalar(select(func.count()).select_from(Organisation)):
        return False
    config = current_app.config
    created = False
    for slug, realm in personas.REALMS.items():
        org = org_by_slug(session, slug)
        if org is None:
            org = create_organisation(session, slug, realm["name"], realm["kind"],
                                      [realm["domain"]], actor_label=DEMO_ACTOR)
            created = True
        if org.idp is None:
            set_idp_connection(
                session, org,
                issuer=personas.issuer(config["BASE_URL"], slug),
                client_id=personas.client_id(slug),
                client_secret=personas.client_secret(config["SECRET_KEY"], slug),
                role_map=personas.GROUP_ROLES[realm["kind"]],
                actor_label=DEMO_ACTOR,
            )
            created = True
    session.commit()
    return created
