"""Messages to clients and staff, each exactly once.

A message is a Notification row with a unique idempotency key, committed before it is sent
and marked sent right after. Queuing the same key twice adds nothing, so jobs may run as
often as they like; a crash between sending and marking re-sends at most that one message.
Texts carry the minimum necessary: a time and a street address, never what the appointment is,
signed with the clinic's neutral PUBLIC_NAME. Each is written in its reader's language when it
is queued (a client's Client.language, a staff member's User.language), so the row holds the
words that are sent.
"""

import smtplib
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Insert, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session as DbSession

from scheduler import i18n
from scheduler.i18n import gettext as _
from scheduler.models import Booking, Client, Notification, Program, Session, User
from scheduler.services.mail import Mailer

MAX_ATTEMPTS = 5
REMINDERS = {"reminder-24h": timedelta(hours=24), "reminder-2h": timedelta(hours=2)}
# A change older than this is not news: a first run after an upgrade stays quiet.
CHANGE_NEWS_WINDOW = timedelta(hours=48)
# Messages carrying a one-time link (services/account_links.py): the body is dropped once sent.
SECRET_LINK_KINDS = ("invitation", "password-reset")
SENT_LINK_BODY = "(sent; the one-time link it carried is not kept)"


@dataclass(frozen=True)
class Delivery:
    sent: int
    failed: int
    pending: int
    skipped: int = 0


def queue(db: DbSession, key: str, kind: str, to_address: str, subject: str, body: str,
          **links) -> bool:
    """Add a message unless its key is already there; True when it was added."""
    values = dict(idempotency_key=key, kind=kind, to_address=to_address, subject=subject,
                  body=body, status="pending", attempts=0, **links)
    dialect = db.get_bind().dialect.name
    statement: Insert  # each dialect's own INSERT … ON CONFLICT, or the plain one
    if dialect == "postgresql":
        statement = postgresql.insert(Notification).on_conflict_do_nothing(
            index_elements=["idempotency_key"])
    elif dialect == "sqlite":
        statement = sqlite.insert(Notification).on_conflict_do_nothing(
            index_elements=["idempotency_key"])
    else:
        if db.scalar(select(Notification.id).where(Notification.idempotency_key == key)):
            return False
        statement = insert(Notification)
    # Core, not the ORM's bulk insert: only a cursor result tells whether the row went in.
    # RETURNING, not rowcount: psycopg reports -1 for an INSERT SQLAlchemy gives a RETURNING.
    added = db.connection().execute(statement.values(**values).returning(Notification.id))
    return added.first() is not None


def has_pending(db: DbSession) -> bool:
    return db.scalar(select(Notification.id).where(Notification.status == "pending")
                     .limit(1)) is not None


def deliver(db: DbSession, mailer: Mailer, now: datetime, limit: int = 500,
            keys: Collection[str] | None = None) -> Delivery:
    """Send pending messages one by one, committing each as sent the moment it is.

    With `keys`, only those messages (a request sending its own at once).
    """
    sent = failed = skipped = 0
    query = select(Notification.id).where(Notification.status == "pending")
    if keys is not None:
        query = query.where(Notification.idempotency_key.in_(list(keys)))
    ids = list(db.scalars(query.order_by(Notification.id).limit(limit)))
    db.commit()
    if not ids:
        return Delivery(0, 0, 0)
    with mailer.connect() as smtp:
        for notification_id in ids:
            row = db.get(Notification, notification_id, with_for_update=True)
            if row is None or row.status != "pending":
                db.commit()
                continue
            if _stale_reminder(db, row, now):
                # Held back by a failure until the session moved, was cancelled or began: the
                # time it gives is wrong now (a new reminder has the new one), so it never goes.
                row.status = "skipped"
                db.commit()
                skipped += 1
                continue
            row.attempts += 1
            try:
                smtp.send_message(mailer.message(row.to_address, row.subject, row.body, row.id))
            except (OSError, smtplib.SMTPException) as error:
                # One bad address must not hold up the others; it is retried next run.
                row.last_error = str(error)[:1000]
                if row.attempts >= MAX_ATTEMPTS:
                    row.status = "failed"
                    failed += 1
                db.commit()
                continue
            row.status, row.sent_at = "sent", now
            if row.kind in SECRET_LINK_KINDS:
                # A one-time link is a secret: once it is in the inbox, the copy here goes.
                row.body = SENT_LINK_BODY
            db.commit()
            sent += 1
    pending = len(ids) - sent - failed - skipped
    return Delivery(sent, failed, pending, skipped)


def _stale_reminder(db: DbSession, row: Notification, now: datetime) -> bool:
    """A reminder whose session has since changed (its key names the sequence), or begun."""
    if row.kind not in REMINDERS or row.session_id is None:
        return False
    session = db.get(Session, row.session_id)
    # The foreign key keeps the session while its reminders exist; were it gone, so is the need.
    return (session is None or session.status != "scheduled" or session.starts_at <= now
            or not row.idempotency_key.endswith(f":seq={session.sequence}"))


# --- what the messages say ---------------------------------------------------------------------
# Each text is written in the language being spoken: the queueing code wraps it in
# i18n.speaking(the reader's language).


def language_of(db: DbSession, user: User) -> str | None:
    """The language a message to this login is written in: a client's is their record's (the
    one their reminders use), a staff member's their profile's; None (English) otherwise."""
    if user.client_id is not None:
        client = db.get(Client, user.client_id)
        return client.language if client is not None else None
    return user.language


def _zone(session: Session) -> ZoneInfo:
    return ZoneInfo(session.program.timezone)


def _place(session: Session) -> str:
    if session.room_id is None and session.video_url:
        return _("online (the link is in your portal)")
    return session.program.address or _("the clinic")


