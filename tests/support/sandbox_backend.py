"""Run the sandbox order backend as its own process for a test, and follow it.

    with SandboxBackend(webhook_url=portal.url + "/hooks/order-backend").start() as backend:
        backend.control(failure_rate=0.5)
        backend.stats()["orders_by_external_id"]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from support.oidc_provider import free_port

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "test-backend-token-0123456789"
SECRET = "test-webhook-secret-0123456789"


class SandboxBackend:
    """`python -m portal.orders.sandbox` on a free port."""

    def __init__(self, webhook_url: str, seed: int = 7, **faults) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.webhook_url = webhook_url
        self.seed = seed
        self.faults = {"step": 0.05, **faults}
        self.process: subprocess.Popen | None = None
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop()

    def start(self) -> SandboxBackend:
        """Start the process and wait until it answers."""
        self.process = subprocess.Popen(
            [sys.executable, "-m", "portal.orders.sandbox", "--port", str(self.port),
             "--token", TOKEN, "--secret", SECRET, "--webhook-url", self.webhook_url,
             "--seed", str(self.seed), "--faults", json.dumps(self.faults)],
            # A file, not a pipe: a pipe nobody reads fills up and stops the process.
            cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("the sandbox backend exited: "
                                   + self.output())
            try:
                requests.get(f"{self.url}/_stats", timeout=1)
                return self
            except requests.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("the sandbox backend did not start")

    def output(self) -> str:
        """What the process printed (its request log)."""
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def stop(self) -> None:
        """Stop the process."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.log.close()

    def __enter__(self) -> SandboxBackend:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def control(self, **faults) -> dict:
        """Change the fault settings while it runs."""
        response = requests.post(f"{self.url}/_control", json=faults, timeout=5)
        response.raise_for_status()
        return response.json()

    def stats(self) -> dict:
        """What the backend counts."""
        return requests.get(f"{self.url}/_stats", timeout=5).json()

    def portal_config(self) -> dict:
        """The portal settings that point at this backend."""
        return {"ORDER_BACKEND_URL": self.url, "ORDER_BACKEND_TOKEN": TOKEN,
                "ORDER_WEBHOOK_SECRET": SECRET, "ORDER_DISPATCH_BASE_DELAY": 0.02,
                "ORDER_DISPATCH_MAX_DELAY": 0.2, "ORDER_BACKEND_TIMEOUT": 2,
                "ORDER_DISPATCH_LEASE": 5}
