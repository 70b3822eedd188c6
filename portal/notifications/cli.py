"""`flask --app app notifications send`: e-mail the notifications not sent yet."""

from __future__ import annotations

import time

import click
from flask import Flask, current_app
from flask.cli import AppGroup


def register(app: Flask) -> None:
    """Add the `notifications` commands to `flask`."""
    group = AppGroup("notifications", help="Notifications and their e-mails.")

    @group.command("send")
    @click.option("--limit", default=500, show_default=True,
                  help="Send at most this many in one pass.")
    @click.option("--every", type=float, default=None,
                  help="Keep running, one pass every this many seconds.")
    def send(limit, every):
        """E-mail every committed notification not sent yet (failed ones again). Run it
        from cron, or keep it running with --every."""
        from portal.extensions import db
        from portal.notifications.services import deliver_pending

        while True:
            done = deliver_pending(db.session, current_app.config, limit=limit)
            click.echo(f"{done.sent} sent, {done.failed} failed (kept for a later try), "
                       f"{done.given_up} given up.")
            if every is None:
                if done.failed:
                    raise SystemExit(1)
                return
            time.sleep(every)

    app.cli.add_command(group)
