"""The usage tests' world: a customer with mobile services ready for usage and offers."""

from __future__ import annotations

import pytest

from usage.usage_data import setup_usage_world


@pytest.fixture
def world(app, factory, quoting):
    """See `usage_data.setup_usage_world`."""
    return setup_usage_world(app, factory, quoting)
