"""users.role gains 'kiosk': a front-desk tablet's login, linked to no staff or client record

Revision ID: 0015_kiosk_role
Revises: 0014_working_hours
Create Date: 2026-12-07 09:10:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0015_kiosk_role'
down_revision = '0014_working_hours'
branch_labels = None
depends_on = None

OLD_ROLES = "role IN ('admin', 'coordinator', 'clinician', 'client')"
NEW_ROLES = "role IN ('admin', 'coordinator', 'clinician', 'client', 'kiosk')"
KIOSK_LINK = "role <> 'kiosk' OR (staff_id IS NULL AND client_id IS NULL)"


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_users_role'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_users_role'), NEW_ROLES)
        batch_op.create_check_constraint(batch_op.f('ck_users_kiosk_link'), KIOSK_LINK)


def downgrade():
    # The older schema has no such role: a kiosk login cannot become another role without
    # granting what it never had, so it goes (its sign-ins and tokens cascade; audit events
    # keep its email and lose only the link).
    op.execute(sa.text("DELETE FROM users WHERE role = 'kiosk'"))
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_users_kiosk_link'), type_='check')
        batch_op.drop_constraint(batch_op.f('ck_users_role'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_users_role'), OLD_ROLES)
