"""The product catalog as data: its schema, the YAML loader, stored versions, the rules of a
configuration and the pricing engine."""
