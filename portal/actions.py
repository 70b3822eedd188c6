"""The one way views apply a change that may break a business rule."""

from __future__ import annotations

from collections.abc import Callable

from flask import flash

from portal.extensions import db
from portal.rules import RuleError


def commit_or_flash(change: Callable[[], object]) -> bool:
    """Run `change()` (a service call) and commit. On a broken rule, roll everything back
    and flash the rule's message. Returns whether the change was made."""
    try:
        change()
        db.session.commit()
    except RuleError as exc:
        db.session.rollback()
        flash(str(exc), "danger")
        return False
    return True
