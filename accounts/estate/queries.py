"""What the estate pages read: filtered, sorted lists a page at a time, and the details of
one site or billing account. Every function runs a fixed number of queries whatever the
number of rows (a count, the page's ids, then its rows with their related rows joined).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session, joinedload

from accounts.estate.models import BillingAccount, Service, Site

PAGE_SIZE = 50
DETAIL_LIMIT = 100  # rows shown on a detail page; the rest are a link to the filtered list

SITE_SORTS = {"name": Site.name, "code": Site.code, "city": Site.city,
              "country": Site.country, "status": Site.status}
SERVICE_SORTS = {"offering": Service.offering_code, "site": Site.code,
                 "status": Service.status, "quantity": Service.quantity,
                 "start": Service.start_date, "end": Service.end_date,
                 "source": Service.source_system}
ACCOUNT_SORTS = {"number": BillingAccount.number, "name": BillingAccount.name,
                 "country": BillingAccount.country}


@dataclass
class Page:
    """One page of a list and where it sits in the whole."""

    items: list
    total: int
    page: int
    size: int = PAGE_SIZE

    @property
    def pages(self) -> int:
        """How many pages the list has (at least one, even when empty)."""
        return max((self.total + self.size - 1) // self.size, 1)


@dataclass(frozen=True)
class Sorting:
    """A column key of a list and its direction."""

    key: str
    descending: bool = False

    def order(self, columns: dict, tiebreak):
        """ORDER BY terms: the column, then `tiebreak` (a unique column) so that pages never
        overlap; both in the same direction, so descending is ascending reversed."""
        if self.descending:
            return columns[self.key].desc(), tiebreak.desc()
        return columns[self.key].asc(), tiebreak.asc()


def _count(session: Session, stmt: Select, id_column) -> int:
    return session.scalar(select(func.count()).select_from(
        stmt.with_only_columns(id_column).order_by(None).subquery()))


def _page(session: Session, stmt: Select, id_column, sorting_terms, page: int, *options,
          count_stmt: Select | None = None) -> Page:
    """Count the filtered rows, clamp `page` to the last one, and load that page with
    `options` (three queries).

    The page is found by sorting ids only, then its rows are loaded by id: sorting the
    full joined rows of a large list costs several times more.
    """
    total = _count(session, stmt if count_stmt is None else count_stmt, id_column)
    last = max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    page = min(max(page, 1), last)
    ids = list(session.scalars(stmt.with_only_columns(id_column).order_by(*sorting_terms)
                               .limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)))
    model = id_column.class_
    rows = {row.id: row for row in session.scalars(
        select(model).where(id_column.in_(ids)).options(*options))} if ids else {}
    return Page([rows[i] for i in ids], total, page)


@dataclass(frozen=True)
class SiteFilters:
    """The search and filters of the sites list (and of the export)."""

    q: str = ""
    country: str = ""
    status: str = ""
    billing_account_id: int | None = None


def _sites(org_id: int, filters: SiteFilters) -> Select:
    stmt = select(Site).where(Site.organisation_id == org_id)
    if filters.q:
        stmt = stmt.where(or_(*(column.icontains(filters.q, autoescape=True) for column in
                                (Site.name, Site.code, Site.city, Site.postcode))))
    if filters.country:
        stmt = stmt.where(Site.country == filters.country)
    if filters.status:
        stmt = stmt.where(Site.status == filters.status)
    if filters.billing_account_id is not None:
        stmt = stmt.where(Site.billing_account_id == filters.billing_account_id)
    return stmt


def site_page(session: Session, org_id: int, filters: SiteFilters, sorting: Sorting,
              page: int) -> Page:
    """The organisation's sites matching `filters`, sorted, one page with their billing
    accounts (three queries)."""
    return _page(session, _sites(org_id, filters), Site.id, sorting.order(SITE_SORTS, Site.id),
                 page, joinedload(Site.billing_account))


def sites_for_export(session: Session, org_id: int, filters: SiteFilters):
    """Every site matching `filters` by code, as rows with the CSV columns (one query)."""
    stmt = (_sites(org_id, filters)
            .outerjoin(BillingAccount, BillingAccount.id == Site.billing_account_id)
            .with_only_columns(Site.code, Site.name, Site.address, Site.postcode, Site.city,
                               Site.country, Site.contact_name, Site.contact_email,
                               Site.contact_phone, Site.status,
                               BillingAccount.number.label("billing_account"))
            .order_by(Site.code))
    return session.execute(stmt)


def site_countries(session: Session, org_id: int) -> list[str]:
    """The countries the organisation has sites in (for the filter)."""
    return list(session.scalars(select(Site.country).where(Site.organisation_id == org_id)
                                .distinct().order_by(Site.country)))


def billing_account_choices(session: Session, org_id: int) -> list[tuple[int, str]]:
    """(id, "number · name") of the organisation's billing accounts, by number."""
    rows = session.execute(select(BillingAccount.id, BillingAccount.number, BillingAccount.name)
                           .where(BillingAccount.organisation_id == org_id)
                           .order_by(BillingAccount.number))
    return [(i, f"{number} · {name}") for i, number, name in rows]


