"""The offer rules as data: bill-shock thresholds, when a plan is recommended, how long
before a contract's end an upgrade is offered, and a switch for each. One row that operator
admins edit; until the first edit the defaults below apply (reading writes nothing)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.orm import Session

from portal import audit
from portal.db import utcnow
from portal.rules import RuleError
from portal.usage.models import OfferRules

RULES_ID = 1
DEFAULTS = {
    "alerts_enabled": True,
    "alert_thresholds": ["0.80", "1.00"],
    "recommendations_enabled": True,
    "lookback_periods": 3,
    "min_periods_exceeded": 2,
    "upgrades_enabled": True,
    "upgrade_days_before_end": 60,
}
FIELDS = tuple(DEFAULTS)
MAX_THRESHOLDS = 5
MAX_THRESHOLD = Decimal("5")  # 500 %
MAX_LOOKBACK = 24
MAX_UPGRADE_DAYS = 365


def current_rules(session: Session) -> OfferRules:
    """The rules in force: the saved row, or (before the first edit) the defaults in an
    object that is not added to the session."""
    return session.get(OfferRules, RULES_ID) or OfferRules(id=RULES_ID, updated_by="",
                                                            **DEFAULTS)


def snapshot(rules: OfferRules) -> dict:
    """The rules as plain values (audit before/after)."""
    return {name: getattr(rules, name) for name in FIELDS}


def check(values: dict) -> list[str]:
    """What is wrong with `values` (every field of DEFAULTS), in words; [] when valid."""
    problems = []
    thresholds = [Decimal(t) for t in values["alert_thresholds"]]
    if not 1 <= len(thresholds) <= MAX_THRESHOLDS:
        problems.append(f"Give 1 to {MAX_THRESHOLDS} alert thresholds.")
    if any(not 0 < t <= MAX_THRESHOLD for t in thresholds):
        problems.append("Each alert threshold must be above 0 % and at most 500 %.")
    if any(t.as_tuple().exponent < -4 for t in thresholds):
        problems.append("Give alert thresholds in whole or hundredths of a percent.")
    if len(set(thresholds)) != len(thresholds):
        problems.append("Each alert threshold may be given once.")
    lookback = values["lookback_periods"]
    if not 1 <= lookback <= MAX_LOOKBACK:
        problems.append(f"Look back 1 to {MAX_LOOKBACK} months.")
    if not 1 <= values["min_periods_exceeded"] <= max(lookback, 1):
        problems.append("The months over the allowance must be from 1 to the months looked "
                        "back.")
    if not 1 <= values["upgrade_days_before_end"] <= MAX_UPGRADE_DAYS:
        problems.append(f"Offer upgrades 1 to {MAX_UPGRADE_DAYS} days before a contract "
                        "ends.")
    return problems


def update_rules(session: Session, values: dict, actor_label: str) -> OfferRules:
    """Replace the rules with `values` (every field of DEFAULTS; thresholds as fractions),
    with an `offers:rules` audit event; the caller commits. RuleError when invalid."""
    values = dict(values)
    values["alert_thresholds"] = [_fraction_text(t) for t in
                                  sorted(Decimal(t) for t in values["alert_thresholds"])]
    problems = check(values)
    if problems:
        raise RuleError(" ".join(problems))
    rules = session.get(OfferRules, RULES_ID)
    before = snapshot(rules) if rules is not None else {**DEFAULTS, "defaults": True}
    if rules is None:
        rules = OfferRules(id=RULES_ID)
        session.add(rules)
    for name in FIELDS:
        setattr(rules, name, values[name])
    rules.updated_at = utcnow()
    rules.updated_by = actor_label[:320]
    session.flush()
    audit.record(session, "offers:rules", target=rules, before=before, after=snapshot(rules))
    return rules


def _fraction_text(value: Decimal) -> str:
    """0.8 -> "0.80", 1 -> "1.00", 0.825 -> "0.825": at least two decimals, as given."""
    value = Decimal(value)
    return f"{value.quantize(Decimal('0.01')) if value.as_tuple().exponent > -2 else value:f}"
