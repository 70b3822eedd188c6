"""The bill run: golden figures worked out by hand (proration by day, free promotion months
ending mid-month, one-offs in the month of activation, tax by billing country), and a run
that is safe to repeat."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select
from support.bill_reference import rate

from accounts.estate.models import BillingAccount, Service, Site
from portal.audit import AuditEvent
from portal.billing.models import Bill, BillLine
from portal.billing.run import BillRunError, run_bills
from portal.catalog.store import current_catalog, load_version
from portal.extensions import db

CATALOG = """
currency: EUR
approval: {auto_max: "0.05", account_manager_max: "0.15", sales_director_max: "0.30"}
quote_validity_days: 30
tax_rates: {DE: "0.19", GB: "0.20"}
offerings:
  - code: MOB
    name: Business Mobile
    family: mobile
    fulfilment: mobile-bss
    recurring: "25.00"
    one_off: "10.00"
    promotions: [{code: THREE-FREE, months_free: 3}]
  - code: FIBRE
    name: Business Fibre
    family: broadband
    fulfilment: fixed-bss
    recurring: "80.00"
    one_off: "100.00"
"""

D = Decimal


class World:
    """Acme (a German and a British billing account) and Globex, with services made by
    `service`."""

    def __init__(self, factory):
        self.org = factory.org("acme")
        self.other = factory.org("globex")
        load_version(db.session, CATALOG, "catalog.yaml", "test")
        self.de = self._account(self.org, "ACME-DE", "DE", cost_centre="CC-DE")
        self.gb = self._account(self.org, "ACME-GB", "GB")
        self.globex = self._account(self.other, "GLX-DE", "DE")
        self.berlin = self._site(self.org, "BER", "DE", self.de)
        self.london = self._site(self.org, "LON", "GB", self.gb)
        self.bare = self._site(self.org, "NOACC", "DE", None)
        self.hamburg = self._site(self.other, "HAM", "DE", self.globex)
        self.count = 0
        db.session.commit()

    @staticmethod
    def _account(org, number, country, cost_centre=""):
        account = BillingAccount(organisation_id=org, number=number, name=number,
                                 country=country, currency="EUR", cost_centre=cost_centre,
                                 payment_terms_days=14)
        db.session.add(account)
        db.session.flush()
        return account

    @staticmethod
    def _site(org, code, country, account):
        site = Site(organisation_id=org, code=code, name=code, address="Street 1",
                    postcode="1", city="City", country=country,
                    billing_account_id=account.id if account else None)
        db.session.add(site)
        db.session.flush()
        return site

    def service(self, site, code, start, *, charge=None, quantity=1, end=None,
                promotion="", status="active", description="", account=None):
        """A service at `site`, billed to the site's billing account unless `account`."""
        self.count += 1
        service = Service(organisation_id=site.organisation_id, site_id=site.id,
                          billing_account_id=account.id if account else None,
                          offering_code=code, description=description, quantity=quantity,
                          status=status, start_date=start, end_date=end,
                          promotion_code=promotion,
                          monthly_charge=D(charge) if charge is not None else None,
                          source_system="portal", source_ref=f"SVC-{self.count}")
        db.session.add(service)
        db.session.flush()
        return service


@pytest.fixture
def world(app_ctx, factory):
    return World(factory)


