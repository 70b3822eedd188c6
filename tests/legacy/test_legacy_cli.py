"""`flask --app app legacy import|proposals|confirm|reject`."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from accounts.estate.models import Service
from accounts.legacy.layouts import LAYOUTS
from accounts.legacy.models import LegacyAccount, MatchProposal
from accounts.legacy.services import SAMPLES
from accounts.models import Organisation
from portal.audit import AuditEvent
from portal.extensions import db

DATA = Path(__file__).resolve().parents[1] / "data" / "legacy"


def run(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


def _import_samples(app):
    for system, layout in LAYOUTS.items():
        result = run(app, "legacy", "import", "--system", system, str(SAMPLES / layout.sample))
        assert result.exit_code == 0, result.output


def test_import_prints_a_report(app):
    result = run(app, "legacy", "import", "--system", "mobile-bss",
                 str(SAMPLES / "mobile-bss-customers.csv"))
    assert result.exit_code == 0, result.output
    assert "mobile-bss-customers.csv (mobile-bss): 98 rows, 5 customer accounts." in result.output
    assert "Services: 98 created, 0 updated, 0 unchanged." in result.output
    assert "Imported in" in result.output
    again = run(app, "legacy", "import", "--system", "mobile-bss",
                str(SAMPLES / "mobile-bss-customers.csv"))
    assert "Nothing changed" in again.output
    with app.app_context():
        events = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "legacy:import")).all()
        assert [e.actor_label for e in events] == ["cli", "cli"]


def test_a_refused_file_names_its_bad_rows_and_writes_nothing(app):
    result = run(app, "legacy", "import", "--system", "fixed-bss",
                 str(DATA / "fixed-bss-one-bad-row.csv"))
    assert result.exit_code == 1
    assert "fixed-bss-one-bad-row.csv was not imported: 1 bad row; nothing was changed." \
        in result.output
    assert "line 24: start_date '2021-02-30' is not a date (YYYY-MM-DD)" in result.output
    wrong = run(app, "legacy", "import", "--system", "tv-bss",
                str(SAMPLES / "mobile-bss-customers.csv"))
    assert wrong.exit_code == 1 and "looks like a mobile BSS export" in wrong.output
    unknown = run(app, "legacy", "import", "--system", "billing", str(DATA / "x.csv"))
    assert unknown.exit_code == 2
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Organisation)) == 0
        assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == 0


def test_proposals_confirm_and_reject(app):
    assert "No proposal waits" in run(app, "legacy", "proposals").output
    _import_samples(app)
    listing = run(app, "legacy", "proposals")
    assert listing.exit_code == 0
    with app.app_context():
        proposal_id = db.session.scalar(select(MatchProposal.id))
    assert f"#{proposal_id} 100%  fixed-bss FB-0091002 'INITECH' (75002 Paris, FR)  ->  " \
           "initech 'Initech SAS'" in listing.output
    assert "same postcode" in listing.output and "1 open." in listing.output

    confirmed = run(app, "legacy", "confirm", str(proposal_id))
    assert confirmed.exit_code == 0, confirmed.output
    assert "fixed-bss FB-0091002 is now part of initech." in confirmed.output
    twice = run(app, "legacy", "reject", str(proposal_id))
    assert twice.exit_code == 1 and "already confirmed" in twice.output
    missing = run(app, "legacy", "confirm", "999")
    assert missing.exit_code == 1 and "no proposal #999" in missing.output
    with app.app_context():
        account = db.session.scalars(select(LegacyAccount).where(
            LegacyAccount.external_id == "FB-0091002")).one()
        assert account.organisation.slug == "initech"
        assert db.session.scalar(select(func.count()).select_from(Service)) == 144
        event = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "legacy:confirm")).one()
        assert event.actor_label == "cli"


def test_reject_keeps_the_account_apart(app):
    _import_samples(app)
    with app.app_context():
        proposal_id = db.session.scalar(select(MatchProposal.id))
    result = run(app, "legacy", "reject", str(proposal_id))
    assert result.exit_code == 0, result.output
    assert "fixed-bss FB-0091002 is kept apart, as organisation initech-2." in result.output
