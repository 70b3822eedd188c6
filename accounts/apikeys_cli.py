"""`apikey create` (prints the token once) and `apikey revoke`."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from accounts.apikeys import create_api_key, key_by_prefix, revoke_api_key
from accounts.cli import CLI_ACTOR, _fail, _org_or_fail
from accounts.services import AccountError
from portal.extensions import db


def register(app: Flask) -> None:
    """Add the commands to `flask`."""
    apikey_cli = AppGroup("apikey", help="API keys for the TMF APIs.")

    @apikey_cli.command("create")
    @click.option("--org", "slug", required=True)
    @click.option("--name", required=True, help="The system that will use the key.")
    @click.option("--role", required=True, help="A role of the organisation's kind.")
    def apikey_create(slug, name, role):
        """Create a key and print its token: it is shown this once and stored only as a
        hash."""
        org = _org_or_fail(slug)
        try:
            key, token = create_api_key(db.session, org, name, role, actor_label=CLI_ACTOR)
            db.session.commit()
        except AccountError as exc:
            _fail(exc)
        click.echo(f"Key {key.prefix} ({name}, {role}) created for {slug}. Its token, shown "
                   "only this once:", err=True)
        click.echo(token)

    @apikey_cli.command("revoke")
    @click.argument("prefix")
    def apikey_revoke(prefix):
        """Revoke the key with this prefix (the part after `pk_`)."""
        key = key_by_prefix(db.session, prefix)
        if key is None:
            raise click.ClickException(f"No API key {prefix!r}.")
        try:
            revoke_api_key(db.session, key, actor_label=CLI_ACTOR)
            db.session.commit()
        except AccountError as exc:
            _fail(exc)
        click.echo(f"Key {prefix} revoked.")

    app.cli.add_command(apikey_cli)
