"""`catalog load FILE`, `catalog check FILE`, `catalog versions`."""

from __future__ import annotations

from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup

from portal.catalog.loader import CatalogError, load_catalog_yaml
from portal.catalog.store import count_versions, list_versions, load_version, sha256_of
from portal.extensions import db

CLI_ACTOR = "cli"


def _read(file: Path) -> str:
    try:
        return file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise click.ClickException(f"{file} is not UTF-8 text.") from None


def _refuse(file: Path, error: CatalogError):
    lines = [f"{file} was not loaded: {len(error.errors)} "
             f"problem{'' if len(error.errors) == 1 else 's'}."]
    lines += [f"  - {problem}" for problem in error.errors]
    raise click.ClickException("\n".join(lines))


def register(app: Flask) -> None:
    """Add the commands to `flask`."""
    catalog_cli = AppGroup("catalog", help="The product catalog: load and list versions.")

    @catalog_cli.command("load")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.option("--note", default="", help="What changed and why (shown with the version).")
    def catalog_load(file, note):
        """Load a catalog file as the next version; every problem is listed and nothing is
        written when the file has one."""
        text = _read(file)
        try:
            version = load_version(db.session, text, file.name, CLI_ACTOR, note=note)
            db.session.commit()
        except CatalogError as error:
            db.session.rollback()
            _refuse(file, error)
        if version is None:
            click.echo(f"No change: {file} is identical to the catalog in force.")
            return
        click.echo(f"Catalog version {version.number} loaded from {file}.")

    @catalog_cli.command("check")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    def catalog_check(file):
        """Check a catalog file without loading it."""
        text = _read(file)
        try:
            catalog = load_catalog_yaml(text)
        except CatalogError as error:
            _refuse(file, error)
        click.echo(f"{file} is valid: {len(catalog.offerings)} offerings "
                   f"(sha256 {sha256_of(text)[:12]}).")

    @catalog_cli.command("versions")
    def catalog_versions():
        """List the loaded versions, the one in force first."""
        total = count_versions(db.session)
        if not total:
            click.echo("No catalog loaded yet: `flask --app app catalog load FILE`.")
            return
        for n, version in enumerate(list_versions(db.session, limit=total)):
            mark = "*" if n == 0 else " "
            note = f"  {version.note}" if version.note else ""
            click.echo(f"{mark} {version.number:>4}  {version.loaded_at:%Y-%m-%d %H:%M} UTC  "
                       f"{version.loaded_by}  {version.filename}  {version.sha256[:12]}{note}")
        click.echo("* in force")

    app.cli.add_command(catalog_cli)
