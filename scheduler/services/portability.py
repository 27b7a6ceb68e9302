"""A whole clinic as one versioned JSON document: exported, and imported into an empty database."""

# Every table of the models' metadata goes in, in foreign-key order, each row column by column,
# so a table added later is carried without anyone remembering to list it.

import base64
import os
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation

from alembic.script import ScriptDirectory
from sqlalchemy import JSON, Table, func, inspect, literal, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import scoped_session
from sqlalchemy.types import TypeDecorator

from scheduler import clock
from scheduler.extensions import Base
from scheduler.services import audit
from scheduler.services.audit import Actor
from scheduler.services.errors import DomainError
from scheduler.services.locks import begin_write

FORMAT = "iop-scheduler-export"
VERSION = 1
MIGRATIONS = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "migrations"
)


class ImportRefused(DomainError):
    """The document, or the database it would go into, cannot take this import."""


class SchemaNotCurrent(DomainError):
    """The database's tables are not those of this release's migrations."""


def head_revision() -> str:
    """The Alembic revision the models are at."""
    head = ScriptDirectory(MIGRATIONS).get_current_head()
    if head is None:  # a migrations folder without a single revision: not a release
        raise RuntimeError(f"{MIGRATIONS} holds no migration.")
    return head


def tables() -> list[Table]:
    """Every table of the models, parents before the rows that refer to them."""
    return list(Base.metadata.sorted_tables)


def export_clinic(db: DbSession, actor: Actor, destination: str | None = None) -> dict:
    """Audit the export, then read every table into a JSON-ready document; the caller commits."""
    # The event is recorded first so the file carries the record of its own making: the clinic
    # it moves to still shows who exported it and when. The caller commits the event once the
    # file is written, and rolls it back if writing failed, so no event claims a missing file.
    _begin_snapshot(db)
    schema = _check_schema(db)
    audit.record(db, actor, "export", "clinic", None,
                 after={"format": FORMAT, "version": VERSION, "schema": schema,
                        "destination": destination})
    db.flush()
    return {
        "format": FORMAT,
        "version": VERSION,
        "schema": schema,
        "exported_at": clock.now().isoformat(),
        "tables": {
            table.name: [
                {column.name: _to_json(column, row[column.name]) for column in table.columns}
                for row in db.execute(
                    select(table).order_by(*table.primary_key.columns)
                ).mappings()
            ]
            for table in tables()
        },
    }


def import_clinic(db: DbSession, actor: Actor, document, source: str | None = None) -> dict:
    """Write every row of an export into this empty database; returns rows per table."""
    # Every check comes before the first write, and all of it is the caller's one transaction:
    # a refused import, rolled back, leaves the database as it was.
    rows_by_table = _decode(document)
    begin_write(db)
    _check_schema(db)
    occupied = [table.name for table in tables() if _has_rows(db, table)]
    if occupied:
        raise ImportRefused(
            "The database already holds data (" + ", ".join(occupied[:5])
            + (", …" if len(occupied) > 5 else "")
            + "); import into an empty, migrated database."
        )
    counts = {}
    for table in tables():
        rows = rows_by_table[table.name]
        if rows:
            try:
                db.execute(table.insert(), rows)
            except SQLAlchemyError as error:
                raise ImportRefused(
                    f"tables.{table.name}: the database refused these rows: {_first_line(error)}"
                ) from None
        counts[table.name] = len(rows)
    _reset_sequences(db)
    # After the rows and the sequences, so the import's own event takes the next free id.
    audit.record(db, actor, "import", "clinic", None,
                 after={"format": FORMAT, "version": VERSION, "schema": document["schema"],
                        "exported_at": document.get("exported_at"), "source": source,
                        "rows": counts})
    db.flush()
    return counts


def _begin_snapshot(db: DbSession) -> None:
    """Read every table from one snapshot, so no row in the file lacks the row it refers to."""
    session = db.registry() if isinstance(db, scoped_session) else db
    if session.in_transaction():
        return  # The caller's transaction, as it is.
    if session.get_bind().dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    else:
        begin_write(session)


def _check_schema(db: DbSession) -> str:
    """The head revision, once the database is known to be at it (or built from the models)."""
    head = head_revision()
    connection = db.connection()
    inspector = inspect(connection)
    missing = [t.name for t in tables() if not inspector.has_table(t.name)]
    if missing:
        raise SchemaNotCurrent(
            f"The database has no table {missing[0]}; run `flask --app wsgi db upgrade` first."
        )
    if inspector.has_table("alembic_version"):
        current = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        if current != head:
            raise SchemaNotCurrent(
                f"The database is at schema {current}, this release at {head}; "
                "run `flask --app wsgi db upgrade` first."
            )
    return head


def _has_rows(db: DbSession, table: Table) -> bool:
    return db.execute(select(literal(1)).select_from(table).limit(1)).first() is not None


