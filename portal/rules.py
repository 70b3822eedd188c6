"""Business-rule errors, shared by every service (no web framework here)."""


class RuleError(ValueError):
    """A request that breaks a business rule; the message is shown to the user as it is."""
