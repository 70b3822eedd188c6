"""Forms of the usage and offer pages (Flask-WTF: each carries a CSRF token)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, HiddenField, IntegerField, StringField
from wtforms.validators import AnyOf, DataRequired, InputRequired, NumberRange, ValidationError

from accounts.legacy.layouts import MAX_BYTES
from portal.usage import rules as offer_rules

BACK_TO = ("dashboard", "usage")


class UploadForm(FlaskForm):
    """A usage file from the operator's systems."""

    file = FileField(
        "Usage file",
        validators=[FileRequired(message="Choose the usage file (CSV) to import.")],
        description=f"CSV in the layout of docs/USAGE.md, UTF-8, at most "
                    f"{MAX_BYTES // (1024 * 1024)} MB.",
    )


class OfferDecisionForm(FlaskForm):
    """Accept or dismiss an offer: the CSRF token, and the page to come back to."""

    back = HiddenField(default="dashboard", validators=[AnyOf(BACK_TO)])


def percents(text: str) -> list[Decimal]:
    """"80, 100" (percent, commas or spaces) as fractions [0.8, 1]; ValueError when not
    numbers."""
    parts = [p for p in text.replace(",", " ").replace("%", " ").split() if p]
    try:
        values = [Decimal(p) for p in parts]
    except InvalidOperation:
        raise ValueError from None
    if not all(v.is_finite() for v in values):
        raise ValueError
    return [v / 100 for v in values]


class RulesForm(FlaskForm):
    """The offer rules, thresholds in percent."""

    alerts_enabled = BooleanField("Send bill-shock alerts")
    alert_thresholds = StringField(
        "Alert thresholds (% of the allowance)", validators=[DataRequired()],
        description="Each threshold alerts once per service and month, e.g. 80, 100.")
    recommendations_enabled = BooleanField("Recommend better-fitting plans")
    lookback_periods = IntegerField(
        "Months looked back", validators=[InputRequired(), NumberRange(
            1, offer_rules.MAX_LOOKBACK)],
        description="The last months of a service's usage that are looked at.")
    min_periods_exceeded = IntegerField(
        "Months over the allowance", validators=[InputRequired(), NumberRange(
            1, offer_rules.MAX_LOOKBACK)],
        description="A plan is recommended when the service went over its allowance in at "
                    "least this many of those months.")
    upgrades_enabled = BooleanField("Offer upgrades before a contract ends")
    upgrade_days_before_end = IntegerField(
        "Days before the contract ends", validators=[InputRequired(), NumberRange(
            1, offer_rules.MAX_UPGRADE_DAYS)],
        description="An upgrade to the next plan up is offered this many days before the "
                    "minimum term ends.")

    def validate_alert_thresholds(self, field) -> None:
        """Percentages above 0 and at most 500, each once, at most five."""
        try:
            values = percents(field.data if isinstance(field.data, str) else "")
        except ValueError:
            raise ValidationError("Write the thresholds as percentages, like 80, 100.") \
                from None
        problems = offer_rules.check({**offer_rules.DEFAULTS, "alert_thresholds": values})
        if problems:
            raise ValidationError(" ".join(problems))

    def validate_min_periods_exceeded(self, field) -> None:
        """Not more months than are looked back."""
        lookback = self.lookback_periods.data
        if field.data is not None and lookback is not None and field.data > lookback:
            raise ValidationError(f"At most the months looked back ({lookback}).")

    def values(self) -> dict:
        """The rules as the service takes them."""
        return {
            "alerts_enabled": self.alerts_enabled.data,
            "alert_thresholds": percents(self.alert_thresholds.data),
            "recommendations_enabled": self.recommendations_enabled.data,
            "lookback_periods": self.lookback_periods.data,
            "min_periods_exceeded": self.min_periods_exceeded.data,
            "upgrades_enabled": self.upgrades_enabled.data,
            "upgrade_days_before_end": self.upgrade_days_before_end.data,
        }
