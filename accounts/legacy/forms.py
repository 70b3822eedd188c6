"""Forms of the legacy import pages (Flask-WTF: every one carries a CSRF token)."""

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import SelectField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired

from accounts.legacy.layouts import LAYOUTS, MAX_BYTES


class ImportForm(FlaskForm):
    """A customer export and the system that wrote it."""

    system = SelectField(
        "Legacy system",
        choices=[SelectChoice(layout.system, f"{layout.label} ({layout.system})")
                 for layout in LAYOUTS.values()],
        validators=[DataRequired()],
    )
    file = FileField(
        "Customer export",
        validators=[FileRequired(message="Choose the export file.")],
        description=f"CSV in the system's own layout, UTF-8, at most "
                    f"{MAX_BYTES // (1024 * 1024)} MB.",
    )


class DecisionForm(FlaskForm):
    """Confirm or reject a proposal: only the CSRF token is posted."""
