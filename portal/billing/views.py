"""Bill pages for finance users (and admins, and partners delegated `billing`): the finance
overview, the consolidated bill of a period with its PDF and CSV, and each source bill.
Views are thin: the figures come from portal.billing.statements and .finance, documents
from .documents and .export. Everything is read in the organisation acted for; a bill of
another organisation, or a malformed period, answers 404."""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, g, render_template, request

from portal.billing import documents, export, finance, statements
from portal.billing.models import Bill
from portal.db import tenant_get_or_404
from portal.extensions import db
from portal.pdf import content_disposition, pdf_response
from portal.security import Permission, require

bp = Blueprint("bills", __name__, url_prefix="/bills")

LINES_PER_PAGE = 100


def _period_or_404(period: str) -> str:
    try:
        return statements.parse_period(period)
    except statements.InvalidPeriod:
        abort(404)


def _page_number(line_count: int) -> tuple[int, int]:
    """The requested page (1 when missing or not a number, the last when beyond it) and the
    number of pages."""
    pages = max((line_count + LINES_PER_PAGE - 1) // LINES_PER_PAGE, 1)
    page = request.args.get("page", 1, type=int) or 1
    return min(max(page, 1), pages), pages


def _statement_page(template: str, statement: statements.Statement, bill: Bill | None = None,
                    **context):
    page, pages = _page_number(statement.line_count)
    lines = [] if statement.empty else statements.detail_page(
        db.session, g.current_org_id, statement.period, page, LINES_PER_PAGE,
        bill.id if bill else None)
    return render_template(template, statement=statement, bill=bill, lines=lines, page=page,
                           pages=pages, per_page=LINES_PER_PAGE, no_site=statements.NO_SITE,
                           kind_labels=documents.KIND_LABELS, **context)


@bp.get("")
@require(Permission.BILLS_VIEW)
def index():
    """The finance overview: spend per month, spend by site and the largest changes of the
    latest period, and the bill history with links and downloads."""
    overview = finance.overview(db.session, g.current_org_id)
    return render_template("bills/index.html", overview=overview,
                           period_label=statements.period_label,
                           chart_size=(finance.CHART_WIDTH, finance.CHART_HEIGHT,
                                       finance.CHART_BOTTOM))


@bp.get("/<period>")
@require(Permission.BILLS_VIEW)
def statement(period: str):
    """The consolidated bill of `period`: summary first, then the lines a page at a time."""
    found = statements.consolidated(db.session, g.current_org_id, _period_or_404(period))
    return _statement_page("bills/statement.html", found)


@bp.get("/<period>/pdf")
@require(Permission.BILLS_VIEW)
def statement_pdf(period: str):
    """The consolidated bill of `period` as PDF; 404 when the period has no bill."""
    period = _period_or_404(period)
    try:
        pdf = documents.consolidated_pdf(db.session, g.current_org, period)
    except documents.NoBills:
        abort(404)
    return pdf_response(pdf, documents.consolidated_pdf_filename(g.current_org, period))


@bp.get("/<period>/csv")
@require(Permission.BILLS_VIEW)
def statement_csv(period: str):
    """The consolidated bill of `period` as CSV, streamed; 404 when the period has no
    bill."""
    period = _period_or_404(period)
    if not finance.has_bills(db.session, g.current_org_id, period):
        abort(404)
    session = current_app.extensions["portal_db"].new_session()
    response = Response(_stream_csv(session, g.current_org_id, period), mimetype="text/csv")
    response.headers["Content-Disposition"] = content_disposition(
        export.csv_filename(g.current_org, period), "consolidated-bill.csv")
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _stream_csv(session, organisation_id: int, period: str):
    # Streamed after the view has returned, on a session of its own that the generator
    # closes however it ends (a client that stops reading included). A session connects
    # on its first query, so a response never read holds no connection either.
    try:
        yield from export.consolidated_csv(session, organisation_id, period)
    finally:
        session.close()


@bp.get("/source/<int:bill_id>")
@require(Permission.BILLS_VIEW)
def source_bill(bill_id: int):
    """One bill as its billing system issued it, with its lines."""
    bill = tenant_get_or_404(db.session, Bill, bill_id)
    found = statements.consolidated(db.session, g.current_org_id, bill.period,
                                    bill_id=bill.id, compare=False)
    return _statement_page("bills/source.html", found, bill)


@bp.get("/source/<int:bill_id>/pdf")
@require(Permission.BILLS_VIEW)
def source_bill_pdf(bill_id: int):
    """One source bill as PDF, in the consolidated bill's look."""
    bill = tenant_get_or_404(db.session, Bill, bill_id)
    return pdf_response(documents.bill_pdf(db.session, g.current_org, bill),
                        documents.bill_pdf_filename(bill))

