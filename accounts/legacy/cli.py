"""`legacy import --system SYSTEM FILE`, `legacy proposals`, `legacy confirm ID`,
`legacy reject ID`."""

from __future__ import annotations

from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup

from accounts.legacy.layouts import SYSTEMS, ImportRefused
from accounts.legacy.services import (
    LegacyError,
    confirm_proposal,
    count_open_proposals,
    import_file,
    open_proposals,
    reject_proposal,
)
from portal.extensions import db

CLI_ACTOR = "cli"


def _fail(lines: list[str]):
    db.session.rollback()
    raise click.ClickException("\n".join(lines))


def register(app: Flask) -> None:
    """Add the commands to `flask`."""
    legacy_cli = AppGroup("legacy", help="Customer exports of the legacy systems.")

    @legacy_cli.command("import")
    @click.option("--system", required=True, type=click.Choice(SYSTEMS),
                  help="The system that wrote the export.")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    def legacy_import(system, file):
        """Import a customer export: all of it, or nothing when a row is bad."""
        try:
            report = import_file(db.session, system, file, actor_label=CLI_ACTOR)
            db.session.commit()
        except ImportRefused as exc:
            _fail(exc.lines())
        for line in report.lines():
            click.echo(line)
        click.echo(f"Imported in {report.seconds:.2f} s.")

    @legacy_cli.command("proposals")
    def legacy_proposals():
        """List the proposals that wait for a decision, best first."""
        total = count_open_proposals(db.session)
        if not total:
            click.echo("No proposal waits for a decision.")
            return
        for proposal in open_proposals(db.session, limit=total):
            account, org = proposal.account, proposal.organisation
            click.echo(f"#{proposal.id} {proposal.score}%  {account.label} {account.name!r} "
                       f"({account.postcode} {account.city}, {account.country})  ->  "
                       f"{org.slug} {org.name!r}")
            for reason in proposal.reasons:
                click.echo(f"      {reason}")
        click.echo(f"{total} open. Decide with `legacy confirm ID` or `legacy reject ID`.")

    @legacy_cli.command("confirm")
    @click.argument("proposal_id", type=int)
    def legacy_confirm(proposal_id):
        """The account is that organisation: link it and bring in its services."""
        try:
            proposal = confirm_proposal(db.session, proposal_id, actor_label=CLI_ACTOR)
            db.session.commit()
        except LegacyError as exc:
            _fail([str(exc)])
        click.echo(f"{proposal.account.label} is now part of {proposal.organisation.slug}.")

    @legacy_cli.command("reject")
    @click.argument("proposal_id", type=int)
    def legacy_reject(proposal_id):
        """The account is not that organisation; with no other proposal open, it becomes a
        customer of its own."""
        try:
            proposal = reject_proposal(db.session, proposal_id, actor_label=CLI_ACTOR)
            db.session.commit()
        except LegacyError as exc:
            _fail([str(exc)])
        account = proposal.account
        if account.organisation is not None:
            click.echo(f"{account.label} is kept apart, as organisation "
                       f"{account.organisation.slug}.")
        else:
            click.echo(f"{account.label} is not {proposal.organisation.slug}; other "
                       "proposals of it still wait.")

    app.cli.add_command(legacy_cli)
