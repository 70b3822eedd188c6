"""`orders dispatch [--once]`: deliver the order outbox (production runs it as its own
process, as many as wanted); `serve`: the development server of `make run`, with the sandbox
order backend and a dispatcher in the same process."""

from __future__ import annotations

import signal
import threading
import time

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from portal.config import SANDBOX_PATH
from portal.orders.dispatcher import Dispatcher, start_in_thread


def register(app: Flask) -> None:
    """Add the commands to `flask`."""
    orders_cli = AppGroup("orders", help="Orders and their delivery to the order backend.")

    @orders_cli.command("dispatch")
    @click.option("--once", is_flag=True, help="Deliver what is due now, then stop.")
    @click.option("--idle", default=1.0, show_default=True,
                  help="Seconds to wait when nothing is due.")
    def dispatch(once, idle):
        """Send the outbox to the order backend until stopped (SIGTERM or Ctrl-C)."""
        dispatcher = Dispatcher(current_app._get_current_object())
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        click.echo(f"{dispatcher.name} delivering to {dispatcher.settings.url}")
        try:
            dispatcher.run(stop, idle=idle, until_empty=once)
        except KeyboardInterrupt:
            stop.set()

    app.cli.add_command(orders_cli)

    @app.cli.command("serve")
    @click.option("--host", default="127.0.0.1", show_default=True)
    @click.option("--port", default=5000, show_default=True)
    def serve(host, port):
        """Serve the portal for development: with the sandbox order backend at
        /sandbox/order-backend (when PORTAL_ORDER_BACKEND_URL is not set), a dispatcher and
        the notification mailer in this process."""
        from werkzeug.middleware.dispatcher import DispatcherMiddleware
        from werkzeug.serving import run_simple

        from portal.orders.sandbox import create_sandbox_app

        portal_app = current_app._get_current_object()
        config = portal_app.config
        wsgi = portal_app
        if config["ORDER_BACKEND_URL"].endswith(SANDBOX_PATH):
            sandbox = create_sandbox_app(config["ORDER_BACKEND_TOKEN"],
                                         f"{config['BASE_URL']}/hooks/order-backend",
                                         config["ORDER_WEBHOOK_SECRET"], step=5.0)
            wsgi = DispatcherMiddleware(portal_app, {SANDBOX_PATH: sandbox})
            click.echo(f"sandbox order backend at {config['ORDER_BACKEND_URL']}")
        start_in_thread(portal_app)
        threading.Thread(target=_send_notifications, args=(portal_app,), daemon=True,
                         name="notification-mailer").start()
        run_simple(host, port, wsgi, threaded=True, use_reloader=False)


def _send_notifications(app: Flask, every: float = 15.0) -> None:
    """E-mail what changes outside requests notified (a dispatcher's refusals, say), as
    `flask --app app notifications send --every` does in production."""
    from portal.notifications.services import deliver_pending

    while True:
        with app.app_context():
            session = app.extensions["portal_db"].new_session()
            try:
                deliver_pending(session, app.config)
            finally:
                session.close()
        time.sleep(every)
