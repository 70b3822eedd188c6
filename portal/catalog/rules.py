"""The rules of a configuration (DESIGN.md, "Catalog file"): what may be sold where, when,
for how long, in what quantity and next to what; and guided selling of a device's plans and
accessories. Pure functions: no database, no Flask."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from portal.catalog.pricing import LineRequest
from portal.catalog.schema import Catalog, Offering
from portal.rules import RuleError


@dataclass(frozen=True)
class Violation:
    """A broken rule, in plain words for the buyer. `line_index` is the 0-based position of
    the line at fault (None for the configuration as a whole)."""

    line_index: int | None
    site_id: int | None
    offering_code: str | None
    message: str


def check_configuration(catalog: Catalog, lines: Sequence[LineRequest],
                        site_countries: Mapping[int, str], day: dt.date) -> list[Violation]:
    """Every broken rule of `lines` on `day`, in line order (an empty list: the configuration
    can be quoted). `site_countries` gives each site's country.

    Per line: the offering is in the catalog (if not, nothing else is checked for that line);
    it is sold on `day`; the term is one the offering offers; the quantity is within
    `min_quantity` and `max_quantity`. Per line with a site (a line without a site skips these):
    the site is known; its country is in `available_in` (an empty list: everywhere);
    `requires` is met, meaning ALL the required offerings are on the same site (any line of
    the configuration, whatever its own faults); `excludes` is met in both directions: a pair
    of lines on one site where either offering excludes the other is one violation, reported
    on the later line of the two (the one that brings the conflict).
    """
    offerings = catalog.offerings
    codes_by_site: dict[int, set[str]] = {}
    for line in lines:
        if line.site_id is not None and line.offering_code in offerings:
            codes_by_site.setdefault(line.site_id, set()).add(line.offering_code)
    violations: list[Violation] = []
    # The codes of each site's earlier lines, in order of appearance (a dict keeps it).
    earlier_by_site: dict[int, dict[str, None]] = {}
    for index, line in enumerate(lines):
        offering = offerings.get(line.offering_code)
        if offering is None:
            messages = [f"{line.offering_code} is not in the catalog."]
        else:
            messages = _line_messages(offering, line, day)
            if line.site_id is not None:
                earlier = earlier_by_site.setdefault(line.site_id, {})
                messages += _site_messages(
                    catalog, offering, site_countries.get(line.site_id),
                    codes_by_site[line.site_id], earlier)
                earlier[offering.code] = None
        violations += [Violation(index, line.site_id, line.offering_code, message)
                       for message in messages]
    return violations


def guided_selling(catalog: Catalog, device_code: str,
                   day: dt.date) -> tuple[list[Offering], list[Offering]]:
    """The plans that go with the device, then its accessories, each in the device's order
    and only those sold on `day` (codes missing from the catalog are left out). Raises
    RuleError for a device that is not in the catalog."""
    device = catalog.offerings.get(device_code)
    if device is None:
        raise RuleError(f"{device_code} is not in the catalog.")
    return _sold(catalog, device.plans, day), _sold(catalog, device.accessories, day)


def _line_messages(offering: Offering, line: LineRequest, day: dt.date) -> list[str]:
    """The broken rules of a line that do not depend on its site."""
    messages = []
    if not offering.is_sold_on(day):
        if offering.valid_from is not None and day < offering.valid_from:
            messages.append(f"{offering.name} is sold from {_date(offering.valid_from)}.")
        elif offering.valid_to is not None:
            messages.append(f"{offering.name} is no longer sold (it was sold until "
                            f"{_date(offering.valid_to)}).")
    if line.term_months not in offering.terms:
        terms = _words([str(months) for months in sorted(offering.terms)], "or")
        messages.append(f"{offering.name} is offered for {terms} months, "
                        f"not {line.term_months}.")
    if line.quantity < offering.min_quantity:
        messages.append(f"{offering.name} needs at least {offering.min_quantity} per line "
                        f"({line.quantity} asked).")
    if offering.max_quantity is not None and line.quantity > offering.max_quantity:
        messages.append(f"{offering.name} allows at most {offering.max_quantity} per line "
                        f"({line.quantity} asked).")
    return messages


def _site_messages(catalog: Catalog, offering: Offering, country: str | None,
                   present: set[str], earlier: Iterable[str]) -> list[str]:
    """The broken rules of a line on a site in `country` (None: not a known site), where
    `present` are the codes of all the site's lines and `earlier` those of the lines before
    this one."""
    messages = []
    if country is None:
        messages.append(f"{offering.name} is on a site that is not one of this "
                        f"organisation's sites.")
    elif offering.available_in and country not in offering.available_in:
        messages.append(f"{offering.name} is not available in {country} (available in "
                        f"{_words(offering.available_in, 'and')}).")
    missing = [code for code in offering.requires if code not in present]
    if missing:
        messages.append(f"{offering.name} needs {_words(_names(catalog, missing), 'and')} "
                        f"on the same site.")
    for other in earlier:
        # Either side may declare the exclusion; the later line reports it.
        if other in offering.excludes or offering.code in catalog.offerings[other].excludes:
            messages.append(f"{offering.name} cannot be on the same site as "
                            f"{catalog.offerings[other].name}.")
    return messages


def _sold(catalog: Catalog, codes: Iterable[str], day: dt.date) -> list[Offering]:
    found: list[Offering] = []
    for code in dict.fromkeys(codes):  # once each, in order
        offering = catalog.offerings.get(code)
        if offering is not None and offering.is_sold_on(day):
            found.append(offering)
    return found


def _names(catalog: Catalog, codes: Iterable[str]) -> list[str]:
    """Offering names for the buyer (the code of one missing from the catalog)."""
    return [catalog.offerings[c].name if c in catalog.offerings else c for c in codes]


def _words(items: Sequence[str], conjunction: str) -> str:
    """"A, B and C"."""
    if len(items) == 1:
        return items[0]
    return f"{', '.join(items[:-1])} {conjunction} {items[-1]}"


def _date(day: dt.date) -> str:
    return f"{day.day} {day:%B %Y}"
