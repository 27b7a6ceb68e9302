"""feed_versions: a random HMAC key per feed, so event UIDs differ between feeds

Revision ID: 0008_feed_uid_keys
Revises: 0007_account_lockout
Create Date: 2026-12-06 23:40:00.000000

"""
import secrets

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0008_feed_uid_keys'
down_revision = '0007_account_lockout'
branch_labels = None
depends_on = None

feed_versions = sa.table(
    'feed_versions',
    sa.column('owner_kind', sa.String(8)),
    sa.column('owner_id', sa.Integer()),
    sa.column('uid_key', sa.String(64)),
)


def upgrade():
    with op.batch_alter_table('feed_versions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('uid_key', sa.String(length=64), nullable=True))
    # Each feed handed out before this gets its own key. Its events' UIDs change once, here:
    # the old ones (session-<id>-<kind>) are the leak this revision closes.
    conn = op.get_bind()
    owners = conn.execute(sa.select(feed_versions.c.owner_kind, feed_versions.c.owner_id)).all()
    for kind, owner_id in owners:
        conn.execute(
            feed_versions.update()
            .where(feed_versions.c.owner_kind == kind, feed_versions.c.owner_id == owner_id)
            .values(uid_key=secrets.token_hex(32))
        )
    with op.batch_alter_table('feed_versions', schema=None) as batch_op:
        batch_op.alter_column('uid_key', existing_type=sa.String(length=64), nullable=False)


def downgrade():
    with op.batch_alter_table('feed_versions', schema=None) as batch_op:
        batch_op.drop_column('uid_key')
