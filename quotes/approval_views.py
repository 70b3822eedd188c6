"""The approvers' pages: the queue of quotes waiting for them, a quote version to decide
on, and the decision. Account managers and sales directors act from the operator
organisation: quotes are loaded for the signed-in approver (`approvals.load_for_approver`,
404 for a customer that is not theirs), never through the organisation acted for. Every
rule is in quotes.approvals."""

from __future__ import annotations

from flask import (
    Blueprint,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import IntegerField, StringField, TextAreaField
from wtforms.validators import AnyOf, InputRequired, Length, Optional
from wtforms.widgets import HiddenInput

from accounts.models import Organisation, User
from portal.db import utcnow
from portal.errors import render_error
from portal.extensions import db
from portal.security import Permission, require
from quotes import approvals
from quotes.models import QuoteState, QuoteVersion
from quotes.services import QuoteError, QuoteNotFound

bp = Blueprint("approvals", __name__, url_prefix="/approvals")

LINES_PER_PAGE = 200
QUEUE_LIMIT = 200
DONE = {
    QuoteState.APPROVED: "Quote {number} version {version} is approved; the customer can "
                         "accept it.",
    QuoteState.PENDING: "Quote {number} version {version} is approved at your level and now "
                        "waits for the sales director.",
    QuoteState.REJECTED: "Quote {number} version {version} is rejected; the customer sees "
                         "your comment.",
}


class DecisionForm(FlaskForm):
    """Approve or reject the version as it was shown (`row_version`), with a comment."""

    decision = StringField(validators=[InputRequired(), AnyOf(["approved", "rejected"])])
    comment = TextAreaField("Comment", validators=[Optional(),
                                                   Length(max=approvals.MAX_COMMENT)],
                            description="Required to reject: the customer reads it.")
    row_version = IntegerField(widget=HiddenInput(), validators=[InputRequired()])


@bp.errorhandler(QuoteNotFound)
def _not_found(_error):
    db.session.rollback()
    return render_error(404)


def _user() -> User:
    return current_user._get_current_object()


@bp.get("")
@require(Permission.QUOTES_APPROVE)
def index():
    """The quotes waiting for a decision this approver may give, oldest request first
    (a fixed number of queries whatever their number)."""
    versions = approvals.queue(db.session, _user(), limit=QUEUE_LIMIT)
    org_ids = {v.quote.organisation_id for v in versions}
    customers = dict(db.session.execute(
        select(Organisation.id, Organisation.name).where(Organisation.id.in_(org_ids))).all()
    ) if org_ids else {}
    submitter_ids = {v.submitted_by_id for v in versions if v.submitted_by_id}
    submitters = {u.id: u for u in db.session.scalars(
        select(User).where(User.id.in_(submitter_ids)))} if submitter_ids else {}
    return render_template("approvals/index.html", versions=versions, customers=customers,
                           submitters=submitters, today=utcnow().date(),
                           levels=approvals.LEVEL_NAMES, limit=QUEUE_LIMIT)


def _decision_refusal(version: QuoteVersion, levels: set[str], today) -> str | None:
    """Why this approver cannot decide on the version now (None: the form is shown). The
    rules themselves are applied again by `approvals.decide`."""
    if version.state != QuoteState.PENDING:
        return None  # nothing to decide; the state says why
    if not version.is_latest:
        return "A newer version of this quote exists; only the latest can be approved."
    if version.is_expired(today):
        return "This version has expired and can no longer be approved."
    level = version.approval_stage
    if level not in levels:
        return (f"This version waits for the {approvals.LEVEL_NAMES.get(level, level)}'s "
                f"decision; you cannot decide at that level for this customer.")
    if level == approvals.SALES_DIRECTOR and any(
            a.level == approvals.ACCOUNT_MANAGER and a.user_id == current_user.id
            and a.content_hash == version.content_hash for a in version.approvals):
        return ("You approved this version as account manager; another person must give "
                "the sales director's approval.")
    return None


@bp.get("/<int:version_id>")
@require(Permission.QUOTES_APPROVE)
def show(version_id: int):
    """A version as the approver decides on it: customer, billing account, totals, lines
    with their discounts and justifications, the decisions so far, and the decision form
    when it waits for this approver."""
    version = approvals.load_for_approver(db.session, _user(), version_id)
    quote = version.quote
    today = utcnow().date()
    levels = approvals.levels_of(db.session, _user(), quote.organisation_id)
    refusal = _decision_refusal(version, levels, today)
    can_decide = version.state == QuoteState.PENDING and refusal is None
    form = DecisionForm(row_version=version.row_version) if can_decide else None
    lines = version.lines
    pages = max((len(lines) + LINES_PER_PAGE - 1) // LINES_PER_PAGE, 1)
    page = min(max(request.args.get("page", 1, type=int) or 1, 1), pages)
    shown = lines[(page - 1) * LINES_PER_PAGE: page * LINES_PER_PAGE]
    submitter = db.session.get(User, version.submitted_by_id) \
        if version.submitted_by_id else None
    return render_template(
        "approvals/show.html", version=version, quote=quote,
        customer=db.session.get(Organisation, quote.organisation_id), submitter=submitter,
        form=form, refusal=refusal, shown=shown, page=page, pages=pages,
        per_page=LINES_PER_PAGE, first_line=(page - 1) * LINES_PER_PAGE + 1, today=today,
        levels=approvals.LEVEL_NAMES)


@bp.post("/<int:version_id>")
@require(Permission.QUOTES_APPROVE)
def decide(version_id: int):
    """Approve or reject the version the approver was looking at. If it changed since they
    opened it, or another approver decided first, nothing is written and they are told."""
    version = approvals.load_for_approver(db.session, _user(), version_id)
    back = redirect(url_for(".show", version_id=version_id))
    form = DecisionForm()
    if not form.validate_on_submit():
        if "row_version" in form.errors or "decision" in form.errors:
            flash("The form was incomplete; look at the quote again and choose approve or "
                  "reject.", "danger")
        else:
            flash("; ".join(" ".join(m) for m in form.errors.values()), "danger")
        return back
    number, number_version = version.quote.number, version.version
    try:
        state = approvals.decide(db.session, version, _user(), form.decision.data,
                                 form.comment.data or "", utcnow().date(),
                                 seen_row_version=form.row_version.data)
        db.session.commit()
    except approvals.ConcurrentChange as exc:
        db.session.rollback()
        flash(str(exc), "warning")
        return back
    except QuoteError as exc:
        db.session.rollback()
        flash(str(exc), "danger")
        return back
    flash(DONE[state].format(number=number, version=number_version), "success")
    return redirect(url_for(".index"))