def _september(world: World) -> dict[str, Service]:
    """The services of the golden September 2026 (30 days)."""
    w, day = world, dt.date
    return {
        # Starts on the 11th: 20 of 30 days, 80 × 20 / 30 = 53.333 → 53.33; one-off 100.00.
        "new_fibre": w.service(w.berlin, "FIBRE", day(2026, 9, 11), charge="80.00"),
        # 3 free months from 15 June end on 14 September: 16 of 30 days charged,
        # 95 × 16 / 30 = 50.667 → 50.67; no one-off (activated in June).
        "promo_ends": w.service(w.berlin, "MOB", day(2026, 6, 15), charge="95.00",
                                quantity=4, promotion="THREE-FREE"),
        # No charge of its own: the catalog's 25.00 × 2 = 50.00; ceased on the 20th:
        # 20 of 30 days, 33.333 → 33.33.
        "ceased": w.service(w.berlin, "MOB", day(2026, 1, 1), quantity=2,
                            end=day(2026, 9, 20), status="ceased"),
        # A whole month: 80.00 (suspended services are still charged).
        # An active service's end date is its contract's end: it rolls on, a whole month.
        "whole": w.service(w.berlin, "FIBRE", day(2025, 1, 1), charge="80.00",
                           status="suspended", end=day(2026, 9, 10)),
        # Started 5 August with 3 free months: all of September free, 0.00.
        "free": w.service(w.berlin, "MOB", day(2026, 8, 5), charge="25.00",
                          promotion="THREE-FREE"),
        # Half a cent rounds up: 3.15 × 5 / 30 = 0.525 → 0.53; not in the catalog, so
        # no one-off and its own description.
        "half_cent": w.service(w.berlin, "LEGACY-X", day(2026, 9, 26), charge="3.15",
                               description="Legacy line rental"),
        # British tax: 80 × 1 / 30 = 2.667 → 2.67, plus the 100.00 one-off.
        "london": w.service(w.london, "FIBRE", day(2026, 9, 30), charge="80.00"),
        # Not in September: starts in October, ended in August, ceased without an end date.
        "later": w.service(w.berlin, "FIBRE", day(2026, 10, 1), charge="80.00"),
        "gone": w.service(w.berlin, "FIBRE", day(2025, 1, 1), charge="80.00",
                          end=day(2026, 8, 31), status="ceased"),
        "no_end": w.service(w.berlin, "FIBRE", day(2025, 1, 1), charge="80.00",
                            status="ceased"),
        # No billing account on the service or its site: not billed, counted.
        "unbillable": w.service(w.bare, "FIBRE", day(2025, 1, 1), charge="80.00"),
        # A site without an account, but the service names one: billed to it.
        "own_account": w.service(w.bare, "FIBRE", day(2025, 1, 1), charge="10.00",
                                 account=w.gb),
        # Another organisation: billed in a run of everyone, not in a run of acme.
        "globex": w.service(w.hamburg, "FIBRE", day(2025, 1, 1), charge="50.00"),
    }


def _lines_of(bill_number: str) -> dict[tuple[int | None, str], BillLine]:
    bill = db.session.scalar(select(Bill).where(Bill.bill_number == bill_number))
    return {(line.service_id, line.kind): line for line in bill.lines}


def test_golden_september(world):
    services = _september(world)
    result = run_bills(db.session, "2026-09", organisation_slug="acme")
    db.session.commit()

    assert sorted(result.bills) == ["PR-2026-09-ACME-DE", "PR-2026-09-ACME-GB"]
    assert result.without_account == 1
    de = db.session.scalar(select(Bill).where(Bill.bill_number == "PR-2026-09-ACME-DE"))
    # 53.33 + 100.00 + 50.67 + 33.33 + 80.00 + 0.00 + 0.53 = 317.86; 19 % of it is 60.39.
    assert (de.amount_excl_tax, de.tax_amount, de.amount_incl_tax) == (
        D("317.86"), D("60.39"), D("378.25"))
    assert (de.period_start, de.period_end) == (dt.date(2026, 9, 1), dt.date(2026, 9, 30))
    assert (de.bill_date, de.due_date) == (dt.date(2026, 10, 1), dt.date(2026, 10, 15))
    assert (de.source_system, de.source_format, de.currency) == ("portal", "bill-run", "EUR")

    lines = _lines_of("PR-2026-09-ACME-DE")
    amount = {key: line.amount for key, line in lines.items()}
    s = {name: service.id for name, service in services.items()}
    assert amount == {
        (s["new_fibre"], "recurring"): D("53.33"), (s["new_fibre"], "one_off"): D("100.00"),
        (s["promo_ends"], "recurring"): D("50.67"), (s["ceased"], "recurring"): D("33.33"),
        (s["whole"], "recurring"): D("80.00"), (s["free"], "recurring"): D("0.00"),
        (s["half_cent"], "recurring"): D("0.53"),
    }
    promo = lines[(s["promo_ends"], "recurring")]
    assert promo.description == "Business Mobile (promotion: charged 16 of 30 days)"
    assert promo.quantity == 4 and promo.product_family == "mobile"
    assert lines[(s["free"], "recurring")].description == "Business Mobile (promotion: free)"
    assert lines[(s["new_fibre"], "recurring")].description == "Business Fibre (20 of 30 days)"
    assert lines[(s["new_fibre"], "one_off")].description == "Business Fibre (activation)"
    assert lines[(s["half_cent"], "recurring")].description == "Legacy line rental (5 of 30 days)"
    ceased = lines[(s["ceased"], "recurring")]
    assert (ceased.period_start, ceased.period_end) == (dt.date(2026, 9, 1),
                                                        dt.date(2026, 9, 20))
    assert ceased.site_id == world.berlin.id and ceased.cost_centre == "CC-DE"
    # Each line's own tax is rounded per line: 53.33 × 19 % = 10.1327 → 10.13.
    assert lines[(s["new_fibre"], "recurring")].tax_amount == D("10.13")
    assert lines[(s["new_fibre"], "recurring")].tax_rate == D("0.19")
    assert sorted(line.position for line in lines.values()) == list(range(1, 8))

    gb = db.session.scalar(select(Bill).where(Bill.bill_number == "PR-2026-09-ACME-GB"))
    # 2.67 + 100.00 + 10.00 = 112.67; 20 % is 22.534 → 22.53.
    assert (gb.amount_excl_tax, gb.tax_amount, gb.amount_incl_tax) == (
        D("112.67"), D("22.53"), D("135.20"))
    assert {k: v.amount for k, v in _lines_of("PR-2026-09-ACME-GB").items()} == {
        (s["london"], "recurring"): D("2.67"), (s["london"], "one_off"): D("100.00"),
        (s["own_account"], "recurring"): D("10.00")}
    assert result.lines == 10 and result.services == 8
    assert result.total_excl_tax == D("430.53")
    assert db.session.scalar(select(func.count()).select_from(Bill).where(
        Bill.organisation_id == world.other)) == 0


