"""Demo data: the operator `carrier`, customers `acme` and `globex`, partner `northwind`,
each signing in through its own realm of the development IdP; the demo people exist up front
(as the IdP would provision them) so that assignments and delegations can name them."""

from __future__ import annotations

import datetime as dt

from flask import current_app
from sqlalchemy import func, select

from accounts.delegation import assign_account_manager, grant_delegation
from accounts.legacy.services import import_samples
from accounts.models import Delegation, Membership, Organisation, User
from accounts.services import (
    create_organisation,
    org_by_slug,
    roles_from_groups,
    set_idp_connection,
)
from portal.billing.demo import load_demo_bills
from portal.catalog.demo import load_demo_catalog
from portal.db import utcnow
from portal.demo_estate import load_estate
from portal.demo_quotes import load_quotes
from portal.devidp import personas
from portal.extensions import db
from portal.usage.demo import load_demo_usage

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
    session.flush()
    people = _demo_people(session, config["BASE_URL"])
    orgs = {org.slug: org for org in session.scalars(select(Organisation))}
    load_estate(session, orgs["acme"], site_count=40, seed=1)
    load_estate(session, orgs["globex"], site_count=8, seed=2)
    if not session.scalar(select(func.count()).select_from(Delegation)):
        grant_delegation(session, orgs["acme"], orgs["northwind"], ["quote", "order"],
                         utcnow() + dt.timedelta(days=365))
    for customer in ("acme", "globex"):
        assign_account_manager(session, orgs[customer], people["amelia"])
    load_demo_catalog(session, DEMO_ACTOR)
    session.flush()
    load_quotes(session, orgs["acme"], people["bob"])
    load_demo_bills(session, dt.date.today(), DEMO_ACTOR)
    load_demo_usage(session)
    session.commit()
    # The legacy systems' sample exports: more customers, and a few accounts that look like
    # Acme and Globex, waiting as proposals for an operator admin (idempotent).
    import_samples(session)
    session.commit()
    return created


def _demo_people(session, base_url: str) -> dict[str, User]:
    """The development IdP's people as users with their IdP roles, by login."""
    people = {}
    for slug, realm in personas.REALMS.items():
        org = org_by_slug(session, slug)
        issuer = personas.issuer(base_url, slug)
        for person in realm["people"]:
            user = session.scalars(select(User).where(
                User.issuer == issuer, User.subject == person.subject)).first()
            if user is None:
                user = User(issuer=issuer, subject=person.subject, email=person.email,
                            name=person.name)
                session.add(user)
                for role in sorted(roles_from_groups(org.idp, person.groups)):
                    session.add(Membership(user=user, organisation_id=org.id, role=role,
                                           source="idp"))
            people[person.login] = user
    session.flush()
    return people
