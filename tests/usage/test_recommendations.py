"""Plan recommendations: a service over its allowance in at least 2 of the last 3 months is
offered the cheapest plan of its family that fits its largest use per SIM, sold today where
its site is, priced by the engine; a dismissed offer does not come back for the same
evidence. The test catalog is in usage_data (prices per SIM and month, 24 months: -5 %)."""

from __future__ import annotations

from decimal import Decimal

from portal.catalog.store import load_version
from portal.extensions import db
from portal.usage.measures import period_of
from portal.usage.models import Offer
from portal.usage.offers import dismiss_offer
from usage.usage_data import (
    CATALOG,
    add_service,
    notifications,
    offers,
    periods,
    ref_of,
    run_import,
    today,
    usage_csv,
)

D = Decimal


def three_months(app, service_id, *used) -> bytes:
    ref = ref_of(app, service_id)
    return usage_csv(*((ref, month, figure) for month, figure in zip(periods(), used,
                                                                     strict=True)))


def test_one_month_of_three_over_the_allowance_is_not_enough_two_are(app, world):
    service = add_service(app, world.q)  # 10 SIMs x 5 GB = 50 GB a month
    # Exactly the allowance is not over it.
    assert run_import(app, three_months(app, service, "55", "50", "40")).offers == 0
    assert offers(app) == []
    # A correction puts the middle month just over: two of three.
    middle = periods()[1]
    assert run_import(app, usage_csv((ref_of(app, service), middle, "50.001"))).offers == 1
    [offer] = offers(app)
    first, second, _ = periods()
    assert offer.evidence == f"over the allowance in {first}, {second}"


def test_the_cheapest_plan_that_fits_is_offered_with_the_monthly_difference(app, world):
    q = world.q
    service = add_service(app, q)  # MOB-5GB, 10 SIMs, 24 months: 85.50 a month
    result = run_import(app, three_months(app, service, "52", "120", "38"))
    assert result.offers == 1
    [offer] = offers(app)
    # 12 GB per SIM at most: MOB-20GB fits (MOB-40GB-FR is cheaper but not sold in Germany,
    # MOB-OLD no longer sold, MOB-UNL dearer). 10 x 15.00 - 5 % = 142.50; 142.50 - 85.50.
    assert (offer.kind, offer.service_id, offer.from_offering_code, offer.offering_code) == \
        ("recommendation", service, "MOB-5GB", "MOB-20GB")
    assert (offer.mrc_before, offer.mrc_after, offer.monthly_difference, offer.currency) == \
        (D("85.50"), D("142.50"), D("57.00"), "EUR")
    first, second, _ = periods()
    assert offer.reason == (
        f"Mobile 5 GB at DE-001 went over its data allowance in 2 of the last 3 months "
        f"({first}, {second}), using up to 12 GB per SIM. Mobile 20 GB includes 20 GB per SIM "
        "a month.")
    assert offer.status == "open" and offer.valid_until is None
    # Admins and buyers may accept it: they are told; finance and viewers are not.
    for person in (q.admin, q.buyer):
        [note] = notifications(app, person)
        assert note.subject == "A better-fitting plan for DE-001: Mobile 20 GB"
        assert "The monthly charge would change by +57.00 EUR (from 85.50 to 142.50 EUR)." \
            in note.body
        assert note.link == "/dashboard"
    assert notifications(app, world.finance) == notifications(app, q.viewer) == []


def test_more_data_than_any_capped_plan_is_offered_unlimited(app, world):
    service = add_service(app, world.q)
    run_import(app, three_months(app, service, "250", "10", "251"))  # 25.1 GB per SIM
    [offer] = offers(app)
    # MOB-OLD's 30 GB would fit but it is no longer sold. 10 x 25.00 - 5 % = 237.50.
    assert (offer.offering_code, offer.mrc_after, offer.monthly_difference) == \
        ("MOB-UNL", D("237.50"), D("152.00"))
    assert offer.reason.endswith("Mobile Unlimited has unlimited data.")


def test_a_plan_sold_only_in_the_sites_country_counts_there(app, world):
    service = add_service(app, world.q, site="FR-001")
    run_import(app, three_months(app, service, "300", "80", "310"))  # 31 GB per SIM
    [offer] = offers(app)
    # In France MOB-40GB-FR fits and is cheapest: 10 x 12.00 - 5 % = 114.00.
    assert (offer.offering_code, offer.mrc_after, offer.monthly_difference) == \
        ("MOB-40GB-FR", D("114.00"), D("28.50"))


def test_when_no_plan_fits_nothing_is_offered(app, world):
    with app.app_context():  # the same catalog without its unlimited plan
        start = CATALOG.index("  - {code: MOB-UNL")
        end = CATALOG.index("  - {code: FIBRE-100")
        load_version(db.session, CATALOG[:start] + CATALOG[end:], "capped.yaml", "test")
        db.session.commit()
    service = add_service(app, world.q)
    assert run_import(app, three_months(app, service, "450", "10", "451")).offers == 0
    assert offers(app) == []


def test_a_dismissed_offer_does_not_come_back_for_the_same_evidence(app, world):
    q = world.q
    service = add_service(app, q)
    data = three_months(app, service, "60", "70", "20")
    run_import(app, data)
    [offer] = offers(app)
    with app.app_context():
        dismiss_offer(db.session, db.session.get(Offer, offer.id), q.buyer)
        db.session.commit()
    # The same months again, a correction that changes nothing over or under, and the
    # evaluation command: no new offer.
    run_import(app, data)
    run_import(app, usage_csv((ref_of(app, service), periods()[2], "21")))
    result = app.test_cli_runner().invoke(args=["offers", "evaluate"])
    assert result.exit_code == 0, result.output
    assert "0 plan recommendations" in result.output
    assert [(o.id, o.status) for o in offers(app)] == [(offer.id, "dismissed")]
    # This month goes over too: new evidence, a new offer.
    run_import(app, usage_csv((ref_of(app, service), period_of(today()), "75")))
    assert [o.status for o in offers(app)] == ["dismissed", "open"]
    assert offers(app)[1].evidence.endswith(f"{periods()[1]}, {period_of(today())}")


def test_an_open_offer_is_not_made_twice(app, world):
    service = add_service(app, world.q)
    run_import(app, three_months(app, service, "60", "70", "20"))
    # New evidence while the first offer is still open: still one offer.
    run_import(app, usage_csv((ref_of(app, service), periods()[2], "80")))
    assert [o.status for o in offers(app)] == ["open"]
    assert app.test_cli_runner().invoke(args=["offers", "evaluate"]).output.startswith(
        "0 plan recommendations, 0 upgrade offers made")
