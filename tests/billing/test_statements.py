"""The consolidated statement and the finance figures: totals are the source bills' own,
subtotals add up, the previous period is compared, currencies are kept apart, and the
number of queries does not grow with the bills."""

from __future__ import annotations

from decimal import Decimal

import pytest
from conftest import count_queries
from support.bills import add_account, add_bill, add_bulk_lines, add_sites, bills_world, line

from portal.billing import finance, statements
from portal.billing.statements import InvalidPeriod
from portal.extensions import db

D = Decimal


@pytest.fixture
def world(app_ctx, factory):
    """Acme with the bills of support.bills.bills_world; Globex with a bill of its own."""
    acme = factory.org("acme")
    globex = factory.org("globex")
    ids = bills_world(db.session, acme)
    other = add_account(db.session, globex, "GLX-1")
    add_bill(db.session, globex, other, [line("999.99", "190.00")], system="mobile-bss",
             number="GLX-2026-10")
    db.session.commit()
    return {"org": acme, "other": globex, **ids}


def _rows(subtotals):
    return {row.label: (row.amount, row.previous, row.count) for row in subtotals}


def test_totals_are_the_sum_of_the_source_bills_own_totals(world):
    statement = statements.consolidated(db.session, world["org"], "2026-10")
    [section] = statement.sections
    assert (section.excl, section.tax, section.incl) == (
        world["oct"]["excl"], world["oct"]["tax"], world["oct"]["incl"])
    # The fixed-bss bill states 36.81 tax where its lines sum to 36.80: the bill's own wins.
    assert section.tax == D("68.60")
    assert (section.bill_count, section.line_count) == (2, 7)
    assert sorted(b.bill_number for b in statement.bills) == ["FX-2026-10", "MB-2026-10"]
    assert "GLX-2026-10" not in {b.bill_number for b in statement.bills}


def test_subtotals_by_account_source_site_family_and_cost_centre(world):
    [section] = statements.consolidated(db.session, world["org"], "2026-10").sections
    accounts = {r.label: (r.amount, r.tax, r.incl, r.count) for r in section.by_account}
    assert accounts == {"ACME-DE-01": (D("167.34"), D("31.79"), D("199.13"), 1),
                        "ACME-FR-01": (D("183.99"), D("36.81"), D("220.80"), 1)}
    assert {r.label: r.incl for r in section.by_source} == {
        "mobile-bss": D("199.13"), "fixed-bss": D("220.80")}
    # Lines without a site are "No site", listed last.
    assert [(r.label, r.amount, r.count) for r in section.by_site] == [
        ("ACM-001", D("100.00"), 1), ("ACM-002", D("55.00"), 2), ("ACM-003", D("183.99"), 3),
        ("No site", D("12.34"), 1)]
    assert _rows(section.by_family) == {"broadband": (D("183.99"), D("89.00"), 3),
                                        "mobile": (D("167.34"), D("150.00"), 4)}
    # A line's own cost centre wins; else its billing account's (CC-DE).
    assert _rows(section.by_cost_centre) == {"CC-DE": (D("167.34"), D("150.00"), 4),
                                             "CC-FR": (D("183.99"), D("89.00"), 3)}
    for rows in (section.by_site, section.by_family, section.by_cost_centre,
                 section.by_account, section.by_source):
        assert sum(r.amount for r in rows) == section.excl


def test_credits_and_adjustments_are_listed_with_their_bills(world):
    [section] = statements.consolidated(db.session, world["org"], "2026-10").sections
    assert [(c.kind, c.description, c.bill_number, c.site_code, c.amount)
            for c in section.credits] == [
        ("adjustment", "Price correction", "FX-2026-10", "ACM-003", D("-5.01")),
        ("credit", "Goodwill credit", "MB-2026-10", "ACM-002", D("-20.00"))]
    assert section.credits_total == D("-25.01")


def test_the_change_from_the_previous_period(world):
    statement = statements.consolidated(db.session, world["org"], "2026-10")
    [section] = statement.sections
    assert statement.previous_period == "2026-09"
    assert (section.previous_excl, section.previous_tax, section.previous_incl) == (
        D("239.00"), D("46.30"), D("285.30"))
    assert section.change_incl == D("134.63")
    assert {r.label: r.change for r in section.by_site} == {
        "ACM-001": D("0.00"), "ACM-002": D("5.00"), "ACM-003": D("94.99"),
        "No site": D("12.34")}
    assert {r.label: r.change for r in section.by_account} == {
        "ACME-DE-01": D("17.34"), "ACME-FR-01": D("94.99")}


def test_a_site_billed_only_last_period_shows_its_drop(world):
    add_bill(db.session, world["org"], world["accounts"]["de"], [
        line("40.00", site_id=add_sites(db.session, world["org"], 1, prefix="OLD")[0])],
        period="2026-09", system="tv-bss", number="TV-2026-09")
    db.session.commit()
    [section] = statements.consolidated(db.session, world["org"], "2026-10").sections
    old = {r.label: r for r in section.by_site}["OLD-001"]
    assert (old.amount, old.previous, old.change, old.count) == (
        D("0.00"), D("40.00"), D("-40.00"), 0)
    assert {r.label: r.change for r in section.by_source}["tv-bss"] == D("-40.00")
    assert section.previous_incl == D("325.30")


def test_one_source_bill_alone(world):
    statement = statements.consolidated(db.session, world["org"], "2026-10",
                                        bill_id=world["bills"]["oct_fixed"], compare=False)
    [section] = statement.sections
    assert [b.bill_number for b in statement.bills] == ["FX-2026-10"]
    assert (section.excl, section.tax, section.incl) == (D("183.99"), D("36.81"), D("220.80"))
    assert section.previous_incl == D("0.00")
    assert [c.description for c in section.credits] == ["Price correction"]


