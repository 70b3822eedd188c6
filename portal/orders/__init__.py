"""Orders: from accepted quotes and self-serve service changes, routed to the order backend."""
