"""Catalog pages: the catalog in force (everyone who may see it), and for the operator's
catalog managers the versions, one version's offerings, the difference between two versions
and the upload of a new file."""

from __future__ import annotations

from pathlib import PurePath

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from accounts.estate.countries import COUNTRIES
from portal.catalog import display
from portal.catalog.forms import MAX_BYTES, UploadForm
from portal.catalog.loader import CatalogError
from portal.catalog.models import CatalogVersion
from portal.catalog.schema import FAMILIES
from portal.catalog.store import (
    catalog_version,
    count_versions,
    current_catalog,
    diff,
    latest_number,
    list_versions,
    load_version,
    previous_catalog,
)
from portal.db import utcnow
from portal.extensions import db
from portal.security import Permission, require

bp = Blueprint("catalog", __name__, url_prefix="/catalog")

PAGE_SIZE = 50
UPLOAD_OVERHEAD = 64 * 1024  # the form's other fields and multipart boundaries


def _by_family(offerings) -> list[tuple[str, list]]:
    groups = {family: [] for family in FAMILIES}
    for offering in offerings:
        groups[offering.family].append(offering)
    return [(family, items) for family, items in groups.items() if items]


def _page_context(**context) -> dict:
    return {"display": display, "countries": COUNTRIES, "today": utcnow().date(), **context}


@bp.get("")
@require(Permission.CATALOG_VIEW)
def index():
    """The catalog in force: what can be sold today, by family, with prices, discounts,
    promotions running today, where it is sold and its rules."""
    found = current_catalog(db.session)
    if found is None:
        return render_template("catalog/index.html", **_page_context(version=None))
    version, catalog = found
    today = utcnow().date()
    return render_template("catalog/index.html", **_page_context(
        version=version, catalog=catalog, groups=_by_family(catalog.sold_on(today))))


@bp.get("/versions")
@require(Permission.CATALOG_MANAGE)
def versions():
    """Every loaded version, newest (the one in force) first: who loaded which file, when
    and why."""
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    total = count_versions(db.session)
    rows = list_versions(db.session, PAGE_SIZE, (page - 1) * PAGE_SIZE)
    return render_template("catalog/versions.html", versions=rows, total=total, page=page,
                           pages=max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1),
                           latest=latest_number(db.session))


def _version_or_404(number: int):
    found = catalog_version(db.session, number)
    if found is None:
        abort(404)
    return found


@bp.get("/versions/<int:number>")
@require(Permission.CATALOG_MANAGE)
def version(number: int):
    """One version's settings and all its offerings, scheduled and ended ones included."""
    found_version, catalog = _version_or_404(number)
    return render_template("catalog/version.html", **_page_context(
        version=found_version, catalog=catalog, latest=latest_number(db.session),
        groups=_by_family(catalog.offerings.values())))


@bp.get("/versions/<int:number>/source")
@require(Permission.CATALOG_MANAGE)
def source(number: int):
    """The version's file exactly as it was loaded: the starting point of the next one."""
    text = db.session.scalar(select(CatalogVersion.source)
                             .where(CatalogVersion.number == number))
    if text is None:
        abort(404)
    return Response(text, mimetype="application/yaml", headers={
        "Content-Disposition": f'attachment; filename="catalog-v{number}.yaml"'})


def _number_arg(name: str) -> int | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    if not raw.isascii() or not raw.isdigit():
        abort(400)
    return int(raw) if len(raw) <= 9 else 0  # no such version: 404 below


def _grouped(changes) -> list[tuple[str, list]]:
    groups: dict[str, list] = {}
    for change in changes:
        groups.setdefault(change.subject, []).append(change)
    return list(groups.items())


@bp.get("/diff")
@require(Permission.CATALOG_MANAGE)
def compare():
    """What changed from version `from` to version `to` (by default: from the version
    before `to`, to the one in force)."""
    to_number, from_number = _number_arg("to"), _number_arg("from")
    if to_number is None:
        to_number = latest_number(db.session)
    if to_number is None:
        return render_template("catalog/diff.html", new=None, old=None, groups=[],
                               numbers=[])
    new_version, new_catalog = _version_or_404(to_number)
    old = (previous_catalog(db.session, to_number) if from_number is None
           else _version_or_404(from_number))
    changes = diff(old[1] if old else None, new_catalog)
    numbers = db.session.scalars(select(CatalogVersion.number)
                                 .order_by(CatalogVersion.number.desc())).all()
    return render_template("catalog/diff.html", new=new_version, old=old[0] if old else None,
                           groups=_grouped(changes), count=len(changes), numbers=numbers)


@bp.url_value_preprocessor
def _limit_upload_size(endpoint, _values) -> None:
    # Flask-WTF reads the whole upload for its CSRF check before the view runs: the limit
    # must be set before that, and this hook runs first.
    if endpoint == "catalog.upload" and request.method == "POST":
        request.max_content_length = MAX_BYTES + UPLOAD_OVERHEAD


def _upload_page(form: UploadForm, errors: list[str] | None = None,
                 file_error: str | None = None, filename: str = "", status: int = 200):
    if file_error:
        form.file.errors = [file_error]
    found = db.session.scalars(select(CatalogVersion)
                               .order_by(CatalogVersion.number.desc()).limit(1)).first()
    return render_template("catalog/upload.html", form=form, errors=errors or [],
                           filename=filename, current=found), status


@bp.errorhandler(413)
def _upload_too_large(_error):
    return _upload_page(UploadForm(formdata=None), file_error=(
        f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB."), status=413)


@bp.route("/upload", methods=["GET", "POST"])
@require(Permission.CATALOG_MANAGE)
def upload():
    """Upload a catalog file: checked like `catalog load`; a file with mistakes is refused
    whole with every mistake listed, a good one becomes the next version and the page
    shows what changed."""
    form = UploadForm()
    if not form.validate_on_submit():
        return _upload_page(form)
    sent = form.file.data
    filename = PurePath(sent.filename or "catalog.yaml").name[:200]
    data = sent.stream.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        return _upload_page(form, file_error=f"The file is larger than "
                                             f"{MAX_BYTES // (1024 * 1024)} MB.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return _upload_page(form, file_error="The file is not UTF-8 text: save it as UTF-8 "
                                             "and upload it again.")
    try:
        loaded = load_version(db.session, text, filename, current_user.email,
                              note=form.note.data or "")
        db.session.commit()
    except CatalogError as error:
        db.session.rollback()
        return _upload_page(form, errors=error.errors, filename=filename)
    except IntegrityError:  # another version got the same number at the same moment
        db.session.rollback()
        return _upload_page(form, file_error="Another version was loaded at the same "
                                             "moment: upload the file again.")
    if loaded is None:
        flash(f"No change: {filename} is identical to the catalog in force.", "info")
        return redirect(url_for(".versions"))
    flash(f"Catalog version {loaded.number} is loaded from {filename} and in force now. "
          f"Here is what changed.", "success")
    return redirect(url_for(".compare", to=loaded.number))
