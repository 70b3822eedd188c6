"""The demo catalog (portal/demo_data/catalog.yaml), loaded as the first version."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from portal.catalog.models import CatalogVersion
from portal.catalog.store import count_versions, load_version

DEMO_CATALOG = Path(__file__).resolve().parents[1] / "demo_data" / "catalog.yaml"


def load_demo_catalog(session: Session, actor_label: str = "demo") -> CatalogVersion | None:
    """Load the demo catalog when no catalog was ever loaded (the caller commits); an
    operator's own versions are never replaced."""
    if count_versions(session):
        return None
    return load_version(session, DEMO_CATALOG.read_text(encoding="utf-8"), DEMO_CATALOG.name,
                        actor_label, note="Demo catalog")
