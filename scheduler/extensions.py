"""Extensions, created once and bound to the app in create_app()."""

from typing import TYPE_CHECKING

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_smorest import Api
from flask_sqlalchemy import SQLAlchemy
from flask_sqlalchemy.model import Model as FlaskSQLAlchemyModel
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase

from scheduler.services.search import unicode_lower

# Named constraints keep Alembic migrations identical on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)

# The models' base class, db.Model, named so a type checker can follow it. At run time
# Flask-SQLAlchemy builds db.Model from Base's body with its own model mixins on top (a
# declarative base of its own, sharing Base's metadata). A checker cannot use an attribute as
# a base class (python/mypy#8603), and Flask-SQLAlchemy types db.Model as its mixin alone, so
# the models' Mapped[...] columns would go unchecked; here it is told what db.Model is.
if TYPE_CHECKING:

    class Model(FlaskSQLAlchemyModel, DeclarativeBase):
        pass

else:
    Model = db.Model
migrate = Migrate(render_as_batch=True, compare_type=True)
login_manager = LoginManager()
api = Api()
limiter = Limiter(get_remote_address)
# Pages post forms with a CSRF token; the JSON API is exempt (bearer tokens, JSON bodies only).
csrf = CSRFProtect()


def _is_sqlite(dbapi_connection) -> bool:
    return type(dbapi_connection).__module__.startswith("sqlite3")


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record):
    """Make SQLite enforce foreign keys and wait for locks instead of failing."""
    if not _is_sqlite(dbapi_connection):
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=15000")
    # WAL lets readers go on while one writer holds the lock.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()
    # Searches fold case as PostgreSQL does (services/search.py); SQLite's lower() is ASCII only.
    dbapi_connection.create_function("unicode_lower", 1, unicode_lower, deterministic=True)


@event.listens_for(Engine, "begin")
def _sqlite_begin(conn):
    """BEGIN IMMEDIATE for write transactions: take SQLite's write lock before reading.

    pysqlite's own BEGIN comes only at the first write, too late for a read-then-write
    (capacity, conflicts) to be safe. Other transactions keep that default.
    """
    if conn.dialect.name == "sqlite" and conn.get_execution_options().get("sqlite_immediate"):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
