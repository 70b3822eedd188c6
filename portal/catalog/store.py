"""Catalog versions in the database: load a file as a new version, read the catalog in force
or any version, and compare two (`diff`, re-exported from portal.catalog.diff).

The YAML source of each version is kept as it was loaded; the parsed `Catalog` is cached in
the process by version, so pricing a request does not parse YAML again.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.audit import record
from portal.catalog.diff import Change, diff
from portal.catalog.loader import CatalogError, load_catalog_yaml
from portal.catalog.models import CatalogVersion
from portal.catalog.schema import Catalog

__all__ = ["Change", "CatalogError", "catalog_version", "count_versions", "current_catalog",
           "diff", "latest_number", "list_versions", "load_version", "previous_catalog"]

_CACHE_SIZE = 16
_cache: OrderedDict[tuple[int, str], Catalog] = OrderedDict()
_cache_lock = threading.Lock()


def sha256_of(text: str) -> str:
    """The fingerprint of a catalog file, as stored with its version."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _remember(version: CatalogVersion, catalog: Catalog) -> None:
    # Keyed by id and fingerprint: a test database reuses ids, never with the same file.
    with _cache_lock:
        _cache[(version.id, version.sha256)] = catalog
        _cache.move_to_end((version.id, version.sha256))
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)


def parsed(version: CatalogVersion) -> Catalog:
    """The catalog of a stored version (parsed once per process; loading the deferred
    source costs one query on the first call)."""
    key = (version.id, version.sha256)
    with _cache_lock:
        catalog = _cache.get(key)
        if catalog is not None:
            _cache.move_to_end(key)
            return catalog
    catalog = load_catalog_yaml(version.source)
    _remember(version, catalog)
    return catalog


def _latest(session: Session) -> CatalogVersion | None:
    return session.scalars(
        select(CatalogVersion).order_by(CatalogVersion.number.desc()).limit(1)).first()


def load_version(session: Session, text: str, filename: str, actor_label: str,
                 note: str = "") -> CatalogVersion | None:
    """Check `text` and add it as the next version, with a `catalog:load` audit event; the
    caller commits. None when it is identical to the version in force (nothing is added).
    Raises `CatalogError` (every mistake of the file) and adds nothing when it is invalid."""
    catalog = load_catalog_yaml(text)
    digest = sha256_of(text)
    latest = _latest(session)
    if latest is not None and latest.sha256 == digest:
        return None
    version = CatalogVersion(number=latest.number + 1 if latest else 1,
                             loaded_by=actor_label[:320], filename=filename[:255], source=text,
                             sha256=digest, note=note.strip()[:500])
    session.add(version)
    session.flush()
    record(session, "catalog:load", target=version, actor_label=actor_label,
           before={"number": latest.number, "sha256": latest.sha256} if latest else None,
           after={"number": version.number, "filename": version.filename, "sha256": digest,
                  "offerings": len(catalog.offerings), "note": version.note})
    _remember(version, catalog)
    return version


def current_catalog(session: Session) -> tuple[CatalogVersion, Catalog] | None:
    """The version in force (the newest) and its catalog, or None before the first load."""
    version = _latest(session)
    return (version, parsed(version)) if version is not None else None


def catalog_version(session: Session, number: int) -> tuple[CatalogVersion, Catalog] | None:
    """Version `number` and its catalog, or None when there is no such version."""
    version = session.scalars(
        select(CatalogVersion).where(CatalogVersion.number == number)).first()
    return (version, parsed(version)) if version is not None else None


def previous_catalog(session: Session, number: int) -> tuple[CatalogVersion, Catalog] | None:
    """The version just before `number` and its catalog, or None for the first."""
    version = session.scalars(
        select(CatalogVersion).where(CatalogVersion.number < number)
        .order_by(CatalogVersion.number.desc()).limit(1)).first()
    return (version, parsed(version)) if version is not None else None


def latest_number(session: Session) -> int | None:
    """The number of the version in force, or None before the first load."""
    return session.scalar(select(func.max(CatalogVersion.number)))


def count_versions(session: Session) -> int:
    """How many versions were loaded."""
    return session.scalar(select(func.count()).select_from(CatalogVersion)) or 0


def list_versions(session: Session, limit: int, offset: int = 0) -> list[CatalogVersion]:
    """Versions, newest first, without their sources."""
    return list(session.scalars(
        select(CatalogVersion).order_by(CatalogVersion.number.desc())
        .offset(offset).limit(limit)))
