"""Alembic environment: the portal's models and the app's DATABASE_URL."""

from alembic import context
from sqlalchemy import create_engine, pool

import accounts.estate.models  # noqa: F401 - registers the tables
import accounts.legacy.models  # noqa: F401
import accounts.models  # noqa: F401
import portal.audit  # noqa: F401
import portal.billing.models  # noqa: F401
import portal.catalog.models  # noqa: F401
import portal.notifications.models  # noqa: F401
import portal.orders.models  # noqa: F401
import portal.sessions  # noqa: F401
import portal.usage.models  # noqa: F401
import quotes.models  # noqa: F401
from portal.db import Base, UTCDateTime

config = context.config
target_metadata = Base.metadata


def render_item(type_, obj, autogen_context):
    """Write the UTC datetime type as a plain timezone-aware DateTime in migrations."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run_migrations_offline() -> None:
    context.configure(url=config.attributes["database_url"], target_metadata=target_metadata,
                      literal_binds=True, render_as_batch=True, render_item=render_item)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = config.attributes.get("connection")
    if connectable is None:
        connectable = create_engine(config.attributes["database_url"], poolclass=pool.NullPool)
    with connectable.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata,
                          render_as_batch=True, render_item=render_item)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
