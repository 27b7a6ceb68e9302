"""Clients: the people in treatment."""

from datetime import date, datetime

from sqlalchemy import (
    DDL,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    event,
    false,
    func,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from scheduler.clock import now
from scheduler.extensions import Model
from scheduler.languages import DEFAULT, LANGUAGES
from scheduler.models.checks import one_of
from scheduler.models.programs import Program
from scheduler.models.types import UTCDateTime

CLIENT_STATUSES = ("active", "discharged")


class Client(Model):
    __tablename__ = "clients"
    __table_args__ = (
        CheckConstraint(one_of("status", CLIENT_STATUSES), name="status"),
        CheckConstraint(
            "discharged_on IS NULL OR discharged_on >= admitted_on", name="discharge_after_admit"
        ),
        CheckConstraint(one_of("language", LANGUAGES), name="language"),
        CheckConstraint(
            "feed_alarm_minutes IS NULL OR feed_alarm_minutes BETWEEN 0 AND 10080",
            name="feed_alarm_minutes",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    preferred_name: Mapped[str | None] = mapped_column(String(120))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(40))
    # Tells two people of one name apart, and finds a returning client at intake.
    date_of_birth: Mapped[date | None]
    # The current episode's program, dates and status, kept in step by services/episodes.py
    # (their one writer) so that queries and reports filter on the client row alone.
    program_id: Mapped[int] = mapped_column(
        ForeignKey("programs.id", ondelete="RESTRICT"), index=True
    )
    admitted_on: Mapped[date]
    discharged_on: Mapped[date | None]
    status: Mapped[str] = mapped_column(String(16), default="active")
    # Front-desk kiosk: a personal 4–6 digit PIN, hashed, with a lockout after wrong tries.
    kiosk_pin_hash: Mapped[str | None] = mapped_column(String(255))
    checkin_failed_attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    checkin_locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A reminder in the subscribed calendar this many minutes before each session; NULL for none.
    feed_alarm_minutes: Mapped[int | None]
    # Email reminders the day before and/or two hours before; opting out stops every message.
    remind_day_before: Mapped[bool] = mapped_column(default=True, server_default=true())
    remind_two_hours: Mapped[bool] = mapped_column(default=False, server_default=false())
    notifications_opt_out: Mapped[bool] = mapped_column(default=False, server_default=false())
    # The language of their portal, emails and calendar (scheduler/languages.py).
    language: Mapped[str] = mapped_column(String(8), default=DEFAULT, server_default=DEFAULT)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)

    program: Mapped[Program] = relationship()


# The name search (services/search.py: each word typed begins the folded name or one of its
# words) on PostgreSQL: a trigram index on lower(name) answers '% smi%' as well as 'smi%', which
# no b-tree can. PostgreSQL only (pg_trgm, made by migration 0020 or here before the table);
# SQLite reads a single clinic's clients without it.
Index("ix_clients_name_trgm", func.lower(Client.name).label("name_folded"),
      postgresql_using="gin",
      postgresql_ops={"name_folded": "public.gin_trgm_ops"}).ddl_if(dialect="postgresql")
event.listen(Client.__table__, "before_create",
             DDL("CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public")
             .execute_if(dialect="postgresql"))


class Episode(Model):
    """One stay in treatment: a returning client gets a new episode on the same record.

    History stays with the episode it happened in: its plan, and the sessions between its
    admission and discharge.
    """

    __tablename__ = "episodes"
    __table_args__ = (
        CheckConstraint(
            "discharged_on IS NULL OR discharged_on >= admitted_on", name="discharge_after_admit"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(
        ForeignKey("clients.id", ondelete="RESTRICT"), index=True
    )
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id", ondelete="RESTRICT"))
    admitted_on: Mapped[date]
    discharged_on: Mapped[date | None]
    # The ASAM level of the program the client was admitted to, e.g. "2.1", as it was then.
    level_of_care: Mapped[str] = mapped_column(String(8))
    # The episode's latest plan version; earlier versions stay reachable through the client.
    plan_id: Mapped[int | None] = mapped_column(
        ForeignKey("treatment_plans.id", ondelete="SET NULL")
    )
    discharge_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)

    program: Mapped[Program] = relationship()