def test_currencies_are_never_added_together(app_ctx, factory):
    org = factory.org("acme")
    eur = add_account(db.session, org, "DE-1")
    gbp = add_account(db.session, org, "GB-1", currency="GBP", country="GB")
    add_bill(db.session, org, eur, [line("100.00", "19.00")], number="E-1")
    add_bill(db.session, org, gbp, [line("80.00", "16.00")], system="fixed-bss",
             number="G-1", currency="GBP")
    add_bill(db.session, org, gbp, [line("70.00", "14.00")], system="fixed-bss",
             number="G-0", currency="GBP", period="2026-09")
    db.session.commit()
    statement = statements.consolidated(db.session, org, "2026-10")
    assert [(s.currency, s.incl, s.previous_incl) for s in statement.sections] == [
        ("EUR", D("119.00"), D("0.00")), ("GBP", D("96.00"), D("84.00"))]
    history = finance.history(db.session, org)
    assert [(h.period, h.currency, h.incl) for h in history] == [
        ("2026-10", "EUR", D("119.00")), ("2026-10", "GBP", D("96.00")),
        ("2026-09", "GBP", D("84.00"))]
    assert set(finance.spend_per_month(history)) == {"EUR", "GBP"}


def test_many_small_amounts_add_up_exactly(app_ctx, factory):
    # 0.10 is no binary float: summed as floats, 1,111 of them are not 111.10.
    org = factory.org("acme")
    account = add_account(db.session, org, "DE-1")
    add_bill(db.session, org, account, [line("0.10", "0.01") for _ in range(1111)])
    db.session.commit()
    [section] = statements.consolidated(db.session, org, "2026-10").sections
    assert (section.excl, section.tax, section.incl) == (D("111.10"), D("11.11"), D("122.21"))
    assert section.by_family[0].amount == D("111.10")


def test_an_organisation_without_bills_has_an_empty_statement(app_ctx, factory):
    org = factory.org("acme")
    statement = statements.consolidated(db.session, org, "2026-10")
    assert statement.empty and statement.sections == [] and statement.line_count == 0
    assert finance.overview(db.session, org).latest is None


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "26-10", "2026-1", "2026/10", "",
                                  "2026-10x", "0000-01", "2026-10\n"])
def test_a_malformed_period_is_refused(text):
    with pytest.raises(InvalidPeriod):
        statements.parse_period(text)


def test_periods():
    assert statements.previous_period("2026-01") == "2025-12"
    assert statements.previous_period("2026-10") == "2026-09"
    assert statements.period_label("2026-10") == "October 2026"
    assert finance.months_ending("2026-02", 3) == ["2025-12", "2026-01", "2026-02"]


def test_history_chart_and_largest_changes(world):
    overview = finance.overview(db.session, world["org"])
    assert overview.latest == "2026-10"
    assert [(h.period, h.incl, h.bills) for h in overview.history] == [
        ("2026-10", D("419.93"), 2), ("2026-09", D("285.30"), 2)]
    [(currency, bars)] = overview.charts.items()
    assert currency == "EUR" and len(bars) == 12
    assert [b.period for b in bars[-2:]] == ["2026-09", "2026-10"]
    assert [b.amount for b in bars[-2:]] == [D("239.00"), D("351.33")]
    assert all(b.amount == 0 and b.height == 0 for b in bars[:-2])
    assert bars[-1].height > bars[-2].height > 0
    assert [(c.label, c.change) for c in overview.site_changes] == [
        ("ACM-003", D("94.99")), ("No site", D("12.34")), ("ACM-002", D("5.00"))]
    assert [(c.label, c.change) for c in overview.offering_changes] == [
        ("BB-FIBRE-1G", D("100.00")), ("MOB-UNL", D("25.00")),
        ("Other mobile charges", D("-7.66")), ("Other broadband charges", D("-5.01"))]


def _grow(org: int, sites: int, lines: int) -> None:
    account = add_account(db.session, org, f"BULK-{sites}")
    site_ids = add_sites(db.session, org, sites, prefix=f"B{sites}")
    for period in ("2026-09", "2026-10"):
        bill = add_bill(db.session, org, account, [line("1.00", site_id=site_ids[0])],
                        period=period, system="portal")
        add_bulk_lines(db.session, bill, lines, site_ids)
    db.session.commit()


def _queries(app, org: int) -> list[int]:
    counts = []
    for call in (lambda: statements.consolidated(db.session, org, "2026-10"),
                 lambda: finance.overview(db.session, org)):
        with count_queries(app) as sql:
            call()
        counts.append(len(sql))
    return counts


def test_the_number_of_queries_does_not_grow_with_the_bills(app_ctx, factory):
    small, large = factory.org("small"), factory.org("large")
    _grow(small, 2, 2)
    _grow(large, 50, 50)
    assert _queries(app_ctx, small) == _queries(app_ctx, large) == [7, 3]
    [section] = statements.consolidated(db.session, large, "2026-10").sections
    assert len(section.by_site) == 50 and section.line_count == 51
    # The overview lists the largest sites only; the statement has them all.
    overview = finance.overview(db.session, large)
    top = overview.by_site["EUR"]
    assert len(top) == finance.TOP_SITES and overview.site_counts == {"EUR": 50}
    assert [r.amount for r in top] == sorted((r.amount for r in section.by_site),
                                             reverse=True)[:finance.TOP_SITES]
