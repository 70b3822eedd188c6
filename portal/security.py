"""Permissions in one place: the `Permission` enum, what each role may do, and the
`require(...)` decorator that every view declares.

The roles of the signed-in user in the organisation they act for are put on
`g.current_roles` by the accounts package at the start of each request; this module only
reads them, so it depends on no feature package.
"""

from __future__ import annotations

import functools
from enum import StrEnum

from flask import abort, g
from flask_login import current_user

from portal.extensions import login_manager


class Permission(StrEnum):
    """`<area>:<action>` permissions that views declare."""

    DASHBOARD_VIEW = "dashboard:view"
    AUDIT_VIEW = "audit:view"  # the trail of the organisation acted for
    AUDIT_VIEW_ALL = "audit:view_all"  # every organisation's trail (operator)
    USERS_VIEW = "users:view"
    USERS_MANAGE = "users:manage"
    SSO_MANAGE = "sso:manage"
    ORGS_MANAGE = "orgs:manage"  # onboard organisations (operator)
    QUOTES_VIEW = "quotes:view"
    QUOTES_CREATE = "quotes:create"
    QUOTES_APPROVE = "quotes:approve"
    QUOTES_APPROVE_SECOND = "quotes:approve_second"
    ORDERS_VIEW = "orders:view"
    ORDERS_CREATE = "orders:create"
    ORDERS_OPERATE = "orders:operate"  # operator: deliveries that need attention
    BILLS_VIEW = "bills:view"
    CATALOG_VIEW = "catalog:view"
    CATALOG_MANAGE = "catalog:manage"
    SITES_VIEW = "sites:view"
    SITES_MANAGE = "sites:manage"
    INVENTORY_VIEW = "inventory:view"
    BILLING_ACCOUNTS_VIEW = "billing_accounts:view"
    BILLING_ACCOUNTS_MANAGE = "billing_accounts:manage"
    APIKEYS_MANAGE = "apikeys:manage"
    DELEGATIONS_MANAGE = "delegations:manage"  # a customer's grants to partners
    ACCOUNT_MANAGERS_MANAGE = "account_managers:manage"  # operator: who handles whom
    LEGACY_IMPORT = "legacy:import"  # operator: customer exports of the legacy systems
    OFFERS_MANAGE = "offers:manage"  # operator: usage imports and the offer rules


class Role(StrEnum):
    """Roles are held per membership (user x organisation)."""

    ADMIN = "admin"
    BUYER = "buyer"
    FINANCE = "finance"
    VIEWER = "viewer"
    PARTNER_ADMIN = "partner_admin"
    PARTNER_AGENT = "partner_agent"
    ACCOUNT_MANAGER = "account_manager"
    SALES_DIRECTOR = "sales_director"
    OPERATOR_ADMIN = "operator_admin"


ROLES_BY_ORG_KIND: dict[str, tuple[Role, ...]] = {
    "customer": (Role.ADMIN, Role.BUYER, Role.FINANCE, Role.VIEWER),
    "partner": (Role.PARTNER_ADMIN, Role.PARTNER_AGENT),
    "operator": (Role.ACCOUNT_MANAGER, Role.SALES_DIRECTOR, Role.OPERATOR_ADMIN),
}

P = Permission
_READ_ESTATE = {P.DASHBOARD_VIEW, P.CATALOG_VIEW, P.SITES_VIEW, P.INVENTORY_VIEW,
                P.BILLING_ACCOUNTS_VIEW, P.QUOTES_VIEW, P.ORDERS_VIEW}
