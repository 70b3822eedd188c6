"""Bills: imports from the billing systems, the portal's own bill run, consolidated bills."""
