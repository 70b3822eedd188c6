"""Quote PDF downloads: for the customer's users and the partners and account managers acting
for the customer (in the customer's context), and for approvers from their queue."""

from __future__ import annotations

from flask import Blueprint, abort, g
from flask_login import current_user

from accounts.models import Organisation
from portal.extensions import db
from portal.pdf import pdf_response
from portal.security import Permission, require
from quotes import approvals, services
from quotes.models import QuoteVersion
from quotes.pdf import quote_pdf_filename, render_quote_pdf

bp = Blueprint("quote_pdf", __name__)


def _download(version: QuoteVersion, organisation_name: str):
    return pdf_response(render_quote_pdf(version, organisation_name),
                        quote_pdf_filename(version))


@bp.get("/quotes/<int:quote_id>/versions/<int:version>/pdf")
@require(Permission.QUOTES_VIEW)
def download(quote_id: int, version: int):
    """The PDF of a version of a quote of the organisation acted for; 404 for any other."""
    try:
        found = services.get_version(db.session, g.current_org_id, quote_id, version)
    except services.QuoteNotFound:
        abort(404)
    return _download(found, g.current_org.name)


@bp.get("/approvals/<int:version_id>/pdf")
@require(Permission.QUOTES_APPROVE)
def approver_download(version_id: int):
    """The PDF of a version an approver may open (their customers' quotes); 404 otherwise."""
    try:
        found = approvals.load_for_approver(db.session, current_user, version_id)
    except services.QuoteNotFound:
        abort(404)
    organisation = db.session.get(Organisation, found.quote.organisation_id)
    return _download(found, organisation.name if organisation else "")
