"""Alerts: a run of missed sessions or a week going short, raised once and sent to the people
who act on it (the client's primary therapist and the coordinators), and the Monday summary.

Staff messages name no client and no clinical detail: an email can be read over a shoulder or
forwarded. They point to the follow-up list, where the details sit behind a login.
"""

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import aliased

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


def coordinator_addresses(db: DbSession) -> list[tuple[int | None, str]]:
    return [(user_id, email) for user_id, email in db.execute(
        select(User.id, User.email).where(User.role == "coordinator", User.is_active.is_(True))
        .order_by(User.id))]


def therapist_address(db: DbSession, client_id: int) -> str | None:
    return db.scalar(
        select(Staff.email).join(TreatmentPlan, TreatmentPlan.primary_therapist_id == Staff.id)
        .where(TreatmentPlan.client_id == client_id, TreatmentPlan.status == "active",
               Staff.is_active.is_(True)))


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


def _tell_staff(db: DbSession, alert: Alert, headline: str) -> int:
    assert alert.client_id is not None  # the alerts about a client
    recipients = {email: user_id for user_id, email in coordinator_addresses(db)}
    therapist = therapist_address(db, alert.client_id)
    if therapist:
        recipients.setdefault(therapist, None)
    body = (f"{headline} (client #{alert.client_id}).\n\n"
            "Please reach out today; the follow-up list has the details.\n")
    queued = 0
    for address, user_id in sorted(recipients.items()):
        queued += notifications.queue(
            db, f"alert:{alert.key}:to={address}", "alert", address, "Client follow-up needed",
            body, client_id=alert.client_id, user_id=user_id)
    return queued


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
                queued += _tell_staff(
                    db, alert, f"{row.unexcused_streak} unexcused absences in a row")
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
                queued += _tell_staff(db, alert, "Booked hours this week are below target")
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
        body = (f"Week of {last_monday:%d %B %Y}, program #{program.id}:\n"
                f"- {len(rows)} clients in treatment\n"
                f"- {met} of {len(with_target)} met their weekly hours\n"
                f"- {attended:.1f} hours attended in all\n\n"
                "The weekly-hours report has the details.\n")
        for user_id, address in coordinators:
            queued += notifications.queue(
                db, f"weekly-summary:program={program.id}:week={last_monday}:to={address}",
                "weekly_summary", address, "Last week's attendance summary", body,
                user_id=user_id)
    return queued
