"""Alerts: a run of missed sessions or a week going short, raised once and sent to the people
who act on it (the client's primary therapist and the coordinators), and the Monday summary.

Staff messages name no client and no clinical detail: an email can be read over a shoulder or
forwarded. They point to the follow-up list, where the details sit behind a login.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import partial
from zoneinfo import ZoneInfo

from babel.numbers import format_decimal
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import aliased

from scheduler import i18n
from scheduler.i18n import gettext as _
from scheduler.i18n import ngettext
from scheduler.models import Alert, Client, Program, Staff, TreatmentPlan, User
from scheduler.services import audit, notifications, reports, scope
from scheduler.services.audit import Actor
from scheduler.services.errors import NotFound
from scheduler.services.lookup import get_or_404

# A clinician's break-the-glass (services/caseload.py) is raised for these roles only: its
# reason is the admins' to review.
# A disabled webhook endpoint (services/webhooks.py) is theirs to fix too.
ADMIN_ONLY_KINDS = ("break_glass", "webhook_disabled")
ADMIN_KINDS_FOR = ("admin",)

# Below-target alerts wait until half the program's week is gone: before that, it is early.
HALF_WEEK = timedelta(days=3, hours=12)


def visible(role: str, within: Select | None = None, open_only: bool = True) -> Select:
    """The alerts a staff member sees, newest first: their sites' (a scoped coordinator's),
    break-the-glass ones for admins only, and with `within` (a clinician's caseload,
    services/caseload.within) only those clients'. The API's list and the alerts page both
    read this."""
    # A scoped coordinator's sites (services/scope.py; true when unscoped).
    query = select(Alert).where(scope.programs_filter(Alert.program_id))
    if open_only:
        query = query.where(Alert.acknowledged_at.is_(None))
    if role not in ADMIN_KINDS_FOR:
        # A clinician's break-the-glass, with its reason, is for the admins to review.
        query = query.where(Alert.kind.not_in(ADMIN_ONLY_KINDS))
    if within is not None:
        query = query.where(Alert.client_id.in_(within))
    return query.order_by(Alert.raised_at.desc(), Alert.id.desc())


@dataclass(frozen=True)
class AlertLine:
    """One alert as the alerts page shows it: names, not numbers."""

    alert: Alert
    # None for an alert about no client (webhook_disabled); its times are shown in UTC.
    client_name: str | None
    program_name: str | None
    timezone: str
    acknowledged_by: str | None


def lines(db: DbSession, query: Select, limit: int) -> list[AlertLine]:
    """The first `limit` alerts of a `visible` query with their client's and program's names
    and who acknowledged them (their staff name, else their sign-in email); one query."""
    acked_by = aliased(User)
    rows = db.execute(
        query.add_columns(Client.name, Program.name, Program.timezone,
                          func.coalesce(Staff.name, acked_by.email))
        .outerjoin(Client, Client.id == Alert.client_id)
        .outerjoin(Program, Program.id == Alert.program_id)
        .outerjoin(acked_by, acked_by.id == Alert.acknowledged_by_user_id)
        .outerjoin(Staff, Staff.id == acked_by.staff_id)
        .limit(limit)).tuples()
    return [AlertLine(alert, client, program, zone or "UTC", by)
            for alert, client, program, zone, by in rows]


def summary(alert: Alert) -> str:
    """What the alert says, in plain words, without a client's name (the API's list)."""
    detail = alert.detail or {}
    if alert.kind == "absence_streak":
        return f"{detail.get('unexcused_streak', 'Several')} unexcused absences in a row."
    if alert.kind == "below_target":
        return (f"Booked {detail.get('projected_hours', 0):g} of "
                f"{detail.get('target_hours', 0):g} hours this week.")
    if alert.kind == "break_glass":
        return (f"{detail.get('by', 'A clinician')} broke the glass to read a client's record "
                "outside their caseload.")
    if alert.kind == "webhook_disabled":
        return (f"Webhook endpoint #{detail.get('endpoint_id')} of "
                f"{detail.get('recipient', 'a recipient')} was disabled: "
                f"{detail.get('reason', 'deliveries failed')} Nothing more is sent to it until "
                "an admin re-enables it.")
    return alert.kind


def acknowledge(db: DbSession, actor: Actor, alert_id: int, now: datetime,
                seen: Select | None = None) -> Alert:
    """The outreach happened; the alert leaves the open list. Audited; repeating is a no-op.

    With `seen` (the `visible` query of the one acknowledging), an alert they do not see
    answers 404 as a missing one does: a clinician cannot reach another caseload's alert or
    a break-the-glass one by its number."""
    if seen is not None and db.scalar(seen.with_only_columns(Alert.id).order_by(None)
                                      .where(Alert.id == alert_id)) is None:
        raise NotFound("alert", alert_id)  # the same 404 as an alert that does not exist
    alert = get_or_404(db, Alert, alert_id, "alert")
    if alert.acknowledged_at is None:
        alert.acknowledged_at, alert.acknowledged_by_user_id = now, actor.user_id
        db.flush()
        audit.record(db, actor, "acknowledge", "alert", alert.id, {"acknowledged_at": None},
                     {"acknowledged_at": now.isoformat()})
    return alert


def coordinator_addresses(db: DbSession) -> list[tuple[int | None, str, str | None]]:
    """Each active coordinator's login id, email and language (None: English)."""
    return [(user_id, email, language) for user_id, email, language in db.execute(
        select(User.id, User.email, User.language)
        .where(User.role == "coordinator", User.is_active.is_(True)).order_by(User.id))]


