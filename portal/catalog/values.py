"""Reading one value of the catalog file, with the mistake in plain words when it is wrong.

Each reader takes the `Scope` (where in the file it is, like `offering MOB-UNL`), adds an error
there and returns None when the value is wrong, so that the loader can go on and report every
mistake of the file at once.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from decimal import Decimal, InvalidOperation

from accounts.estate.countries import COUNTRIES

CODE_RE = re.compile(r"^[A-Z0-9][A-Z0-9._-]{0,63}$")
MAX_AMOUNT = Decimal("1000000000")
CENT = Decimal("0.01")


def show(value) -> str:
    """A value of the file as the message quotes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    return str(value)


class Scope:
    """Where in the file the checks are (`offering MOB-UNL`), and the errors found."""

    def __init__(self, errors: list[str], where: str = ""):
        self.errors = errors
        self.where = where

    def child(self, where: str) -> Scope:
        """A scope inside this one (`offering MOB-UNL: promotions: SIX-FREE`)."""
        return Scope(self.errors, f"{self.where}: {where}" if self.where else where)

    def error(self, field: str, message: str) -> None:
        """Record `<where>: <field>: <message>` (no field: `<where>: <message>`)."""
        parts = [part for part in (self.where, field) if part]
        self.errors.append(": ".join([*parts, message]))

    def missing(self, field: str) -> None:
        """Record that a required `field` is missing here."""
        prefix = f"{self.where}: " if self.where else ""
        self.errors.append(f"{prefix}{field} is missing")


def unknown_keys(scope: Scope, mapping: dict, known: tuple[str, ...]) -> None:
    """Report every key of `mapping` not in `known` (a typo), with the likely one."""
    for key in mapping:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f" (did you mean {close[0]}?)" if close else f" (known: {', '.join(known)})"
            scope.error("", f"unknown key {show(key)}{hint}")


def decimal_of(value) -> Decimal | None:
    """A YAML number or string as a finite Decimal, or None."""
    # YAML numbers arrive as int or float; str() gives the digits as written (25.1, not
    # 25.10000000000000142), strings are taken as they are.
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def amount_of(scope: Scope, mapping: dict, key: str) -> Decimal | None:
    """A price in the catalog's currency: not negative, whole cents."""
    if key not in mapping or mapping[key] is None:
        scope.missing(key)
        return None
    value = mapping[key]
    number = decimal_of(value)
    if number is None:
        scope.error(key, f"{show(value)} is not an amount")
    elif number < 0:
        scope.error(key, f"{show(value)} must not be negative")
    elif number >= MAX_AMOUNT:
        scope.error(key, f"{show(value)} is too large")
    elif number != number.quantize(CENT):
        scope.error(key, f"{show(value)} has more than two decimals (cents)")
    else:
        return number.quantize(CENT)
    return None


def rate_of(scope: Scope, field: str, value) -> Decimal | None:
    """A discount or tax rate: a fraction from 0 to 1 (0.05 is 5 %)."""
    number = decimal_of(value)
    if number is None:
        scope.error(field, f"{show(value)} is not a number (write 0.05 for 5 %)")
    elif not 0 <= number <= 1:
        scope.error(field, f"{show(value)} is outside 0..1 (write 0.05 for 5 %)")
    elif number != number.quantize(Decimal("0.0001")):
        scope.error(field, f"{show(value)} has more than four decimals")
    else:
        return number
    return None


def integer_of(scope: Scope, field: str, value, minimum: int, maximum: int) -> int | None:
    """A whole number from `minimum` to `maximum` (digits in quotes are taken too)."""
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        scope.error(field, f"{show(value)} is not a whole number")
    elif not minimum <= value <= maximum:
        scope.error(field, f"{value} must be from {minimum} to {maximum}")
    else:
        return value
    return None


def date_of(scope: Scope, mapping: dict, key: str) -> dt.date | None:
    """An ISO date (a YAML date, or a string), None when absent."""
    value = mapping.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    elif isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    scope.error(key, f"{show(value)} is not a date (write it as 2025-01-31)")
    return None


def period_of(scope: Scope, mapping: dict) -> tuple[dt.date | None, dt.date | None]:
    """`valid_from` and `valid_to`, the end not before the start."""
    start, end = date_of(scope, mapping, "valid_from"), date_of(scope, mapping, "valid_to")
    if start and end and end < start:
        scope.error("valid_to", f"{end} is before valid_from ({start})")
    return start, end


def text_of(scope: Scope, mapping: dict, key: str, limit: int, required: bool = True) -> str:
    """A text of at most `limit` characters, stripped; "" when absent."""
    value = mapping.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            scope.missing(key)
        return ""
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        scope.error(key, f"{show(value)} is not a text")
        return ""
    value = str(value).strip()
    if len(value) > limit:
        scope.error(key, f"is longer than {limit} characters")
    return value


def code_of(scope: Scope, field: str, value) -> str | None:
    """An offering or promotion code: capital letters, digits and `. _ -`."""
    if isinstance(value, str) and CODE_RE.match(value):
        return value
    if isinstance(value, bool):
        scope.error(field, f"{show(value)} is read as yes/no: put the code in quotes")
    else:
        scope.error(field, f"{show(value)} is not a code (capital letters, digits, . _ -; "
                           "at most 64)")
    return None


def list_of(scope: Scope, mapping: dict, key: str) -> list:
    """The list under `key` ([] when absent or not a list, which is reported)."""
    value = mapping.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        scope.error(key, f"{show(value)} must be a list, like [A, B]")
        return []
    return value


def codes_of(scope: Scope, mapping: dict, key: str) -> tuple[str, ...]:
    """A list of codes, each valid and listed once."""
    codes: list[str] = []
    for item in list_of(scope, mapping, key):
        code = code_of(scope, key, item)
        if code is None:
            continue
        if code in codes:
            scope.error(key, f"{code} is listed twice")
        else:
            codes.append(code)
    return tuple(codes)


def country_of(scope: Scope, field: str, value) -> str | None:
    """An ISO 3166 alpha-2 country code (upper case)."""
    if isinstance(value, str) and value in COUNTRIES:
        return value
    if isinstance(value, bool):  # YAML 1.1 reads NO (Norway) as false
        scope.error(field, f"{show(value)} is read as yes/no: put the country code in "
                           'quotes, like "NO"')
    else:
        scope.error(field, f"{show(value)} is not a country code (ISO 3166 alpha-2, like DE)")
    return None


def mapping_of(scope: Scope, field: str, value, example: str) -> dict | None:
    """`value` when it is a mapping; otherwise the mistake, showing `example`."""
    if isinstance(value, dict):
        return value
    scope.error(field, f"{show(value)} must be a mapping, like {example}")
    return None
