"""A database that is away is not a bug: tell the two apart, and say so once.

While PostgreSQL restarts, or SQLite stays locked past its busy timeout, requests answer 503
with Retry-After and the app recovers by itself when the database is back (pool_pre_ping
replaces dead connections). Every other database error is a bug and stays a 500.
"""

import contextlib
import logging
import sqlite3
import threading
import time

import psycopg
from flask import Flask
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session as DbSession

from scheduler.log_privacy import describe

# What the error handler is registered for; is_outage() then decides. IntegrityError keeps
# its own, more specific handler (a lost race: 409).
ERROR_TYPES = (sa_exc.DBAPIError, sa_exc.DisconnectionError, sa_exc.TimeoutError,
               psycopg.OperationalError, sqlite3.OperationalError)
# SQLSTATE classes 08 (connection exception) and 53 (insufficient resources: too many
# connections, disk full, out of memory), and the server shutting down, crashing, starting
# up or ending an idle session. Not 57014 (a statement timeout) nor 40P01 (a deadlock):
# those say something about our queries.
PG_AWAY_CLASSES = ("08", "53")
PG_AWAY_STATES = {"57P01", "57P02", "57P03", "57P05"}
# Busy or locked past busy_timeout, or the file cannot be opened, read or grown.
SQLITE_AWAY = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_CANTOPEN", "SQLITE_IOERR",
               "SQLITE_FULL", "SQLITE_PROTOCOL")
MESSAGE = "The service cannot reach its database just now; try again in a few seconds."


def is_outage(error: BaseException) -> bool:
    """True when the database is unreachable, shutting down, overloaded or busy."""
    if isinstance(error, (sa_exc.DisconnectionError, sa_exc.TimeoutError)):
        return True  # TimeoutError: every pooled connection is taken for too long
    if isinstance(error, sa_exc.DBAPIError):
        if error.connection_invalidated:
            return True
        error = error.orig
    if isinstance(error, psycopg.OperationalError):
        state = error.sqlstate
        # No SQLSTATE: the driver's own verdict (cannot connect, connection lost or closed).
        return state is None or state[:2] in PG_AWAY_CLASSES or state in PG_AWAY_STATES
    if isinstance(error, sqlite3.OperationalError):
        name = getattr(error, "sqlite_errorname", None)
        if name:
            return name.startswith(SQLITE_AWAY)
        return "database is locked" in str(error)
    return False


def discard(session: DbSession) -> None:
    """Roll back what the failed request began; with the connection gone there is none."""
    # Any error here means the connection is already lost; the pool drops it.
    with contextlib.suppress(Exception):
        session.rollback()


class OutageNotice:
    """Says that the database is away once, not on every failed request or job tick.

    While it lasts it says so again at most every `every` seconds, counting the failures in
    between; a failure after a quiet `every` seconds starts a new outage, and back() ends one
    with a line of its own. Thread-safe: requests and the job scheduler report from their
    threads.
    """

    def __init__(self, logger: logging.Logger, what: str, every: float = 60.0):
        self.logger = logger
        self.what = what
        self.every = every
        self._lock = threading.Lock()
        self._since: float | None = None
        self._last = self._said_at = 0.0
        self._unsaid = 0

    def away(self, error: BaseException) -> None:
        with self._lock:
            now = time.monotonic()
            first = self._since is None or now - self._last > self.every
            self._last = now
            if first:
                self._since, self._said_at, self._unsaid = now, now, 0
            elif now - self._said_at < self.every:
                self._unsaid += 1
                return
            else:
                self._said_at, unsaid, self._unsaid = now, self._unsaid, 0
        if first:
            self.logger.warning("database unavailable: %s (%s)", self.what, describe(error))
        else:
            self.logger.warning("database still unavailable: %s (%d more failures)",
                                self.what, unsaid + 1)

    def back(self) -> None:
        """The database answered again; says so if an outage was under way."""
        if self._since is None:
            return
        with self._lock:
            if self._since is None:
                return
            lasted, self._since = time.monotonic() - self._since, None
        self.logger.warning("database reachable again after %.0f s: %s", lasted, self.what)


log = logging.getLogger(__name__)
_notices_lock = threading.Lock()


def notice(app: Flask, what: str) -> OutageNotice:
    """The app's notice for one of its parts (requests, jobs): one per app, as each app has
    its own database."""
    with _notices_lock:
        notices = app.extensions.setdefault("database_outage", {})
        if what not in notices:
            notices[what] = OutageNotice(log, what)
        return notices[what]
