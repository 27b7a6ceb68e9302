"""load indexes: what the 20,000-client load bench's EXPLAIN found read without an index
(issue 19, "Speed")

The client name search (services/search.py: each word typed begins the folded name or one of
its words) gets a trigram index on lower(name) on PostgreSQL: pg_trgm answers '% smi%' as well
as 'smi%', which a b-tree cannot. SQLite has no such index; a single clinic's clients are read
without it, as before.

pg_trgm ships with PostgreSQL's contrib package (Debian's postgresql-15 has it) and is a trusted
extension since PostgreSQL 13: the database's owner, or a role with CREATE on the database, can
create it without being a superuser.

Revision ID: 0020_load_indexes
Revises: 0019_sites
Create Date: 2026-12-07 16:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0020_load_indexes'
down_revision = '0019_sites'
branch_labels = None
depends_on = None


def _trigram_schema(conn) -> str:
    """The schema pg_trgm lives in: public, unless an operator installed it elsewhere before.
    Its operator class is named with it, so the index builds whatever the search path."""
    conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public"))
    return conn.execute(sa.text(
        "SELECT extnamespace::regnamespace::text FROM pg_extension "
        "WHERE extname = 'pg_trgm'")).scalar_one()


def upgrade():
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        schema = _trigram_schema(conn)
        op.execute(sa.text(f"CREATE INDEX ix_clients_name_trgm ON clients "
                           f"USING gin (lower(name) {schema}.gin_trgm_ops)"))


def downgrade():
    # The extension stays: other schemas of the database may use it.
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index('ix_clients_name_trgm', table_name='clients')
