"""Encryption at rest of the few secrets the portal must be able to read back (an IdP
connection's client secret): Fernet, with a key derived from PORTAL_DATA_KEY, or from the
secret key when no data key is set."""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

PREFIX = "enc:v1:"


def _fernet() -> Fernet:
    fernet = current_app.extensions.get("portal_fernet")
    if fernet is None:
        material = current_app.config.get("DATA_KEY") or current_app.config["SECRET_KEY"]
        key = HKDF(algorithm=SHA256(), length=32, salt=None,
                   info=b"portal data encryption v1").derive(material.encode())
        fernet = Fernet(base64.urlsafe_b64encode(key))
        current_app.extensions["portal_fernet"] = fernet
    return fernet


def seal(plain: str) -> str:
    """The encrypted form of `plain`, to store."""
    return PREFIX + _fernet().encrypt(plain.encode()).decode()


def unseal(stored: str) -> str:
    """The plain text of a stored value (values written before encryption pass through)."""
    if not stored.startswith(PREFIX):
        return stored
    try:
        return _fernet().decrypt(stored[len(PREFIX):].encode()).decode()
    except InvalidToken as exc:
        raise RuntimeError("A stored secret cannot be decrypted: PORTAL_DATA_KEY (or "
                           "PORTAL_SECRET_KEY, when no data key is set) has changed.") from exc
