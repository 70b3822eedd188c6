"""The catalog file (YAML, DESIGN.md "Catalog file", docs/CATALOG.md) read into a `Catalog`.

Marketing writes these files by hand, so a mistake must come back in plain words, naming the
offering and the field, and all mistakes at once: a file is either loaded whole or not at all
(`CatalogError` lists every problem).
"""

from __future__ import annotations

import re
from decimal import Decimal

import yaml

from accounts.estate.models import SOURCE_SYSTEMS
from portal.catalog.schema import (
    ALLOWANCE_UNITS,
    FAMILIES,
    Allowance,
    ApprovalPolicy,
    Catalog,
    Offering,
    Promotion,
    VolumeTier,
)
from portal.catalog.values import (
    Scope,
    amount_of,
    code_of,
    codes_of,
    country_of,
    decimal_of,
    integer_of,
    list_of,
    mapping_of,
    period_of,
    rate_of,
    show,
    text_of,
    unknown_keys,
)
from portal.rules import RuleError

TOP_KEYS = ("currency", "approval", "quote_validity_days", "tax_rates", "offerings")
APPROVAL_KEYS = ("auto_max", "account_manager_max", "sales_director_max")
OFFERING_KEYS = ("code", "name", "description", "family", "fulfilment", "recurring", "one_off",
                 "volume_tiers", "terms", "promotions", "requires", "excludes", "available_in",
                 "min_quantity", "max_quantity", "valid_from", "valid_to", "plans",
                 "accessories", "allowance")
ALLOWANCE_KEYS = ("amount", "unit")
TIER_KEYS = ("min", "discount")
PROMOTION_KEYS = ("code", "months_free", "valid_from", "valid_to")
# "portal" is where a service was ordered, not a system that can fulfil one.
FULFILMENT_SYSTEMS = tuple(s for s in SOURCE_SYSTEMS if s != "portal")
CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
MAX_TERM_MONTHS = 120
MAX_QUANTITY = 100_000
DEFAULT_QUOTE_VALIDITY_DAYS = 30
NAME_MAX, DESCRIPTION_MAX = 200, 2000
MAX_ALLOWANCE = Decimal("1000000000")