def _when(moment: datetime, tz: ZoneInfo) -> str:
    return i18n.local(moment, "day_time", tz)


def _signed(body: str, public_name: str) -> str:
    return f"{body}\n{public_name}\n"


def reminder_text(session: Session, now: datetime, public_name: str) -> tuple[str, str]:
    tz = _zone(session)
    local = session.starts_at.astimezone(tz)
    today = now.astimezone(tz).date()
    words = {"time": i18n.local(local, "time"), "place": _place(session)}
    if local.date() == today:
        line = _("You have an appointment today at %(time)s at %(place)s.", **words)
    elif local.date() == today + timedelta(days=1):
        line = _("You have an appointment tomorrow at %(time)s at %(place)s.", **words)
    else:
        line = _("You have an appointment on %(day)s at %(time)s at %(place)s.",
                 day=i18n.local(local, "day"), **words)
    body = line + "\n\n" + _("If you cannot come, please let us know.") + "\n"
    return _("Appointment reminder"), _signed(body, public_name)


def change_text(session: Session, public_name: str) -> tuple[str, str]:
    tz = _zone(session)
    when = _when(session.starts_at, tz)
    if session.status == "cancelled":
        return (_("Appointment cancelled"), _signed(
            _("Your appointment on %(when)s is cancelled.", when=when) + "\n", public_name))
    return (_("Appointment changed"), _signed(
        _("Your appointment is now on %(when)s at %(place)s.", when=when,
          place=_place(session)) + "\n", public_name))


# --- what the jobs queue -----------------------------------------------------------------------


def _reachable(query):
    return query.where(Client.email.is_not(None), Client.email != "",
                       Client.notifications_opt_out.is_(False), Client.status == "active")


def queue_reminders(db: DbSession, now: datetime, public_name: str) -> int:
    """Reminders now due: a day before (until two hours before) and two hours before."""
    added = 0
    for kind, ahead in REMINDERS.items():
        wants = Client.remind_day_before if kind == "reminder-24h" else Client.remind_two_hours
        # The day-before reminder makes no sense within two hours; the other one covers that.
        earliest = now + (REMINDERS["reminder-2h"] if kind == "reminder-24h" else timedelta(0))
        rows = db.execute(_reachable(
            select(Booking.client_id, Client.email, Client.language, Session)
            .join(Session, Session.id == Booking.session_id)
            .join(Client, Client.id == Booking.client_id)
            .join(Program, Program.id == Session.program_id)
            .where(Booking.status == "booked", Session.status == "scheduled", wants.is_(True),
                   Session.starts_at > earliest, Session.starts_at <= now + ahead))
            .order_by(Session.starts_at, Booking.client_id)
        ).all()
        for client_id, email, language, session in rows:
            with i18n.speaking(language):
                subject, body = reminder_text(session, now, public_name)
            key = f"{kind}:client={client_id}:session={session.id}:seq={session.sequence}"
            added += queue(db, key, kind, email, subject, body, client_id=client_id,
                           session_id=session.id)
    return added


def queue_one_notice(db: DbSession, session_ids: Collection[int], *, key: str, kind: str,
                     words: Callable[[], tuple[str, str]], public_name: str) -> list[str]:
    """One message to each reachable client booked into these sessions, listing theirs, in
    place of one change notice per session (a closure of a week is one email, not ten).
    `words` gives its subject and opening line, and is asked in each client's language.

    Their per-session change notices are kept as already told, so queue_changes adds none.
    Returns the keys of the messages queued.
    """
    rows = db.execute(_reachable(
        select(Booking.client_id, Client.email, Client.language, Session)
        .join(Session, Session.id == Booking.session_id)
        .join(Client, Client.id == Booking.client_id)
        .where(Booking.status == "booked", Session.id.in_(list(session_ids))))
        .order_by(Booking.client_id, Session.starts_at, Session.id)
    ).all()
    by_client: dict[int, tuple[str, str, list[Session]]] = {}
    for client_id, email, language, session in rows:
        by_client.setdefault(client_id, (email, language, []))[2].append(session)
    keys = []
    for client_id, (email, language, sessions) in by_client.items():
        with i18n.speaking(language):
            subject, opening = words()
            lines = "\n".join(f"- {_when(s.starts_at, _zone(s))}" for s in sessions)
        message_key = f"{key}:client={client_id}"
        if queue(db, message_key, kind, email, subject,
                 _signed(f"{opening}\n\n{lines}\n", public_name), client_id=client_id):
            keys.append(message_key)
        for session in sessions:
            told = f"change:client={client_id}:session={session.id}:seq={session.sequence}"
            if queue(db, told, "change", email, subject, f"(told in {message_key})",
                     client_id=client_id, session_id=session.id):
                db.execute(update(Notification).where(Notification.idempotency_key == told)
                           .values(status="skipped"))
    return keys


def queue_changes(db: DbSession, now: datetime, public_name: str) -> int:
    """Booked clients hear once of each change to a session still ahead: cancelled or moved."""
    added = 0
    rows = db.execute(_reachable(
        select(Booking.client_id, Client.email, Client.language, Session)
        .join(Session, Session.id == Booking.session_id)
        .join(Client, Client.id == Booking.client_id)
        .where(Booking.status == "booked", Session.sequence > 0,
               Session.updated_at >= now - CHANGE_NEWS_WINDOW,
               or_(Session.starts_at > now, Session.original_start > now)))
        .order_by(Session.id, Booking.client_id)
    ).all()
    for client_id, email, language, session in rows:
        with i18n.speaking(language):
            subject, body = change_text(session, public_name)
        key = f"change:client={client_id}:session={session.id}:seq={session.sequence}"
        added += queue(db, key, "change", email, subject, body, client_id=client_id,
                       session_id=session.id)
    return added
