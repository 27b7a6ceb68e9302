"""webhook alerts: an alert may be about no client (a webhook endpoint disabled after failed
deliveries, kind webhook_disabled), for the admins (issue 20)

Revision ID: 0022_webhook_alerts
Revises: 0021_interop
Create Date: 2026-12-07 18:20:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0022_webhook_alerts'
down_revision = '0021_interop'
branch_labels = None
depends_on = None

OLD_KINDS = "kind IN ('absence_streak', 'below_target', 'break_glass')"
NEW_KINDS = "kind IN ('absence_streak', 'below_target', 'break_glass', 'webhook_disabled')"


def upgrade():
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.alter_column('client_id', existing_type=sa.Integer(), nullable=True)
        batch_op.alter_column('program_id', existing_type=sa.Integer(), nullable=True)
        batch_op.drop_constraint(batch_op.f('ck_alerts_kind'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_alerts_kind'), NEW_KINDS)


def downgrade():
    # The older schema has an alert for a client only: the webhook ones go.
    op.execute(sa.text("DELETE FROM alerts WHERE kind = 'webhook_disabled'"))
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_alerts_kind'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_alerts_kind'), OLD_KINDS)
        batch_op.alter_column('program_id', existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column('client_id', existing_type=sa.Integer(), nullable=False)
