"""Reading TMF request bodies: each reader checks one value and, when it is wrong, raises an
ApiError whose message starts with the value's path in the body (`quoteItem[1].quantity:
must be a whole number.`), so a client knows exactly what to fix."""

from __future__ import annotations

from decimal import Decimal

from flask import request

from portal.api import ApiError
from portal.api.tmf import MAX_ID


def bad(path: str, message: str, status: int = 400) -> ApiError:
    """The error for the value at `path`."""
    return ApiError(status, f"{path}: {message}")


def json_body(types: tuple[str, ...]) -> dict:
    """The request's JSON object, sent as one of the media `types`."""
    if request.mimetype not in types:
        raise ApiError(415, f"Send the body as {' or '.join(types)}.")
    try:
        body = request.get_json(silent=True)
    except RecursionError:  # nested deeper than the parser goes: no resource of ours either
        body = None
    if not isinstance(body, dict):
        raise ApiError(400, "The body must be a JSON object.")
    return body


def obj(value, path: str) -> dict:
    """A required object."""
    if value is None:
        raise bad(path, "is required.")
    if not isinstance(value, dict):
        raise bad(path, "must be an object.")
    return value


def first(value, path: str) -> dict:
    """The first entry of a required, non-empty list of objects."""
    if value is None:
        raise bad(path, "is required.")
    if not isinstance(value, list) or not value:
        raise bad(path, "must be a non-empty array.")
    return obj(value[0], f"{path}[0]")


def string(value, path: str, limit: int) -> str:
    """A required string of at most `limit` characters."""
    if not isinstance(value, str):
        raise bad(path, "is required." if value is None else "must be a string.")
    if len(value) > limit:
        raise bad(path, f"is limited to {limit} characters.")
    return value


def integer(value, path: str) -> int:
    """A required whole number (`12` or `12.0`, never `true`)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad(path, "is required." if value is None else "must be a whole number.")
    return value


def reference(value, path: str) -> int:
    """A resource id, as TMF writes them: a string of digits (`"12"`)."""
    text = string(value, path, 40)
    if not text.isascii() or not text.isdigit():
        raise bad(path, f"must be a resource id (digits), not {text[:20]!r}.")
    if len(text) > 18 or int(text) > MAX_ID:
        raise bad(path, f"there is no such resource ({text[:20]}).", 422)
    return int(text)


def optional_text(body: dict, name: str, limit: int) -> str:
    """An optional top-level string, stripped ("" when absent)."""
    return string(body[name], name, limit).strip() if body.get(name) is not None else ""


def money(amount, currency: str | None) -> dict:
    """A TMF Money. Figures are Decimals with two places; a float's shortest form (what
    JSON carries) reads back as exactly that amount."""
    value = {"value": float(amount)}
    if currency:
        value["unit"] = currency
    return value


def percentage(rate) -> float:
    """A fraction as the percentage TMF carries (Decimal("0.19") -> 19.0)."""
    return float(Decimal(rate) * 100)
