"""One customer across the legacy systems: import their customer exports, match the
accounts to organisations, and bring their sites and services into the inventory."""
