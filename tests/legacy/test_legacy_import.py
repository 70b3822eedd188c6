"""Importing the three systems' exports: one organisation per company, sites de-duplicated,
services with their source, proposals for look-alikes, idempotent, all or nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from accounts.estate.models import BillingAccount, Service, Site
from accounts.legacy.layouts import FIXED, MOBILE, TV, ImportRefused
from accounts.legacy.models import LegacyAccount, MatchProposal
from accounts.legacy.services import (
    SAMPLES,
    LegacyError,
    confirm_proposal,
    import_file,
    import_samples,
    open_proposals,
    reject_proposal,
)
from accounts.models import Organisation
from accounts.services import create_organisation, org_by_slug
from portal.audit import AuditEvent
from portal.extensions import db

DATA = Path(__file__).resolve().parents[1] / "data" / "legacy"
COMPANIES = {"acme-industries", "globex", "initech", "hooli", "acme-france",
             "baeckerei-mueller"}


def _count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _totals() -> dict[str, int]:
    return {model.__name__: _count(model) for model in (
        Organisation, LegacyAccount, MatchProposal, Site, BillingAccount, Service)}


def _org(slug: str) -> Organisation:
    org = org_by_slug(db.session, slug)
    assert org is not None, slug
    return org


def _refs(org: Organisation) -> dict[str, str]:
    return {a.system: a.external_id for a in db.session.scalars(
        select(LegacyAccount).where(LegacyAccount.organisation_id == org.id))}


def _import_all():
    reports = import_samples(db.session, actor_label="test")
    db.session.commit()
    return reports


def test_the_three_samples_make_one_organisation_per_company(app_ctx):
    mobile, fixed, tv = _import_all()
    assert {o.slug for o in db.session.scalars(select(Organisation))} == COMPANIES
    assert all(o.kind == "customer" for o in db.session.scalars(select(Organisation)))
    acme, globex = _org("acme-industries"), _org("globex")
    assert acme.name == "ACME Industries GmbH"
    assert _refs(acme) == {"mobile-bss": "M100234", "fixed-bss": "FB-0045821",
                           "tv-bss": "TV-88812"}
    assert _refs(globex) == {"mobile-bss": "M100512", "fixed-bss": "FB-0077310",
                             "tv-bss": "TV-90077"}
    assert _refs(_org("hooli")) == {"mobile-bss": "M100901", "fixed-bss": "FB-0102030"}
    # Initech's fixed account has no registration or VAT number: it waits for a decision.
    assert _refs(_org("initech")) == {"mobile-bss": "M100733", "tv-bss": "TV-91500"}
    [proposal] = open_proposals(db.session)
    assert proposal.account.label == "fixed-bss FB-0091002"
    assert proposal.organisation.slug == "initech" and proposal.score == 100
    assert len(proposal.account.held_rows) == 6

    # One site per place although each system spells it its own way.
    acme_sites = db.session.scalars(select(Site).where(Site.organisation_id == acme.id)).all()
    assert sorted(s.city for s in acme_sites) == ["Berlin", "Frankfurt am Main", "Hamburg",
                                                  "Köln", "München"]
    assert len({s.code for s in acme_sites}) == 5
    assert _count(Site) == 15
    hq = next(s for s in acme_sites if s.city == "München")
    services_at_hq = db.session.scalars(select(Service).where(Service.site_id == hq.id)).all()
    assert {s.source_system for s in services_at_hq} == {"mobile-bss", "fixed-bss", "tv-bss"}

    assert _count(Service, Service.organisation_id == acme.id) == 40 + 12 + 6
    assert _count(Service) == 144 - 6  # Initech's fixed lines are held
    line = db.session.scalars(select(Service).where(Service.source_ref == "FL-2044010")).one()
    assert (line.source_system, line.organisation_id, line.offering_code) == (
        "fixed-bss", acme.id, "FIB-1G")
    assert line.billing_account.number == "FBA-778812"
    assert (mobile.organisations_created, fixed.matched_by_identifier, fixed.awaiting_decision,
            tv.matched_by_identifier, tv.organisations_created) == (5, 3, 1, 3, 1)
    events = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "legacy:import").order_by(AuditEvent.id)).all()
    assert [e.after["system"] for e in events] == ["mobile-bss", "fixed-bss", "tv-bss"]
    assert events[0].after["services_created"] == 98 and events[0].actor_label == "test"


def test_confirming_a_proposal_merges_the_account_and_its_services(app_ctx):
    _import_all()
    [proposal] = open_proposals(db.session)
    initech = _org("initech")
    confirm_proposal(db.session, proposal.id, actor_label="olga")
    db.session.commit()
    assert _refs(initech) == {"mobile-bss": "M100733", "fixed-bss": "FB-0091002",
                              "tv-bss": "TV-91500"}
    account = db.session.scalars(select(LegacyAccount).where(
        LegacyAccount.external_id == "FB-0091002")).one()
    assert (account.status, account.matched_by, account.held_rows) == (
        "matched", "operator", None)
    assert db.session.get(MatchProposal, proposal.id).status == "confirmed"
    assert db.session.get(MatchProposal, proposal.id).decided_by_label == "olga"
    assert _count(Site, Site.organisation_id == initech.id) == 3  # "12, rue de la Paix" too
    assert _count(Service, Service.organisation_id == initech.id) == 15 + 6 + 3
    assert _count(Service) == 144
    event = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "legacy:confirm")).one()
    assert event.organisation_id == initech.id
    assert event.after["account"] == "fixed-bss FB-0091002"
    assert event.after["services_created"] == 6
    with pytest.raises(LegacyError, match="already confirmed"):
        confirm_proposal(db.session, proposal.id)
    with pytest.raises(LegacyError, match="no proposal #999"):
        reject_proposal(db.session, 999)


def test_rejecting_a_proposal_keeps_the_account_apart(app_ctx):
    _import_all()
    [proposal] = open_proposals(db.session)
    reject_proposal(db.session, proposal.id, actor_label="olga")
    db.session.commit()
    apart = _org("initech-2")
    assert apart.name == "INITECH" and apart.kind == "customer"
    assert _refs(apart) == {"fixed-bss": "FB-0091002"}
    assert _refs(_org("initech")) == {"mobile-bss": "M100733", "tv-bss": "TV-91500"}
    account = db.session.scalars(select(LegacyAccount).where(
        LegacyAccount.external_id == "FB-0091002")).one()
    assert (account.status, account.matched_by) == ("rejected", "separate")
    sites = db.session.scalars(select(Site).where(Site.organisation_id == apart.id)).all()
    assert sorted(s.code for s in sites) == ["LOC-93001", "LOC-93002", "LOC-93003"]
    assert _count(Service, Service.organisation_id == apart.id) == 6
    event = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "legacy:reject")).one()
    assert event.after["organisation"] == "initech-2"
    # Importing again does not propose it again.
    import_file(db.session, "fixed-bss", SAMPLES / FIXED.sample)
    assert open_proposals(db.session) == []


def test_importing_the_same_files_again_changes_nothing(app_ctx):
    _import_all()
    before = _totals()
    again = _import_all()
    assert _totals() == before
    assert [r.changed for r in again] == [False, False, False]
    assert "Nothing changed" in again[0].lines()[1]
    assert again[1].awaiting_decision == 1 and again[1].proposals_created == 0
    # And once the proposal is decided, too.
    confirm_proposal(db.session, open_proposals(db.session)[0].id)
    db.session.commit()
    before = _totals()
    assert [r.changed for r in _import_all()] == [False, False, False]
    assert _totals() == before


def test_a_changed_row_updates_in_place(app_ctx):
    _import_all()
    before = _totals()
    paused = db.session.scalars(select(Service).where(Service.source_ref == "C880154")).one()
    report = import_file(db.session, "tv-bss", DATA / "tv-bss-changed.csv")
    db.session.commit()
    assert (report.accounts_updated, report.services_updated, report.services_created,
            report.organisations_created, report.sites_created) == (1, 2, 1, 0, 0)
    assert _totals() == {**before, "Service": before["Service"] + 1}
    db.session.expire_all()
    assert db.session.get(Service, paused.id).status == "ceased"
    assert db.session.scalars(select(Service).where(
        Service.source_ref == "C880218")).one().quantity == 2
    globex_tv = db.session.scalars(select(LegacyAccount).where(
        LegacyAccount.external_id == "TV-90077")).one()
    assert globex_tv.name == "Globex Corporation Ltd"


def test_a_file_with_one_bad_row_writes_nothing(app_ctx):
    import_file(db.session, "mobile-bss", SAMPLES / MOBILE.sample)
    db.session.commit()
    before = _totals()
    with pytest.raises(ImportRefused) as refused:
        import_file(db.session, "fixed-bss", DATA / "fixed-bss-one-bad-row.csv")
    assert refused.value.problems == [
        (24, "start_date '2021-02-30' is not a date (YYYY-MM-DD)")]
    assert not db.session.new and not db.session.dirty
    db.session.rollback()
    assert _totals() == before
    assert _count(AuditEvent, AuditEvent.action == "legacy:import") == 1


def test_an_unknown_system_is_refused(app_ctx):
    with pytest.raises(ImportRefused, match="Unknown system 'billing-bss'"):
        import_file(db.session, "billing-bss", b"x")


def test_sites_take_the_systems_own_reference_as_code_when_it_comes_first(app_ctx):
    import_file(db.session, "fixed-bss", SAMPLES / FIXED.sample)
    import_file(db.session, "mobile-bss", SAMPLES / MOBILE.sample)
    db.session.commit()
    acme = _org("acme-industries")
    codes = sorted(db.session.scalars(select(Site.code).where(Site.organisation_id == acme.id)))
    assert codes == ["LOC-88001", "LOC-88002", "LOC-88003", "LOC-88004", "LOC-88005"]
    assert _refs(acme) == {"fixed-bss": "FB-0045821", "mobile-bss": "M100234"}


def _existing_acme() -> Organisation:
    org = create_organisation(db.session, "acme", "Acme Industries", "customer", [])
    db.session.commit()
    return org


def test_an_organisation_without_identifiers_gets_proposals_and_twins_follow(app_ctx):
    """The demo's Acme exists without registration or VAT number: the imported accounts
    that look like it wait, and one decision takes every account of that company along."""
    acme = _existing_acme()
    mobile = import_file(db.session, "mobile-bss", SAMPLES / MOBILE.sample)
    fixed = import_file(db.session, "fixed-bss", SAMPLES / FIXED.sample)
    db.session.commit()
    assert (mobile.awaiting_decision, fixed.awaiting_decision) == (1, 2)
    proposals = {p.account.label: p for p in open_proposals(db.session, limit=10)}
    assert proposals["mobile-bss M100234"].organisation_id == acme.id
    assert proposals["mobile-bss M100234"].score == 75  # names alike, no postcode known
    twin = proposals["fixed-bss FB-0045821"]
    assert twin.organisation_id == acme.id
    assert any("number as mobile-bss M100234, which waits" in r for r in twin.reasons)

    confirm_proposal(db.session, proposals["mobile-bss M100234"].id)
    db.session.commit()
    assert _refs(acme) == {"mobile-bss": "M100234", "fixed-bss": "FB-0045821"}
    assert db.session.get(MatchProposal, twin.id).status == "superseded"
    assert _count(Service, Service.organisation_id == acme.id) == 40 + 12
    assert _count(Site, Site.organisation_id == acme.id) == 5
    event = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "legacy:confirm")).one()
    assert event.after["followed"] == ["fixed-bss FB-0045821"]
    # The TV account now finds Acme by its VAT number.
    tv = import_file(db.session, "tv-bss", SAMPLES / TV.sample)
    assert (tv.matched_by_identifier, tv.awaiting_decision) == (3, 0)
    assert _refs(acme)["tv-bss"] == "TV-88812"


def test_rejecting_takes_the_twins_into_the_new_organisation(app_ctx):
    acme = _existing_acme()
    import_file(db.session, "mobile-bss", SAMPLES / MOBILE.sample)
    import_file(db.session, "fixed-bss", SAMPLES / FIXED.sample)
    db.session.commit()
    proposals = {p.account.label: p for p in open_proposals(db.session, limit=10)}
    reject_proposal(db.session, proposals["mobile-bss M100234"].id)
    db.session.commit()
    new = _org("acme-industries")
    assert _refs(new) == {"mobile-bss": "M100234", "fixed-bss": "FB-0045821"}
    assert _refs(acme) == {}
    assert _count(Service, Service.organisation_id == acme.id) == 0


def test_reject_with_other_proposals_open_keeps_the_account_waiting(app_ctx):
    acme = _existing_acme()
    create_organisation(db.session, "acme-ind", "Acme Ind.", "customer", [])
    import_file(db.session, "mobile-bss", SAMPLES / MOBILE.sample)
    db.session.commit()
    first, second = [p for p in open_proposals(db.session, limit=10)
                     if p.account.external_id == "M100234"]
    reject_proposal(db.session, first.id)
    db.session.commit()
    account = db.session.get(LegacyAccount, first.legacy_account_id)
    assert account.status == "proposed" and account.organisation_id is None
    confirm_proposal(db.session, second.id)
    db.session.commit()
    assert account.organisation_id == second.organisation_id
    assert {first.organisation_id, second.organisation_id} >= {acme.id}


def test_an_identifier_that_disagrees_is_proposed_not_merged(app_ctx):
    import_file(db.session, "mobile-bss", SAMPLES / MOBILE.sample)
    db.session.commit()
    header = ",".join(FIXED.columns)
    row = ("FB-1,Acme Industries,HRB123456,DE 999 999 999,,,Hauptstr. 5,80331,München,DE,"
           "FL-1,FIB-1G,Fibre,1,in service,2022-01-01,36,FBA-1,349.00")
    report = import_file(db.session, "fixed-bss", f"{header}\n{row}\n".encode())
    assert (report.matched_by_identifier, report.awaiting_decision) == (0, 1)
    [proposal] = [p for p in open_proposals(db.session) if p.account.external_id == "FB-1"]
    assert proposal.organisation.slug == "acme-industries"
    assert proposal.reasons[:2] == ["same registration number", "VAT numbers differ"]
