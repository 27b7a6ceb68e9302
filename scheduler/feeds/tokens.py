"""Feed tokens: at least 128 random bits in the URL, only their SHA-256 in the database."""

import contextlib
import hashlib
import os
import secrets
import threading
import weakref
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from sqlalchemy import bindparam, event, func, literal_column, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session as DbSession

from scheduler.feeds import versions
from scheduler.languages import DEFAULT, LANGUAGES
from scheduler.models import (
    AuditEvent,
    Client,
    FeedToken,
    FeedVersion,
    Program,
    Room,
    Staff,
    User,
)
from scheduler.services import audit
from scheduler.services.audit import Actor
from scheduler.services.locks import begin_write
from scheduler.services.lookup import get_or_404

OWNER_MODELS = {"client": Client, "staff": Staff, "room": Room, "program": Program}
TOKEN_BYTES = 32
# Recording every poll would turn each GET into a write; an hour's precision is enough.
LAST_USED_PRECISION = timedelta(hours=1)


@dataclass(frozen=True)
class ResolvedFeed:
    token_id: int
    kind: str
    owner_id: int
    version: int
    changed_at: datetime
    last_used_at: datetime | None
    # The language the feed speaks (render.language_of), read with its version in one
    # statement, so the body rendered for it is filed under the language it is written in.
    language: str = DEFAULT


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue(db: DbSession, actor: Actor, kind: str, owner_id: int, now: datetime) -> str:
    """A new secret for the feed; any earlier one stops working at once. Shown only here."""
    begin_write(db)
    get_or_404(db, OWNER_MODELS[kind], owner_id, kind)
    replaced = _revoke_active(db, kind, owner_id, now)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    row = FeedToken(owner_kind=kind, owner_id=owner_id, token_hash=hash_token(token),
                    created_at=now, created_by_user_id=actor.user_id)
    db.add(row)
    versions.current(db, kind, owner_id, now)
    db.flush()
    # Filed under the feed's owner, which is what an auditor asks about ("who made a link
    # to this client's calendar?"); the token ids let the revocations be matched up.
    audit.record(db, actor, "issue", f"{kind}_feed", owner_id,
                 after={"token_id": row.id, "replaces_token_ids": replaced})
    return token


def revoke(db: DbSession, actor: Actor, kind: str, owner_id: int, now: datetime,
           reason: str | None = None) -> int:
    """Revoke the feed's token; the URL answers 404 from the next request on.

    Also called inside the writes that end someone's time here (a client's discharge, a staff
    member's deactivation), with their reason: the link in a departed person's calendar must
    not keep serving the clinic's schedule. Nothing brings a revoked token back; coming back
    (re-admission, reactivation) needs a new link, made on purpose.
    """
    begin_write(db)
    get_or_404(db, OWNER_MODELS[kind], owner_id, kind)
    revoked = _revoke_active(db, kind, owner_id, now)
    if revoked:
        audit.record(db, actor, "revoke", f"{kind}_feed", owner_id,
                     before={"token_ids": revoked}, after={"token_ids": []}, reason=reason)
    return len(revoked)


@dataclass(frozen=True)
class Stopped:
    """The owner's last link was revoked and none replaced it: when, and the reason given."""

    at: datetime
    reason: str | None


def stopped(db: DbSession, kind: str, owner_id: int) -> Stopped | None:
    """How the owner's link ended, when they had one and none works now; None while one works
    or when there never was one. The reason is the one revoke() was given (a discharge, a
    deactivated login), None for a link stopped by hand."""
    owned = (FeedToken.owner_kind == kind, FeedToken.owner_id == owner_id)
    if db.scalar(select(FeedToken.id).where(*owned, FeedToken.revoked_at.is_(None)).limit(1)):
        return None
    at = db.scalar(select(FeedToken.revoked_at).where(*owned, FeedToken.revoked_at.is_not(None))
                   .order_by(FeedToken.revoked_at.desc()).limit(1))
    if at is None:
        return None
    reason = db.scalar(select(AuditEvent.reason)
                       .where(AuditEvent.action == "revoke",
                              AuditEvent.entity_type == f"{kind}_feed",
                              AuditEvent.entity_id == owner_id)
                       .order_by(AuditEvent.id.desc()).limit(1))
    return Stopped(at, reason)


def _revoke_active(db: DbSession, kind: str, owner_id: int, now: datetime) -> list[int]:
    ids = list(db.scalars(
        select(FeedToken.id).where(FeedToken.owner_kind == kind, FeedToken.owner_id == owner_id,
                                   FeedToken.revoked_at.is_(None))
    ))
    if ids:
        db.execute(update(FeedToken).where(FeedToken.id.in_(ids)).values(revoked_at=now)
                   .execution_options(synchronize_session=False))
    return ids


# Built once: a 304 is mostly this lookup, and compiling it per poll cost more than running it.
# The owner's language comes along (a client's record, a staff member's login; both by a
# unique key), as render.language_of reads it.
_LIVE_FEED = (
    select(FeedToken.id, FeedToken.owner_kind, FeedToken.owner_id, FeedVersion.version,
           FeedVersion.changed_at, FeedToken.last_used_at,
           func.coalesce(Client.language, User.language))
    .join(FeedVersion, (FeedVersion.owner_kind == FeedToken.owner_kind)
          & (FeedVersion.owner_id == FeedToken.owner_id))
    .outerjoin(Client, (FeedToken.owner_kind == literal_column("'client'"))
               & (Client.id == FeedToken.owner_id))
    .outerjoin(User, (FeedToken.owner_kind == literal_column("'staff'"))
               & (User.staff_id == FeedToken.owner_id))
    .where(FeedToken.token_hash == bindparam("token_hash"), FeedToken.revoked_at.is_(None))
)


