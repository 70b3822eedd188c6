"""Forms of the catalog pages (Flask-WTF: the upload carries a CSRF token)."""

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import StringField
from wtforms.validators import Length

MAX_BYTES = 1024 * 1024


class UploadForm(FlaskForm):
    """A catalog file to load as the next version, and why."""

    file = FileField(
        "Catalog file",
        validators=[FileRequired(message="Choose a catalog file (YAML) to upload.")],
        description=f"YAML in the format of docs/CATALOG.md, UTF-8, at most "
                    f"{MAX_BYTES // (1024 * 1024)} MB.",
    )
    note = StringField("Note", validators=[Length(max=500)],
                       description="What changes and why; shown in the list of versions.")
