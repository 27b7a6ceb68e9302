"""sites: programs and rooms belong to a site, staff work at sites, coordinators may be scoped
to sites, and clinicians may break the glass (issue 19)

An existing clinic moves into one site, "Main site", in its first program's zone and address:
every program, room and staff member is at it, and no login is scoped, so everyone sees what
they saw before.

Revision ID: 0019_sites
Revises: 0018_discharged_plans_end
Create Date: 2026-12-07 16:00:00.000000

"""
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0019_sites'
down_revision = '0018_discharged_plans_end'
branch_labels = None
depends_on = None

OLD_KINDS = "kind IN ('absence_streak', 'below_target')"
NEW_KINDS = "kind IN ('absence_streak', 'below_target', 'break_glass')"
DEFAULT_SITE = "Main site"


def _default_site(conn) -> int | None:
    """The one site an existing clinic moves into; None for an empty database."""
    first = conn.execute(sa.text(
        "SELECT timezone, address FROM programs ORDER BY id LIMIT 1")).first()
    has_rooms = conn.execute(sa.text("SELECT count(*) FROM rooms")).scalar()
    has_staff = conn.execute(sa.text("SELECT count(*) FROM staff")).scalar()
    if first is None and not has_rooms and not has_staff:
        return None
    timezone, address = first if first is not None else ("America/New_York", None)
    at = datetime.now(UTC)
    conn.execute(sa.text(
        "INSERT INTO sites (name, address, timezone, is_active, created_at, updated_at)"
        " VALUES (:name, :address, :timezone, :yes, :at, :at)"),
        {"name": DEFAULT_SITE, "address": address, "timezone": timezone, "yes": True, "at": at})
    return conn.execute(sa.text("SELECT id FROM sites WHERE name = :name"),
                        {"name": DEFAULT_SITE}).scalar_one()


def upgrade():
    op.create_table(
        'sites',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('address', sa.String(length=300), nullable=True),
        sa.Column('timezone', sa.String(length=64), nullable=False),
        sa.Column('is_active', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sites')),
        sa.UniqueConstraint('name', name=op.f('uq_sites_name')),
    )
    conn = op.get_bind()
    site_id = _default_site(conn)

    for table in ('programs', 'rooms'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('site_id', sa.Integer(), nullable=True))
        if site_id is not None:
            conn.execute(sa.text(f"UPDATE {table} SET site_id = :site"), {"site": site_id})
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column('site_id', existing_type=sa.Integer(), nullable=False)
            batch_op.create_foreign_key(batch_op.f(f'fk_{table}_site_id_sites'), 'sites',
                                        ['site_id'], ['id'], ondelete='RESTRICT')
            batch_op.create_index(batch_op.f(f'ix_{table}_site_id'), ['site_id'], unique=False)
    with op.batch_alter_table('rooms', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_rooms_name'), type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_rooms_site_id_name'),
                                          ['site_id', 'name'])

    for table, owner, owner_table in (('staff_sites', 'staff_id', 'staff'),
                                      ('user_sites', 'user_id', 'users')):
        op.create_table(
            table,
            sa.Column(owner, sa.Integer(), nullable=False),
            sa.Column('site_id', sa.Integer(), nullable=False),
            sa.ForeignKeyConstraint([owner], [f'{owner_table}.id'],
                                    name=op.f(f'fk_{table}_{owner}_{owner_table}'),
                                    ondelete='CASCADE'),
            sa.ForeignKeyConstraint(['site_id'], ['sites.id'],
                                    name=op.f(f'fk_{table}_site_id_sites'), ondelete='RESTRICT'),
            sa.PrimaryKeyConstraint(owner, 'site_id', name=op.f(f'pk_{table}')),
        )
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(batch_op.f(f'ix_{table}_site_id'), ['site_id'], unique=False)
    if site_id is not None:
        conn.execute(sa.text("INSERT INTO staff_sites (staff_id, site_id)"
                             " SELECT id, :site FROM staff"), {"site": site_id})

    op.create_table(
        'break_glass_grants',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('client_id', sa.Integer(), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('granted_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint('expires_at > granted_at', name=op.f('ck_break_glass_grants_expiry')),
        sa.ForeignKeyConstraint(['client_id'], ['clients.id'],
                                name=op.f('fk_break_glass_grants_client_id_clients'),
                                ondelete='RESTRICT'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'],
                                name=op.f('fk_break_glass_grants_user_id_users'),
                                ondelete='RESTRICT'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_break_glass_grants')),
    )
    with op.batch_alter_table('break_glass_grants', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_break_glass_grants_client_id'), ['client_id'],
                              unique=False)
        batch_op.create_index('ix_break_glass_grants_user_client',
                              ['user_id', 'client_id', 'expires_at'], unique=False)

    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_alerts_kind'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_alerts_kind'), NEW_KINDS)
    # A clinician's caseload starts from the active plans that name them.
    with op.batch_alter_table('treatment_plans', schema=None) as batch_op:
        batch_op.create_index('ix_treatment_plans_therapist_status',
                              ['primary_therapist_id', 'status'], unique=False)


def downgrade():
    with op.batch_alter_table('treatment_plans', schema=None) as batch_op:
        batch_op.drop_index('ix_treatment_plans_therapist_status')
    # The older schema has no break-glass alert: those alerts go with the grants.
    op.execute(sa.text("DELETE FROM alerts WHERE kind = 'break_glass'"))
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_alerts_kind'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_alerts_kind'), OLD_KINDS)
    op.drop_table('break_glass_grants')
    op.drop_table('user_sites')
    op.drop_table('staff_sites')
    conn = op.get_bind()
    # Room names were unique across the network: a second site's "Room B" takes its site's
    # name in brackets so that no room is lost.
    conn.execute(sa.text(
        "UPDATE rooms SET name = name || ' (' || (SELECT sites.name FROM sites"
        " WHERE sites.id = rooms.site_id) || ')' WHERE EXISTS (SELECT 1 FROM rooms AS other"
        " WHERE other.name = rooms.name AND other.id < rooms.id)"))
    with op.batch_alter_table('rooms', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_rooms_site_id_name'), type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_rooms_name'), ['name'])
    for table in ('rooms', 'programs'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(f'ix_{table}_site_id'))
            batch_op.drop_constraint(batch_op.f(f'fk_{table}_site_id_sites'), type_='foreignkey')
            batch_op.drop_column('site_id')
    op.drop_table('sites')
