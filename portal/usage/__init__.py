"""Usage and offers: data used against the allowance per service and period, bill-shock
alerts, plan recommendations and upgrade offers (docs/USAGE.md)."""
