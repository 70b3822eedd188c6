"""Database: declarative base, one session per app context, tenant-scoped loaders.

`db.session` is the request's (or command's) SQLAlchemy session; it is rolled back and
closed when the app context ends, so a view that fails half-way leaves nothing written.
"""

from __future__ import annotations

import datetime as dt
from typing import TypeVar

from flask import Flask, abort, g
from sqlalchemy import DateTime, MetaData, create_engine, event, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every model; constraint names are stable for migrations."""

    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator):
    """A timezone-aware UTC datetime on every backend (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None:
            if value.tzinfo is None:
                raise ValueError("naive datetime given to a UTC column")
            value = value.astimezone(dt.UTC)
            if dialect.name == "sqlite":
                value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value


def utcnow() -> dt.datetime:
    """The current time, timezone-aware, in UTC."""
    return dt.datetime.now(dt.UTC)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


class Database:
    """Engine and session factory of one app, and the per-context session."""

    def __init__(self) -> None:
        self.engine: Engine | None = None
        self._factory: sessionmaker[Session] | None = None

    def init_app(self, app: Flask) -> None:
        """Create the engine for `DATABASE_URL` and close sessions at the end of a context."""
        url = app.config["DATABASE_URL"]
        options: dict = {"future": True}
        if url.startswith("sqlite"):
            options["connect_args"] = {"check_same_thread": False, "timeout": 5}
        else:
            options["pool_pre_ping"] = True
        self.engine = create_engine(url, **options)
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._factory = sessionmaker(bind=self.engine, expire_on_commit=False)
        app.extensions["portal_db"] = self
        app.teardown_appcontext(self._close_session)

    @property
    def session(self) -> Session:
        """The session of the current app context, opened on first use."""
        if "db_session" not in g:
            g.db_session = self._factory()
        return g.db_session

    def new_session(self) -> Session:
        """A session outside the app context's one (the caller closes it)."""
        return self._factory()

    @staticmethod
    def _close_session(_exc) -> None:
        session = g.pop("db_session", None)
        if session is not None:
            session.rollback()
            session.close()


ModelT = TypeVar("ModelT")


def get_or_404(session: Session, model: type[ModelT], object_id) -> ModelT:
    """Load an object by primary key or answer 404."""
    obj = session.get(model, object_id)
    if obj is None:
        abort(404)
    return obj


def get_in_tenant_or_404(
    session: Session, model: type[ModelT], object_id, organisation_ids
) -> ModelT:
    """Load a tenant-owned object only if it belongs to one of `organisation_ids`.

    Anything else answers 404, so a user cannot even learn that an object of another
    organisation exists. Every tenant-owned model has an `organisation_id` column.
    """
    try:
        object_id = int(object_id)
    except (TypeError, ValueError):
        abort(404)
    if not 0 < object_id < 2**31:  # no such id; PostgreSQL would refuse the comparison
        abort(404)
    stmt = select(model).where(
        model.id == object_id, model.organisation_id.in_(list(organisation_ids))
    )
    obj = session.scalars(stmt).first()
    if obj is None:
        abort(404)
    return obj


def tenant_get_or_404(session: Session, model: type[ModelT], object_id) -> ModelT:
    """Load a tenant-owned object of the organisation the current user acts for, or 404."""
    current = g.get("current_org_id")
    return get_in_tenant_or_404(session, model, object_id, [current] if current else [])
