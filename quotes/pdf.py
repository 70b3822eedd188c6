"""The quote PDF: made from a version's frozen figures only (its lines, totals, billing
account snapshot and approvals), never from the live catalog or estate, so it reads the
same after any later catalog or site change."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from flask import render_template

from portal.db import utcnow
from portal.pdf import render_pdf, safe_filename
from quotes.approvals import LEVEL_NAMES
from quotes.models import QuoteLine, QuoteState, QuoteVersion

BRAND = "Carrier Business"
CENT = Decimal("0.01")
STATE_LABELS = {
    QuoteState.IN_PROGRESS: "In progress", QuoteState.PENDING: "Pending approval",
    QuoteState.APPROVED: "Approved", QuoteState.ACCEPTED: "Accepted",
    QuoteState.REJECTED: "Rejected", QuoteState.CANCELLED: "Cancelled",
}


def money(value) -> str:
    """1234.5 -> `1,234.50` (the figure as stored; it is already rounded to cents)."""
    return f"{Decimal(value).quantize(CENT):,.2f}"


def percent(fraction) -> str:
    """0.125 -> `12.5 %`; zero -> an en dash."""
    value = (Decimal(fraction or 0) * 100).normalize()
    return f"{value:f} %" if value else "\u2013"


@dataclass
class SiteGroup:
    """The lines of one site (as the version saw the site) and their subtotals."""

    code: str
    name: str
    city: str
    country: str
    lines: list[QuoteLine] = field(default_factory=list)
    mrc: Decimal = Decimal("0.00")
    nrc: Decimal = Decimal("0.00")
    tcv: Decimal = Decimal("0.00")

    @property
    def place(self) -> str:
        """`Berlin, DE` (or the country alone)."""
        return ", ".join(part for part in (self.city, self.country) if part)


def site_groups(lines: list[QuoteLine]) -> list[SiteGroup]:
    """The lines grouped by site, sites in the order they first appear, with subtotals."""
    groups: dict[tuple, SiteGroup] = {}
    for line in lines:
        key = (line.site_id, line.site_code)
        group = groups.get(key)
        if group is None:
            group = groups[key] = SiteGroup(line.site_code, line.site_name, line.site_city,
                                            line.site_country)
        group.lines.append(line)
        group.mrc += line.mrc
        group.nrc += line.nrc
        group.tcv += line.tcv
    return list(groups.values())


def promotion_text(code: str, months_free: int) -> str:
    """`THREE-FREE: first 3 months free`."""
    months = "month" if months_free == 1 else f"{months_free} months"
    return f"{code}: first {months} free"


def promotion_notes(lines: list[QuoteLine]) -> list[str]:
    """One note per promotion applied, with how many lines it applies to."""
    counts: dict[tuple[str, int], int] = {}
    for line in lines:
        if line.promotion_code and line.months_free:
            key = (line.promotion_code, line.months_free)
            counts[key] = counts.get(key, 0) + 1
    return [f"{promotion_text(code, months)} ({count} line{'' if count == 1 else 's'})"
            for (code, months), count in counts.items()]


def approval_status(version: QuoteVersion) -> list[str]:
    """The approval status in sentences: the decisions on exactly this content (who, at
    which level, when), then what is still awaited."""
    decisions = [a for a in version.approvals if a.content_hash == version.content_hash]
    status = []
    for approval in decisions:
        day = approval.decided_at.date().isoformat()
        if approval.level == "auto":
            status.append(f"Approved automatically on {day} (within the standard discount "
                          f"limit).")
            continue
        level = LEVEL_NAMES.get(approval.level, approval.level)
        text = f"{approval.decision.capitalize()} by {approval.actor_label} ({level}) on {day}"
        if approval.decision == "rejected" and approval.comment:
            text += f": {approval.comment}"
        status.append(text + ".")
    if version.state == QuoteState.IN_PROGRESS:
        status.append("Not submitted for approval.")
    elif version.state == QuoteState.PENDING:
        stage = LEVEL_NAMES.get(version.approval_stage or "", "approver")
        status.append(f"Awaiting approval by the {stage}.")
    elif version.state == QuoteState.CANCELLED:
        status.append("The quote was cancelled.")
    elif not decisions and version.state in (QuoteState.APPROVED, QuoteState.ACCEPTED):
        status.append("Approved.")
    return status


def quote_context(version: QuoteVersion, organisation_name: str,
                  today: dt.date | None = None) -> dict:
    """Everything the PDF template shows, read from the frozen version."""
    today = today or utcnow().date()
    lines = list(version.lines)
    return {
        "brand": BRAND,
        "quote": version.quote,
        "version": version,
        "organisation_name": organisation_name,
        "state_label": STATE_LABELS.get(version.state, version.state),
        "approval_status": approval_status(version),
        # An accepted, rejected or cancelled quote no longer promises anything to expire.
        "expired": version.is_expired(today) and version.state not in QuoteState.FINAL,
        "groups": site_groups(lines),
        "line_count": len(lines),
        "promotions": promotion_notes(lines),
        "has_promotions": any(line.promotion_code and line.months_free for line in lines),
        "tax_percent": percent(version.tax_rate) if version.tax_rate else "0 %",
        "with_tax": {
            "mrc": version.total_mrc + version.tax_mrc,
            "nrc": version.total_nrc + version.tax_nrc,
            "tcv": version.total_tcv + version.tax_tcv,
        },
        "max_term": max((line.term_months for line in lines), default=0),
        "money": money,
        "percent": percent,
        "promotion_text": promotion_text,
    }


def render_quote_html(version: QuoteVersion, organisation_name: str,
                      today: dt.date | None = None) -> str:
    """The HTML the PDF is made from (inside an app context)."""
    return render_template("pdf/quote.html",
                           **quote_context(version, organisation_name, today))


def render_quote_pdf(version: QuoteVersion, organisation_name: str,
                     today: dt.date | None = None) -> bytes:
    """The PDF of `version` for the customer `organisation_name` (inside an app context).
    `today` decides whether it is marked expired."""
    return render_pdf(render_quote_html(version, organisation_name, today))


def quote_pdf_filename(version: QuoteVersion) -> str:
    """`quote-Q-2026-000012-v2.pdf`: the quote number and version only (never the title)."""
    return safe_filename(f"quote-{version.quote.number}-v{version.version}.pdf",
                         default=f"quote-v{version.version}.pdf")
