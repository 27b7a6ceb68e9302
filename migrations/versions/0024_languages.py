"""languages: a client's language (their portal, emails and calendar) and a staff member's
page language (issue 21)

Revision ID: 0024_languages
Revises: 0023_fhir_change_indexes
Create Date: 2026-12-07 21:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0024_languages'
down_revision = '0023_fhir_change_indexes'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('clients', schema=None) as batch_op:
        batch_op.add_column(sa.Column('language', sa.String(length=8), server_default='en',
                                      nullable=False))
        batch_op.create_check_constraint(batch_op.f('ck_clients_language'),
                                         "language IN ('en', 'es')")
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('language', sa.String(length=8), nullable=True))
        batch_op.create_check_constraint(batch_op.f('ck_users_language'),
                                         "language IS NULL OR language IN ('en', 'es')")


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_users_language'), type_='check')
        batch_op.drop_column('language')
    with op.batch_alter_table('clients', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_clients_language'), type_='check')
        batch_op.drop_column('language')
