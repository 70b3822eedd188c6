"""The configurator (cart), and later quotes, their versions, approvals and acceptance."""
