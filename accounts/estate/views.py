"""Pages of the estate: sites (list, detail, create, edit, close, CSV import and export),
billing accounts and the service inventory. Views are thin: they read forms and call the
services and queries of this package."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import PurePath

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from sqlalchemy.exc import IntegrityError

from accounts.estate import csv_sites, queries, staging
from accounts.estate.countries import COUNTRIES
from accounts.estate.forms import (
    AccountFilterForm,
    BillingAccountForm,
    ImportForm,
    ServiceFilterForm,
    SiteFilterForm,
    SiteForm,
    options,
)
from accounts.estate.models import (
    SERVICE_STATUSES,
    SITE_STATUSES,
    SOURCE_SYSTEMS,
    BillingAccount,
    Service,
    Site,
)
from accounts.estate.services import (
    BILLING_FIELDS,
    SITE_FIELDS,
    EstateError,
    apply_site_import,
    close_site,
    create_billing_account,
    create_site,
    open_service_counts,
    update_billing_account,
    update_site,
    why_site_cannot_close,
)
from accounts.forms import ActionForm
from portal.db import tenant_get_or_404
from portal.extensions import db
from portal.security import Permission, can, require

bp = Blueprint("estate", __name__)

# Room for the multipart envelope and the CSRF token around the file itself.
UPLOAD_OVERHEAD = 64 * 1024


def _page_number() -> int:
    return max(request.args.get("page", 1, type=int) or 1, 1)


def _sorting(columns: dict, default: str) -> queries.Sorting:
    key = request.args.get("sort", default)
    return queries.Sorting(key if key in columns else default, request.args.get("dir") == "desc")


def _account_id(value) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _show_errors(form, error: EstateError) -> None:
    """Put a service's refusals next to the fields they are about."""
    if not error.errors:
        flash(str(error), "danger")
    for name, problem in error.errors.items():
        field = getattr(form, name, None)
        if field is None:
            flash(f"{name} {problem}", "danger")
        else:
            field.errors = [*field.errors, f"{field.label.text} {problem}."]


# Sites ------------------------------------------------------------------------------------


_REFUSED = object()
SITE_CODE_TAKEN = "Site code is already used by another site."
ACCOUNT_NUMBER_TAKEN = "Account number is already used by another account."


def _save(form, change, unique_field: str, taken_message: str):
    """Run `change()` and commit. A broken rule goes back onto the form's fields, and so
    does a unique value another request took meanwhile; both roll back. Returns what
    `change()` returned, or `_REFUSED`."""
    try:
        result = change()
        db.session.commit()
    except EstateError as exc:
        db.session.rollback()
        _show_errors(form, exc)
        return _REFUSED
    except IntegrityError:
        db.session.rollback()
        field = form[unique_field]
        field.errors = [*field.errors, taken_message]
        return _REFUSED
    return result


def _site_filters(form: SiteFilterForm) -> queries.SiteFilters:
    status = form.status.data if form.status.data in SITE_STATUSES else ""
    account = (_account_id(form.billing_account.data)
               if can(Permission.BILLING_ACCOUNTS_VIEW) else None)
    return queries.SiteFilters(q=(form.q.data or "").strip()[:100],
                               country=(form.country.data or "").strip().upper()[:2],
                               status=status, billing_account_id=account)


@bp.get("/sites")
@require(Permission.SITES_VIEW)
def sites():
    """The organisation's sites: search, filters, sorting, a page at a time."""
    org_id = g.current_org_id
    form = SiteFilterForm(request.args)
    form.country.choices = options(("", "All countries"), *(
        (c, f"{COUNTRIES.get(c, c)} ({c})") for c in queries.site_countries(db.session, org_id)))
    if can(Permission.BILLING_ACCOUNTS_VIEW):
        form.billing_account.choices = options(
            ("", "All accounts"), *queries.billing_account_choices(db.session, org_id))
    sorting = _sorting(queries.SITE_SORTS, "name")
    page = queries.site_page(db.session, org_id, _site_filters(form), sorting, _page_number())
    counts = queries.service_counts(db.session, Service.site_id, [s.id for s in page.items])
    return render_template("estate/sites.html", form=form, page=page, sorting=sorting,
                           counts=counts)


