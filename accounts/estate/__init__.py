"""A customer's estate: sites, billing accounts and the services in inventory."""
