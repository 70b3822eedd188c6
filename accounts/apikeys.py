"""API keys: the rules for creating, checking and revoking the keys an organisation's own
systems use for the TMF APIs (`Authorization: Bearer pk_<prefix>_<secret>`).

Only the SHA-256 of the whole token is stored; the token itself exists once, in the answer
to the creation. Each function takes a session; the page, the CLI and the API call these, and
the caller commits.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, joinedload

from accounts.models import ApiKey, Organisation, User
from accounts.services import AccountError
from portal import audit
from portal.db import utcnow
from portal.security import ROLES_BY_ORG_KIND, Role

TOKEN_PREFIX = "pk"
# Hex, so it never contains the `_` that separates the token's parts.
PREFIX_BYTES = 6
TOKEN_RE = re.compile(r"^pk_([0-9a-f]{12})_([A-Za-z0-9_-]{20,128})$")
NAME_MAX = 100
ADMIN_ROLES = frozenset({Role.ADMIN, Role.PARTNER_ADMIN, Role.OPERATOR_ADMIN})
# Writing last_used_at on every call would turn every API read into a write; a minute's
# precision is enough to tell a live key from a forgotten one.
LAST_USED_PRECISION = dt.timedelta(seconds=60)
# Compared against when the prefix is unknown, so both paths do the same work.
_DUMMY_HASH = hashlib.sha256(b"no such key").hexdigest()


def hash_token(token: str) -> str:
    """The SHA-256 (hex) stored for a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def key_roles(org: Organisation, actor_roles=None) -> tuple[str, ...]:
    """The roles a key of `org` may hold when created by someone holding `actor_roles`.

    Any role of the organisation's kind; admin roles only for admins. `None` stands for the
    command line, run by the operator's staff, who may create any role.
    """
    roles = tuple(str(role) for role in ROLES_BY_ORG_KIND[org.kind])
    if actor_roles is None or ADMIN_ROLES & {str(r) for r in actor_roles}:
        return roles
    return tuple(role for role in roles if role not in ADMIN_ROLES)


def create_api_key(
    session: Session,
    org: Organisation,
    name: str,
    role: str,
    created_by: User | None = None,
    *,
    actor_roles=None,
    actor_label: str | None = None,
) -> tuple[ApiKey, str]:
    """Create a key of `org` holding `role`; returns the key and its token.

    The token is not kept anywhere: the caller shows it once. Refuses an empty or long name,
    a role the organisation's kind has not, and admin roles for non-admins (`actor_roles`).
    """
    name = (name or "").strip()
    if not name:
        raise AccountError("The key needs a name, like the system that will use it.")
    if len(name) > NAME_MAX:
        raise AccountError(f"The name can have at most {NAME_MAX} characters.")
    allowed = key_roles(org, actor_roles)
    if role not in allowed:
        raise AccountError(
            f"A key of {org.name} cannot hold the role {role!r} (roles: {', '.join(allowed)})."
        )
    prefix = _unused_prefix(session)
    token = f"{TOKEN_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey(organisation_id=org.id, name=name, role=role, prefix=prefix,
                 secret_hash=hash_token(token),
                 created_by_id=created_by.id if created_by is not None else None)
    session.add(key)
    session.flush()
    audit.record(session, "apikey:create", organisation_id=org.id, target=key,
                 after={"name": name, "role": role, "prefix": prefix},
                 actor_label=actor_label)
    return key, token


def _unused_prefix(session: Session) -> str:
    for _ in range(5):
        prefix = secrets.token_hex(PREFIX_BYTES)
        if session.scalar(select(ApiKey.id).where(ApiKey.prefix == prefix)) is None:
            return prefix
    raise RuntimeError("could not draw an unused API key prefix")  # 2^48 values: never


def prefix_of(token: str | None) -> str | None:
    """The prefix of a well-formed token, else None (no database involved)."""
    match = TOKEN_RE.match(token or "")
    return match.group(1) if match else None


def authenticate(session: Session, token: str | None) -> ApiKey | None:
    """The live key this token belongs to (with its organisation loaded), or None for a
    malformed, unknown or revoked token, or an inactive organisation.

    The key is found by its prefix and the hashes are compared in constant time, so the
    answer time does not tell how much of a secret was right.
    """
    prefix = prefix_of(token)
    if prefix is None:
        return None
    key = session.scalars(
        select(ApiKey).options(joinedload(ApiKey.organisation)).where(ApiKey.prefix == prefix)
    ).first()
    expected = key.secret_hash if key is not None else _DUMMY_HASH
    if not hmac.compare_digest(hash_token(token), expected) or key is None:
        return None
    if key.revoked_at is not None or not key.organisation.active:
        return None
    return key


def mark_used(session: Session, key: ApiKey, now: dt.datetime | None = None) -> bool:
    """Record that `key` was just used, at most once a minute; True if a write happened.

    The guard is in the UPDATE too, so concurrent requests write it once.
    """
    now = now or utcnow()
    threshold = now - LAST_USED_PRECISION
    if key.last_used_at is not None and key.last_used_at > threshold:
        return False
    session.execute(
        update(ApiKey)
        .where(ApiKey.id == key.id,
               or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at <= threshold))
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )
    key.last_used_at = now
    return True


def revoke_api_key(session: Session, key: ApiKey, actor_label: str | None = None) -> None:
    """Revoke `key` for good: it authenticates nothing from now on."""
    if key.revoked_at is not None:
        raise AccountError(f"The key {key.name!r} is revoked already.")
    key.revoked_at = utcnow()
    audit.record(session, "apikey:revoke", organisation_id=key.organisation_id, target=key,
                 before={"name": key.name, "role": key.role, "prefix": key.prefix},
                 actor_label=actor_label)


def list_api_keys(session: Session, org_id: int) -> list[tuple[ApiKey, str | None]]:
    """The organisation's keys, live ones first then newest first, each with the e-mail of
    who created it (None for the command line or a user since deleted). One query."""
    rows = session.execute(
        select(ApiKey, User.email)
        .outerjoin(User, User.id == ApiKey.created_by_id)
        .where(ApiKey.organisation_id == org_id)
        .order_by(ApiKey.revoked_at.is_not(None), ApiKey.created_at.desc(), ApiKey.id.desc())
    ).all()
    return [(key, email) for key, email in rows]


def key_by_prefix(session: Session, prefix: str) -> ApiKey | None:
    """The key with this prefix, if any (the command line names keys by prefix)."""
    return session.scalars(select(ApiKey).where(ApiKey.prefix == prefix)).first()
