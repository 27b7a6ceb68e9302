"""closures: days a program is closed, the sessions each cancelled; program country; moved_from

Revision ID: 0013_closures
Revises: 0012_account_lifecycle
Create Date: 2026-12-07 09:15:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0013_closures'
down_revision = '0012_account_lifecycle'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'closures',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('program_id', sa.Integer(), nullable=False),
        sa.Column('starts_on', sa.Date(), nullable=False),
        sa.Column('ends_on', sa.Date(), nullable=False),
        sa.Column('reason', sa.String(length=500), nullable=False),
        sa.Column('created_by_user_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('lifted_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('lifted_by_user_id', sa.Integer(), nullable=True),
        sa.CheckConstraint('ends_on >= starts_on', name=op.f('ck_closures_dates')),
        sa.ForeignKeyConstraint(['program_id'], ['programs.id'],
                                name=op.f('fk_closures_program_id_programs'), ondelete='RESTRICT'),
        sa.ForeignKeyConstraint(['created_by_user_id'], ['users.id'],
                                name=op.f('fk_closures_created_by_user_id_users'),
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['lifted_by_user_id'], ['users.id'],
                                name=op.f('fk_closures_lifted_by_user_id_users'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_closures')),
    )
    with op.batch_alter_table('closures', schema=None) as batch_op:
        batch_op.create_index('ix_closures_program_dates', ['program_id', 'starts_on', 'ends_on'],
                              unique=False)
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('closure_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('moved_from', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_sessions_closure_id'), ['closure_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_sessions_closure_id_closures'), 'closures',
                                    ['closure_id'], ['id'], ondelete='RESTRICT')
    with op.batch_alter_table('programs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('country', sa.String(length=2), server_default='US',
                                      nullable=False))


def downgrade():
    with op.batch_alter_table('programs', schema=None) as batch_op:
        batch_op.drop_column('country')
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_sessions_closure_id_closures'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_sessions_closure_id'))
        batch_op.drop_column('moved_from')
        batch_op.drop_column('closure_id')
    with op.batch_alter_table('closures', schema=None) as batch_op:
        batch_op.drop_index('ix_closures_program_dates')
    op.drop_table('closures')
