"""Run a real OpenID Connect provider (npm ``oidc-provider``) for sign-in tests.

The provider lives in ``tests/oidc`` (``server.mjs``); run ``npm ci`` there once
to install it.  Typical use::

    with OidcProvider().start({"clients": [...], "accounts": {...}}) as idp:
        resp = portal_client.get("/sso/acme/login")     # -> redirect to idp
        callback = complete_login(http, resp.headers["Location"], "alice")
        # callback.headers["Location"] is the portal's callback URL
        idp.set_accounts({"alice": {...new claims...}})
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from html.parser import HTMLParser
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

__all__ = [
    "DEFAULT_NODE_DIR",
    "LoginError",
    "LoginRejected",
    "OidcProvider",
    "complete_login",
    "complete_logout",
    "free_port",
]

#: Directory holding ``server.mjs``, ``package.json`` and ``node_modules``.
DEFAULT_NODE_DIR = Path(__file__).resolve().parent.parent / "oidc"

_START_TIMEOUT = 20.0
_MAX_STEPS = 20


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class OidcProvider:
    """A running ``oidc-provider`` process (``tests/oidc/server.mjs``).

    ``start()`` fills in ``port`` (a free one) and ``issuer``
    (``http://127.0.0.1:<port>``) when the config omits them.  The process is
    bound to 127.0.0.1 and exits when ``stop()`` is called or when the Python
    process that started it goes away.
    """

    def __init__(self) -> None:
        """Create a stopped provider; call :meth:`start` to run it."""
        self.config: dict[str, Any] = {}
        self._proc: subprocess.Popen[bytes] | None = None
        self._tmpdir: tempfile.TemporaryDirectory[str] | None = None
        self._http = requests.Session()

    # -- lifecycle ---------------------------------------------------------

    def start(
        self,
        config: dict[str, Any],
        node_dir: Path = DEFAULT_NODE_DIR,
        timeout: float = _START_TIMEOUT,
    ) -> OidcProvider:
        """Write ``config`` to a temp file, start node and wait for ``READY``.

        Returns ``self`` so that ``with OidcProvider().start(cfg) as idp:``
        works.  Raises :class:`RuntimeError` (including the process's stderr)
        if node or the npm dependencies are missing or the server fails to
        come up within ``timeout`` seconds.
        """
        if self._proc is not None:
            raise RuntimeError("OidcProvider is already running")
        node = shutil.which("node")
        if node is None:
            raise RuntimeError("`node` was not found on PATH; the test IdP needs Node.js >= 20")
        node_dir = Path(node_dir).resolve()
        if not (node_dir / "server.mjs").is_file():
            raise RuntimeError(f"{node_dir / 'server.mjs'} does not exist")
        if not (node_dir / "node_modules" / "oidc-provider").is_dir():
            raise RuntimeError(
                f"oidc-provider is not installed in {node_dir}; run `npm ci` there first"
            )

        auto_port = "port" not in config
        attempts = 3 if auto_port else 1
        for attempt in range(1, attempts + 1):
            cfg = dict(config)
            if auto_port:
                cfg["port"] = free_port()
            cfg.setdefault("issuer", f"http://127.0.0.1:{cfg['port']}")
            try:
                self._launch(node, node_dir, cfg, timeout)
                return self
            except _PortInUse:
                if attempt == attempts:
                    raise RuntimeError(
                        f"test IdP could not bind a port after {attempts} attempts"
                    ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _launch(self, node: str, node_dir: Path, cfg: dict[str, Any], timeout: float) -> None:
        self._tmpdir = tempfile.TemporaryDirectory(prefix="test-idp-")
        tmp = Path(self._tmpdir.name)
        cfg_path = tmp / "config.json"
        cfg_path.write_text(json.dumps(cfg), encoding="utf-8")
        out_path, err_path = tmp / "stdout.log", tmp / "stderr.log"
        # Output goes to files, so the child can never block on a full pipe.
        with out_path.open("wb") as out, err_path.open("wb") as err:
            self._proc = subprocess.Popen(
                [node, "server.mjs", str(cfg_path), "--exit-with-stdin"],
                cwd=node_dir,
                stdin=subprocess.PIPE,
                stdout=out,
                stderr=err,
            )
        self.config = cfg

        deadline = time.monotonic() + timeout
        ready = f"READY {cfg['issuer']}"
        while True:
            if ready in out_path.read_text(encoding="utf-8", errors="replace"):
                return
            if self._proc.poll() is not None:
                stderr = self.stderr
                rc = self._proc.returncode
                self.stop()
                if "EADDRINUSE" in stderr:
                    raise _PortInUse
                raise RuntimeError(f"test IdP exited with status {rc} before READY:\n{stderr}")
            if time.monotonic() > deadline:
                stderr = self.stderr
                self.stop()
                raise RuntimeError(f"test IdP did not print READY within {timeout:.0f}s:\n{stderr}")
            time.sleep(0.02)

    def stop(self) -> None:
        """Stop the node process (if running) and remove its temp files."""
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            if proc.stdin is not None:
                proc.stdin.close()
        if self._tmpdir is not None:
            self._tmpdir.cleanup()
            self._tmpdir = None
        self._http.close()

    def __enter__(self) -> OidcProvider:
        """Return ``self``; ``stop()`` is called on exit."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the provider."""
        self.stop()

    # -- accessors ---------------------------------------------------------

    @property
    def running(self) -> bool:
        """True while the node process is alive."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def issuer(self) -> str:
        """The issuer identifier, e.g. ``http://127.0.0.1:12345``."""
        return self._require_config()["issuer"]

    @property
    def port(self) -> int:
        """The TCP port the provider listens on (127.0.0.1 only)."""
        return int(self._require_config()["port"])

    @property
    def discovery_url(self) -> str:
        """URL of the OpenID Connect discovery document."""
        return f"{self.issuer}/.well-known/openid-configuration"

    @property
    def stderr(self) -> str:
        """Everything node wrote to stderr so far (warnings, stack traces)."""
        if self._tmpdir is None:
            return ""
        path = Path(self._tmpdir.name) / "stderr.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def metadata(self) -> dict[str, Any]:
        """Fetch and return the discovery document."""
        resp = self._http.get(self.discovery_url, timeout=10)
        resp.raise_for_status()
        return resp.json()

    def set_accounts(self, accounts: dict[str, Any], *, replace: bool = False) -> dict[str, Any]:
        """Merge ``accounts`` (login -> ``{"password", "claims"}``) into the IdP.

        A login mapped to ``None`` is removed.  With ``replace=True`` the
        whole account set is replaced.  Changes apply to the next token or
        userinfo response (e.g. new ``groups`` on the next sign-in).
        Returns the provider's resulting account table.
        """
        resp = self._http.post(
            f"{self.issuer}/__test/accounts",
            params={"replace": "1"} if replace else None,
            json=accounts,
            timeout=10,
        )
        resp.raise_for_status()
        return resp.json()

    def _require_config(self) -> dict[str, Any]:
        if not self.config:
            raise RuntimeError("OidcProvider has not been started")
        return self.config


class _PortInUse(Exception):
    """The randomly chosen port was taken before node could bind it."""


# -- driving the browser side -------------------------------------------------


class LoginError(RuntimeError):
    """The provider answered something ``complete_login`` cannot handle."""


class LoginRejected(LoginError):
    """The provider rejected the login name (or password)."""


class _Form:
    def __init__(self, action: str, method: str) -> None:
        self.action = action
        self.method = method
        self.fields: dict[str, str] = {}


class _FormParser(HTMLParser):
    """Collect forms with their hidden/text inputs and first named button."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[_Form] = []
        self._current: _Form | None = None
        self._button_taken = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v or "") for k, v in attrs}
        if tag == "form":
            self._current = _Form(a.get("action", ""), a.get("method", "get").lower())
            self._button_taken = False
            self.forms.append(self._current)
        elif self._current is not None and tag == "input" and a.get("name"):
            if a.get("type", "text").lower() not in ("submit", "button", "image", "reset"):
                self._current.fields[a["name"]] = a.get("value", "")
        elif (
            self._current is not None
            and tag == "button"
            and a.get("name")
            and not self._button_taken
            and a.get("type", "submit").lower() == "submit"
        ):
            self._current.fields[a["name"]] = a.get("value", "")
            self._button_taken = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


def _drive(
    http: requests.Session,
    start_url: str,
    fill: dict[str, dict[str, str]],
    timeout: float,
) -> requests.Response:
    """GET ``start_url`` and follow redirects/forms until leaving its origin.

    ``fill`` maps a form's ``prompt`` value (or ``"*"``) to fields to set.
    Returns the first response that redirects off-origin, or a final 200
    page without a form.
    """
    origin = _origin(start_url)
    resp = http.get(start_url, allow_redirects=False, timeout=timeout)
    submitted: set[str] = set()
    for _ in range(_MAX_STEPS):
        if resp.is_redirect:
            location = urljoin(resp.url, resp.headers["Location"])
            if _origin(location) != origin:
                return resp
            resp = http.get(location, allow_redirects=False, timeout=timeout)
            continue

        parser = _FormParser()
        parser.feed(resp.text if "html" in resp.headers.get("Content-Type", "") else "")
        if resp.status_code == 401 and 'id="login-error"' in resp.text:
            raise LoginRejected(f"the test IdP rejected the login at {resp.url}")
        if resp.status_code != 200:
            raise LoginError(
                f"unexpected HTTP {resp.status_code} from {resp.url}:\n{resp.text[:2000]}"
            )
        if not parser.forms:
            return resp  # e.g. the "signed out" page when there is nowhere to go
        form = parser.forms[0]
        prompt = form.fields.get("prompt", "*")
        if prompt in submitted:
            raise LoginError(
                f"the IdP asked for {prompt!r} twice at {resp.url}:\n{resp.text[:2000]}"
            )
        submitted.add(prompt)
        form.fields.update(fill.get(prompt, {}))
        action = urljoin(resp.url, form.action or resp.url)
        if _origin(action) != origin:
            raise LoginError(
                f"form posts off the provider's origin ({action}); use response_mode=query"
            )
        if form.method == "post":
            resp = http.post(action, data=form.fields, allow_redirects=False, timeout=timeout)
        else:
            resp = http.get(action, params=form.fields, allow_redirects=False, timeout=timeout)
    raise LoginError(f"gave up after {_MAX_STEPS} steps at {resp.url}")


def complete_login(
    http: requests.Session,
    authorize_url: str,
    login: str,
    password: str = "test",
    *,
    timeout: float = 10.0,
) -> requests.Response:
    """Sign in at the test IdP like a browser would, stopping at the RP callback.

    ``authorize_url`` is the provider's ``/auth`` URL the relying party
    redirected to.  Submits the devInteractions login form (``login`` /
    ``password``) and the consent form, following redirects within the
    provider with ``allow_redirects=False``.  Returns the first response whose
    ``Location`` leaves the provider's origin (a 302/303 to the RP callback
    carrying ``code``, ``state`` and ``iss``, or ``error`` on failure).  If
    the session cookie in ``http`` is already signed in, no form is shown.

    Raises :class:`LoginRejected` for an unknown login (or a wrong password
    when the IdP runs with ``check_passwords``), :class:`LoginError` for
    anything else unexpected (e.g. a provider error page).
    """
    resp = _drive(
        http,
        authorize_url,
        {"login": {"login": login, "password": password}},
        timeout,
    )
    if not resp.is_redirect:
        raise LoginError(
            f"sign-in did not redirect back to the RP (HTTP {resp.status_code}, {resp.url})"
        )
    return resp


def complete_logout(
    http: requests.Session,
    end_session_url: str,
    *,
    timeout: float = 10.0,
) -> requests.Response:
    """Confirm an RP-initiated logout at the test IdP.

    ``end_session_url`` is the provider's ``/session/end`` URL (with
    ``id_token_hint`` / ``post_logout_redirect_uri`` / ``state``).  Submits the
    confirmation form (ending the whole IdP session) and returns the
    redirect to ``post_logout_redirect_uri``, or the provider's "signed out"
    page (HTTP 200) when no redirect URI was given.
    """
    return _drive(http, end_session_url, {}, timeout)
