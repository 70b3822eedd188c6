"""Bills found by billing account, period and source system (the bill run's lookups).

Revision ID: 0010_bills_by_account
Revises: 0009_usage
"""

from alembic import op

revision = "0010_bills_by_account"
down_revision = "0009_usage"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_bills_account_period", "bills",
                    ["billing_account_id", "period", "source_system"])


def downgrade() -> None:
    op.drop_index("ix_bills_account_period", table_name="bills")
