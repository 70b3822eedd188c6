"""`bills import FILE --system SYSTEM [--format tmf678|csv]` and
`bills run --period YYYY-MM [--org SLUG]`."""

from __future__ import annotations

from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup

from portal.billing.imports import BillImportError, import_csv, import_tmf678
from portal.billing.run import BillRunError, run_bills
from portal.extensions import db

CLI_ACTOR = "cli"
FORMATS = {"tmf678": import_tmf678, "csv": import_csv}


def _format_of(path: Path) -> str:
    return "csv" if path.suffix.lower() == ".csv" else "tmf678"


def register(app: Flask) -> None:
    """Add the commands to `flask`."""
    bills_cli = app.cli.commands.get("bills")
    if bills_cli is None:
        bills_cli = AppGroup("bills", help="Bills of the billing systems.")
        app.cli.add_command(bills_cli)

    @bills_cli.command("import")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.option("--system", required=True, help="The billing system that issued the bills.")
    @click.option("--format", "file_format", type=click.Choice(tuple(FORMATS)),
                  help="The file's format; by default csv for a .csv file, else tmf678.")
    def bills_import(file: Path, system: str, file_format: str | None):
        """Import a file of bills: all of them, or nothing when anything is wrong."""
        importer = FORMATS[file_format or _format_of(file)]
        try:
            result = importer(db.session, file.read_bytes(), system, CLI_ACTOR)
            db.session.commit()
        except BillImportError as exc:
            db.session.rollback()
            raise click.ClickException("\n".join(exc.lines())) from None
        click.echo(result.summary())

    @bills_cli.command("run")
    @click.option("--period", required=True, help="The month to bill, as YYYY-MM.")
    @click.option("--org", "organisation_slug", help="Bill only this organisation.")
    def bills_run(period: str, organisation_slug: str | None):
        """Rate the service inventory for a month: one bill per billing account not yet
        billed for it (running a period twice changes nothing)."""
        try:
            result = run_bills(db.session, period, organisation_slug=organisation_slug,
                               actor_label=CLI_ACTOR)
            db.session.commit()
        except BillRunError as exc:
            db.session.rollback()
            raise click.ClickException(str(exc)) from None
        click.echo(result.summary())