class CatalogError(RuleError):
    """A catalog file that cannot be loaded; `errors` names every problem."""

    def __init__(self, errors: list[str]):
        self.errors = list(errors)
        count = len(self.errors)
        super().__init__(f"The catalog file has {count} problem{'' if count == 1 else 's'}: "
                         + "; ".join(self.errors))


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader (plain data only), except that a key given twice in one mapping
    is a mistake to report: safe_load silently keeps the last one."""

    def __init__(self, stream):
        super().__init__(stream)
        self.duplicates: list[str] = []

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
                continue
            if key_node.value in seen:
                self.duplicates.append(f"line {key_node.start_mark.line + 1}: "
                                       f"{key_node.value} is given twice")
            seen.add(key_node.value)
        return super().construct_mapping(node, deep=deep)


# The file's top level ---------------------------------------------------------------------


def _approval(scope: Scope, data: dict) -> ApprovalPolicy | None:
    if data.get("approval") is None:
        scope.missing("approval")
        return None
    approval = mapping_of(scope, "approval", data["approval"],
                        "{auto_max: 0.05, account_manager_max: 0.15, sales_director_max: 0.30}")
    if approval is None:
        return None
    inner = scope.child("approval")
    unknown_keys(inner, approval, APPROVAL_KEYS)
    rates = {}
    for key in APPROVAL_KEYS:
        if approval.get(key) is None:
            inner.missing(key)
        else:
            rates[key] = rate_of(inner, key, approval[key])
    for lower, upper in zip(APPROVAL_KEYS, APPROVAL_KEYS[1:], strict=False):
        if rates.get(lower) is not None and rates.get(upper) is not None and (
                rates[upper] < rates[lower]):
            inner.error("", f"{upper} ({rates[upper]}) must not be below {lower} "
                            f"({rates[lower]})")
    if len(rates) < 3 or None in rates.values():
        return None
    return ApprovalPolicy(**rates)


def _tax_rates(scope: Scope, data: dict) -> dict[str, Decimal]:
    if data.get("tax_rates") is None:
        scope.missing("tax_rates")
        return {}
    rates = mapping_of(scope, "tax_rates", data["tax_rates"], '{DE: "0.19", FR: "0.20"}')
    if rates is None:
        return {}
    if not rates:
        scope.error("tax_rates", "name the rate of at least one billing country")
    result = {}
    inner = scope.child("tax_rates")
    for country, rate in rates.items():
        code = country_of(inner, "", country)
        value = rate_of(inner, str(country), rate)
        if code and value is not None:
            if value >= 1:
                inner.error(code, f"{show(rate)} must be below 1 (write 0.19 for 19 %)")
            result[code] = value
    return result


def _top(scope: Scope, data: dict) -> dict:
    # `x-...` keys hold shared pieces (YAML anchors) that offerings reuse; nothing else.
    unknown_keys(scope, {k: v for k, v in data.items()
                          if not (isinstance(k, str) and k.startswith("x-"))}, TOP_KEYS)
    currency = data.get("currency")
    if currency is None:
        scope.missing("currency")
    elif not (isinstance(currency, str) and CURRENCY_RE.match(currency)):
        scope.error("currency", f"{show(currency)} is not a currency code (3 capital "
                                "letters, like EUR)")
    days = DEFAULT_QUOTE_VALIDITY_DAYS
    if data.get("quote_validity_days") is not None:
        days = integer_of(scope, "quote_validity_days", data["quote_validity_days"], 1, 365)
    return {"currency": currency, "approval": _approval(scope, data),
            "quote_validity_days": days, "tax_rates": _tax_rates(scope, data)}


# One offering -----------------------------------------------------------------------------


def _tiers(scope: Scope, item: dict) -> tuple[VolumeTier, ...]:
    if item.get("volume_tiers") is None:
        return (VolumeTier(1, Decimal("0")),)
    tiers: list[VolumeTier] = []
    raw = list_of(scope, item, "volume_tiers")
    if isinstance(item["volume_tiers"], list) and not raw:
        scope.error("volume_tiers", "is empty: leave it out, or start with {min: 1, "
                                    'discount: "0"}')
    for n, tier in enumerate(raw, start=1):
        where = scope.child(f"volume_tiers: tier {n}")
        tier = mapping_of(where, "", tier, '{min: 50, discount: "0.10"}')
        if tier is None:
            continue
        unknown_keys(where, tier, TIER_KEYS)
        if tier.get("min") is None or tier.get("discount") is None:
            for key in TIER_KEYS:
                if tier.get(key) is None:
                    where.missing(key)
            continue
        minimum = integer_of(where, "min", tier["min"], 1, 10**9)
        discount = rate_of(where, "discount", tier["discount"])
        if minimum is None or discount is None:
            continue
        if not tiers and minimum != 1:
            where.error("min", f"{minimum}: the first tier must start at min 1")
        elif tiers and minimum <= tiers[-1].min:
            where.error("min", f"{minimum} must be above the previous tier's min "
                               f"({tiers[-1].min})")
        elif tiers and discount < tiers[-1].discount:
            where.error("discount", f"{discount} is lower than the previous tier's "
                                    f"({tiers[-1].discount}): more units never cost more")
        tiers.append(VolumeTier(minimum, discount))
    return tuple(tiers)


def _terms(scope: Scope, item: dict) -> dict[int, Decimal]:
    if item.get("terms") is None:
        return {12: Decimal("0")}
    terms = mapping_of(scope, "terms", item["terms"], '{12: "0", 24: "0.05"}')
    if terms is None:
        return {}
    if not terms:
        scope.error("terms", "is empty: name at least one contract term in months")
    result = {}
    inner = scope.child("terms")
    for months, discount in terms.items():
        count = months
        if isinstance(months, str) and months.strip().isascii() and months.strip().isdigit():
            count = int(months.strip())
        if isinstance(count, bool) or not isinstance(count, int) or not (
                0 < count <= MAX_TERM_MONTHS):
            inner.error("", f"{show(months)} is not a number of months (1 to "
                            f"{MAX_TERM_MONTHS})")
            continue
        rate = rate_of(inner, f"{count} months", discount)
        if rate is not None:
            result[count] = rate
    return dict(sorted(result.items()))


def _promotions(scope: Scope, item: dict, terms: dict[int, Decimal]) -> tuple[Promotion, ...]:
    promotions: list[Promotion] = []
    for n, raw in enumerate(list_of(scope, item, "promotions"), start=1):
        label = raw.get("code") if isinstance(raw, dict) and isinstance(raw.get("code"),
                                                                        str) else f"#{n}"
        where = scope.child(f"promotions: {label}")
        promotion = mapping_of(where, "", raw, "{code: SIX-FREE, months_free: 6}")
        if promotion is None:
            continue
        unknown_keys(where, promotion, PROMOTION_KEYS)
        code = None
        if promotion.get("code") is None:
            where.missing("code")
        else:
            code = code_of(where, "code", promotion["code"])
        months = None
        if promotion.get("months_free") is None:
            where.missing("months_free")
        else:
            months = integer_of(where, "months_free", promotion["months_free"], 1,
                              MAX_TERM_MONTHS)
        if months is not None and terms and months >= max(terms):
            # Shorter terms than months_free are simply free; no term left to pay is not.
            where.error("months_free", f"{months} must be shorter than the longest term "
                                       f"({max(terms)} months)")
        start, end = period_of(where, promotion)
        if code and any(p.code == code for p in promotions):
            where.error("code", f"{code} is given twice for this offering")
        elif code and months:
            promotions.append(Promotion(code, months, start, end))
    return tuple(promotions)


def _quantities(scope: Scope, item: dict) -> tuple[int, int | None]:
    low = 1
    if item.get("min_quantity") is not None:
        low = integer_of(scope, "min_quantity", item["min_quantity"], 1, MAX_QUANTITY) or 1
    high = None
    if item.get("max_quantity") is not None:
        high = integer_of(scope, "max_quantity", item["max_quantity"], 1, MAX_QUANTITY)
        if high is not None and high < low:
            scope.error("max_quantity", f"{high} is below min_quantity ({low})")
    return low, high


def _allowance(scope: Scope, item: dict) -> Allowance | None:
    """`allowance: unlimited` or `{amount: "20", unit: GB}` (per unit and month); absent:
    the offering is not metered."""
    value = item.get("allowance")
    if value is None:
        return None
    if value == "unlimited":
        return Allowance(None)
    example = '{amount: "20", unit: GB}'
    if not isinstance(value, dict):
        scope.error("allowance", f"{show(value)} must be unlimited or a mapping, like {example}")
        return None
    inner = scope.child("allowance")
    unknown_keys(inner, value, ALLOWANCE_KEYS)
    amount, unit = value.get("amount"), value.get("unit")
    number = decimal_of(amount)
    if amount is None:
        inner.missing("amount")
    elif number is None or not 0 < number < MAX_ALLOWANCE:
        inner.error("amount", f"{show(amount)} is not a positive amount of data (write "
                              "unlimited for no limit)")
        number = None
    elif number != number.quantize(Decimal("0.001")):
        inner.error("amount", f"{show(amount)} has more than three decimals")
        number = None
    if unit is None:
        inner.missing("unit")
    elif unit not in ALLOWANCE_UNITS:
        inner.error("unit", f"{show(unit)} is not a unit of data ({' | '.join(ALLOWANCE_UNITS)})")
        unit = None
    return Allowance(number, unit) if number is not None and unit else None


def _offering_fields(scope: Scope, item: dict, code: str) -> dict:
    """Every field of one offering, checked on its own (references come later)."""
    unknown_keys(scope, item, OFFERING_KEYS)
    family = item.get("family")
    if family is None:
        scope.missing("family")
    elif family not in FAMILIES:
        scope.error("family", f"{show(family)} is not a family ({' | '.join(FAMILIES)})")
    fulfilment = item.get("fulfilment")
    if fulfilment is None:
        scope.missing("fulfilment")
    elif fulfilment not in FULFILMENT_SYSTEMS:
        scope.error("fulfilment", f"{show(fulfilment)} is not a fulfilment system "
                                  f"({' | '.join(FULFILMENT_SYSTEMS)})")
    terms = _terms(scope, item)
    countries = []
    for value in list_of(scope, item, "available_in"):
        country = country_of(scope, "available_in", value)
        if country in countries:
            scope.error("available_in", f"{country} is listed twice")
        elif country:
            countries.append(country)
    if isinstance(item.get("available_in"), list) and not item["available_in"]:
        scope.error("available_in", "is empty: name the countries where it is sold, or leave "
                                    "it out to sell it everywhere")
    min_quantity, max_quantity = _quantities(scope, item)
    valid_from, valid_to = period_of(scope, item)
    return {
        "code": code, "name": text_of(scope, item, "name", NAME_MAX),
        "description": text_of(scope, item, "description", DESCRIPTION_MAX, required=False),
        "family": family, "fulfilment": fulfilment,
        "recurring": amount_of(scope, item, "recurring"),
        "one_off": amount_of(scope, item, "one_off"),
        "volume_tiers": _tiers(scope, item), "terms": terms,
        "promotions": _promotions(scope, item, terms),
        "requires": codes_of(scope, item, "requires"),
        "excludes": codes_of(scope, item, "excludes"),
        "available_in": tuple(countries),
        "min_quantity": min_quantity, "max_quantity": max_quantity,
        "valid_from": valid_from, "valid_to": valid_to,
        "plans": codes_of(scope, item, "plans"),
        "accessories": codes_of(scope, item, "accessories"),
        "allowance": _allowance(scope, item),
    }


def _offering_code(scope: Scope, n: int, item: dict, seen: dict[str, int]) -> str | None:
    if item.get("code") is None:
        scope.missing("code")
        return None
    code = code_of(scope, "code", item["code"])
    if code is None:
        return None
    if code in seen:
        scope.error("code", f"{code} is already the code of offering #{seen[code]}")
        return None
    seen[code] = n
    return code


# Between offerings ------------------------------------------------------------------------


def _references(scopes: dict[str, Scope], offerings: dict[str, dict]) -> None:
    """requires / excludes / plans / accessories name offerings of this catalog, in ways
    that can be sold."""
    for code, fields in offerings.items():
        scope = scopes[code]
        for key in ("requires", "excludes", "plans", "accessories"):
            for other in fields[key]:
                if other == code:
                    scope.error(key, f"an offering cannot name itself ({code})")
                elif other not in offerings:
                    scope.error(key, f"{other} is not an offering of this catalog")
        for other in set(fields["requires"]) & set(fields["excludes"]):
            scope.error("excludes", f"{other} is also in requires")
        for other in fields["requires"]:
            if other in offerings and code in offerings[other]["excludes"]:
                scope.error("requires", f"{other} excludes {code}, so {code} could never be "
                                        "sold")
        _guided_selling(scope, code, fields, offerings)
        _required_where_sold(scope, fields, offerings)


def _guided_selling(scope: Scope, code: str, fields: dict, offerings: dict[str, dict]) -> None:
    if fields["family"] not in FAMILIES:
        return  # already reported
    if fields["family"] != "device":
        for key in ("plans", "accessories"):
            if fields[key]:
                scope.error(key, f"only device offerings have {key} ({code} is "
                                 f"{fields['family']})")
        return
    for other in fields["plans"]:
        family = offerings.get(other, {}).get("family")
        if family in ("device", "accessory"):
            scope.error("plans", f"{other} is a{'n' if family[0] == 'a' else ''} {family}, "
                                 "not a plan")
    for other in fields["accessories"]:
        family = offerings.get(other, {}).get("family")
        if family is not None and family != "accessory":
            scope.error("accessories", f"{other} is not an accessory (it is {family})")


def _required_where_sold(scope: Scope, fields: dict, offerings: dict[str, dict]) -> None:
    # Every required offering must be on the same site, so this one can only be sold where
    # all of them are. (An empty `available_in` is everywhere.)
    if not fields["available_in"]:
        return
    for other in fields["requires"]:
        sold_in = offerings.get(other, {}).get("available_in")
        stranded = [c for c in fields["available_in"] if sold_in and c not in sold_in]
        if stranded:
            scope.error("available_in", f"{', '.join(stranded)}: {other} is not sold there, "
                                        "so this offering could not be either")


# The whole file ---------------------------------------------------------------------------


def _read_yaml(text: str):
    loader = _Loader(text)
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise CatalogError([f"the file is not valid YAML{where}: "
                            f"{exc.problem or exc.context}"]) from None
    except yaml.YAMLError as exc:
        raise CatalogError([f"the file is not valid YAML: {exc}"]) from None
    finally:
        loader.dispose()
    if loader.duplicates:
        raise CatalogError(loader.duplicates)
    return data


def load_catalog_yaml(text: str) -> Catalog:
    """The catalog described by `text` (a YAML file in the format of docs/CATALOG.md).

    Raises `CatalogError` listing every mistake, each naming the offering (by code, or by
    position when the code is missing) and the field; nothing is half-read.
    """
    data = _read_yaml(text)
    if data is None:
        raise CatalogError(["the file is empty"])
    if not isinstance(data, dict):
        raise CatalogError(["the file must be a mapping with currency, approval, tax_rates "
                            "and offerings at the top"])
    errors: list[str] = []
    root = Scope(errors)
    top = _top(root, data)
    raw_offerings = data.get("offerings")
    if raw_offerings is None:
        root.missing("offerings")
        raw_offerings = []
    elif not isinstance(raw_offerings, list):
        root.error("offerings", f"{show(raw_offerings)} must be a list of offerings")
        raw_offerings = []
    elif not raw_offerings:
        root.error("offerings", "the catalog has no offerings")
    seen: dict[str, int] = {}
    offerings: dict[str, dict] = {}
    scopes: dict[str, Scope] = {}
    for n, item in enumerate(raw_offerings, start=1):
        position = root.child(f"offering #{n}")
        if not isinstance(item, dict):
            position.error("", f"{show(item)} must be a mapping of fields (code, name, ...)")
            continue
        code = _offering_code(position, n, item, seen)
        scope = root.child(f"offering {code}") if code else position
        fields = _offering_fields(scope, item, code or "")
        if code:
            offerings[code], scopes[code] = fields, scope
    _references(scopes, offerings)
    if errors:
        raise CatalogError(errors)
    return Catalog(
        currency=top["currency"], approval=top["approval"],
        quote_validity_days=top["quote_validity_days"], tax_rates=top["tax_rates"],
        offerings={code: Offering(**fields) for code, fields in offerings.items()},
    )
