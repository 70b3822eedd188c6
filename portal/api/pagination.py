"""`offset` and `limit` of TMF list operations, and the headers of a page of results."""

from __future__ import annotations

from dataclasses import dataclass

from flask import jsonify, request

from portal.api import ApiError

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
MAX_OFFSET = 2**31 - 1  # beyond it the database's integers overflow


@dataclass(frozen=True)
class Page:
    """Which slice of the results a list request asks for."""

    offset: int
    limit: int


def _integer(name: str, default: int, minimum: int, maximum: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    # int() alone would also take "+1", " 1" and "1_000".
    if not raw.isascii() or not raw.isdigit():
        raise ApiError(400, f"{name} must be a whole number, not {raw[:20]!r}.")
    value = int(raw) if len(raw) <= 18 else maximum + 1  # no 4,000-digit conversions
    if not minimum <= value <= maximum:
        raise ApiError(400, f"{name} must be from {minimum} to {maximum}.")
    return value


def page_from_request() -> Page:
    """The page the request asks for: `offset` from 0 (default 0) to MAX_OFFSET, `limit`
    from 1 to MAX_LIMIT (default DEFAULT_LIMIT); anything else is a 400."""
    return Page(offset=_integer("offset", 0, 0, MAX_OFFSET),
                limit=_integer("limit", DEFAULT_LIMIT, 1, MAX_LIMIT))


def page_response(items: list, total: int):
    """A JSON array of `items` with `X-Total-Count` (all matches) and `X-Result-Count`
    (this page)."""
    response = jsonify(items)
    response.headers["X-Total-Count"] = str(total)
    response.headers["X-Result-Count"] = str(len(items))
    return response