_BUYER = _READ_ESTATE | {P.QUOTES_CREATE, P.ORDERS_CREATE}
_CUSTOMER_ADMIN = _BUYER | {
    P.AUDIT_VIEW, P.USERS_VIEW, P.USERS_MANAGE, P.SSO_MANAGE, P.BILLS_VIEW, P.SITES_MANAGE,
    P.BILLING_ACCOUNTS_MANAGE, P.APIKEYS_MANAGE, P.DELEGATIONS_MANAGE,
}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: frozenset(_READ_ESTATE),
    Role.BUYER: frozenset(_BUYER),
    Role.FINANCE: frozenset(_READ_ESTATE | {P.BILLS_VIEW}),
    Role.ADMIN: frozenset(_CUSTOMER_ADMIN),
    # In their own organisation; acting for a customer, see DELEGATED_* below.
    Role.PARTNER_AGENT: frozenset({P.DASHBOARD_VIEW, P.CATALOG_VIEW}),
    Role.PARTNER_ADMIN: frozenset(
        {P.DASHBOARD_VIEW, P.CATALOG_VIEW, P.AUDIT_VIEW, P.USERS_VIEW, P.USERS_MANAGE,
         P.SSO_MANAGE, P.APIKEYS_MANAGE}
    ),
    # In the operator's organisation, and read-only in the customers assigned to them.
    Role.ACCOUNT_MANAGER: frozenset(_READ_ESTATE | {P.QUOTES_APPROVE}),
    Role.SALES_DIRECTOR: frozenset(
        _READ_ESTATE | {P.QUOTES_APPROVE, P.QUOTES_APPROVE_SECOND}
    ),
    Role.OPERATOR_ADMIN: frozenset(
        {
            P.DASHBOARD_VIEW,
            P.CATALOG_VIEW,
            P.CATALOG_MANAGE,
            P.ORGS_MANAGE,
            P.ACCOUNT_MANAGERS_MANAGE,
            P.LEGACY_IMPORT,
            P.OFFERS_MANAGE,
            P.ORDERS_OPERATE,
            P.APIKEYS_MANAGE,
            P.AUDIT_VIEW,
            P.AUDIT_VIEW_ALL,
            P.USERS_VIEW,
            P.USERS_MANAGE,
            P.SSO_MANAGE,
        }
    ),
}


# What a partner's users may do for a customer that delegated to their organisation: look at
# the estate, plus what each granted scope adds.
DELEGATED_BASE = frozenset({P.DASHBOARD_VIEW, P.CATALOG_VIEW, P.SITES_VIEW, P.INVENTORY_VIEW})
DELEGATION_SCOPE_PERMISSIONS: dict[str, frozenset[Permission]] = {
    "quote": frozenset({P.QUOTES_VIEW, P.QUOTES_CREATE}),
    "order": frozenset({P.QUOTES_VIEW, P.ORDERS_VIEW, P.ORDERS_CREATE}),
    "billing": frozenset({P.BILLS_VIEW, P.BILLING_ACCOUNTS_VIEW}),
}


def delegated_permissions(scopes) -> frozenset[Permission]:
    """What a partner user may do for a customer under a delegation with `scopes`."""
    granted = set(DELEGATED_BASE)
    for scope in scopes:
        granted |= DELEGATION_SCOPE_PERMISSIONS.get(scope, frozenset())
    return frozenset(granted)


def permissions_of(roles) -> frozenset[Permission]:
    """Every permission granted by any of `roles` (unknown role names grant nothing)."""
    granted: set[Permission] = set()
    for role in roles:
        try:
            granted |= ROLE_PERMISSIONS[Role(role)]
        except ValueError:
            continue
    return frozenset(granted)


def can(permission: Permission) -> bool:
    """Whether the signed-in user may do `permission` in the organisation acted for."""
    if not current_user.is_authenticated:
        return False
    granted = g.get("current_permissions")
    if granted is None:
        granted = permissions_of(g.get("current_roles", ()))
    return permission in granted


def require(permission: Permission):
    """Declare the permission a view needs: anonymous users are sent to sign in, signed-in
    users without it get 403."""

    def decorator(view):
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if not can(permission):
                abort(403)
            return view(*args, **kwargs)

        wrapped.required_permission = permission
        return wrapped

    return decorator


def public(view):
    """Declare a view open to everyone (sign-in pages, health check, static files)."""
    view.required_permission = None
    view.is_public = True
    return view


def signed_in(view):
    """Declare a view open to any signed-in user whatever their role (sign-out, switching
    organisation)."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        return view(*args, **kwargs)

    wrapped.required_permission = "signed-in"
    return wrapped
