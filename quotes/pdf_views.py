"""Quote PDF downloads (placeholder blueprint; the PDF work fills it in)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("quote_pdf", __name__)
