"""Approvals: the catalog's policy decides who must approve a version (DESIGN.md, "Approve");
approvers decide at their level; every decision is bound to the exact content it saw.

An account manager decides for the customers assigned to them; a sales director gives the
second approval for every customer, and never on a version they approved as account manager
(four eyes). Two approvers acting at once: the version's `row_version` lets one win and the
other gets `ConcurrentChange`.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, joinedload, selectinload
from sqlalchemy.orm.exc import StaleDataError

from accounts.models import AccountManagerAssignment, Membership, Organisation, User
from portal import audit
from portal.catalog.pricing import approval_path
from portal.db import utcnow
from portal.notifications.services import notify
from portal.security import Role
from quotes.models import Quote, QuoteApproval, QuoteState, QuoteVersion
from quotes.services import QuoteError, QuoteNotFound, catalog_of

ACCOUNT_MANAGER = "account_manager"
SALES_DIRECTOR = "sales_director"
LEVEL_NAMES = {"auto": "automatic", ACCOUNT_MANAGER: "account manager",
               SALES_DIRECTOR: "sales director"}
MAX_COMMENT = 2000


class ConcurrentChange(QuoteError):
    """Someone else changed the version between reading it and acting on it."""


def _percent(fraction: Decimal) -> str:
    text = f"{Decimal(fraction) * 100:f}"
    return (text.rstrip("0").rstrip(".") if "." in text else text) + " %"


def quote_link(version: QuoteVersion) -> str:
    """The portal path of a version (for notifications and e-mails)."""
    return f"/quotes/{version.quote_id}?version={version.version}"


# -- asking for approval -------------------------------------------------------------------------

def submit(session: Session, version: QuoteVersion, user: User | None,
           today: dt.date) -> str:
    """Ask for approval of the latest version, in progress and unexpired. Returns the path
    the policy of the version's catalog chose: "auto" (approved at once), "account_manager"
    or "sales_director" (pending). A discount past every approver's limit is refused with
    the reason, and nothing changes."""
    if not version.is_latest:
        raise QuoteError(f"Version {version.version} is not the latest; only the latest can "
                         f"be submitted.")
    if version.state != QuoteState.IN_PROGRESS:
        raise QuoteError(f"This version is {version.state}; only a version in progress can be "
                         f"submitted.")
    if version.is_expired(today):
        raise QuoteError("This version has expired; make a new version to submit it.")
    policy = catalog_of(session, version).approval
    discounts = [Decimal(line.negotiated_discount or 0) for line in version.lines]
    path = approval_path(policy, discounts)
    if path == "refused":
        worst = max(version.lines, key=lambda line: Decimal(line.negotiated_discount or 0))
        raise QuoteError(
            f"A negotiated discount of {_percent(worst.negotiated_discount)} "
            f"({worst.offering_name} at {worst.site_code}) is above the sales director's "
            f"limit of {_percent(policy.sales_director_max)}; no one can approve it. Lower it "
            f"and submit again.")
    version.approval_path = path
    version.submitted_at = utcnow()
    version.submitted_by_id = user.id if user else None
    org_id = version.quote.organisation_id
    if path == "auto":
        _record(session, version, "auto", "approved", None,
                f"automatic: no discount above {_percent(policy.auto_max)}", "")
        version.state = QuoteState.APPROVED
        version.approval_stage = None
        version.decided_at = utcnow()
    else:
        version.state = QuoteState.PENDING
        version.approval_stage = ACCOUNT_MANAGER
        for manager_id in assigned_managers(session, org_id):
            notify(session, manager_id, org_id,
                   f"Quote {version.quote.number} v{version.version} waits for your approval",
                   f"A discount of up to {_percent(version.max_discount)} needs your "
                   f"approval.", f"/approvals/{version.id}")
    flush_version(session)
    audit.record(session, "quote:submit", organisation_id=org_id, target=version,
                 after={"version": version.version, "path": path, "state": version.state,
                        "max_discount": str(version.max_discount),
                        "content_hash": version.content_hash})
    return path


# -- who approves ----------------------------------------------------------------------------------

def _operator_roles(session: Session, user_id: int) -> set[str]:
    return set(session.scalars(
        select(Membership.role).join(Organisation, Membership.organisation_id == Organisation.id)
        .where(Membership.user_id == user_id, Organisation.kind == "operator",
               Organisation.active.is_(True))))


def levels_of(session: Session, user: User, organisation_id: int) -> set[str]:
    """The approval levels `user` may decide at for the customer `organisation_id`."""
    roles = _operator_roles(session, user.id)
    levels = set()
    if Role.ACCOUNT_MANAGER in roles and session.scalar(
            select(AccountManagerAssignment.id).where(
                AccountManagerAssignment.user_id == user.id,
                AccountManagerAssignment.organisation_id == organisation_id)):
        levels.add(ACCOUNT_MANAGER)
    if Role.SALES_DIRECTOR in roles:
        levels.add(SALES_DIRECTOR)
    return levels


def assigned_managers(session: Session, organisation_id: int) -> list[int]:
    """The account managers in charge of the customer (their user ids)."""
    return list(session.scalars(select(AccountManagerAssignment.user_id).where(
        AccountManagerAssignment.organisation_id == organisation_id)))


def _sales_directors(session: Session) -> list[int]:
    return list(session.scalars(
        select(Membership.user_id).join(Organisation, Membership.organisation_id == Organisation.id)
        .where(Membership.role == Role.SALES_DIRECTOR, Organisation.kind == "operator")
        .distinct()))


def _visible_to(session: Session, user: User):
    """The condition on Quote that an approver may see: the customers assigned to an
    account manager; every customer for a sales director."""
    roles = _operator_roles(session, user.id)
    if Role.SALES_DIRECTOR in roles:
        return Quote.id.is_not(None)
    if Role.ACCOUNT_MANAGER in roles:
        return Quote.organisation_id.in_(select(AccountManagerAssignment.organisation_id).where(
            AccountManagerAssignment.user_id == user.id))
    return Quote.id.is_(None)


def queue(session: Session, user: User, limit: int = 200) -> list[QuoteVersion]:
    """The latest versions waiting for a decision `user` may give, oldest request first,
    with their quote and customer (a fixed number of queries)."""
    roles = _operator_roles(session, user.id)
    levels = []
    if Role.ACCOUNT_MANAGER in roles:
        levels.append(and_(QuoteVersion.approval_stage == ACCOUNT_MANAGER,
                           Quote.organisation_id.in_(
                               select(AccountManagerAssignment.organisation_id).where(
                                   AccountManagerAssignment.user_id == user.id))))
    if Role.SALES_DIRECTOR in roles:
        levels.append(QuoteVersion.approval_stage == SALES_DIRECTOR)
    if not levels:
        return []
    return list(session.scalars(
        select(QuoteVersion).join(Quote)
        .options(joinedload(QuoteVersion.quote).joinedload(Quote.created_by))
        .where(QuoteVersion.state == QuoteState.PENDING,
               QuoteVersion.version == Quote.latest_version, or_(*levels))
        .order_by(QuoteVersion.submitted_at, QuoteVersion.id).limit(limit)))


def load_for_approver(session: Session, user: User, version_id: int) -> QuoteVersion:
    """A version an approver may open, with its lines and approvals; QuoteNotFound for a
    customer that is not theirs (the page answers 404)."""
    version = session.scalars(
        select(QuoteVersion).join(Quote)
        .options(selectinload(QuoteVersion.lines), selectinload(QuoteVersion.approvals),
                 joinedload(QuoteVersion.quote))
        .where(QuoteVersion.id == version_id, _visible_to(session, user))).first()
    if version is None:
        raise QuoteNotFound(version_id)
    return version


# -- deciding ------------------------------------------------------------------------------------

def decide(session: Session, version: QuoteVersion, approver: User, decision: str,
           comment: str, today: dt.date, seen_row_version: int | None = None) -> str:
    """Approve or reject (`decision`) the latest, pending, unexpired version at the level
    it waits for, with a comment (required to reject). `seen_row_version` is the version's
    `row_version` when the approver opened it: if the quote changed since, or another
    approver decides at the same moment, ConcurrentChange is raised and nothing is written.
    Returns the version's new state."""
    if decision not in ("approved", "rejected"):
        raise QuoteError("Approve or reject.")
    comment = (comment or "").strip()
    if len(comment) > MAX_COMMENT:
        raise QuoteError(f"The comment is limited to {MAX_COMMENT} characters.")
    if decision == "rejected" and not comment:
        raise QuoteError("Say why the quote is rejected: the customer reads the comment.")
    if seen_row_version is not None and seen_row_version != version.row_version:
        raise ConcurrentChange(
            f"Quote {version.quote.number} changed since you opened it (it is now "
            f"{version.state}); look at it again before deciding.")
    if not version.is_latest:
        raise QuoteError("A newer version of this quote exists; only the latest can be "
                         "approved.")
    if version.state != QuoteState.PENDING:
        raise QuoteError(f"This version is {version.state}; there is nothing to decide.")
    if version.is_expired(today):
        raise QuoteError("This version has expired and can no longer be approved.")
    level = version.approval_stage
    organisation_id = version.quote.organisation_id
    if level not in levels_of(session, approver, organisation_id):
        raise QuoteError(f"This quote waits for the {LEVEL_NAMES.get(level, level)}'s "
                         f"decision; you cannot decide at that level for this customer.")
    if level == SALES_DIRECTOR and any(
            a.level == ACCOUNT_MANAGER and a.user_id == approver.id
            and a.content_hash == version.content_hash for a in version.approvals):
        raise QuoteError("You approved this version as account manager; another person must "
                         "give the sales director's approval.")
    before = {"state": version.state, "stage": level}
    _record(session, version, level, decision, approver, approver.email, comment)
    if decision == "rejected":
        version.state, version.approval_stage = QuoteState.REJECTED, None
        version.decided_at = utcnow()
    elif level == ACCOUNT_MANAGER and version.approval_path == SALES_DIRECTOR:
        version.approval_stage = SALES_DIRECTOR
        for director_id in _sales_directors(session):
            if director_id != approver.id:
                notify(session, director_id, organisation_id,
                       f"Quote {version.quote.number} v{version.version} waits for the sales "
                       f"director's approval",
                       f"The account manager approved a discount of "
                       f"{_percent(version.max_discount)}.", f"/approvals/{version.id}")
    else:
        version.state, version.approval_stage = QuoteState.APPROVED, None
        version.decided_at = utcnow()
    flush_version(session)
    audit.record(session, "quote:approve" if decision == "approved" else "quote:reject",
                 organisation_id=organisation_id, target=version, before=before,
                 after={"state": version.state, "stage": version.approval_stage,
                        "level": level, "comment": comment,
                        "content_hash": version.content_hash})
    if version.state != QuoteState.PENDING and version.submitted_by_id:
        verdict = "approved" if version.state == QuoteState.APPROVED else "rejected"
        notify(session, version.submitted_by_id, organisation_id,
               f"Quote {version.quote.number} v{version.version} {verdict}",
               f"{approver.name or approver.email} {verdict} the quote."
               + (f" Comment: {comment}" if comment else ""), quote_link(version))
    return version.state


def _record(session: Session, version: QuoteVersion, level: str, decision: str,
            user: User | None, label: str, comment: str) -> None:
    session.add(QuoteApproval(quote_version=version, level=level, decision=decision,
                              user_id=user.id if user else None, actor_label=label[:320],
                              comment=comment, content_hash=version.content_hash))


def flush_version(session: Session) -> None:
    """Write the version's change; a concurrent change of the same row loses cleanly."""
    try:
        session.flush()
    except StaleDataError:
        raise ConcurrentChange("Someone else acted on this quote at the same moment; look at "
                               "it again.") from None


def approvals_valid(version: QuoteVersion) -> bool:
    """Whether the version holds an approval, at every level its path needs, of exactly its
    current content."""
    needed = {"auto": {"auto"}, ACCOUNT_MANAGER: {ACCOUNT_MANAGER},
              SALES_DIRECTOR: {ACCOUNT_MANAGER, SALES_DIRECTOR}}.get(version.approval_path or "")
    if not needed:
        return False
    given = {a.level for a in version.approvals
             if a.decision == "approved" and a.content_hash == version.content_hash}
    return needed <= given
