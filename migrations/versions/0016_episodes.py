"""episodes: one stay in treatment per row, and clients' date of birth

Every existing client gets one episode from its current program, dates and plan.

Revision ID: 0016_episodes
Revises: 0015_kiosk_role
Create Date: 2026-12-07 09:10:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0016_episodes'
down_revision = '0015_kiosk_role'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('clients', schema=None) as batch_op:
        batch_op.add_column(sa.Column('date_of_birth', sa.Date(), nullable=True))
    op.create_table(
        'episodes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('client_id', sa.Integer(), nullable=False),
        sa.Column('program_id', sa.Integer(), nullable=False),
        sa.Column('admitted_on', sa.Date(), nullable=False),
        sa.Column('discharged_on', sa.Date(), nullable=True),
        sa.Column('level_of_care', sa.String(length=8), nullable=False),
        sa.Column('plan_id', sa.Integer(), nullable=True),
        sa.Column('discharge_reason', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint('discharged_on IS NULL OR discharged_on >= admitted_on',
                           name=op.f('ck_episodes_discharge_after_admit')),
        sa.ForeignKeyConstraint(['client_id'], ['clients.id'],
                                name=op.f('fk_episodes_client_id_clients'), ondelete='RESTRICT'),
        sa.ForeignKeyConstraint(['plan_id'], ['treatment_plans.id'],
                                name=op.f('fk_episodes_plan_id_treatment_plans'),
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['program_id'], ['programs.id'],
                                name=op.f('fk_episodes_program_id_programs'),
                                ondelete='RESTRICT'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_episodes')),
    )
    with op.batch_alter_table('episodes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_episodes_client_id'), ['client_id'], unique=False)
    # One episode per client from what the client row says today. Its plan is the active
    # version, else the newest one; the discharge reason, if any, is in the audit trail only.
    op.execute(
        "INSERT INTO episodes (client_id, program_id, admitted_on, discharged_on, level_of_care,"
        " plan_id, created_at)"
        " SELECT c.id, c.program_id, c.admitted_on, c.discharged_on, p.level_of_care,"
        " (SELECT tp.id FROM treatment_plans tp WHERE tp.client_id = c.id"
        "  ORDER BY CASE WHEN tp.status = 'active' THEN 0 ELSE 1 END, tp.version DESC"
        "  LIMIT 1),"
        " c.created_at"
        " FROM clients c JOIN programs p ON p.id = c.program_id ORDER BY c.id"
    )


def downgrade():
    with op.batch_alter_table('episodes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_episodes_client_id'))
    op.drop_table('episodes')
    # Not batch mode: on SQLite that copies the clients table and drops the original, which
    # every row referring to a client forbids. SQLite (3.35 on) drops a plain column in place.
    op.drop_column('clients', 'date_of_birth')
