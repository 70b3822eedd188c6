"""Sending e-mail where `MAIL_URL` says: an SMTP server, or a folder of `.eml` files.

- `smtp://[user:password@]host[:port]` (port 25), `smtp+starttls://...` (port 587; the
  connection is upgraded to TLS before anything else is said), `smtps://...` (port 465, TLS
  from the start). A user and password in the URL are used to log in (percent-encode
  `@`, `:` and `/` in them).
- `file:///absolute/dir`: one `.eml` file per message (the development outbox); open them
  with any mail reader.
"""

from __future__ import annotations

import os
import smtplib
import ssl
import uuid
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid, parseaddr
from pathlib import Path
from urllib.parse import unquote, urlsplit

from portal.db import utcnow

SCHEMES = ("smtp", "smtp+starttls", "smtps", "file")
DEFAULT_PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}


class MailError(Exception):
    """A message could not be handed over. `permanent` when sending it again cannot help
    (the server refused the recipient); otherwise a later try may succeed."""

    def __init__(self, message: str, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


def check_url(url: str) -> None:
    """Refuse a `MAIL_URL` this module cannot send with (ValueError says why)."""
    parts = urlsplit(url or "")
    if parts.scheme not in SCHEMES:
        raise ValueError(f"PORTAL_MAIL_URL must start with one of "
                         f"{', '.join(s + '://' for s in SCHEMES)}; got {url!r}")
    if parts.scheme != "file" and not parts.hostname:
        raise ValueError(f"PORTAL_MAIL_URL {parts.scheme}:// needs a host")
    if parts.scheme == "file" and not _outbox(parts).is_absolute():
        raise ValueError("PORTAL_MAIL_URL file:// needs an absolute folder (file:///dir)")


def build_message(sender: str, to: str, subject: str, body: str,
                  to_name: str = "") -> EmailMessage:
    """A plain-text message, marked as sent by a machine (RFC 3834) so that
    out-of-office replies stay away."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = formataddr((_one_line(to_name), to)) if to_name else to
    message["Subject"] = _one_line(subject)
    message["Date"] = formatdate(localtime=False)
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    message["Message-ID"] = make_msgid(domain=domain)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(body)
    return message


def send_mail(config, to: str, subject: str, body: str, to_name: str = "") -> None:
    """Send one plain-text message from `MAIL_FROM` to `to` as `MAIL_URL` says. Raises
    MailError when it could not be handed over (nothing else)."""
    message = build_message(config["MAIL_FROM"], to, subject, body, to_name)
    url = config["MAIL_URL"]
    try:
        check_url(url)
    except ValueError as exc:
        raise MailError(str(exc)) from None
    parts = urlsplit(url)
    if parts.scheme == "file":
        _write(_outbox(parts), message)
    else:
        _smtp(parts, message, float(config.get("MAIL_TIMEOUT", 10)))


def _one_line(text: str) -> str:
    # A header never holds a line break (that would let text forge other headers).
    return " ".join((text or "").split())


def _outbox(parts) -> Path:
    host = parts.netloc if parts.netloc not in ("", "localhost") else ""
    return Path(unquote(host + parts.path))


def _write(folder: Path, message: EmailMessage) -> None:
    """One file per message: a name no other message takes, written whole or not at all."""
    name = f"{utcnow().strftime('%Y%m%dT%H%M%S%f')}-{uuid.uuid4().hex[:12]}.eml"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / f".{name}.part"
        partial.write_bytes(message.as_bytes())
        os.replace(partial, folder / name)
    except OSError as exc:
        raise MailError(f"Cannot write to the mail folder {folder}: {exc}") from None


def _smtp(parts, message: EmailMessage, timeout: float) -> None:
    host = parts.hostname
    try:
        port = parts.port or DEFAULT_PORTS[parts.scheme]
    except ValueError:
        raise MailError("PORTAL_MAIL_URL has a port that is not a number.") from None
    where = f"{host}:{port}"
    try:
        if parts.scheme == "smtps":
            server = smtplib.SMTP_SSL(host, port, timeout=timeout,
                                      context=ssl.create_default_context())
        else:
            server = smtplib.SMTP(host, port, timeout=timeout)
        with server:
            if parts.scheme == "smtp+starttls":
                server.starttls(context=ssl.create_default_context())
            if parts.username:
                server.login(unquote(parts.username), unquote(parts.password or ""))
            server.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        refusals = "; ".join(f"{address}: {code} {_text(reply)}"
                             for address, (code, reply) in exc.recipients.items())
        raise MailError(f"The mail server {where} refused the recipient ({refusals})",
                        permanent=True) from None
    except smtplib.SMTPResponseException as exc:
        raise MailError(f"The mail server {where} answered {exc.smtp_code} "
                        f"{_text(exc.smtp_error)}") from None
    except (smtplib.SMTPException, OSError) as exc:
        raise MailError(f"Cannot send through the mail server {where}: "
                        f"{exc or type(exc).__name__}") from None


def _text(reply) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
