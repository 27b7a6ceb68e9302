"""The jobs, their schedules, and what each does: a thin call into the services."""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from flask import Flask
from sqlalchemy.orm import Session as DbSession

from scheduler.services import alerts, attendance, notifications, series, webhooks
from scheduler.services.audit import Actor
from scheduler.services.mail import Mailer

JOBS_ACTOR = Actor.system("jobs")


@dataclass(frozen=True)
class Job:
    name: str
    description: str
    run: Callable[[Flask, DbSession, datetime], dict]
    # APScheduler trigger name and arguments.
    trigger: str
    trigger_args: dict = field(default_factory=dict)
    sends_mail: bool = False


def _deliver(app: Flask, db: DbSession, now: datetime) -> dict:
    # Nothing to send needs no mail server: a laptop without one still runs clean.
    if not notifications.has_pending(db):
        return {"sent": 0, "failed": 0, "still_pending": 0}
    delivery = notifications.deliver(db, Mailer.from_config(app.config), now)
    return {"sent": delivery.sent, "failed": delivery.failed, "still_pending": delivery.pending}


def extend_horizon(app: Flask, db: DbSession, now: datetime) -> dict:
    created = series.extend_horizon(db, now, app.config["SESSION_HORIZON_DAYS"])
    db.commit()
    return {"sessions_created": created}


def mark_no_shows(app: Flask, db: DbSession, now: datetime) -> dict:
    marked = attendance.mark_no_shows(db, JOBS_ACTOR, now,
                                      attendance.Policy.from_config(app.config))
    db.commit()
    return {"marked_absent": marked}


def absence_alerts(app: Flask, db: DbSession, now: datetime) -> dict:
    counts = alerts.raise_alerts(db, now)
    db.commit()
    return {**counts, **_deliver(app, db, now)}


def send_reminders(app: Flask, db: DbSession, now: datetime) -> dict:
    queued = notifications.queue_reminders(db, now, app.config["PUBLIC_NAME"])
    db.commit()
    return {"queued": queued, **_deliver(app, db, now)}


def notify_changes(app: Flask, db: DbSession, now: datetime) -> dict:
    queued = notifications.queue_changes(db, now, app.config["PUBLIC_NAME"])
    db.commit()
    return {"queued": queued, **_deliver(app, db, now)}


def weekly_summary(app: Flask, db: DbSession, now: datetime) -> dict:
    queued = alerts.queue_weekly_summary(db, now)
    db.commit()
    return {"queued": queued, **_deliver(app, db, now)}


def deliver_webhooks(app: Flask, db: DbSession, now: datetime) -> dict:
    settings = webhooks.Settings.from_config(app.config)
    if not webhooks.has_due(db, now):
        return {"delivered": 0, "failed": 0, "retrying": 0}
    counts = webhooks.deliver_due(db, settings, now).as_dict()
    db.commit()
    # The admins' email about a disabled endpoint is queued; the mail jobs send it, so this
    # job never waits on (or fails for) a mail server.
    return counts


JOBS = {job.name: job for job in (
    Job("extend-horizon", "Make sessions up to the horizon and book enrolled clients into them.",
        extend_horizon, "cron", {"hour": 2, "minute": 15}),
    Job("mark-no-shows", "Mark booked clients with no attendance after the session as absent.",
        mark_no_shows, "interval", {"minutes": 15}),
    Job("absence-alerts", "Alert therapist and coordinators: absence runs, weeks below target.",
        absence_alerts, "interval", {"minutes": 15}, sends_mail=True),
    Job("send-reminders", "Email clients their reminders, a day and/or two hours before.",
        send_reminders, "interval", {"minutes": 5}, sends_mail=True),
    Job("notify-changes", "Email booked clients when a session is cancelled or moved.",
        notify_changes, "interval", {"minutes": 5}, sends_mail=True),
    # Hourly: each program's Monday begins in its own zone, and the key makes it once a week.
    Job("deliver-webhooks", "Send queued webhook events to recipients' endpoints, signed; "
        "retry failures with back-off.", deliver_webhooks, "interval", {"minutes": 1}),
    Job("weekly-summary", "On Mondays, email coordinators last week's compliance.",
        weekly_summary, "cron", {"minute": 30}, sends_mail=True),
)}
