"""`usage import FILE` and `offers evaluate [--date YYYY-MM-DD]`. The notifications they make
are e-mailed right after the commit, as a request's are."""

from __future__ import annotations

from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from portal.db import utcnow
from portal.extensions import db

CLI_ACTOR = "cli"


def _send_mail() -> None:
    from portal.notifications.delivery import committed_notifications
    from portal.notifications.services import deliver_pending

    ids = committed_notifications(db.session)
    if ids:
        done = deliver_pending(db.session, current_app.config, limit=len(ids), ids=ids)
        click.echo(f"{done.sent} e-mail{'s' if done.sent != 1 else ''} sent"
                   + (f", {done.failed} kept for `notifications send`" if done.failed else "")
                   + ".")


def register(app: Flask) -> None:
    """Add the commands to `flask`."""
    usage_cli = AppGroup("usage", help="Data usage of the customers' services.")
    offers_cli = AppGroup("offers", help="Bill-shock alerts, plan recommendations, upgrades.")

    @usage_cli.command("import")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    def usage_import(file: Path):
        """Import a usage CSV file: all of it, or nothing when anything is wrong. Alerts and
        recommendations follow in the same transaction."""
        from portal.usage.imports import UsageImportError, import_usage

        try:
            result = import_usage(db.session, file.read_bytes(), CLI_ACTOR, filename=file.name)
            db.session.commit()
        except UsageImportError as exc:
            db.session.rollback()
            raise click.ClickException("\n".join(exc.lines())) from None
        click.echo(result.summary())
        _send_mail()

    @offers_cli.command("evaluate")
    @click.option("--date", "day", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
                  help="Evaluate as on this day (default: today).")
    def offers_evaluate(day):
        """Expire offers that no longer apply; make the recommendations and upgrade offers
        due, for every organisation. Safe to run again: nothing is offered twice."""
        from portal.usage.services import evaluate_offers

        done = evaluate_offers(db.session, day.date() if day else utcnow().date(), CLI_ACTOR)
        db.session.commit()
        click.echo(done.summary())
        if not done.catalog:
            raise SystemExit(1)
        _send_mail()

    app.cli.add_command(usage_cli)
    app.cli.add_command(offers_cli)
