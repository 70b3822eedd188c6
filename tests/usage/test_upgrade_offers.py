"""Upgrade offers: 60 days (the rules) before a service's minimum term ends, the next plan up
of its family is offered, once per contract; `offers evaluate` makes them and expires the
open offers that no longer apply."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from accounts.estate.models import Service
from portal.extensions import db
from portal.usage.models import Offer
from portal.usage.services import evaluate_offers
from usage.usage_data import add_service, notifications, offers

D = Decimal
START = dt.date(2025, 1, 15)
END = dt.date(2027, 1, 15)  # START + 24 months: the last day of the minimum term


def evaluate(app, day: dt.date) -> str:
    result = app.test_cli_runner().invoke(args=["offers", "evaluate", "--date",
                                                day.isoformat()])
    assert result.exit_code == 0, result.output
    return result.output.splitlines()[0]


def test_the_next_plan_up_is_offered_60_days_before_the_contract_ends(app, world):
    q = world.q
    service = add_service(app, q, "FIBRE-100", site="DE-002", quantity=1, start=START)
    assert evaluate(app, END - dt.timedelta(days=61)) == (
        "0 plan recommendations, 0 upgrade offers made; 0 open offers expired.")
    assert offers(app) == []
    assert evaluate(app, END - dt.timedelta(days=60)) == (
        "0 plan recommendations, 1 upgrade offer made; 0 open offers expired.")
    [offer] = offers(app)
    # The cheapest broadband plan above 30.00 is Fibre 500: 1 x 50.00 (24 months: 0 %).
    assert (offer.kind, offer.service_id, offer.offering_code, offer.valid_until) == \
        ("upgrade", service, "FIBRE-500", END)
    assert (offer.mrc_before, offer.mrc_after, offer.monthly_difference) == \
        (D("30.00"), D("50.00"), D("20.00"))
    assert offer.reason == ("The contract of Fibre 100 at DE-002 ends on 15 Jan 2027. Move up "
                            "to Fibre 500 now.")
    assert offer.evidence == "contract ends 2027-01-15"
    [note] = notifications(app, q.buyer)
    assert note.subject == "An upgrade for DE-002: Fibre 500"


def test_an_upgrade_is_offered_once_per_contract(app, world):
    q = world.q
    add_service(app, q, "FIBRE-100", site="DE-002", quantity=1, start=START)
    evaluate(app, END - dt.timedelta(days=30))
    evaluate(app, END - dt.timedelta(days=30))
    evaluate(app, END - dt.timedelta(days=2))
    [offer] = offers(app)
    with app.app_context():
        from portal.usage.offers import dismiss_offer

        dismiss_offer(db.session, db.session.get(Offer, offer.id), q.buyer)
        db.session.commit()
    evaluate(app, END - dt.timedelta(days=1))
    assert [o.status for o in offers(app)] == ["dismissed"]
    assert len(notifications(app, q.buyer)) == 1


def test_the_next_plan_up_is_one_sold_at_the_site_and_the_top_plan_gets_none(app, world):
    q = world.q
    german = add_service(app, q, "MOB-5GB", site="DE-001", start=START)
    french = add_service(app, q, "MOB-5GB", site="FR-001", start=START)
    add_service(app, q, "FIBRE-1G", site="DE-003", quantity=1, start=START)
    evaluate(app, END - dt.timedelta(days=10))
    # Above 9.00: MOB-40GB-FR (12.00, France only), then MOB-20GB (15.00).
    assert {(o.service_id, o.offering_code) for o in offers(app)} == {
        (german, "MOB-20GB"), (french, "MOB-40GB-FR")}


def test_offers_that_no_longer_apply_expire(app, world):
    q = world.q
    fibre = add_service(app, q, "FIBRE-100", site="DE-002", quantity=1, start=START)
    mobile = add_service(app, q, "MOB-5GB", start=START)
    evaluate(app, END - dt.timedelta(days=10))
    assert len(offers(app)) == 2
    with app.app_context():  # the mobile service changed plan meanwhile
        db.session.get(Service, mobile).offering_code = "MOB-20GB"
        db.session.commit()
    assert evaluate(app, END - dt.timedelta(days=5)).endswith("1 open offer expired.")
    assert {(o.service_id, o.status) for o in offers(app)} == {(fibre, "open"),
                                                               (mobile, "expired")}
    # The day after the contract's end, the upgrade offer has had its time.
    assert evaluate(app, END + dt.timedelta(days=1)).endswith("1 open offer expired.")
    assert {o.status for o in offers(app)} == {"expired"}


def test_evaluating_without_a_catalog_says_so(app):
    result = app.test_cli_runner().invoke(args=["offers", "evaluate"])
    assert result.exit_code == 1
    assert result.output.strip() == ("No catalog is loaded: no offer can be priced, nothing "
                                     "was done.")


def test_evaluation_is_the_same_service_the_command_runs(app, world):
    add_service(app, world.q, "FIBRE-100", site="DE-002", quantity=1, start=START)
    with app.app_context():
        done = evaluate_offers(db.session, END - dt.timedelta(days=60), "test")
        db.session.commit()
        again = evaluate_offers(db.session, END - dt.timedelta(days=60), "test")
    assert (done.upgrades, again.upgrades) == (1, 0)
