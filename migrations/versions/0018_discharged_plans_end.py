"""discharged clients' plans end: a discharge now ends the plan with the stay

Before this revision a discharge left the client's plan active until a re-admission ended it.
Those plans end here, each with an audit event saying why, as a discharge files it today.

Revision ID: 0018_discharged_plans_end
Revises: 0017_proposals
Create Date: 2026-12-07 15:20:00.000000

"""
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0018_discharged_plans_end'
down_revision = '0017_proposals'
branch_labels = None
depends_on = None

plans = sa.table('treatment_plans', sa.column('id', sa.Integer), sa.column('client_id', sa.Integer),
                 sa.column('status', sa.String))
clients = sa.table('clients', sa.column('id', sa.Integer), sa.column('status', sa.String))
audit_events = sa.table(
    'audit_events', sa.column('occurred_at', sa.DateTime(timezone=True)),
    sa.column('actor', sa.String), sa.column('action', sa.String),
    sa.column('entity_type', sa.String), sa.column('entity_id', sa.Integer),
    sa.column('before', sa.JSON), sa.column('after', sa.JSON), sa.column('reason', sa.Text))


def upgrade():
    conn = op.get_bind()
    left_active = conn.execute(
        sa.select(plans.c.id).join(clients, clients.c.id == plans.c.client_id)
        .where(plans.c.status == 'active', clients.c.status == 'discharged')
        .order_by(plans.c.id)).scalars().all()
    if not left_active:
        return
    conn.execute(plans.update().where(plans.c.id.in_(left_active)).values(status='ended'))
    at = datetime.now(UTC)
    conn.execute(audit_events.insert(), [
        {"occurred_at": at, "actor": "migration 0018", "action": "end",
         "entity_type": "treatment_plan", "entity_id": plan_id, "before": {"status": "active"},
         "after": {"status": "ended"}, "reason": "Client discharged"}
        for plan_id in left_active])


def downgrade():
    # Nothing to undo: the older code reads an ended plan of a discharged client as it reads
    # one that re-admission ended.
    pass
