"""Row locks that make check-then-write safe under concurrent requests."""

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import scoped_session


def begin_write(db: DbSession) -> None:
    """Open a write transaction now; on SQLite that takes the database's write lock first."""
    session = db.registry() if isinstance(db, scoped_session) else db
    if session.get_bind().dialect.name == "sqlite" and not session.in_transaction():
        session.connection(execution_options={"sqlite_immediate": True})


def lock_rows(db: DbSession, model, ids) -> None:
    """Hold the rows until commit (SELECT … FOR UPDATE), always in id order to avoid deadlocks."""
    ids = sorted(set(ids))
    if not ids:
        return
    if db.get_bind().dialect.name == "sqlite":
        # SQLite has no row locks: the whole database is the lock, taken by begin_write.
        begin_write(db)
        return
    db.execute(select(model.id).where(model.id.in_(ids)).order_by(model.id).with_for_update())
