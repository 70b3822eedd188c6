"""Forms of the sign-in and organisation pages (Flask-WTF: every one carries a CSRF token)."""

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    HiddenField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import URL, DataRequired, Email, Length, Optional


class LoginForm(FlaskForm):
    """Home-realm discovery: the e-mail decides which IdP signs the person in."""

    email = EmailField(
        "Work e-mail",
        validators=[DataRequired(message="Enter your work e-mail address."),
                    Email(message="Enter a valid e-mail address, like name@company.com."),
                    Length(max=320)],
        render_kw={"autocomplete": "email", "autofocus": True},
    )


class ActionForm(FlaskForm):
    """A button that changes something: only the CSRF token is posted."""


class SwitchOrgForm(FlaskForm):
    """Switch the organisation acted for."""

    org_id = HiddenField(validators=[DataRequired()])


class SsoSettingsForm(FlaskForm):
    """An organisation's IdP connection. The secret is write-only: left empty, it is kept."""

    issuer = StringField("Issuer URL", validators=[DataRequired(), URL(require_tld=False),
                                                  Length(max=500)])
    client_id = StringField("Client ID", validators=[DataRequired(), Length(max=255)])
    client_secret = PasswordField(
        "Client secret", validators=[Optional(), Length(max=2000)],
        description="Never shown again once saved. Leave empty to keep the current secret.",
        render_kw={"autocomplete": "new-password"},
    )
    role_map = TextAreaField(
        "Group to role mapping", validators=[Optional(), Length(max=5000)],
        description="One mapping per line: GROUP=ROLE.",
    )
    enabled = BooleanField("Enabled", default=True)


class AuditFilterForm(FlaskForm):
    """Filters of the audit trail (a GET form: no CSRF, no state change)."""

    class Meta:
        csrf = False

    user = StringField("User e-mail", validators=[Optional(), Length(max=320)])
    action = StringField("Action", validators=[Optional(), Length(max=64)])
    date_from = StringField("From (YYYY-MM-DD)", validators=[Optional(), Length(max=10)])
    date_to = StringField("To (YYYY-MM-DD)", validators=[Optional(), Length(max=10)])
    organisation = StringField("Organisation slug", validators=[Optional(), Length(max=64)])


class InviteForm(FlaskForm):
    """Invite someone of the organisation's domains with a role."""

    email = EmailField("E-mail", validators=[DataRequired(), Email(), Length(max=320)])
    role = SelectField("Role", validators=[DataRequired()])


class RolesForm(FlaskForm):
    """The roles granted by hand to a member (IdP roles are shown, not edited)."""

    roles = SelectMultipleField("Roles granted in the portal", validators=[Optional()])


class DelegationForm(FlaskForm):
    """A customer admin's grant to a partner."""

    partner_id = SelectField("Partner", coerce=int, validators=[DataRequired()])
    scopes = SelectMultipleField(
        "Scopes", validators=[DataRequired(message="Choose at least one scope.")],
        choices={"quote": "Quotes: configure and request quotes",
                 "order": "Orders: accept quotes and place service changes",
                 "billing": "Billing: see bills and billing accounts"},
    )
    expires_on = DateField("Expires on", validators=[DataRequired()])


class AssignmentForm(FlaskForm):
    """An operator admin puts an account manager in charge of a customer."""

    customer_id = SelectField("Customer", coerce=int, validators=[DataRequired()])
    manager_id = SelectField("Account manager", coerce=int, validators=[DataRequired()])