def therapist_address(db: DbSession, client_id: int) -> tuple[str, str | None] | None:
    """The client's primary therapist's email, and their login's language if they have one."""
    found = db.execute(
        select(Staff.email, User.language)
        .join(TreatmentPlan, TreatmentPlan.primary_therapist_id == Staff.id)
        .outerjoin(User, User.staff_id == Staff.id)
        .where(TreatmentPlan.client_id == client_id, TreatmentPlan.status == "active",
               Staff.is_active.is_(True))).first()
    return (found[0], found[1]) if found is not None and found[0] else None


def _raise(db: DbSession, key: str, kind: str, program: Program, client_id: int,
           detail: dict, now: datetime) -> Alert | None:
    """The alert for this key, made now; None if it was raised before."""
    if db.scalar(select(Alert.id).where(Alert.key == key)) is not None:
        return None
    alert = Alert(key=key, kind=kind, client_id=client_id, program_id=program.id,
                  detail=detail, raised_at=now)
    db.add(alert)
    db.flush()
    return alert


def _tell_staff(db: DbSession, alert: Alert, headline: Callable[[], str]) -> int:
    """Email the coordinators and the client's therapist, each in their language (`headline`
    is asked in it)."""
    assert alert.client_id is not None  # the alerts about a client
    recipients = {email: (user_id, language)
                  for user_id, email, language in coordinator_addresses(db)}
    therapist = therapist_address(db, alert.client_id)
    if therapist:
        recipients.setdefault(therapist[0], (None, therapist[1]))
    queued = 0
    for address, (user_id, language) in sorted(recipients.items()):
        with i18n.speaking(language):
            body = (_("%(headline)s (client #%(client)s).", headline=headline(),
                      client=alert.client_id) + "\n\n"
                    + _("Please reach out today; the follow-up list has the details.") + "\n")
            subject = _("Client follow-up needed")
        queued += notifications.queue(
            db, f"alert:{alert.key}:to={address}", "alert", address, subject,
            body, client_id=alert.client_id, user_id=user_id)
    return queued


def _streak_words(streak: int) -> str:
    return ngettext("%(num)d unexcused absence in a row", "%(num)d unexcused absences in a row",
                    streak)


def raise_alerts(db: DbSession, now: datetime) -> dict:
    """Absence runs at the program's threshold, and weeks short of target past mid-week."""
    raised = queued = 0
    for program in db.scalars(select(Program).where(Program.is_active.is_(True))
                              .order_by(Program.id)):
        for row in reports.follow_up(db, program.id, now):
            if "absence_streak" not in row.reasons:
                continue
            since = row.last_contact_at.isoformat() if row.last_contact_at else "admission"
            alert = _raise(db, f"absence_streak:client={row.client_id}:since={since}",
                           "absence_streak", program, row.client_id,
                           {"unexcused_streak": row.unexcused_streak,
                            "last_attended_at": row.last_attended_at.isoformat()
                            if row.last_attended_at else None}, now)
            if alert is not None:
                raised += 1
                queued += _tell_staff(db, alert, partial(_streak_words, row.unexcused_streak))
        tz = ZoneInfo(program.timezone)
        local = now.astimezone(tz)
        monday = local.date() - timedelta(days=local.weekday())
        if local - datetime.combine(monday, time.min, tzinfo=tz) < HALF_WEEK:
            continue
        for short in reports.below_target(db, program.id, now):
            alert = _raise(db, f"below_target:client={short.client_id}:week={monday}",
                           "below_target", program, short.client_id,
                           {"projected_hours": float(short.projected_hours),
                            "target_hours": float(short.target_hours),
                            "fixable": short.fixable}, now)
            if alert is not None:
                raised += 1
                queued += _tell_staff(
                    db, alert, lambda: _("Booked hours this week are below target"))
    return {"alerts": raised, "messages_queued": queued}


def queue_weekly_summary(db: DbSession, now: datetime) -> int:
    """On a program's Monday, coordinators hear how last week went: counts, no names."""
    queued = 0
    coordinators = coordinator_addresses(db)
    for program in db.scalars(select(Program).where(Program.is_active.is_(True))
                              .order_by(Program.id)):
        local = now.astimezone(ZoneInfo(program.timezone)).date()
        if local.weekday() != 0:
            continue
        last_monday = local - timedelta(days=7)
        rows = reports.weekly_hours(db, program.id, last_monday, local - timedelta(days=1))
        with_target = [r for r in rows if r.met is not None]
        met = sum(1 for r in with_target if r.met)
        attended = sum(float(r.attended_hours) for r in rows)
        for user_id, address, language in coordinators:
            with i18n.speaking(language) as spoken:
                week = i18n.local(last_monday, "date")
                hours = format_decimal(attended, "0.0", locale=spoken)
                body = (_("Week of %(week)s, program #%(program)s:", week=week,
                          program=program.id) + "\n"
                        + "- " + _("%(count)s clients in treatment", count=len(rows)) + "\n"
                        + "- " + _("%(met)s of %(all)s met their weekly hours", met=met,
                                   all=len(with_target)) + "\n"
                        + "- " + _("%(hours)s hours attended in all", hours=hours) + "\n\n"
                        + _("The weekly-hours report has the details.") + "\n")
                subject = _("Last week's attendance summary")
            queued += notifications.queue(
                db, f"weekly-summary:program={program.id}:week={last_monday}:to={address}",
                "weekly_summary", address, subject, body, user_id=user_id)
    return queued
