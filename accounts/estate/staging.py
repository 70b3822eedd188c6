"""Uploaded site files kept between the preview and the commit.

A previewed file is stored in the instance folder under a random token, with who uploaded
it, for which organisation and what the preview promised; only that user, acting for that
organisation, can commit it, and only for an hour. Files of the instance folder are shared
by every worker process on the host.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from flask import current_app

from portal.db import utcnow

FOLDER = "site-imports"
LIFETIME = dt.timedelta(hours=1)
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{32}$")


@dataclass(frozen=True)
class StagedImport:
    """A previewed upload waiting for its commit."""

    token: str
    data: bytes
    filename: str
    fingerprint: str


def _folder() -> Path:
    folder = Path(current_app.instance_path) / FOLDER
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder


def _write(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def stage(data: bytes, *, org_id: int, user_id: int, filename: str, fingerprint: str) -> str:
    """Keep an uploaded file for its commit; returns the token that names it."""
    purge_expired()
    token = secrets.token_urlsafe(24)
    folder = _folder()
    _write(folder / f"{token}.csv", data)
    meta = {"org_id": org_id, "user_id": user_id, "filename": filename,
            "fingerprint": fingerprint, "created_at": utcnow().isoformat()}
    _write(folder / f"{token}.json", json.dumps(meta).encode())
    return token


def load(token: str, *, org_id: int, user_id: int) -> StagedImport | None:
    """The staged file named by `token` if this user staged it for this organisation and it
    has not expired; None otherwise (the caller answers 404)."""
    if not TOKEN_RE.match(token or ""):
        return None
    folder = _folder()
    try:
        meta = json.loads((folder / f"{token}.json").read_text())
        data = (folder / f"{token}.csv").read_bytes()
    except (OSError, ValueError):
        return None
    if meta.get("org_id") != org_id or meta.get("user_id") != user_id:
        return None
    if utcnow() - dt.datetime.fromisoformat(meta["created_at"]) > LIFETIME:
        discard(token)
        return None
    return StagedImport(token, data, meta["filename"], meta["fingerprint"])


def discard(token: str) -> None:
    """Forget a staged file (after its commit, or when it expired)."""
    if not TOKEN_RE.match(token or ""):
        return
    for suffix in (".csv", ".json"):
        (_folder() / f"{token}{suffix}").unlink(missing_ok=True)


def purge_expired() -> None:
    """Delete staged files older than their lifetime (previews nobody committed)."""
    limit = (utcnow() - LIFETIME).timestamp()
    for path in _folder().iterdir():
        try:
            if path.stat().st_mtime < limit:
                path.unlink(missing_ok=True)
        except OSError:
            continue  # another worker removed it first
