"""Browser tests: pytest-playwright driving Debian's Chromium against a live portal with the
development IdP and the demo organisations."""

from __future__ import annotations

import os

import pytest
from conftest import LiveServer
from support.oidc_provider import free_port
from support.sandbox_backend import SandboxBackend

from portal.orders.dispatcher import start_in_thread

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 800}


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Launch the system Chromium headless (`playwright install` cannot download here).

    Without it the browser tests fail, never skip: a missing browser must not look green.
    """
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"The browser tests need Chromium at {CHROMIUM} (Debian: apt-get install chromium); "
            "it is missing or not executable.",
            pytrace=False,
        )
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": CHROMIUM_ARGS,
        "headless": True,
    }


@pytest.fixture(scope="session")
def base_url(pytestconfig):
    """The same value as pytest-playwright's own `base_url` (the tests use absolute URLs).

    pytest-playwright 0.10 defines its fallback `base_url` as a session-scoped fixture on a
    plugin *instance*, which pytest >= 9.1 deprecates with a PytestRemovedIn10Warning at each
    use; with `filterwarnings = error` that errors every browser test. A plain fixture here
    shadows it, so the warning is not raised rather than filtered away.
    """
    return (
        pytestconfig.getoption("--base-url", default=None)
        or pytestconfig.getini("base_url")
        or None
    )


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    """Every page at the size of the documentation screenshots."""
    return {**browser_context_args, "viewport": VIEWPORT}


@pytest.fixture
def order_demo_server(make_app):
    """The demo portal over HTTP, wired to a sandbox order backend process, with an
    in-process dispatcher; everything is stopped afterwards."""
    from portal.demo import load_demo

    port = free_port()
    backend = SandboxBackend(webhook_url=f"http://127.0.0.1:{port}/hooks/order-backend",
                             step=0.3).start()
    app = make_app(BASE_URL=f"http://127.0.0.1:{port}", DEV_IDP=True,
                   **backend.portal_config())
    with app.app_context():
        load_demo()
    server = LiveServer(app, port).start()
    thread, stop = start_in_thread(app, idle=0.2)
    try:
        yield server
    finally:
        stop.set()
        thread.join(timeout=10)
        server.stop()
        backend.stop()