def test_free_months_end_on_a_clamped_day(world):
    """Three free months from 30 November end on 28 February (February has no 30th): that
    day is the first charged, 25 × 1 / 28 = 0.893 → 0.89. In March the month is whole."""
    service = world.service(world.berlin, "MOB", dt.date(2025, 11, 30), charge="25.00",
                            promotion="THREE-FREE")
    run_bills(db.session, "2026-01")
    run_bills(db.session, "2026-02")
    run_bills(db.session, "2026-03")
    amounts = {bill.period: bill.lines[0].amount for bill in db.session.scalars(
        select(Bill).where(Bill.organisation_id == world.org))}
    assert amounts == {"2026-01": D("0.00"), "2026-02": D("0.89"), "2026-03": D("25.00")}
    assert service.start_date.month == 11  # one-off only in the month of activation
    november = run_bills(db.session, "2025-11")
    lines = db.session.scalar(select(Bill).where(
        Bill.bill_number == november.bills[0])).lines
    assert [(line.kind, line.amount) for line in lines] == [
        ("recurring", D("0.00")), ("one_off", D("10.00"))]


def test_a_second_run_changes_nothing(world):
    _september(world)
    first = run_bills(db.session, "2026-09")
    db.session.commit()
    assert len(first.bills) == 3  # acme's two accounts and globex's

    def snapshot():
        return (db.session.execute(select(Bill.bill_number, Bill.amount_incl_tax)
                                   .order_by(Bill.bill_number)).all(),
                db.session.scalar(select(func.count()).select_from(BillLine)))

    before = snapshot()
    again = run_bills(db.session, "2026-09")
    db.session.commit()
    assert again.bills == [] and again.lines == 0 and again.already_billed == 3
    assert snapshot() == before
    assert "3 billing accounts already billed" in again.summary()


def test_an_account_opened_later_is_billed_by_a_second_run(world):
    _september(world)
    run_bills(db.session, "2026-09", organisation_slug="acme")
    fr = World._account(world.org, "ACME-DE-2", "DE")
    site = World._site(world.org, "MUC", "DE", fr)
    world.service(site, "FIBRE", dt.date(2025, 1, 1), charge="42.00")
    again = run_bills(db.session, "2026-09", organisation_slug="acme")
    assert again.bills == ["PR-2026-09-ACME-DE-2"] and again.total_excl_tax == D("42.00")
    assert again.already_billed == 2


def test_each_run_is_audited_per_organisation(world):
    _september(world)
    run_bills(db.session, "2026-09", actor_label="cli")
    db.session.commit()
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "bill:run")).all()
    assert {e.organisation_id for e in events} == {world.org, world.other}
    acme = next(e for e in events if e.organisation_id == world.org)
    assert acme.after["bills"] == ["PR-2026-09-ACME-DE", "PR-2026-09-ACME-GB"]
    assert acme.after["amount_excl_tax"] == "430.53"


@pytest.mark.parametrize("period", ["2026-13", "2026-9", "26-09", "", "2026-09-01"])
def test_a_bad_period_is_refused(world, period):
    with pytest.raises(BillRunError, match="YYYY-MM"):
        run_bills(db.session, period)


def test_an_unknown_organisation_is_refused(world):
    with pytest.raises(BillRunError, match="no organisation 'nobody'"):
        run_bills(db.session, "2026-09", organisation_slug="nobody")


def test_a_country_without_a_tax_rate_stops_the_run(world):
    _september(world)
    nl = World._account(world.org, "ACME-NL", "NL")
    world.service(World._site(world.org, "AMS", "NL", nl), "FIBRE", dt.date(2025, 1, 1),
                  charge="80.00")
    with pytest.raises(BillRunError, match=r"no tax rate for NL \(billing account ACME-NL\)"):
        run_bills(db.session, "2026-09")
    assert db.session.scalar(select(func.count()).select_from(Bill)) == 0


