"""Setup shared by the benchmarks: a fresh database, the app on it, the migrations to head.

Each benchmark builds its schema the way a deployment does (`flask db upgrade`, i.e. the Alembic
migrations run through the app), in a database nothing else uses: a new SQLite file in a
temporary directory, or a throwaway schema in the PostgreSQL database given with
--database-url, dropped afterwards. Nothing else in that database is touched.

Importable as `bench.support` once the repository root is on sys.path (the benchmarks put it
there themselves).
"""

import logging
import os
import secrets
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from config import normalize_database_url
from scheduler import create_app


def database_url_argument(parser, args) -> str | None:
    """The --database-url given, normalised; None for SQLite. Errors out on anything else."""
    base_url = normalize_database_url(args.database_url)
    if base_url and not base_url.startswith("postgresql"):
        parser.error("--database-url must be a postgresql:// URL (SQLite is the default).")
    return base_url


@contextmanager
def fresh_database(base_url: str | None, workdir: str, label: str):
    """A URL to an empty database: a new SQLite file, or a throwaway PostgreSQL schema."""
    if base_url is None:
        path = os.path.join(workdir, f"{label}-{secrets.token_hex(4)}.sqlite")
        try:
            yield f"sqlite:///{path}"
        finally:
            if os.path.exists(path):
                os.remove(path)
        return
    schema = f"bench_{label}_{secrets.token_hex(4)}"
    admin = create_engine(base_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(base_url).update_query_dict(
        {"options": f"-csearch_path={schema}"}
    ).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def make_app(url: str):
    return create_app({"CONFIG_NAME": "testing", "SQLALCHEMY_DATABASE_URI": url})


def migrate_to_head() -> None:
    """`flask db upgrade` for the app in context."""
    import flask_migrate

    # migrations/env.py reconfigures logging and Alembic narrates each step at INFO.
    logging.disable(logging.INFO)
    try:
        flask_migrate.upgrade()
    finally:
        logging.disable(logging.NOTSET)


def describe(url: str | None) -> str:
    if url is None:
        return "SQLite (a file in a temp dir)"
    return "PostgreSQL " + make_url(url).render_as_string(hide_password=True)
