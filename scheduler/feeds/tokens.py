"""Feed tokens: at least 128 random bits in the URL, only their SHA-256 in the database."""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session as DbSession

from scheduler.feeds import versions
from scheduler.models import Client, FeedToken, FeedVersion, Program, Room, Staff
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


def revoke(db: DbSession, actor: Actor, kind: str, owner_id: int, now: datetime) -> int:
    """Revoke the feed's token; the URL answers 404 from the next request on."""
    begin_write(db)
    get_or_404(db, OWNER_MODELS[kind], owner_id, kind)
    revoked = _revoke_active(db, kind, owner_id, now)
    if revoked:
        audit.record(db, actor, "revoke", f"{kind}_feed", owner_id,
                     before={"token_ids": revoked}, after={"token_ids": []})
    return len(revoked)


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
_LIVE_FEED = (
    select(FeedToken.id, FeedToken.owner_kind, FeedToken.owner_id, FeedVersion.version,
           FeedVersion.changed_at, FeedToken.last_used_at)
    .join(FeedVersion, (FeedVersion.owner_kind == FeedToken.owner_kind)
          & (FeedVersion.owner_id == FeedToken.owner_id))
    .where(FeedToken.token_hash == bindparam("token_hash"), FeedToken.revoked_at.is_(None))
)


@lru_cache(maxsize=8)
def _lookup_for(dialect) -> tuple:
    """The lookup compiled once per dialect, with the result processors of its two times."""
    compiled = _LIVE_FEED.compile(dialect=dialect)
    time_type = FeedVersion.changed_at.type.dialect_impl(dialect)
    as_time = time_type.result_processor(dialect, None) or (lambda value: value)
    return compiled.string, compiled.positional, as_time


def resolve(db: DbSession, token: str) -> ResolvedFeed | None:
    """The live feed behind a token, with its version; one indexed lookup, same for any miss.

    A 304 is little more than this, so it skips what it can: the statement is compiled once,
    and runs as one autocommit SELECT on its own connection (no BEGIN and ROLLBACK around it;
    pysqlite never begins for a SELECT, so SQLite needs no switching).
    """
    engine = db.get_bind()
    sql, positional, as_time = _lookup_for(engine.dialect)
    digest = hash_token(token)
    conn = engine.connect()
    if engine.dialect.name != "sqlite":
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
    with conn:
        row = conn.exec_driver_sql(sql, (digest,) if positional else {"token_hash": digest}).first()
    if row is None:
        return None
    token_id, kind, owner_id, version, changed_at, last_used_at = row
    return ResolvedFeed(token_id, kind, owner_id, version, as_time(changed_at),
                        as_time(last_used_at))


def mark_used(db: DbSession, feed: ResolvedFeed, now: datetime) -> bool:
    """Record the poll when the stored time is an hour stale; True when it wrote."""
    if feed.last_used_at is not None and now - feed.last_used_at < LAST_USED_PRECISION:
        return False
    db.execute(update(FeedToken).where(FeedToken.id == feed.token_id)
               .values(last_used_at=now).execution_options(synchronize_session=False))
    return True
