"""Forms of the configurator and of the quote pages."""

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional
from wtforms.widgets import HiddenInput

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


# -- quotes ----------------------------------------------------------------------------------

class QuoteRequestForm(FlaskForm):
    """Ask for a quote of the cart, with an optional title."""

    title = StringField("Title (optional)", validators=[Optional(), Length(max=200)])


class QuoteActionForm(FlaskForm):
    """An action on the version the customer was looking at (its number, hidden), so that
    nothing acts on a version they did not see."""

    version = IntegerField(widget=HiddenInput(), validators=[InputRequired(),
                                                             NumberRange(min=1)])


class QuoteLineForm(QuoteActionForm):
    """A quote line's quantity, term and negotiated discount (percent) with its reason.
    The term and the discount are checked by the quote's rules (its catalog's terms)."""

    quantity = IntegerField("Quantity", validators=[InputRequired(),
                                                    NumberRange(1, MAX_QUANTITY)])
    term_months = IntegerField("Term (months)", validators=[InputRequired(),
                                                            NumberRange(1, 120)])
    discount = StringField("Discount (%)", validators=[Optional(), Length(max=20)])
    justification = TextAreaField("Justification", validators=[Optional(), Length(max=1000)])


class QuoteFilterForm(FlaskForm):
    """Filters of the quote list (a GET form: no CSRF token)."""

    class Meta:
        csrf = False

    q = StringField("Number or title", validators=[Optional(), Length(max=100)])
    state = SelectField("State", default="", validate_choice=False)


class AcceptQuoteForm(QuoteActionForm):
    """Accept a quote: the customer's purchase-order number, who accepts, and their
    explicit consent."""

    purchase_order = StringField("Purchase-order number",
                                 validators=[InputRequired(), Length(max=100)])
    signatory = StringField("Your name", validators=[InputRequired(), Length(max=200)])
    confirm = BooleanField("I accept the quote and its terms",
                           validators=[DataRequired("Tick the box to accept the quote and "
                                                    "its terms.")])
