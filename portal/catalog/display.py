"""The catalog's values in words, for the pages, the diff and the API's descriptions."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from portal.catalog.schema import Promotion, VolumeTier

FAMILY_LABELS = {
    "mobile": "Mobile", "broadband": "Broadband and fibre", "sdwan": "SD-WAN",
    "voice": "Voice", "tv": "TV", "content": "Content", "device": "Devices",
    "accessory": "Accessories",
}


def percent(rate: Decimal) -> str:
    """0.05 -> `5 %`, 0.125 -> `12.5 %`."""
    value = (rate * 100).normalize()
    return f"{value:f} %"


def tiers_text(tiers: tuple[VolumeTier, ...]) -> str:
    """`from 1: 0 %, from 50: 10 %`."""
    return ", ".join(f"from {tier.min}: {percent(tier.discount)}" for tier in tiers)


def terms_text(terms: dict[int, Decimal]) -> str:
    """`12 months: 0 %, 24 months: 5 %`."""
    return ", ".join(f"{months} months: {percent(rate)}" for months, rate in terms.items())


def period_text(start: dt.date | None, end: dt.date | None) -> str:
    """`from 2027-04-01 to 2027-06-30`, `until 2026-12-31`, or empty when open."""
    if start and end:
        return f"from {start} to {end}"
    if start:
        return f"from {start}"
    if end:
        return f"until {end}"
    return ""


def promotion_text(promotion: Promotion) -> str:
    """`SIX-FREE: first 6 months free (from 2027-04-01 to 2027-06-30)`."""
    text = f"{promotion.code}: first {promotion.months_free} months free"
    period = period_text(promotion.valid_from, promotion.valid_to)
    return f"{text} ({period})" if period else text


def value_text(field: str, value) -> str:
    """Any field of an offering (or of the catalog) as the diff shows it."""
    if field == "volume_tiers":
        return tiers_text(value)
    if field == "terms":
        return terms_text(value)
    if field == "promotions":
        return "; ".join(promotion_text(p) for p in value) or "none"
    if field == "max_quantity" and value is None:
        return "no limit"
    if field in ("valid_from", "valid_to") and value is None:
        return "open"
    if field == "allowance" and value is None:
        return "not metered"
    if isinstance(value, tuple):
        return ", ".join(value) or "none"
    if isinstance(value, Decimal) and field.endswith("_max"):
        return percent(value)
    if value == "":
        return "(empty)"
    return str(value)
