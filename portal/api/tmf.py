"""Conventions shared by the TMF resource mappings: hrefs, dates, parties, `fields`."""

from __future__ import annotations

import datetime as dt

from flask import abort, current_app, request, url_for
from sqlalchemy import false

from portal.api import ApiError

# Ids are INTEGER columns: a bigger number is no id of ours (and PostgreSQL refuses to
# compare it), like a text with NUL, which no column can hold.
MAX_ID = 2**31 - 1


def href(endpoint: str, **values) -> str:
    """The absolute URL of a resource, on the portal's public address (BASE_URL)."""
    return current_app.config["BASE_URL"] + url_for(endpoint, **values)


def iso_datetime(value: dt.datetime | dt.date | None) -> str | None:
    """RFC 3339 in UTC (`2025-01-31T00:00:00Z`); a date is taken at midnight UTC."""
    if value is None:
        return None
    if not isinstance(value, dt.datetime):
        value = dt.datetime.combine(value, dt.time(0), tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def organisation_party(org, role: str) -> dict:
    """A `RelatedParty` naming the customer organisation."""
    return {"id": str(org.id), "name": org.name, "role": role, "@referredType": "Organization"}


def fields_from_request() -> set[str] | None:
    """The first-level attributes the `fields` parameter asks for, or None for all."""
    raw = request.args.get("fields")
    if raw is None or not raw.strip():
        return None
    return {name.strip() for name in raw.split(",") if name.strip()}


def select_fields(item: dict, fields: set[str] | None, always: tuple[str, ...]) -> dict:
    """`item` cut down to `fields` (TMF attribute selection), keeping the attributes in
    `always`: the identity and what the resource's schema makes mandatory, so the answer
    still validates."""
    if fields is None:
        return item
    return {key: value for key, value in item.items() if key in fields or key in always}


def id_filter(name: str) -> int | None:
    """A filter on a resource id (`place.id=12`): None when absent, 400 when not an id."""
    raw = request.args.get(name)
    if raw is None:
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise ApiError(400, f"{name} must be a resource id (digits), not {raw[:20]!r}.")
    return int(raw)


def resource_id_or_404(raw: str) -> int:
    """A path id as an integer; anything that cannot be one of ours answers 404."""
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18 or int(raw) > MAX_ID:
        abort(404)
    return int(raw)


def equals(column, value):
    """`column == value` as a filter; a value no row can hold matches nothing."""
    if isinstance(value, str) and "\x00" in value:
        return false()
    if isinstance(value, int) and value > MAX_ID:
        return false()
    return column == value


def only_known_parameters(*names: str) -> None:
    """400 for a query parameter the operation does not know (a misspelt or unsupported
    filter must not silently widen the answer to everything) or one given twice."""
    unknown = sorted(set(request.args) - set(names))
    if unknown:
        shown = ", ".join(repr(name[:40]) for name in unknown[:5])
        raise ApiError(400, f"Unknown query parameter {shown}; this operation takes "
                            f"{', '.join(names)}.")
    repeated = [name for name in names if len(request.args.getlist(name)) > 1]
    if repeated:
        raise ApiError(400, f"Give {repeated[0]} once.")
