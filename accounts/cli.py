"""`org create`, `sso set`, `user grant`, `user deactivate`."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import select

from accounts.models import ORG_KINDS, User
from accounts.services import (
    AccountError,
    create_organisation,
    grant_role,
    org_by_slug,
    set_idp_connection,
    set_user_active,
)
from portal.extensions import db

CLI_ACTOR = "cli"


def _fail(exc: Exception):
    db.session.rollback()
    raise click.ClickException(str(exc))


def _org_or_fail(slug: str):
    org = org_by_slug(db.session, slug)
    if org is None:
        raise click.ClickException(f"No organisation {slug!r}.")
    return org


def parse_mappings(values) -> dict[str, str]:
    """`GROUP=ROLE` options into a mapping."""
    mapping = {}
    for value in values:
        group, sep, role = value.rpartition("=")
        if not sep or not group or not role:
            raise click.BadParameter(f"{value!r} is not GROUP=ROLE", param_hint="--map")
        mapping[group] = role
    return mapping


def register(app: Flask) -> None:
    """Add the commands to `flask`."""
    org_cli = AppGroup("org", help="Organisations.")

    @org_cli.command("create")
    @click.argument("slug")
    @click.option("--name", required=True)
    @click.option("--kind", required=True, type=click.Choice(ORG_KINDS))
    @click.option("--domain", "domains", multiple=True, help="A verified e-mail domain.")
    @click.option("--parent", default=None, help="Slug of the parent organisation.")
    def org_create(slug, name, kind, domains, parent):
        """Create an organisation with its verified e-mail domains."""
        try:
            create_organisation(db.session, slug, name, kind, list(domains), parent,
                                actor_label=CLI_ACTOR)
            db.session.commit()
        except AccountError as exc:
            _fail(exc)
        click.echo(f"Organisation {slug} created.")

    sso_cli = AppGroup("sso", help="Single sign-on connections.")

    @sso_cli.command("set")
    @click.argument("slug")
    @click.option("--issuer", required=True)
    @click.option("--client-id", required=True)
    @click.option("--client-secret", required=True)
    @click.option("--map", "mappings", multiple=True, help="GROUP=ROLE, repeatable.")
    def sso_set(slug, issuer, client_id, client_secret, mappings):
        """Connect an organisation to its OpenID provider (discovery at
        ISSUER/.well-known/openid-configuration)."""
        org = _org_or_fail(slug)
        try:
            set_idp_connection(db.session, org, issuer, client_id, client_secret,
                               parse_mappings(mappings), actor_label=CLI_ACTOR)
            db.session.commit()
        except AccountError as exc:
            _fail(exc)
        click.echo(f"Single sign-on of {slug} set to {issuer}.")

    user_cli = AppGroup("user", help="Users and roles.")

    @user_cli.command("grant")
    @click.argument("email")
    @click.option("--org", "slug", required=True)
    @click.option("--role", required=True)
    def user_grant(email, slug, role):
        """Give a role by hand (kept across sign-ins); waits as an invitation until the user
        first signs in."""
        org = _org_or_fail(slug)
        try:
            grant_role(db.session, email, org, role, actor_label=CLI_ACTOR)
            db.session.commit()
        except AccountError as exc:
            _fail(exc)
        click.echo(f"{email} has the role {role} in {slug}.")

    @user_cli.command("deactivate")
    @click.argument("email")
    def user_deactivate(email):
        """Deactivate every user with this e-mail; their sessions end at once."""
        users = db.session.scalars(select(User).where(User.email == email.lower())).all()
        if not users:
            raise click.ClickException(f"No user {email!r}.")
        for user in users:
            set_user_active(db.session, user, False, actor_label=CLI_ACTOR)
        db.session.commit()
        click.echo(f"{email} deactivated.")

    for group in (org_cli, sso_cli, user_cli):
        app.cli.add_command(group)
