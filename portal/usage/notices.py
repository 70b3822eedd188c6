"""Who is told about a customer's usage and offers, and telling them: a portal notification
each (e-mailed after the commit, see portal.notifications)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts.models import Membership, User
from portal.notifications.services import notify

# Bill shock concerns whoever buys and whoever pays; an offer, whoever may accept it.
ALERT_ROLES = ("admin", "buyer", "finance")
OFFER_ROLES = ("admin", "buyer")


class Audience:
    """The active users holding some roles in each organisation, read once per run."""

    def __init__(self, session: Session, roles: tuple[str, ...]):
        self.session = session
        self.roles = roles
        self._users: dict[int, list[int]] = {}

    def load(self, organisation_ids: Iterable[int]) -> None:
        """Read the people of these organisations (one query for all of them)."""
        missing = {org_id for org_id in organisation_ids if org_id not in self._users}
        if not missing:
            return
        found: dict[int, set[int]] = defaultdict(set)
        for org_id, user_id in self.session.execute(
                select(Membership.organisation_id, Membership.user_id)
                .join(User, User.id == Membership.user_id)
                .where(Membership.organisation_id.in_(missing),
                       Membership.role.in_(self.roles), User.active.is_(True))):
            found[org_id].add(user_id)
        for org_id in missing:
            self._users[org_id] = sorted(found.get(org_id, ()))

    def tell(self, organisation_id: int, subject: str, body: str, link: str) -> int:
        """Notify each of the organisation's people; returns how many."""
        self.load([organisation_id])
        users = self._users[organisation_id]
        for user_id in users:
            notify(self.session, user_id, organisation_id, subject, body, link)
        return len(users)