def _reset_sequences(db: DbSession) -> None:
    """Move each PostgreSQL id sequence past the imported ids, so new rows get fresh ones."""
    if db.get_bind().dialect.name != "postgresql":
        return  # SQLite gives a new row max(id) + 1 anyway.
    for table in tables():
        column = table.autoincrement_column
        if column is None:
            continue
        db.execute(
            select(func.setval(
                func.pg_get_serial_sequence(table.name, column.name),
                func.coalesce(func.max(column), 1),
                func.max(column).is_not(None),
            )).select_from(table)
        )


def _first_line(error: SQLAlchemyError) -> str:
    return str(getattr(error, "orig", None) or error).strip().splitlines()[0]


# --- values ------------------------------------------------------------------------------------


def _to_json(column, value):
    if value is None or isinstance(column.type, JSON):
        return value
    kind = _python_type(column)
    if kind is datetime:
        if value.tzinfo is None:
            raise ValueError(f"{column.table.name}.{column.name} holds a naive datetime")
        return value.astimezone(UTC).isoformat()
    if kind in (date, time):
        return value.isoformat()
    if kind is Decimal:
        return str(value)
    if kind is bytes:
        return base64.b64encode(value).decode("ascii")
    if kind in (bool, int, str):
        return value
    raise TypeError(f"No JSON form for {column.table.name}.{column.name} ({kind.__name__})")


def _python_type(column) -> type:
    column_type = column.type
    if isinstance(column_type, TypeDecorator):
        column_type = column_type.impl_instance
    return column_type.python_type


def _from_json(column, value):
    """The column's value from its JSON form; ValueError says what is wrong with it."""
    if value is None:
        if not column.nullable:
            raise ValueError("must not be null")
        return None
    if isinstance(column.type, JSON):
        return value
    kind = _python_type(column)
    if kind is datetime:
        parsed = _parse(datetime.fromisoformat, value, "an ISO 8601 date-time with a UTC offset")
        if parsed.tzinfo is None:
            raise ValueError("must be an ISO 8601 date-time with a UTC offset")
        return parsed.astimezone(UTC)
    if kind is date:
        return _parse(date.fromisoformat, value, "an ISO 8601 date")
    if kind is time:
        return _parse(time.fromisoformat, value, "an ISO 8601 time")
    if kind is Decimal:
        return _parse(Decimal, value, "a decimal number in a string")
    if kind is bytes:
        return _parse(lambda v: base64.b64decode(v, validate=True), value, "base64 text")
    if kind is bool and not isinstance(value, bool):
        raise ValueError("must be true or false")
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ValueError("must be an integer")
    if kind is str and not isinstance(value, str):
        raise ValueError("must be a string")
    return value


def _parse(parser, value, what: str):
    """The parsed text, or ValueError saying what the value must be."""
    if isinstance(value, str):
        try:
            return parser(value)
        except (ValueError, InvalidOperation):
            pass
    raise ValueError(f"must be {what}")


def _decode(document) -> dict[str, list[dict]]:
    """Every row of the document as column values, or ImportRefused naming the first fault."""
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ImportRefused(f"Not an IOP Scheduler export (format is not {FORMAT!r}).")
    version = document.get("version")
    if version != VERSION or isinstance(version, bool):
        raise ImportRefused(
            f"Export format version {version!r} is not supported; this release reads {VERSION}."
        )
    head = head_revision()
    if document.get("schema") != head:
        raise ImportRefused(
            f"The export is of schema {document.get('schema')!r}, this release is at {head}; "
            "import it with the release that made it, or upgrade that clinic and export again."
        )
    found = document.get("tables")
    if not isinstance(found, dict):
        raise ImportRefused("tables: must be an object of table name to rows.")
    known = {table.name for table in tables()}
    unknown = sorted(set(found) - known)
    if unknown:
        raise ImportRefused(f"tables.{unknown[0]}: no such table in this release.")
    decoded = {}
    for table in tables():
        rows = found.get(table.name)
        if not isinstance(rows, list):
            raise ImportRefused(f"tables.{table.name}: missing, or not a list of rows.")
        decoded[table.name] = [_decode_row(table, index, row) for index, row in enumerate(rows)]
    return decoded


def _decode_row(table: Table, index: int, row) -> dict:
    where = f"tables.{table.name}[{index}]"
    if not isinstance(row, dict):
        raise ImportRefused(f"{where}: must be an object of column name to value.")
    names = {column.name for column in table.columns}
    wrong = sorted(names ^ set(row))
    if wrong:
        problem = "is missing" if wrong[0] in names else "is not a column of this table"
        raise ImportRefused(f"{where}.{wrong[0]}: {problem}.")
    values = {}
    for column in table.columns:
        try:
            values[column.name] = _from_json(column, row[column.name])
        except ValueError as error:
            raise ImportRefused(f"{where}.{column.name}: {error}.") from None
    return values