@lru_cache(maxsize=8)
def _lookup_for(dialect) -> tuple:
    """The lookup compiled once per dialect, with the result processors of its two times."""
    compiled = _LIVE_FEED.compile(dialect=dialect)
    time_type = FeedVersion.changed_at.type.dialect_impl(dialect)
    as_time = time_type.result_processor(dialect, None) or (lambda value: value)
    return compiled.string, compiled.positional, as_time


class _LookupConnections:
    """One autocommit DBAPI connection per thread, kept out of the pool, for token lookups.

    A poll is mostly this one SELECT; a pool checkout, its pre-ping round trip and the
    Connection wrapper cost three times the query. The connections come from the engine's
    pool (so its connect hooks ran) and are detached from it; engine.dispose() closes them,
    and a thread's is closed once the thread has ended (a server that starts a thread per
    request, as werkzeug's does, would otherwise leave one open per poll).
    """

    def __init__(self, engine: Engine):
        self._engine = weakref.ref(engine)
        self._local = threading.local()
        self._open: list = []
        # Whose each connection is (by id), so that those of ended threads can be closed.
        self._owners: dict[int, threading.Thread] = {}
        self._lock = threading.Lock()
        self._pid = os.getpid()
        event.listen(engine, "engine_disposed", self._close_all)
        # An engine dropped without dispose() (a second app in a test, say) still closes them.
        weakref.finalize(engine, self._close_all, None)

    def fetch(self, sql: str, params):
        """The statement's first row; a dropped connection is replaced and asked once more."""
        dbapi = self._engine().dialect.loaded_dbapi
        for attempt in (1, 2):
            connection = self._connection()
            try:
                cursor = connection.cursor()
                try:
                    cursor.execute(sql, params)
                    return cursor.fetchone()
                finally:
                    cursor.close()
            except dbapi.Error:
                self._discard(connection)
                if attempt == 2:
                    raise
        return None

    def _connection(self):
        if os.getpid() != self._pid:
            # A forked child must not use, nor close, the socket its parent still holds.
            self._local, self._open, self._pid = threading.local(), [], os.getpid()
            self._owners = {}
        connection = getattr(self._local, "connection", None)
        if connection is None:
            proxied = self._engine().raw_connection()
            proxied.detach()
            connection = proxied.dbapi_connection
            if self._engine().dialect.name == "postgresql":
                connection.autocommit = True
            self._local.connection = connection
            with self._lock:
                ended = [c for c in self._open if not self._owners[id(c)].is_alive()]
                for old in ended:
                    self._open.remove(old)
                    del self._owners[id(old)]
                self._open.append(connection)
                self._owners[id(connection)] = threading.current_thread()
            for old in ended:
                _close_quietly(old)
        return connection

    def _discard(self, connection) -> None:
        self._local.connection = None
        with self._lock:
            if connection in self._open:
                self._open.remove(connection)
                del self._owners[id(connection)]
        _close_quietly(connection)

    def _close_all(self, engine: Engine | None) -> None:
        with self._lock:
            found, self._open, self._owners = self._open, [], {}
        self._local = threading.local()
        for connection in found:
            _close_quietly(connection)


def _close_quietly(connection) -> None:
    # Broken or shutting down: closing is a courtesy, so no error of it matters.
    with contextlib.suppress(Exception):
        connection.close()


_LOOKUPS: "weakref.WeakKeyDictionary[Engine, _LookupConnections]" = weakref.WeakKeyDictionary()
_LOOKUPS_LOCK = threading.Lock()


def _lookups(engine: Engine) -> _LookupConnections | None:
    """The engine's dedicated lookup connections; None for in-memory SQLite (one database
    per connection, so only the pool's own connection sees the data)."""
    found = _LOOKUPS.get(engine)
    if found is None:
        if engine.dialect.name == "sqlite" and engine.url.database in (None, "", ":memory:"):
            return None
        with _LOOKUPS_LOCK:
            found = _LOOKUPS.get(engine)
            if found is None:
                found = _LOOKUPS[engine] = _LookupConnections(engine)
    return found


def resolve(engine: Engine, token: str) -> ResolvedFeed | None:
    """The live feed behind a token, with its version; one indexed lookup, same for any miss.

    A 304 is little more than this, so it skips what it can: the statement is compiled once
    and runs as one autocommit SELECT on the thread's own lookup connection (no pool checkout,
    no BEGIN and ROLLBACK; pysqlite never begins for a SELECT). It sees every commit at once,
    so a revoked token is refused from the next poll on. It takes the engine, not an ORM
    session, so that a 304 never builds a Session at all.
    """
    sql, positional, as_time = _lookup_for(engine.dialect)
    digest = hash_token(token)
    params = (digest,) if positional else {"token_hash": digest}
    lookups = _lookups(engine)
    if lookups is not None:
        row = lookups.fetch(sql, params)
    else:
        with engine.connect() as conn:
            row = conn.exec_driver_sql(sql, params).first()
    if row is None:
        return None
    token_id, kind, owner_id, version, changed_at, last_used_at, language = row
    return ResolvedFeed(token_id, kind, owner_id, version, as_time(changed_at),
                        as_time(last_used_at), language if language in LANGUAGES else DEFAULT)


def mark_used(db: DbSession, feed: ResolvedFeed, now: datetime) -> bool:
    """Record the poll when the stored time is an hour stale; True when it wrote."""
    if feed.last_used_at is not None and now - feed.last_used_at < LAST_USED_PRECISION:
        return False
    db.execute(update(FeedToken).where(FeedToken.id == feed.token_id)
               .values(last_used_at=now).execution_options(synchronize_session=False))
    return True
