"""Forms of the order pages: the list filter, cancelling, self-serve changes of a service,
adding a service at a site, and the operator's retry."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, IntegerField, SelectField, StringField
from wtforms.validators import AnyOf, InputRequired, Length, NumberRange, Optional
from wtforms.widgets import HiddenInput

from portal.orders.changes import CHANGE_ACTIONS

MAX_QUANTITY = 10_000


class OrderFilterForm(FlaskForm):
    """Filters of the order list (a GET form: no CSRF token)."""

    class Meta:
        csrf = False

    state = SelectField("State", default="", validate_choice=False)


class ActionForm(FlaskForm):
    """A button that changes something: only the CSRF token is posted."""


class ChangeChoiceForm(FlaskForm):
    """Which change to preview (a GET form: previewing writes nothing)."""

    class Meta:
        csrf = False

    action = StringField("Change", validators=[Optional(), AnyOf(CHANGE_ACTIONS)])
    offering_code = StringField("New offering", validators=[Optional(), Length(max=64)])
    site_id = StringField("New site", validators=[Optional(), Length(max=12)])


class ConfirmChangeForm(FlaskForm):
    """Confirm a previewed change. Only what was chosen is posted, never a price: the
    server previews again and places what it computes."""

    action = HiddenField(validators=[InputRequired(), AnyOf(CHANGE_ACTIONS)])
    offering_code = HiddenField()
    site_id = HiddenField()
    accept_charge = BooleanField("I accept the early-termination charge")


class AddServiceForm(FlaskForm):
    """An offering, quantity and term to add at a site (a GET form: previewing writes
    nothing)."""

    class Meta:
        csrf = False

    offering_code = SelectField("Offering", validate_choice=False, validators=[Optional()])
    quantity = IntegerField("Quantity", default=1,
                            validators=[Optional(), NumberRange(1, MAX_QUANTITY)])
    term_months = SelectField("Contract term", validate_choice=False, validators=[Optional()])


class ConfirmAddForm(FlaskForm):
    """Confirm a previewed new service (priced again on the server)."""

    offering_code = HiddenField(validators=[InputRequired()])
    quantity = IntegerField(widget=HiddenInput(),
                            validators=[InputRequired(), NumberRange(1, MAX_QUANTITY)])
    term_months = IntegerField(widget=HiddenInput(), validators=[Optional()])
