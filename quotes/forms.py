"""Forms of the configurator."""

from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField, RadioField, SelectField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from quotes.cart import MAX_QUANTITY


class AddLinesForm(FlaskForm):
    """An offering, quantity and term, for the chosen sites: ticked ones, every active site
    of a country, or every active site."""

    offering_code = SelectField("Offering", validators=[DataRequired()])
    quantity = IntegerField("Quantity per site", default=1,
                            validators=[InputRequired(), NumberRange(1, MAX_QUANTITY)])
    term_months = SelectField("Contract term", coerce=int, validators=[DataRequired()])
    scope = RadioField("Sites", default="selected", validators=[DataRequired()],
                       choices={"selected": "The sites ticked below",
                                "country": "Every active site in a country",
                                "all": "Every active site"})
    country = StringField("Country", validators=[Optional(), Length(min=2, max=2)])


class LineForm(FlaskForm):
    """A line's quantity and term."""

    quantity = IntegerField("Quantity", validators=[InputRequired(), NumberRange(1, MAX_QUANTITY)])
    term_months = IntegerField("Term (months)", validators=[InputRequired(), NumberRange(1, 120)])


class CompanionForm(FlaskForm):
    """Guided selling: add what goes with a device."""

    device_code = HiddenField(validators=[DataRequired()])
    companion_code = HiddenField(validators=[DataRequired()])


class BillingAccountForm(FlaskForm):
    """Which billing account (and so which tax rate) the configuration is for."""

    billing_account_id = SelectField("Billing account", coerce=int, validators=[Optional()])
