"""schedule proposals, clients' preferred times and programs' minimum group size (issue 18)

Revision ID: 0017_proposals
Revises: 0016_episodes
Create Date: 2026-12-07 12:10:00.000000

"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0017_proposals'
down_revision = '0016_episodes'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')


def upgrade():
    with op.batch_alter_table('programs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('min_group_size', sa.Integer(), nullable=True))
        batch_op.create_check_constraint(
            op.f('ck_programs_min_group_size'), 'min_group_size IS NULL OR min_group_size >= 1')

    op.create_table(
        'client_preferred_times',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('client_id', sa.Integer(), nullable=False),
        sa.Column('weekday', sa.Integer(), nullable=False),
        sa.Column('start_time', sa.Time(), nullable=False),
        sa.Column('end_time', sa.Time(), nullable=False),
        sa.Column('label', sa.String(length=120), nullable=True),
        sa.CheckConstraint('start_time < end_time', name=op.f('ck_client_preferred_times_times')),
        sa.CheckConstraint('weekday BETWEEN 0 AND 6',
                           name=op.f('ck_client_preferred_times_weekday')),
        sa.ForeignKeyConstraint(['client_id'], ['clients.id'],
                                name=op.f('fk_client_preferred_times_client_id_clients'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_client_preferred_times')),
    )
    with op.batch_alter_table('client_preferred_times', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_client_preferred_times_client_id'), ['client_id'],
                              unique=False)

    op.create_table(
        'schedule_proposals',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('program_id', sa.Integer(), nullable=False),
        sa.Column('client_id', sa.Integer(), nullable=True),
        sa.Column('client_ids', JSON, nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('from_date', sa.Date(), nullable=False),
        sa.Column('weeks', sa.Integer(), nullable=False),
        sa.Column('body', JSON, nullable=False),
        sa.Column('actions', JSON, nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('created_by_user_id', sa.Integer(), nullable=True),
        sa.Column('accepted_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('accepted_by_user_id', sa.Integer(), nullable=True),
        sa.Column('result', JSON, nullable=True),
        sa.CheckConstraint("kind IN ('schedule', 'cohort', 'make_up')",
                           name=op.f('ck_schedule_proposals_kind')),
        sa.CheckConstraint("status IN ('proposed', 'accepted')",
                           name=op.f('ck_schedule_proposals_status')),
        sa.CheckConstraint('weeks >= 1', name=op.f('ck_schedule_proposals_weeks')),
        sa.ForeignKeyConstraint(['program_id'], ['programs.id'],
                                name=op.f('fk_schedule_proposals_program_id_programs'),
                                ondelete='RESTRICT'),
        sa.ForeignKeyConstraint(['client_id'], ['clients.id'],
                                name=op.f('fk_schedule_proposals_client_id_clients'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['created_by_user_id'], ['users.id'],
                                name=op.f('fk_schedule_proposals_created_by_user_id_users'),
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['accepted_by_user_id'], ['users.id'],
                                name=op.f('fk_schedule_proposals_accepted_by_user_id_users'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_schedule_proposals')),
    )
    with op.batch_alter_table('schedule_proposals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_schedule_proposals_program_id'), ['program_id'],
                              unique=False)
        batch_op.create_index('ix_schedule_proposals_client_created',
                              ['client_id', 'created_at'], unique=False)


def downgrade():
    with op.batch_alter_table('schedule_proposals', schema=None) as batch_op:
        batch_op.drop_index('ix_schedule_proposals_client_created')
        batch_op.drop_index(batch_op.f('ix_schedule_proposals_program_id'))
    op.drop_table('schedule_proposals')
    with op.batch_alter_table('client_preferred_times', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_client_preferred_times_client_id'))
    op.drop_table('client_preferred_times')
    with op.batch_alter_table('programs', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_programs_min_group_size'), type_='check')
        batch_op.drop_column('min_group_size')
