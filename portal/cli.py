"""Commands of the shell: `db upgrade`, `demo load`, `sessions purge`."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click
from alembic import command
from alembic.config import Config
from flask import Flask, current_app
from flask.cli import AppGroup

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config() -> Config:
    """Alembic's configuration for the current app's database."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["database_url"] = current_app.config["DATABASE_URL"]
    return cfg


def upgrade_database(revision: str = "head") -> None:
    """Migrate the current app's database to `revision`."""
    Path(current_app.instance_path).mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(), revision)


def register(app: Flask) -> None:
    """Add the commands to `flask`."""
    db_cli = AppGroup("db", help="Database migrations.")

    @db_cli.command("upgrade")
    @click.argument("revision", default="head")
    def db_upgrade(revision):
        """Migrate the database to the latest (or the given) revision."""
        upgrade_database(revision)
        click.echo(f"Database at {revision}.")

    @db_cli.command("revision")
    @click.option("-m", "--message", required=True)
    def db_revision(message):
        """Write a new migration from the difference between models and database."""
        import accounts.models  # noqa: F401 - the models must be known to compare
        command.revision(alembic_config(), message=message, autogenerate=True)

    demo_cli = AppGroup("demo", help="Demonstration data.")

    @demo_cli.command("load")
    @click.option("--if-empty", is_flag=True, help="Do nothing when organisations exist.")
    def demo_load(if_empty):
        """Load the demo organisations, users' roles and SSO through the development IdP."""
        from portal.demo import load_demo

        created = load_demo(only_if_empty=if_empty)
        click.echo("Demo data loaded." if created else "Demo data already present.")

    sessions_cli = AppGroup("sessions", help="Browser sessions.")

    @sessions_cli.command("purge")
    def sessions_purge():
        """Delete expired sessions."""
        from portal.extensions import db
        from portal.sessions import purge_expired

        removed = purge_expired(
            db.session,
            dt.timedelta(minutes=current_app.config["SESSION_IDLE_MINUTES"]),
            dt.timedelta(hours=current_app.config["SESSION_ABSOLUTE_HOURS"]),
        )
        db.session.commit()
        click.echo(f"{removed} expired sessions deleted.")

    for group in (db_cli, demo_cli, sessions_cli):
        app.cli.add_command(group)
