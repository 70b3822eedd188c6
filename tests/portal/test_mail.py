"""E-mail: the file outbox, SMTP against a real local server, failures that keep the
notification for a later try without failing anyone's request, and the command that sends
the backlog."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from conftest import csrf_token, login_as
from sqlalchemy import select
from support.oidc_provider import free_port
from support.quoting import make_quote

from accounts.models import User
from portal import create_app
from portal.db import utcnow
from portal.extensions import db
from portal.mail import MailError, send_mail
from portal.notifications.models import Notification
from portal.notifications.services import SENDING, deliver_pending, notify
from quotes import approvals, services

TODAY = dt.date.today()


class Mailbox:
    """An SMTP server's handler that keeps what it accepts; it can be told to refuse
    recipients or to answer DATA with a temporary failure."""

    def __init__(self):
        self.messages = []
        self.refuse_recipients = False
        self.data_reply = "250 OK"
        self.logins = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.refuse_recipients:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.data_reply.startswith("250"):
            self.messages.append(envelope)
        return self.data_reply

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        self.logins.append((auth_data.login.decode(), auth_data.password.decode()))
        return AuthResult(success=auth_data.password == b"s:cret")


@pytest.fixture
def smtp_server():
    """Start a real SMTP server on 127.0.0.1: `mailbox, url = smtp_server()`."""
    controllers = []

    def start(**options):
        mailbox = Mailbox()
        port = free_port()
        if options.pop("auth", False):
            options.update(authenticator=mailbox.authenticate, auth_require_tls=False)
        controller = Controller(mailbox, hostname="127.0.0.1", port=port, **options)
        controller.start()
        controllers.append(controller)
        return mailbox, f"smtp://127.0.0.1:{port}"

    yield start
    for controller in controllers:
        controller.stop()


def _parse(data: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(data, policy=email.policy.default)


def _notification(app, user_id, subject="Quote Q-1 approved", link="/quotes/1?version=1"):
    with app.app_context():
        row = notify(db.session, user_id, None, subject, "Amelia approved the quote.", link)
        db.session.commit()
        return row.id


def _row(app, notification_id) -> Notification:
    with app.app_context():
        row = db.session.get(Notification, notification_id)
        db.session.expunge(row)
        return row


# -- the file outbox -----------------------------------------------------------------------------

def test_the_file_outbox_keeps_one_eml_file_per_message(app_ctx):
    app = app_ctx
    send_mail(app.config, "bob@acme.test", "First", "Hello Bob", to_name="Bob Buyer")
    send_mail(app.config, "bob@acme.test", "Second", "Hello again")
    folder = Path(app.instance_path) / "mail"
    files = sorted(folder.glob("*.eml"))
    assert len(files) == 2 and len({f.name for f in files}) == 2
    assert not list(folder.glob(".*"))  # no half-written file left
    first = _parse(files[0].read_bytes())
    assert first["Subject"] == "First"
    assert first["To"] == "Bob Buyer <bob@acme.test>"
    assert first["From"] == "Carrier Business <portal@localhost>"
    assert first["Auto-Submitted"] == "auto-generated"
    assert first["Message-ID"].endswith("@localhost>")
    assert first.get_content().strip() == "Hello Bob"


def test_a_subject_cannot_forge_headers(app_ctx):
    send_mail(app_ctx.config, "bob@acme.test", "Hi\r\nBcc: eve@evil.test", "x")
    [path] = (Path(app_ctx.instance_path) / "mail").glob("*.eml")
    message = _parse(path.read_bytes())
    assert message["Subject"] == "Hi Bcc: eve@evil.test"
    assert message["Bcc"] is None


def test_an_unwritable_outbox_is_a_mail_error(app_ctx, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the folder should be")
    app_ctx.config["MAIL_URL"] = f"file://{blocker}/mail"
    with pytest.raises(MailError, match="Cannot write to the mail folder"):
        send_mail(app_ctx.config, "bob@acme.test", "x", "y")


@pytest.mark.parametrize("url", ["ftp://mail.test", "smtp://", "file://relative/mail",
                                 "mail.test:25", ""])
def test_an_unusable_mail_url_stops_the_start(database_url, tmp_path, url):
    with pytest.raises(RuntimeError, match="PORTAL_MAIL_URL"):
        create_app({"ENV": "testing", "DATABASE_URL": database_url, "MAIL_URL": url,
                    "BASE_URL": "http://localhost"})


def test_the_sender_follows_the_base_url_unless_set(make_app):
    assert make_app(BASE_URL="https://portal.carrier.test").config["MAIL_FROM"] == \
        "Carrier Business <portal@portal.carrier.test>"
    assert make_app(MAIL_FROM="Sales <sales@carrier.test>").config["MAIL_FROM"] == \
        "Sales <sales@carrier.test>"


# -- SMTP ----------------------------------------------------------------------------------------

def test_notifications_go_out_through_smtp(app, factory, smtp_server):
    mailbox, url = smtp_server()
    app.config["MAIL_URL"] = url
    org = factory.org("acme")
    user = factory.user(org, "buyer", email="bob@acme.test")
    notification_id = _notification(app, user)
    with app.app_context():
        done = deliver_pending(db.session, app.config)
    assert (done.sent, done.failed, done.given_up) == (1, 0, 0)
    [envelope] = mailbox.messages
    assert envelope.mail_from == "portal@localhost"
    assert envelope.rcpt_tos == ["bob@acme.test"]
    message = _parse(envelope.original_content)
    assert message["Subject"] == "Quote Q-1 approved"
    body = message.get_content()
    assert "Amelia approved the quote." in body
    assert "http://localhost/quotes/1?version=1" in body
    row = _row(app, notification_id)
    assert row.emailed_at is not None and row.email_error is None
    with app.app_context():  # sent once: nothing is left to send
        assert deliver_pending(db.session, app.config).sent == 0
    assert len(mailbox.messages) == 1


def test_the_user_and_password_in_the_url_log_in(app, factory, smtp_server):
    mailbox, url = smtp_server(auth=True)
    app.config["MAIL_URL"] = url.replace("smtp://", "smtp://portal%40carrier.test:s%3Acret@")
    user = factory.user(factory.org("acme"), "buyer")
    _notification(app, user)
    with app.app_context():
        assert deliver_pending(db.session, app.config).sent == 1
    assert mailbox.logins == [("portal@carrier.test", "s:cret")]
    assert len(mailbox.messages) == 1


def test_a_refused_recipient_is_given_up_and_kept_in_the_portal(app, factory, smtp_server):
    mailbox, url = smtp_server()
    mailbox.refuse_recipients = True
    app.config["MAIL_URL"] = url
    notification_id = _notification(app, factory.user(factory.org("acme"), "buyer"))
    with app.app_context():
        done = deliver_pending(db.session, app.config)
        assert (done.sent, done.failed, done.given_up) == (0, 0, 1)
        assert deliver_pending(db.session, app.config).given_up == 0  # not tried again
    row = _row(app, notification_id)
    assert row.emailed_at is not None
    assert row.email_error.startswith("not sent: The mail server") and "550" in row.email_error


def test_a_deactivated_user_gets_no_e_mail(app, factory):
    user_id = factory.user(factory.org("acme"), "buyer")
    notification_id = _notification(app, user_id)
    with app.app_context():
        db.session.get(User, user_id).active = False
        db.session.commit()
        assert deliver_pending(db.session, app.config).given_up == 1
    assert "deactivated" in _row(app, notification_id).email_error
    assert not (Path(app.instance_path) / "mail").exists()


def test_a_claimed_notification_is_not_sent_twice_unless_its_sender_died(app, factory):
    notification_id = _notification(app, factory.user(factory.org("acme"), "buyer"))
    with app.app_context():  # another process is sending it right now
        row = db.session.get(Notification, notification_id)
        row.emailed_at, row.email_error = utcnow(), SENDING
        db.session.commit()
        assert deliver_pending(db.session, app.config).sent == 0
        row = db.session.get(Notification, notification_id)  # ... and died an hour ago
        row.emailed_at = utcnow() - dt.timedelta(hours=1)
        db.session.commit()
        assert deliver_pending(db.session, app.config).sent == 1
    assert len(list((Path(app.instance_path) / "mail").glob("*.eml"))) == 1
    assert _row(app, notification_id).email_error is None


# -- through the pages, and the command ----------------------------------------------------------

def _approve_through_the_page(app, client, q) -> int:
    """The buyer submits a 12 % discount; the account manager approves it on the page.
    Returns the quote id."""
    quote_id = make_quote(app, q, discounts={1: "12"})
    with app.app_context():
        version = services.get_version(db.session, q.org, quote_id)
        approvals.submit(db.session, version, db.session.get(User, q.buyer), TODAY)
        db.session.commit()
        version_id, row_version = version.id, version.row_version
    login_as(client, q.manager, q.operator)
    response = client.post(f"/approvals/{version_id}", data={
        "csrf_token": csrf_token(client, "/approvals"), "decision": "approved",
        "comment": "fine", "row_version": str(row_version)}, follow_redirects=True)
    assert response.status_code == 200
    assert "is approved" in response.get_data(as_text=True)
    return quote_id


@pytest.mark.parametrize("server", ["temporary failure", "no server"])
def test_a_failing_mail_server_fails_no_request_and_the_command_sends_later(
        app, client, quoting, smtp_server, server):
    q = quoting
    mailbox, url = smtp_server()
    if server == "no server":
        app.config["MAIL_URL"] = f"smtp://127.0.0.1:{free_port()}"
    else:
        mailbox.data_reply = "451 4.3.0 Try again later"
        app.config["MAIL_URL"] = url
    quote_id = _approve_through_the_page(app, client, q)
    with app.app_context():
        row = db.session.scalars(select(Notification).where(
            Notification.user_id == q.buyer)).one()
        assert row.emailed_at is None
        assert ("451" if server == "temporary failure" else "Cannot send") in row.email_error
    login_as(client, q.buyer, q.org)
    assert f"Quote Q-{TODAY.year}-{quote_id:06d} v1 approved" in \
        client.get("/notifications").get_data(as_text=True)

    runner = app.test_cli_runner()
    result = runner.invoke(args=["notifications", "send"])
    assert result.exit_code == 1  # something is still waiting: cron tells someone
    assert "0 sent, 2 failed" in result.output  # the manager's request, the buyer's answer

    mailbox.data_reply = "250 OK"
    app.config["MAIL_URL"] = url
    result = runner.invoke(args=["notifications", "send"])
    assert result.exit_code == 0, result.output
    assert "2 sent, 0 failed" in result.output
    assert sorted(e.rcpt_tos[0] for e in mailbox.messages) == \
        ["amelia@carrier.test", "bob@acme.test"]
    with app.app_context():
        assert all(n.emailed_at and n.email_error is None
                   for n in db.session.scalars(select(Notification)))
    assert "0 sent, 0 failed" in runner.invoke(args=["notifications", "send"]).output


def test_a_request_sends_only_what_it_committed(app, client, quoting):
    q = quoting
    # A notification committed elsewhere (a command) waits for `notifications send` ...
    waiting = _notification(app, q.viewer)
    _approve_through_the_page(app, client, q)
    assert _row(app, waiting).emailed_at is None
    # ... while the buyer's answer, committed by the request, went out after its response.
    outbox = [_parse(p.read_bytes()) for p in (Path(app.instance_path) / "mail").glob("*.eml")]
    assert [m["To"].addresses[0].addr_spec for m in outbox] == ["bob@acme.test"]