@bp.get("/sites/export.csv")
@require(Permission.SITES_VIEW)
def export_sites():
    """The sites of the list's filters as CSV in the import format."""
    filters = _site_filters(SiteFilterForm(request.args))
    columns = csv_sites.COLUMNS
    if not can(Permission.BILLING_ACCOUNTS_VIEW):
        # Left out rather than blank: re-importing the file then keeps the accounts.
        columns = tuple(c for c in columns if c != "billing_account")
    text = csv_sites.export_csv(queries.sites_for_export(db.session, g.current_org_id, filters),
                                columns)
    name = f"sites-{g.current_org.slug}-{dt.date.today().isoformat()}.csv"
    return Response(text, mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.get("/sites/<int:site_id>")
@require(Permission.SITES_VIEW)
def site(site_id: int):
    """A site with its billing account and its services."""
    site = tenant_get_or_404(db.session, Site, site_id)
    services, total = queries.services_of(db.session, site.organisation_id,
                                          Service.site_id == site.id)
    open_counts = open_service_counts(db.session, [site.id]).get(site.id, {})
    return render_template("estate/site.html", site=site, services=services, total=total,
                           open_counts=open_counts,
                           close_refusal=why_site_cannot_close(open_counts),
                           form=ActionForm(), limit=queries.DETAIL_LIMIT)


def _site_form(site: Site | None) -> SiteForm:
    form = SiteForm(obj=site) if request.method == "GET" else SiteForm()
    form.set_accounts(queries.billing_account_choices(db.session, g.current_org_id))
    if request.method == "GET" and site is not None:
        form.billing_account.data = str(site.billing_account_id or "")
    return form


def _site_values(form: SiteForm) -> dict:
    return {name: getattr(form, name).data for name in SITE_FIELDS}


@bp.route("/sites/new", methods=["GET", "POST"])
@require(Permission.SITES_MANAGE)
def new_site():
    """Add a site."""
    form = _site_form(None)
    if form.validate_on_submit():
        site = _save(form, lambda: create_site(db.session, g.current_org_id, _site_values(form),
                                               _account_id(form.billing_account.data)),
                     "code", SITE_CODE_TAKEN)
        if site is not _REFUSED:
            flash(f"Site {site.code} created.", "success")
            return redirect(url_for(".site", site_id=site.id))
    return render_template("estate/site_form.html", form=form, site=None)


@bp.route("/sites/<int:site_id>/edit", methods=["GET", "POST"])
@require(Permission.SITES_MANAGE)
def edit_site(site_id: int):
    """Change a site's details and billing account."""
    site = tenant_get_or_404(db.session, Site, site_id)
    form = _site_form(site)
    if form.validate_on_submit():
        changes = _save(form, lambda: update_site(
            db.session, site, _site_values(form), _account_id(form.billing_account.data),
            bill_services=form.bill_services.data), "code", SITE_CODE_TAKEN)
        if changes is not _REFUSED:
            flash(f"Site {site.code} saved." if changes else "Nothing changed.", "success")
            return redirect(url_for(".site", site_id=site.id))
    return render_template("estate/site_form.html", form=form, site=site)


@bp.post("/sites/<int:site_id>/close")
@require(Permission.SITES_MANAGE)
def close(site_id: int):
    """Close a site; refused, with the reason, while it has active or suspended services."""
    if not ActionForm().validate_on_submit():
        abort(400)
    site = tenant_get_or_404(db.session, Site, site_id)
    try:
        close_site(db.session, site)
        db.session.commit()
    except EstateError as exc:
        db.session.rollback()
        flash(f"Site {site.code} was not closed. {exc}", "danger")
    else:
        flash(f"Site {site.code} is closed.", "success")
    return redirect(url_for(".site", site_id=site.id))


# CSV import -------------------------------------------------------------------------------


@bp.url_value_preprocessor
def _limit_upload_size(endpoint, _values) -> None:
    # Flask-WTF reads the whole form (the upload) for its CSRF check before any view runs:
    # the per-request limit must be set before that, and this hook runs first.
    if endpoint == "estate.import_sites" and request.method == "POST":
        request.max_content_length = csv_sites.MAX_BYTES + UPLOAD_OVERHEAD


def _upload_page(form: ImportForm, error: str | None = None, status: int = 200):
    if error:
        form.file.errors = [error]
    return render_template("estate/import.html", form=form, limits=csv_sites.LIMITS), status


@bp.errorhandler(413)
def _upload_too_large(_error):
    return _upload_page(ImportForm(formdata=None), f"The file is larger than the limit of "
                        f"{csv_sites.LIMITS}. Split it into smaller files.", 413)


def _preview_page(preview, filename: str, token: str | None, status: int = 200,
                  changed: bool = False):
    return render_template("estate/import_preview.html", preview=preview, counts=preview.counts(),
                           filename=filename, token=token, changed=changed,
                           form=ImportForm(formdata=None), action_form=ActionForm()), status


def _stage_if_ready(preview, data: bytes, filename: str) -> str | None:
    if preview.errors or not (preview.creates or preview.updates):
        return None
    return staging.stage(data, org_id=g.current_org_id, user_id=current_user.id,
                         filename=filename, fingerprint=preview.fingerprint)


@bp.route("/sites/import", methods=["GET", "POST"])
@require(Permission.SITES_MANAGE)
def import_sites():
    """Upload a CSV file of sites and see what it would do: every bad row with its line and
    why, the sites created and updated. Nothing is written until the commit."""
    form = ImportForm()
    if not form.validate_on_submit():
        return _upload_page(form)
    upload = form.file.data
    filename = PurePath(upload.filename or "sites.csv").name[:200]
    data = upload.stream.read(csv_sites.MAX_BYTES + 1)
    try:
        parsed = csv_sites.read_csv(data)
    except csv_sites.CsvFileError as exc:
        return _upload_page(form, str(exc))
    preview = csv_sites.preview_import(db.session, g.current_org_id, parsed)
    return _preview_page(preview, filename, _stage_if_ready(preview, data, filename))


@bp.post("/sites/import/<token>/commit")
@require(Permission.SITES_MANAGE)
def commit_import(token: str):
    """Import a previewed file, all or nothing, after checking it again: if the file or the
    sites changed since the preview, nothing is written and the new preview is shown."""
    if not ActionForm().validate_on_submit():
        abort(400)
    staged = staging.load(token, org_id=g.current_org_id, user_id=current_user.id)
    if staged is None:
        abort(404)
    staging.discard(token)
    try:
        parsed = csv_sites.read_csv(staged.data)
    except csv_sites.CsvFileError as exc:
        return _upload_page(ImportForm(formdata=None), str(exc), 409)
    preview = csv_sites.preview_import(db.session, g.current_org_id, parsed)
    if preview.errors or preview.fingerprint != staged.fingerprint:
        new_token = _stage_if_ready(preview, staged.data, staged.filename)
        return _preview_page(preview, staged.filename, new_token, status=409, changed=True)
    digest = hashlib.sha256(staged.data).hexdigest()
    try:
        counts = apply_site_import(db.session, g.current_org_id, preview,
                                   filename=staged.filename, digest=digest)
        db.session.commit()
    except IntegrityError:  # another request created one of the codes meanwhile
        db.session.rollback()
        preview = csv_sites.preview_import(db.session, g.current_org_id, parsed)
        new_token = _stage_if_ready(preview, staged.data, staged.filename)
        return _preview_page(preview, staged.filename, new_token, status=409, changed=True)
    flash(f"Imported {staged.filename}: {counts['created']} created, {counts['updated']} "
          f"updated, {counts['unchanged']} unchanged.", "success")
    return redirect(url_for(".sites"))


# Billing accounts -------------------------------------------------------------------------


@bp.get("/billing-accounts")
@require(Permission.BILLING_ACCOUNTS_VIEW)
def billing_accounts():
    """The organisation's billing accounts with how many sites and services each bills."""
    form = AccountFilterForm(request.args)
    sorting = _sorting(queries.ACCOUNT_SORTS, "number")
    page = queries.billing_account_page(db.session, g.current_org_id,
                                        (form.q.data or "").strip()[:100], sorting,
                                        _page_number())
    ids = [a.id for a in page.items]
    return render_template(
        "estate/billing_accounts.html", form=form, page=page, sorting=sorting,
        site_counts=queries.service_counts(db.session, Site.billing_account_id, ids),
        service_counts=queries.service_counts(db.session, Service.billing_account_id, ids))


@bp.get("/billing-accounts/<int:account_id>")
@require(Permission.BILLING_ACCOUNTS_VIEW)
def billing_account(account_id: int):
    """A billing account with the sites and services it bills."""
    account = tenant_get_or_404(db.session, BillingAccount, account_id)
    sites, site_total = queries.sites_of_account(db.session, account)
    services, service_total = queries.services_of(
        db.session, account.organisation_id, Service.billing_account_id == account.id)
    return render_template("estate/billing_account.html", account=account, sites=sites,
                           site_total=site_total, services=services,
                           service_total=service_total, limit=queries.DETAIL_LIMIT)


def _account_values(form: BillingAccountForm) -> dict:
    values = {name: getattr(form, name).data for name in BILLING_FIELDS}
    values["payment_terms_days"] = form.payment_terms_days.data
    return values


@bp.route("/billing-accounts/new", methods=["GET", "POST"])
@require(Permission.BILLING_ACCOUNTS_MANAGE)
def new_billing_account():
    """Add a billing account."""
    form = BillingAccountForm()
    if form.validate_on_submit():
        account = _save(form, lambda: create_billing_account(
            db.session, g.current_org_id, _account_values(form)), "number", ACCOUNT_NUMBER_TAKEN)
        if account is not _REFUSED:
            flash(f"Billing account {account.number} created.", "success")
            return redirect(url_for(".billing_account", account_id=account.id))
    return render_template("estate/billing_account_form.html", form=form, account=None)


@bp.route("/billing-accounts/<int:account_id>/edit", methods=["GET", "POST"])
@require(Permission.BILLING_ACCOUNTS_MANAGE)
def edit_billing_account(account_id: int):
    """Change a billing account."""
    account = tenant_get_or_404(db.session, BillingAccount, account_id)
    form = BillingAccountForm(obj=account) if request.method == "GET" else BillingAccountForm()
    if form.validate_on_submit():
        changes = _save(form, lambda: update_billing_account(db.session, account,
                                                             _account_values(form)),
                        "number", ACCOUNT_NUMBER_TAKEN)
        if changes is not _REFUSED:
            flash(f"Billing account {account.number} saved." if changes else "Nothing changed.",
                  "success")
            return redirect(url_for(".billing_account", account_id=account.id))
    return render_template("estate/billing_account_form.html", form=form, account=account)


# Inventory --------------------------------------------------------------------------------


@bp.get("/inventory")
@require(Permission.INVENTORY_VIEW)
def inventory():
    """The organisation's services: filters by site, status, source system and billing
    account, search by offering code, sorting, a page at a time."""
    org_id = g.current_org_id
    form = ServiceFilterForm(request.args)
    see_accounts = can(Permission.BILLING_ACCOUNTS_VIEW)
    if see_accounts:
        form.billing_account.choices = options(
            ("", "All accounts"), *queries.billing_account_choices(db.session, org_id))
    filters = queries.ServiceFilters(
        q=(form.q.data or "").strip()[:64], site_code=(form.site.data or "").strip()[:32],
        status=form.status.data if form.status.data in SERVICE_STATUSES else "",
        source_system=form.source.data if form.source.data in SOURCE_SYSTEMS else "",
        billing_account_id=_account_id(form.billing_account.data) if see_accounts else None)
    sorting = _sorting(queries.SERVICE_SORTS, "offering")
    page = queries.inventory_page(db.session, org_id, filters, sorting, _page_number())
    return render_template("estate/inventory.html", form=form, page=page, sorting=sorting,
                           see_accounts=see_accounts)
