"""Forms of the estate pages. Changing forms carry a CSRF token (Flask-WTF); the list
filters are GET forms without one. The rules are checked by the services, which name every
problem at once; the forms check only the token, the choices and the lengths (which also
render as `maxlength`)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, EmailField, IntegerField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from accounts.estate.countries import COUNTRIES
from accounts.estate.models import (
    DELIVERY_PREFERENCES,
    SERVICE_STATUSES,
    SITE_STATUSES,
    SOURCE_SYSTEMS,
)
from accounts.estate.services import CURRENCIES, MAX_PAYMENT_TERMS_DAYS


def options(*pairs) -> list[SelectChoice]:
    """Select options from (value, label) pairs."""
    return [SelectChoice(str(value), label) for value, label in pairs]


COUNTRY_CHOICES = options(("", "Choose a country"),
                          *((code, f"{name} ({code})") for code, name in COUNTRIES.items()))
REQUIRED = {"required": True}
DELIVERY_LABELS = {"portal": "In the portal", "email": "By e-mail", "post": "By post"}


class SiteForm(FlaskForm):
    """A site's details and the billing account its services are billed to."""

    code = StringField("Site code", validators=[Length(max=32)], render_kw=REQUIRED,
                       description="Your own reference, unique among your sites: letters, "
                                   "digits and . _ / -")
    name = StringField("Name", validators=[Length(max=200)], render_kw=REQUIRED)
    address = StringField("Address", validators=[Length(max=300)], render_kw=REQUIRED)
    postcode = StringField("Postcode", validators=[Length(max=16)], render_kw=REQUIRED)
    city = StringField("City", validators=[Length(max=100)], render_kw=REQUIRED)
    country = SelectField("Country", choices=COUNTRY_CHOICES, default="", render_kw=REQUIRED)
    contact_name = StringField("Contact name", validators=[Length(max=200)])
    contact_email = EmailField("Contact e-mail", validators=[Length(max=320)])
    contact_phone = StringField("Contact phone", validators=[Length(max=32)])
    billing_account = SelectField("Billing account", default="",
                                  choices=options(("", "No billing account")))
    bill_services = BooleanField("Also bill every service at this site to this account",
                                 default=False)

    def set_accounts(self, choices: list[tuple[int, str]]) -> None:
        """Offer the organisation's billing accounts (only those can be chosen)."""
        self.billing_account.choices = options(("", "No billing account"), *choices)


class BillingAccountForm(FlaskForm):
    """A billing account: where bills go, in which currency, on which terms."""

    number = StringField("Account number", validators=[Length(max=32)], render_kw=REQUIRED,
                         description="Unique among your accounts: letters, digits and . _ / -")
    name = StringField("Name", validators=[Length(max=200)], render_kw=REQUIRED)
    currency = SelectField("Currency", choices=options(*((c, c) for c in CURRENCIES)),
                           default="EUR")
    address = StringField("Billing address", validators=[Length(max=300)], render_kw=REQUIRED)
    postcode = StringField("Postcode", validators=[Length(max=16)], render_kw=REQUIRED)
    city = StringField("City", validators=[Length(max=100)], render_kw=REQUIRED)
    country = SelectField("Country", choices=COUNTRY_CHOICES, default="", render_kw=REQUIRED,
                          description="The billing country decides the tax rate.")
    payment_terms_days = IntegerField(
        "Payment terms (days)", default=30,
        validators=[InputRequired(message="Enter the number of days."),
                    NumberRange(min=0, max=MAX_PAYMENT_TERMS_DAYS)])
    cost_centre = StringField("Cost centre", validators=[Length(max=64)])
    delivery = SelectField("Bill delivery", default="portal",
                           choices=options(*((d, DELIVERY_LABELS[d])
                                             for d in DELIVERY_PREFERENCES)))


class ImportForm(FlaskForm):
    """The CSV file of sites to preview."""

    file = FileField("CSV file of sites", validators=[
        FileRequired(message="Choose a CSV file to upload.")])


class _GetForm(FlaskForm):
    """Filters of a list: a GET form, so no CSRF token and no state change."""

    class Meta:
        csrf = False


class SiteFilterForm(_GetForm):
    """Search and filters of the sites list."""

    q = StringField("Search", validators=[Optional(), Length(max=100)],
                    description="Name, code, city or postcode")
    country = SelectField("Country", choices=options(("", "All countries")),
                          validate_choice=False)
    status = SelectField("Status", choices=options(("", "Any status"),
                                                   *((s, s.capitalize()) for s in SITE_STATUSES)))
    billing_account = SelectField("Billing account", choices=options(("", "All accounts")),
                                  validate_choice=False)


class ServiceFilterForm(_GetForm):
    """Search and filters of the inventory."""

    q = StringField("Offering code", validators=[Optional(), Length(max=64)])
    site = StringField("Site code", validators=[Optional(), Length(max=32)])
    status = SelectField("Status", choices=options(
        ("", "Any status"), *((s, s.capitalize()) for s in SERVICE_STATUSES)))
    source = SelectField("Source system", choices=options(("", "All systems"),
                                                          *((s, s) for s in SOURCE_SYSTEMS)))
    billing_account = SelectField("Billing account", choices=options(("", "All accounts")),
                                  validate_choice=False)


class AccountFilterForm(_GetForm):
    """Search of the billing accounts list."""

    q = StringField("Search", validators=[Optional(), Length(max=100)],
                    description="Account number or name")
