"""staff_working_hours: each staff member's weekly hours; facilitating outside them conflicts

Revision ID: 0014_working_hours
Revises: 0013_closures
Create Date: 2026-12-07 09:10:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0014_working_hours'
down_revision = '0013_closures'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'staff_working_hours',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('staff_id', sa.Integer(), nullable=False),
        sa.Column('weekday', sa.Integer(), nullable=False),
        sa.Column('start_time', sa.Time(), nullable=False),
        sa.Column('end_time', sa.Time(), nullable=False),
        sa.CheckConstraint('start_time < end_time', name=op.f('ck_staff_working_hours_times')),
        sa.CheckConstraint('weekday BETWEEN 0 AND 6',
                           name=op.f('ck_staff_working_hours_weekday')),
        sa.ForeignKeyConstraint(['staff_id'], ['staff.id'],
                                name=op.f('fk_staff_working_hours_staff_id_staff'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_working_hours')),
    )
    with op.batch_alter_table('staff_working_hours', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_staff_working_hours_staff_id'), ['staff_id'],
                              unique=False)


def downgrade():
    with op.batch_alter_table('staff_working_hours', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_staff_working_hours_staff_id'))
    op.drop_table('staff_working_hours')
