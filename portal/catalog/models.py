"""Catalog versions: every file the operator loaded, kept as it was, numbered 1, 2, 3..."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, deferred, mapped_column

from portal.db import Base, UTCDateTime, utcnow


class CatalogVersion(Base):
    """One loaded catalog file. The newest version is the catalog in force; older ones stay
    for the history and the diff. The YAML source is the record: the `Catalog` is parsed
    from it (see portal.catalog.store)."""

    __tablename__ = "catalog_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[int] = mapped_column(Integer, unique=True)
    loaded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    loaded_by: Mapped[str] = mapped_column(String(320))  # e-mail, or "cli", "demo"
    filename: Mapped[str] = mapped_column(String(255))
    # Deferred: lists of versions never need the (long) file itself.
    source: Mapped[str] = deferred(mapped_column(Text, nullable=False))
    sha256: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(String(500), default="")
