"""Notifications: messages for a person, shown in the portal and sent by e-mail."""
