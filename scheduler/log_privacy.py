"""What a log line may carry (42 CFR Part 2): no client data, no secrets.

The engine runs with hide_parameters, so SQLAlchemy's messages no longer quote bound values.
That is not enough on its own: PostgreSQL quotes values in its own messages ('Key
(email)=(…) already exists', 'invalid input syntax for type integer: "…"'), SQLAlchemy's
debug echo prints result rows, and request lines (werkzeug's, gunicorn's, Flask's "Exception
on /path") carry the secret token of a feed URL or of an emailed link. Every log record passes
through one filter, installed as the process's LogRecord factory so that it covers every
library's logger whatever handlers the deployment attaches: it hides those tokens in the
message and its arguments, and replaces a database error (as an argument or in the
traceback) with a line naming its kind, SQLSTATE and constraint but none of its values.
"""

import logging
import re
import sqlite3
import traceback
from collections.abc import MutableMapping

import psycopg
from sqlalchemy import exc as sa_exc

FEED_PATH = re.compile(r"(/feeds/)[^/\s\"'?#]+(\.ics)")
HIDDEN_TOKEN = r"\1[token hidden]\2"
# The one-time links emailed for an invitation or a password reset: whoever reads the log
# could otherwise set the password before its owner does.
LINK_PATH = re.compile(r"(/(?:invite|reset)/)[^/\s\"'?#]+")
HIDDEN_LINK = r"\1[token hidden]"
# A path's query string, in a request line or a Referer: up to the next space or quote.
QUERY = re.compile(r"(/[^\s\"'?]*)\?[^\s\"']+")
HIDDEN_QUERY = r"\1?[query hidden]"
# SQL is ours (bound parameters, never inlined values) but long; the start says which.
SQL_SHOWN = 300
_CAUSE = "\nThe above exception was the direct cause of the following exception:\n\n"
_CONTEXT = "\nDuring handling of the above exception, another exception occurred:\n\n"


def hide_secrets(text: str) -> str:
    """A feed URL's or emailed link's token, and any path's query string, replaced by a
    placeholder."""
    if "/" not in text:
        return text
    if "/feeds/" in text:
        text = FEED_PATH.sub(HIDDEN_TOKEN, text)
    if "/invite/" in text or "/reset/" in text:
        text = LINK_PATH.sub(HIDDEN_LINK, text)
    if "?" in text:
        text = QUERY.sub(HIDDEN_QUERY, text)
    return text


def is_database_error(error: BaseException) -> bool:
    return isinstance(error, (sa_exc.StatementError, psycopg.Error, sqlite3.Error))


def describe(error: BaseException) -> str:
    """One line naming a database error without any value it was given or quotes back."""
    if isinstance(error, sa_exc.StatementError):
        inner = error.orig
        kind = describe(inner) if is_database_error(inner) else type(inner).__name__
        sql = " ".join(str(error.statement or "").split())
        if len(sql) > SQL_SHOWN:
            sql = sql[:SQL_SHOWN] + "…"
        return f"{kind} [SQL: {sql}]" if sql else kind
    if isinstance(error, psycopg.Error):
        name = type(error).__name__
        if error.sqlstate is None:
            # Raised by the driver itself (cannot connect, connection lost, NUL in text):
            # its words name the situation, never a value.
            first = str(error).strip().splitlines()[0] if str(error).strip() else ""
            return f"{name}: {first}" if first else name
        diag = error.diag
        names = [f"{label}={value}" for label, value in (
            ("table", diag.table_name), ("column", diag.column_name),
            ("constraint", diag.constraint_name)) if value]
        return " ".join([f"{name} (SQLSTATE {error.sqlstate})", *names])
    if isinstance(error, sqlite3.Error):
        # SQLite's messages name tables, columns and constraints, not the values.
        code = getattr(error, "sqlite_errorname", None)
        return f"{type(error).__name__} ({code}): {error}" if code else \
            f"{type(error).__name__}: {error}"
    return type(error).__name__


def error_line(error: BaseException) -> str:
    """The last line of a traceback for this error, with a database error's values left out."""
    if is_database_error(error):
        return f"{_qualified(type(error))}: {describe(error)}"
    return hide_secrets("".join(traceback.format_exception_only(error)).strip())


def safe_traceback(error: BaseException) -> str:
    """The whole traceback, chained exceptions included, each ending in its error_line."""
    chain: list[tuple[BaseException, str]] = []
    seen: set[int] = set()
    link = ""
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append((current, link))
        if current.__cause__ is not None:
            current, link = current.__cause__, _CAUSE
        elif current.__context__ is not None and not current.__suppress_context__:
            current, link = current.__context__, _CONTEXT
        else:
            current = None
    parts = []
    for exception, relation in reversed(chain):
        if exception.__traceback__ is not None:
            parts.append("Traceback (most recent call last):\n")
            parts.extend(traceback.format_tb(exception.__traceback__))
        parts.append(error_line(exception) + "\n")
        parts.append(relation)
    return "".join(parts).rstrip("\n")


def _qualified(cls: type) -> str:
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


def _in_chain(error: BaseException, test) -> bool:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if test(current):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def _safe_arg(value):
    if isinstance(value, str):
        return hide_secrets(value)
    if isinstance(value, BaseException) and is_database_error(value):
        return describe(value)
    return value


def scrub(record: logging.LogRecord) -> None:
    """Make one record safe to write anywhere; it is changed in place."""
    if isinstance(record.msg, str):
        record.msg = hide_secrets(record.msg)
        if record.msg == "Row %r" and record.name.startswith("sqlalchemy.engine"):
            # SQLAlchemy's debug echo prints each result row: the data itself.
            record.args = ("(row hidden)",)
    if isinstance(record.args, tuple):
        record.args = tuple(_safe_arg(value) for value in record.args)
    elif isinstance(record.args, MutableMapping):
        # gunicorn's access-log atoms: %(q)s is the bare query string.
        atoms = "r" in record.args and "q" in record.args
        safe = {key: "[query hidden]" if atoms and key == "q" and value else _safe_arg(value)
                for key, value in record.args.items()}
        if type(record.args) is dict:
            record.args = safe  # a copy: the caller's own dict stays as it was
        else:
            # gunicorn's atoms are a dict subclass with lookups of its own: kept, changed.
            for key, value in safe.items():
                if value is not record.args[key]:
                    record.args[key] = value
    if record.exc_info and record.exc_info[1] is not None:
        error = record.exc_info[1]
        if _in_chain(error, is_database_error):
            # Rendered now and the exception dropped, so that no handler or formatter
            # renders its values later.
            record.exc_text = safe_traceback(error)
            record.exc_info = None


_installed = False


def install() -> None:
    """Put scrub() in front of every log record this process makes, once."""
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def make_record(*args, **kwargs):
        record = previous(*args, **kwargs)
        try:
            scrub(record)
        except Exception:  # noqa: BLE001 - logging must go on, but not with unchecked data
            record.msg = "(a log record was withheld: it could not be checked for private data)"
            record.args, record.exc_info, record.exc_text = (), None, None
        return record

    logging.setLogRecordFactory(make_record)
    _installed = True
