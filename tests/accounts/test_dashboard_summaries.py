"""The dashboard tells a buyer what waits for them (quotes to accept, drafts, orders in
progress) and an approver how many quotes wait for their decision."""

from __future__ import annotations

from conftest import login_as
from support.quoting import make_quote

from accounts.models import User
from portal.extensions import db
from quotes import approvals, services


def _submit(app, q, quote_id):
    with app.app_context():
        version = services.get_version(db.session, q.org, quote_id)
        approvals.submit(db.session, version, db.session.get(User, q.buyer), version.priced_on)
        db.session.commit()


def test_the_buyer_sees_quotes_by_state(app, client, quoting):
    q = quoting
    _submit(app, q, make_quote(app, q))  # approved at once
    _submit(app, q, make_quote(app, q, discounts={1: "12"}))  # pending
    make_quote(app, q)  # draft
    login_as(client, q.buyer, q.org)
    html = client.get("/dashboard").get_data(as_text=True)
    assert "1 approved quote</a> ready to accept" in html
    assert "1 quote</a> waiting for approval" in html
    assert "1 draft quote</a>" in html


def test_the_account_manager_sees_the_queue_and_others_do_not(app, client, quoting):
    q = quoting
    _submit(app, q, make_quote(app, q, discounts={1: "12"}))
    _submit(app, q, make_quote(app, q, discounts={1: "13"}))
    login_as(client, q.manager, q.operator)
    html = client.get("/dashboard").get_data(as_text=True)
    assert '2 quotes</a> of your customers need your approval.' in html
    login_as(client, q.other_manager, q.operator)
    html = client.get("/dashboard").get_data(as_text=True)
    assert "No quote is waiting for your approval." in html