def test_the_command_runs_and_reports(app, world):
    _september(world)
    db.session.commit()
    runner = app.test_cli_runner()
    first = runner.invoke(args=["bills", "run", "--period", "2026-09", "--org", "acme"])
    assert first.exit_code == 0, first.output
    assert "Bill run 2026-09: 2 bills, 10 lines for 8 services, 430.53 before tax" in first.output
    assert "1 service has no billing account and was not billed" in first.output
    second = runner.invoke(args=["bills", "run", "--period", "2026-09", "--org", "acme"])
    assert "0 bills" in second.output and "2 billing accounts already billed" in second.output
    bad = runner.invoke(args=["bills", "run", "--period", "September"])
    assert bad.exit_code != 0 and "is not a period" in bad.output


def test_without_a_catalog_nothing_is_billed(app_ctx, factory):
    with pytest.raises(BillRunError, match="No catalog is loaded"):
        run_bills(db.session, "2026-09")


@st.composite
def _services(draw, period: dt.date):
    """A service starting up to about four months before `period` or in it (so that free
    months end in it often), perhaps ending."""
    start = period + dt.timedelta(days=draw(st.integers(-130, 40)))
    ends = draw(st.booleans())
    # Now and then an end before the start, as bad data from a legacy system would have it.
    end = start + dt.timedelta(days=draw(st.integers(-20, 160))) if ends else None
    return dict(code=draw(st.sampled_from(["MOB", "FIBRE", "OTHER"])), start=start, end=end,
                status=draw(st.sampled_from(["ceased", "active", "suspended"])),
                promotion=draw(st.sampled_from(["", "THREE-FREE", "THREE-FREE", "UNKNOWN"])),
                charge=draw(st.none() | st.decimals("0.00", "999.99", places=2)),
                quantity=draw(st.integers(1, 60)))


@st.composite
def _month_and_services(draw):
    period = draw(st.dates(dt.date(2025, 10, 1), dt.date(2027, 2, 1))).replace(day=1)
    return period, draw(st.lists(_services(period), min_size=1, max_size=12))


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(drawn=_month_and_services())
def test_the_sql_agrees_with_the_rules_stated_plainly(world, drawn):
    """Whatever the services and the month, every line is what the rules, written the
    plain way in tests/support/bill_reference.py, say it is."""
    period, specs = drawn
    catalog = current_catalog(db.session)[1]
    services = []
    try:
        for spec in specs:
            code = spec["code"]
            charge = spec["charge"]
            if code == "OTHER" and charge is None:
                charge = Decimal("1.00")
            services.append(world.service(world.berlin, code, spec["start"], end=spec["end"],
                                          status=spec["status"], promotion=spec["promotion"],
                                          quantity=spec["quantity"],
                                          charge=str(charge) if charge is not None else None))
        result = run_bills(db.session, f"{period:%Y-%m}", organisation_slug="acme")
        expected = {}
        for service in services:
            rated = rate(service, catalog, period)
            if rated is not None:
                expected[(service.id, "recurring")] = rated[0]
                if rated[1]:
                    expected[(service.id, "one_off")] = rated[1]
        got = {}
        bill = None
        if result.bills:
            bill = db.session.scalar(select(Bill).where(Bill.bill_number == result.bills[0]))
            got = {(line.service_id, line.kind): line.amount for line in bill.lines}
        assert got == expected
        if bill is not None:
            assert bill.amount_excl_tax == sum(expected.values())
            assert bill.tax_amount == (bill.amount_excl_tax * D("0.19")).quantize(
                D("0.01"), ROUND_HALF_UP)
    finally:
        db.session.rollback()
        db.session.execute(delete(Bill))
        db.session.execute(delete(Service))
        db.session.commit()


def test_large_charges_do_not_overflow(world):
    """Cents × days and cents × tax rate pass 2³¹ here: 60 fibre lines' activation and a
    99,999.99 monthly charge are still exact."""
    service = world.service(world.berlin, "FIBRE", dt.date(2026, 9, 1), charge="99999.99",
                            quantity=60)
    result = run_bills(db.session, "2026-09", organisation_slug="acme")
    lines = _lines_of(result.bills[0])
    recurring, one_off = lines[(service.id, "recurring")], lines[(service.id, "one_off")]
    assert (recurring.amount, recurring.tax_amount) == (D("99999.99"), D("19000.00"))
    assert (one_off.amount, one_off.tax_amount) == (D("6000.00"), D("1140.00"))
    bill = db.session.scalar(select(Bill).where(Bill.bill_number == result.bills[0]))
    assert (bill.amount_excl_tax, bill.tax_amount) == (D("105999.99"), D("20140.00"))
