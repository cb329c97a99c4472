"""Permissions each route declares, and the built-in roles that bundle them.

A user's permissions are the union of their roles'. Built-in roles are defined
here, not in the store, so an upgrade that adds a permission reaches them.
"""

from __future__ import annotations

from enum import StrEnum


class Permission(StrEnum):
    ALERT_SUBMIT = "alert:submit"  # create, update, cancel alerts
    ALERT_READ = "alert:read"  # alerts and their delivery status
    CRM_READ = "crm:read"
    CRM_WRITE = "crm:write"
    PROVISION = "provision:run"  # run provisioning plays
    OCS_READ = "ocs:read"  # balances, usage
    OCS_WRITE = "ocs:write"  # top-ups, adjustments
    NETWORK_READ = "network:read"  # peer links, sessions
    NETWORK_WRITE = "network:write"  # network inventory (cells)
    SYSTEM_READ = "system:read"  # daemon status, effective config summary
    USER_ADMIN = "user:admin"  # users, roles, anybody's API keys
    APIKEY_OWN = "apikey:own"  # create and revoke one's own API keys


ALL_PERMISSIONS: frozenset[str] = frozenset(p.value for p in Permission)

BUILTIN_ROLES: dict[str, tuple[str, frozenset[str]]] = {
    "admin": ("Everything, including users and roles", ALL_PERMISSIONS),
    "crm": (
        "CRM and provisioning systems",
        frozenset(
            {
                Permission.CRM_READ,
                Permission.CRM_WRITE,
                Permission.PROVISION,
                Permission.OCS_READ,
                Permission.OCS_WRITE,
                Permission.APIKEY_OWN,
            }
        ),
    ),
    "alerting": (
        "Emergency authority: submit and cancel alerts, read their status, nothing else",
        frozenset({Permission.ALERT_SUBMIT, Permission.ALERT_READ}),
    ),
    "noc": (
        "Network operations centre: read-only",
        frozenset(
            {
                Permission.ALERT_READ,
                Permission.CRM_READ,
                Permission.OCS_READ,
                Permission.NETWORK_READ,
                Permission.SYSTEM_READ,
            }
        ),
    ),
}


def unknown(permissions: list[str] | set[str] | frozenset[str]) -> list[str]:
    """The names in `permissions` that are not permissions, sorted."""
    return sorted(set(permissions) - ALL_PERMISSIONS)