def service_counts(session: Session, column, ids) -> dict[int, int]:
    """How many services each of `ids` has, grouping by `column` (a site or an account)."""
    ids = list(ids)
    if not ids:
        return {}
    return dict(session.execute(select(column, func.count()).where(column.in_(ids))
                                .group_by(column)).all())


def services_of(session: Session, org_id: int, *criteria) -> tuple[list[Service], int]:
    """The first DETAIL_LIMIT services matching `criteria`, with their sites and accounts,
    and how many there are in all (two queries)."""
    stmt = select(Service).where(Service.organisation_id == org_id, *criteria)
    total = _count(session, stmt, Service.id)
    services = session.scalars(
        stmt.options(joinedload(Service.site), joinedload(Service.billing_account))
        .order_by(Service.offering_code, Service.id).limit(DETAIL_LIMIT)).all()
    return list(services), total


def sites_of_account(session: Session, account: BillingAccount) -> tuple[list[Site], int]:
    """The first DETAIL_LIMIT sites billed to `account` by name, and how many in all."""
    stmt = select(Site).where(Site.organisation_id == account.organisation_id,
                              Site.billing_account_id == account.id)
    total = _count(session, stmt, Site.id)
    sites = session.scalars(stmt.order_by(Site.name, Site.id).limit(DETAIL_LIMIT)).all()
    return list(sites), total


def billing_account_page(session: Session, org_id: int, q: str, sorting: Sorting,
                         page: int) -> Page:
    """The organisation's billing accounts whose number or name holds `q`, one page."""
    stmt = select(BillingAccount).where(BillingAccount.organisation_id == org_id)
    if q:
        stmt = stmt.where(or_(BillingAccount.number.icontains(q, autoescape=True),
                              BillingAccount.name.icontains(q, autoescape=True)))
    return _page(session, stmt, BillingAccount.id,
                 sorting.order(ACCOUNT_SORTS, BillingAccount.id), page)


@dataclass(frozen=True)
class ServiceFilters:
    """The search and filters of the inventory."""

    q: str = ""  # part of an offering code
    site_code: str = ""
    status: str = ""
    source_system: str = ""
    billing_account_id: int | None = None


def inventory_page(session: Session, org_id: int, filters: ServiceFilters, sorting: Sorting,
                   page: int) -> Page:
    """The organisation's services matching `filters`, sorted, one page with their sites
    and billing accounts (three queries)."""
    stmt = select(Service).where(Service.organisation_id == org_id)
    if filters.q:
        stmt = stmt.where(Service.offering_code.icontains(filters.q, autoescape=True))
    if filters.site_code:
        # `=` on a scalar subquery (codes are unique in an organisation) lets the database
        # use the services' site index; `IN` made SQLite scan the organisation's services.
        stmt = stmt.where(Service.site_id == select(Site.id).where(
            Site.organisation_id == org_id, Site.code == filters.site_code).scalar_subquery())
    if filters.status:
        stmt = stmt.where(Service.status == filters.status)
    if filters.source_system:
        stmt = stmt.where(Service.source_system == filters.source_system)
    if filters.billing_account_id is not None:
        stmt = stmt.where(Service.billing_account_id == filters.billing_account_id)
    # Only sorting by site needs the sites joined; counting never does.
    ordered = stmt.join(Site, Site.id == Service.site_id) if sorting.key == "site" else stmt
    return _page(session, ordered, Service.id, sorting.order(SERVICE_SORTS, Service.id), page,
                 joinedload(Service.site), joinedload(Service.billing_account),
                 count_stmt=stmt)
