"""Operator pages of the legacy imports: upload an export, decide on proposals, see each
organisation's legacy accounts. Every page needs `legacy:import`."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select

from accounts.legacy.forms import DecisionForm, ImportForm
from accounts.legacy.layouts import LAYOUTS, ImportRefused
from accounts.legacy.models import LegacyAccount, MatchProposal
from accounts.legacy.services import (
    LegacyError,
    accounts_by_organisation,
    confirm_proposal,
    count_open_proposals,
    import_file,
    open_proposals,
    reject_proposal,
)
from accounts.models import Organisation
from portal.audit import AuditEvent
from portal.db import get_or_404
from portal.extensions import db
from portal.security import Permission, require

bp = Blueprint("legacy", __name__, url_prefix="/operator/legacy")

PAGE_SIZE = 50
STATUS_LABELS = {
    "matched": "matched",
    "unmatched": "new organisation",
    "proposed": "waits for a decision",
    "rejected": "kept apart",
}
MATCHED_BY_LABELS = {
    "registration": "by registration number",
    "vat": "by VAT number",
    "operator": "confirmed by an operator",
    "created": "nothing alike: organisation created",
    "separate": "look-alike rejected: organisation created",
}


def _page() -> int:
    return max(request.args.get("page", 1, type=int) or 1, 1)


def _pages(total: int) -> int:
    return max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1)


def _index(form: ImportForm, refused: ImportRefused | None = None):
    by_status = dict(db.session.execute(
        select(LegacyAccount.status, func.count()).group_by(LegacyAccount.status)).all())
    imports = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "legacy:import")
        .order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc()).limit(10)
    ).all()
    return render_template("legacy/index.html", form=form, refused=refused,
                           by_status=by_status, labels=STATUS_LABELS, imports=imports,
                           waiting=count_open_proposals(db.session), layouts=LAYOUTS)


@bp.get("")
@require(Permission.LEGACY_IMPORT)
def index():
    """The upload form, where things stand, and the last imports."""
    return _index(ImportForm())


@bp.post("/import")
@require(Permission.LEGACY_IMPORT)
def upload():
    """Import an uploaded export and show its report; a refused file changes nothing and
    its problems are listed under the form."""
    form = ImportForm()
    if not form.validate_on_submit():
        return _index(form)
    sent = form.file.data
    try:
        report = import_file(db.session, form.system.data, sent.stream,
                             filename=(sent.filename or "upload.csv")[-200:])
        db.session.commit()
    except ImportRefused as refused:
        db.session.rollback()
        return _index(form, refused)
    return render_template("legacy/report.html", report=report,
                           waiting=count_open_proposals(db.session))


@bp.get("/proposals")
@require(Permission.LEGACY_IMPORT)
def proposals():
    """Open proposals, best first: the legacy account and the organisation it may be, side
    by side, with the score and its reasons."""
    page = _page()
    total = count_open_proposals(db.session)
    rows = open_proposals(db.session, PAGE_SIZE, (page - 1) * PAGE_SIZE)
    known = accounts_by_organisation(db.session, [p.organisation_id for p in rows])
    return render_template("legacy/proposals.html", proposals=rows, known=known,
                           form=DecisionForm(), total=total, page=page, pages=_pages(total),
                           labels=STATUS_LABELS)


@bp.post("/proposals/<int:proposal_id>/<any(confirm, reject):decision>")
@require(Permission.LEGACY_IMPORT)
def decide(proposal_id: int, decision: str):
    """Confirm (the account joins the organisation) or reject (it stays apart)."""
    if not DecisionForm().validate_on_submit():
        abort(400)
    get_or_404(db.session, MatchProposal, proposal_id)
    action = confirm_proposal if decision == "confirm" else reject_proposal
    try:
        proposal = action(db.session, proposal_id, actor_user_id=current_user.id,
                          actor_label=current_user.email)
        db.session.commit()
    except LegacyError as exc:
        db.session.rollback()
        flash(str(exc), "warning")
        return redirect(url_for(".proposals"))
    account = proposal.account
    if decision == "confirm":
        flash(f"{account.label} ({account.name}) is now part of "
              f"{proposal.organisation.name}.", "success")
    elif account.organisation is not None:
        flash(f"{account.label} ({account.name}) is kept apart as its own organisation, "
              f"{account.organisation.name}.", "success")
    else:
        flash(f"{account.label} is not {proposal.organisation.name}; its other proposals "
              "still wait.", "success")
    return redirect(url_for(".proposals"))


@bp.get("/accounts")
@require(Permission.LEGACY_IMPORT)
def accounts():
    """The legacy accounts of each organisation (or of `?org=SLUG`), and the accounts that
    wait for a decision."""
    page = _page()
    slug = (request.args.get("org") or "").strip()
    linked = select(LegacyAccount.organisation_id).where(
        LegacyAccount.organisation_id.is_not(None))
    orgs_query = select(Organisation).where(Organisation.id.in_(linked))
    if slug:
        orgs_query = orgs_query.where(Organisation.slug == slug)
    total = db.session.scalar(select(func.count()).select_from(orgs_query.subquery()))
    orgs = db.session.scalars(orgs_query.order_by(Organisation.name, Organisation.id)
                              .limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)).all()
    grouped = accounts_by_organisation(db.session, [org.id for org in orgs])
    waiting = [] if slug else db.session.scalars(
        select(LegacyAccount).where(LegacyAccount.organisation_id.is_(None))
        .order_by(LegacyAccount.system, LegacyAccount.external_id).limit(PAGE_SIZE)
    ).all()
    return render_template("legacy/accounts.html", orgs=orgs, grouped=grouped,
                           waiting=waiting, slug=slug, total=total, page=page,
                           pages=_pages(total), labels=STATUS_LABELS,
                           matched_by=MATCHED_BY_LABELS)
