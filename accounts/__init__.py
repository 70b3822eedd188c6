"""Organisations, users, memberships and single sign-on."""
