"""Background jobs: what each does for clients and staff, once, through a real SMTP server."""

import email
import email.policy
import logging
import signal
import socket
from contextlib import closing
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import create_engine, func, select, text

from scheduler import clock
from scheduler.jobs.registry import JOBS
from scheduler.jobs.runner import run_job
from scheduler.models import (
    Alert,
    Attendance,
    AuditEvent,
    Booking,
    JobRun,
    Notification,
    Session,
    TreatmentPlan,
)
from scheduler.services import attendance, booking, plans, sessions
from scheduler.services.audit import Actor
from scheduler.services.mail import MailConfigError, Mailer

API = "/api/v1"
STAFF = Actor.system("tests")
NEW_YORK = ZoneInfo("America/New_York")
SENDER = "appointments@clinic.test"
# Revealing on purpose: none of this may reach an inbox.
PROGRAM_NAME = "Sunrise Addiction Recovery IOP"
SERIES_TITLE = "Relapse Prevention Group (Substance Use Therapy)"
CANCEL_REASON = "Facilitator at detox and sober-living training"
FORBIDDEN = ("addiction", "substance", "relapse", "recovery", "rehab", "detox", "iop",
             "alcohol", "drug", "sober", "therapy", "group", PROGRAM_NAME.lower(),
             SERIES_TITLE.lower())
ADDRESS = "200 Main Street, Suite 200"

# The group meets Mon/Wed/Thu 18:00-21:00 New York (EST until 14 March: 23:00-02:00 UTC).
MONDAY_START = datetime(2027, 3, 1, 23, 0, tzinfo=UTC)
DAY_BEFORE = datetime(2027, 2, 28, 23, 30, tzinfo=UTC)        # Sun 18:30 New York
TWO_HOURS_BEFORE = datetime(2027, 3, 1, 21, 30, tzinfo=UTC)   # Mon 16:30 New York
GRACE = timedelta(minutes=30)


def _free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Inbox:
    """An aiosmtpd handler keeping every message; it can refuse addresses and look inside."""

    def __init__(self):
        self.messages = []
        self.refused = set()
        self.probe = None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refused:
            return "550 5.1.1 Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        if self.probe is not None:
            self.probe(message)
        self.messages.append(message)
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list:
        return [m for m in self.messages if m["To"] == address]

    def bodies(self, address: str) -> list[str]:
        return [m.get_content() for m in self.to(address)]


@pytest.fixture
def inbox(app):
    """A real SMTP server on a free local port, and the app's MAIL_* settings pointing at it."""
    handler = Inbox()
    port = _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, MAIL_DEFAULT_SENDER=SENDER,
                      MAIL_TIMEOUT=5)
    try:
        yield handler
    finally:
        controller.stop()


@pytest.fixture
def clinic(make, db, now):
    """A New York program with a Mon/Wed/Thu evening group from 1 March; Casey is enrolled,
    has a plan naming a primary therapist, and there is one coordinator."""
    program = make.program(name=PROGRAM_NAME, address=ADDRESS)
    group = make.series(program, title=SERIES_TITLE)
    therapist = make.staff(email="therapist@clinic.test")
    casey = make.client(program, name="Casey Quill", email="casey@example.test")
    plans.create_plan(db, STAFF, casey.id, start_date=date(2027, 1, 4),
                      primary_therapist_id=therapist.id)
    booking.enroll_client(db, STAFF, group.id, casey.id, now=now)
    coordinator = make.user("coordinator")
    db.commit()
    found = db.scalars(select(Session).where(Session.series_id == group.id)
                       .order_by(Session.starts_at)).all()
    return {"program": program, "group": group, "client": casey, "therapist": therapist,
            "coordinator": coordinator, "sessions": found}


def run(app, db, name: str, at: datetime | None = None) -> JobRun:
    """Run a job as the CLI would; the test's own session then sees what it did."""
    db.commit()
    if at is None:
        finished = run_job(app, name, trigger="cli")
    else:
        with clock.frozen(at):
            finished = run_job(app, name, trigger="cli")
    db.expire_all()
    return finished


def enrol(db, make, clinic, **kw):
    person = make.client(clinic["program"], **kw)
    booking.enroll_client(db, STAFF, clinic["group"].id, person.id, now=clock.now())
    db.commit()
    return person


def mark_roster(db, session, client_id, status, **extra):
    with clock.frozen(session.ends_at):
        attendance.record_roster(db, STAFF, "coordinator", session.id,
                                 [{"client_id": client_id, "status": status, **extra}],
                                 now=clock.now(), policy=attendance.Policy())
    db.commit()


def move(db, session, starts_at, at):
    with clock.frozen(at):
        sessions.change_session(db, STAFF, session, {"starts_at": starts_at})
    db.commit()


def cancel(db, session, at):
    with clock.frozen(at):
        sessions.change_session(db, STAFF, session, {"status": "cancelled"},
                                reason=CANCEL_REASON)
    db.commit()


def attendance_of(db, session_id, client_id):
    return db.scalars(select(Attendance).where(Attendance.session_id == session_id,
                                               Attendance.client_id == client_id)).all()


def count(db, model, *where) -> int:
    return db.scalar(select(func.count()).select_from(model).where(*where))


# --- extend-horizon ----------------------------------------------------------------------------


def test_extend_horizon_makes_the_next_weeks_and_books_enrolled_clients(app, db, make, now):
    """A week later the 30-day horizon adds ten meetings; the enrolled client holds them all."""
    program = make.program()
    group = make.series(program, horizon_days=14)          # made up to Tue 2 March: one Monday
    person = make.client(program)
    booking.enroll_client(db, STAFF, group.id, person.id, now=now)
    app.config["SESSION_HORIZON_DAYS"] = 30
    booked = select(func.count()).select_from(Booking).where(
        Booking.client_id == person.id, Booking.status == "booked")
    assert db.scalar(booked) == 1

    first = run(app, db, "extend-horizon", now + timedelta(days=7))
    again = run(app, db, "extend-horizon", now + timedelta(days=7))

    assert first.counts == {"sessions_created": 10}
    assert again.counts == {"sessions_created": 0}
    assert db.scalar(booked) == 11


# --- mark-no-shows -----------------------------------------------------------------------------


def test_a_booked_client_not_seen_becomes_a_no_show_only_after_the_grace_period(
        app, db, make, clinic):
    """Casey never came: absent unexcused, no-call, auto, audited; the roster's mark stays."""
    monday = clinic["sessions"][0]
    casey = clinic["client"]
    came = enrol(db, make, clinic)
    mark_roster(db, monday, came.id, "present")

    early = run(app, db, "mark-no-shows", monday.ends_at + GRACE - timedelta(minutes=1))
    assert early.counts == {"marked_absent": 0}
    assert attendance_of(db, monday.id, casey.id) == []

    due = run(app, db, "mark-no-shows", monday.ends_at + GRACE)
    again = run(app, db, "mark-no-shows", monday.ends_at + GRACE + timedelta(minutes=15))

    assert due.counts == {"marked_absent": 1}
    assert again.counts == {"marked_absent": 0}
    [row] = attendance_of(db, monday.id, casey.id)
    assert (row.status, row.method, row.reason_code, row.minutes_attended) == (
        "absent_unexcused", "auto", "no_call", 0)
    [kept] = attendance_of(db, monday.id, came.id)
    assert (kept.status, kept.method) == ("present", "roster")
    [event] = db.scalars(select(AuditEvent).where(
        AuditEvent.entity_type == "attendance", AuditEvent.entity_id == row.id)).all()
    assert event.before is None and event.after["status"] == "absent_unexcused"
    assert event.after["method"] == "auto"


def test_the_roster_corrects_an_automatic_no_show_and_the_job_leaves_it(app, db, clinic):
    """Staff learn Casey called in sick: the correction stands through later runs."""
    monday = clinic["sessions"][0]
    casey = clinic["client"]
    run(app, db, "mark-no-shows", monday.ends_at + GRACE)
    mark_roster(db, monday, casey.id, "absent_excused", reason_code="illness")

    run(app, db, "mark-no-shows", monday.ends_at + 2 * GRACE)

    [row] = attendance_of(db, monday.id, casey.id)
    assert (row.status, row.reason_code, row.method) == ("absent_excused", "illness", "roster")


def test_the_no_show_grace_and_lookback_come_from_the_attendance_policy(app, db, clinic):
    """The job reads NO_SHOW_GRACE_MINUTES and ATTENDANCE_LOCK_DAYS through Policy.from_config."""
    monday = clinic["sessions"][0]
    app.config.update(NO_SHOW_GRACE_MINUTES=60, ATTENDANCE_LOCK_DAYS=1)

    assert run(app, db, "mark-no-shows", monday.ends_at + GRACE).counts == {"marked_absent": 0}
    late = monday.ends_at + timedelta(minutes=60) + timedelta(days=1, seconds=1)
    assert run(app, db, "mark-no-shows", late).counts == {"marked_absent": 0}
    assert run(app, db, "mark-no-shows", monday.ends_at + timedelta(minutes=60)).counts == {
        "marked_absent": 1}


def test_the_policy_defaults_are_the_configured_defaults(app):
    assert attendance.Policy.from_config(app.config) == attendance.Policy()


# --- absence-alerts ----------------------------------------------------------------------------


def test_two_no_shows_in_a_row_raise_one_alert_to_the_coordinators_and_the_therapist(
        app, db, inbox, clinic):
    """One absence is not a run; the second is, once: an alert and one email to each."""
    monday, wednesday = clinic["sessions"][:2]
    run(app, db, "mark-no-shows", monday.ends_at + GRACE)
    assert run(app, db, "absence-alerts", monday.ends_at + GRACE).counts["alerts"] == 0

    after_wednesday = wednesday.ends_at + GRACE
    run(app, db, "mark-no-shows", after_wednesday)
    first = run(app, db, "absence-alerts", after_wednesday)
    second = run(app, db, "absence-alerts", after_wednesday + timedelta(minutes=15))

    assert first.counts == {"alerts": 1, "messages_queued": 2, "sent": 2, "failed": 0,
                            "still_pending": 0}
    assert second.counts == {"alerts": 0, "messages_queued": 0, "sent": 0, "failed": 0,
                             "still_pending": 0}
    [alert] = db.scalars(select(Alert)).all()
    assert (alert.kind, alert.client_id, alert.detail["unexcused_streak"]) == (
        "absence_streak", clinic["client"].id, 2)
    assert sorted(m["To"] for m in inbox.messages) == sorted(
        [clinic["coordinator"].email, "therapist@clinic.test"])
    for message in inbox.messages:
        assert "Casey" not in message.get_content() and "Quill" not in message.get_content()
        assert "Casey" not in message["Subject"]


def test_a_new_run_of_absences_after_the_client_came_back_is_a_new_alert(
        app, db, inbox, clinic):
    """Absent Mon and Wed, present Thu, absent the next Mon and Wed: two alerts, not one."""
    mon, wed, thu, mon2, wed2 = clinic["sessions"][:5]
    for session in (mon, wed):
        run(app, db, "mark-no-shows", session.ends_at + GRACE)
    run(app, db, "absence-alerts", wed.ends_at + GRACE)
    mark_roster(db, thu, clinic["client"].id, "present")
    for session in (mon2, wed2):
        run(app, db, "mark-no-shows", session.ends_at + GRACE)
        run(app, db, "absence-alerts", session.ends_at + GRACE)

    raised = db.scalars(select(Alert).where(Alert.kind == "absence_streak")
                        .order_by(Alert.id)).all()
    assert [a.detail["unexcused_streak"] for a in raised] == [2, 2]
    assert raised[0].detail["last_attended_at"] is None
    assert datetime.fromisoformat(raised[1].detail["last_attended_at"]) == thu.starts_at
    assert len(inbox.to("therapist@clinic.test")) == 2


def test_a_week_short_of_target_alerts_only_once_half_the_week_is_gone(
        app, db, make, inbox, clinic):
    """A client booked into nothing: quiet until Thursday noon in New York, then one alert."""
    idle = make.client(clinic["program"], name="Idle Person", email="idle@example.test")
    thursday_noon = datetime(2027, 3, 4, 12, 0, tzinfo=NEW_YORK)

    before = run(app, db, "absence-alerts", thursday_noon - timedelta(minutes=1))
    at_half = run(app, db, "absence-alerts", thursday_noon)
    later = run(app, db, "absence-alerts", thursday_noon + timedelta(hours=3))

    assert before.counts["alerts"] == 0
    assert at_half.counts["alerts"] == 1 and later.counts["alerts"] == 0
    [alert] = db.scalars(select(Alert)).all()
    # Casey is booked for the program's nine hours; only the idle client is short.
    assert (alert.kind, alert.client_id, alert.detail["target_hours"]) == (
        "below_target", idle.id, 9.0)
    assert [m["To"] for m in inbox.messages] == [clinic["coordinator"].email]
    assert "Idle" not in inbox.messages[0].get_content()


# --- send-reminders ----------------------------------------------------------------------------


def test_the_day_before_the_client_is_reminded_of_the_time_and_street_address(
        app, db, inbox, clinic):
    """Sunday 18:30 New York: 'tomorrow at 18:00', once, and no two-hour reminder by default."""
    first = run(app, db, "send-reminders", DAY_BEFORE)
    run(app, db, "send-reminders", DAY_BEFORE + timedelta(minutes=5))
    run(app, db, "send-reminders", TWO_HOURS_BEFORE)

    assert first.counts == {"queued": 1, "sent": 1, "failed": 0, "still_pending": 0}
    [message] = inbox.to("casey@example.test")
    assert message["Subject"] == "Appointment reminder"
    assert message["From"] == f"Appointments <{SENDER}>"
    body = message.get_content()
    assert "tomorrow at 18:00" in body
    assert ADDRESS in body
    assert body.splitlines()[-2:] == ["", "Appointments"]  # signed, after a blank line


def test_a_client_who_asked_for_two_hours_notice_gets_only_that(
        app, db, client, make, auth, inbox, clinic):
    """Preferences set by the client: no day-before email, a two-hour one saying 'today'."""
    casey = clinic["client"]
    headers = auth.for_user(make.user("client", client_id=casey.id))
    response = client.put(f"{API}/clients/{casey.id}/notification-preferences",
                          headers=headers,
                          json={"remind_day_before": False, "remind_two_hours": True})
    assert response.status_code == 200

    run(app, db, "send-reminders", DAY_BEFORE)
    assert inbox.messages == []
    run(app, db, "send-reminders", TWO_HOURS_BEFORE)
    run(app, db, "send-reminders", TWO_HOURS_BEFORE + timedelta(minutes=5))

    [body] = inbox.bodies("casey@example.test")
    assert "today at 18:00" in body and ADDRESS in body


def test_opted_out_and_email_less_clients_get_nothing(app, db, make, inbox, clinic):
    """Same session, three clients: only the one with an address and no opt-out is mailed."""
    enrol(db, make, clinic, email="quiet@example.test", notifications_opt_out=True)
    enrol(db, make, clinic, email=None)
    run(app, db, "send-reminders", DAY_BEFORE)
    cancel(db, clinic["sessions"][1], DAY_BEFORE)
    run(app, db, "notify-changes", DAY_BEFORE)

    assert sorted({m["To"] for m in inbox.messages}) == ["casey@example.test"]
    assert len(inbox.messages) == 2
    assert count(db, Notification) == 2


def test_a_client_sets_their_own_preferences_audited_but_not_anothers(
        client, db, make, auth, clinic, now):
    """PUT by the client themself: 200 and an audit event; on someone else's record: 403."""
    casey = clinic["client"]
    other = make.client(clinic["program"])
    headers = auth.for_user(make.user("client", client_id=casey.id))

    own = client.put(f"{API}/clients/{casey.id}/notification-preferences", headers=headers,
                     json={"notifications_opt_out": True})
    theirs = client.put(f"{API}/clients/{other.id}/notification-preferences", headers=headers,
                        json={"notifications_opt_out": True})

    assert own.status_code == 200
    assert own.json == {"remind_day_before": True, "remind_two_hours": False,
                        "notifications_opt_out": True}
    assert theirs.status_code == 403
    db.expire_all()
    [event] = db.scalars(select(AuditEvent).where(AuditEvent.entity_type == "client",
                                                  AuditEvent.action == "set_preferences")).all()
    assert event.entity_id == casey.id
    assert (event.before["notifications_opt_out"], event.after["notifications_opt_out"]) == (
        False, True)
    assert db.get(type(other), other.id).notifications_opt_out is False


def test_after_a_move_the_client_is_told_and_reminded_of_the_new_time_never_the_old(
        app, db, inbox, clinic):
    """Reminded of 18:00 on Sunday; moved to 19:00 on Monday morning: a change notice and a
    reminder for 19:00 follow, and nothing more on later runs."""
    monday = clinic["sessions"][0]
    run(app, db, "send-reminders", DAY_BEFORE)
    monday_morning = datetime(2027, 3, 1, 8, 0, tzinfo=NEW_YORK)
    move(db, monday, datetime(2027, 3, 1, 19, 0, tzinfo=NEW_YORK), monday_morning)

    for at in (monday_morning, monday_morning + timedelta(minutes=5)):
        run(app, db, "notify-changes", at)
        run(app, db, "send-reminders", at)

    subjects = [m["Subject"] for m in inbox.to("casey@example.test")]
    bodies = inbox.bodies("casey@example.test")
    assert subjects == ["Appointment reminder", "Appointment changed", "Appointment reminder"]
    assert "tomorrow at 18:00" in bodies[0]
    assert "Monday 1 March at 19:00" in bodies[1] and ADDRESS in bodies[1]
    assert "today at 19:00" in bodies[2]


def test_a_reminder_still_queued_when_its_session_moves_is_not_sent(app, db, inbox, clinic):
    """The mail server refused it on Sunday; by the retry the time changed: only 19:00 goes."""
    monday = clinic["sessions"][0]
    inbox.refused.add("casey@example.test")
    run(app, db, "send-reminders", DAY_BEFORE)
    inbox.refused.clear()
    monday_morning = datetime(2027, 3, 1, 8, 0, tzinfo=NEW_YORK)
    move(db, monday, datetime(2027, 3, 1, 19, 0, tzinfo=NEW_YORK), monday_morning)

    run(app, db, "notify-changes", monday_morning)
    run(app, db, "send-reminders", monday_morning)

    bodies = inbox.bodies("casey@example.test")
    assert not any("18:00" in body for body in bodies)
    assert any("today at 19:00" in body for body in bodies)
    stale = db.scalar(select(Notification).where(Notification.kind == "reminder-24h",
                                                 Notification.idempotency_key.like("%seq=0")))
    assert stale.status == "skipped" and stale.sent_at is None


def test_a_reminder_held_back_until_its_session_began_is_never_sent(app, db, inbox, clinic):
    """Refused on Sunday, the server back only after 18:00 Monday: too late to remind."""
    inbox.refused.add("casey@example.test")
    run(app, db, "send-reminders", DAY_BEFORE)
    inbox.refused.clear()

    late = run(app, db, "send-reminders", MONDAY_START + timedelta(minutes=1))

    assert inbox.messages == []
    assert late.counts == {"queued": 0, "sent": 0, "failed": 0, "still_pending": 0}
    assert [n.status for n in db.scalars(select(Notification))] == ["skipped"]


def test_no_reminder_for_a_cancelled_session(app, db, inbox, clinic):
    """Cancelled on Saturday: Sunday's run sends the cancellation, not a reminder."""
    saturday = datetime(2027, 2, 27, 15, 0, tzinfo=UTC)
    cancel(db, clinic["sessions"][0], saturday)
    run(app, db, "notify-changes", DAY_BEFORE)
    run(app, db, "send-reminders", DAY_BEFORE)

    assert [m["Subject"] for m in inbox.messages] == ["Appointment cancelled"]


# --- notify-changes ----------------------------------------------------------------------------


def test_booked_clients_hear_once_of_a_cancellation_and_of_a_move(app, db, inbox, clinic):
    """Wednesday cancelled, Thursday moved to 19:00: two emails, no repeats, no reason given."""
    _, wednesday, thursday = clinic["sessions"][:3]
    friday = datetime(2027, 2, 26, 15, 0, tzinfo=UTC)
    cancel(db, wednesday, friday)
    move(db, thursday, datetime(2027, 3, 4, 19, 0, tzinfo=NEW_YORK), friday)

    first = run(app, db, "notify-changes", friday + timedelta(minutes=5))
    again = run(app, db, "notify-changes", friday + timedelta(minutes=10))

    assert first.counts["queued"] == 2 and again.counts["queued"] == 0
    by_subject = {m["Subject"]: m.get_content() for m in inbox.to("casey@example.test")}
    assert len(inbox.messages) == 2
    assert "Wednesday 3 March at 18:00 is cancelled" in by_subject["Appointment cancelled"]
    assert "Thursday 4 March at 19:00" in by_subject["Appointment changed"]
    assert ADDRESS in by_subject["Appointment changed"]


# --- weekly-summary ----------------------------------------------------------------------------


def test_on_monday_coordinators_get_last_weeks_summary_once(app, db, inbox, clinic):
    """Sunday: nothing. Monday morning in New York: one summary of 1-7 March, once."""
    monday = datetime(2027, 3, 8, 9, 30, tzinfo=NEW_YORK)
    for session in clinic["sessions"][:3]:
        mark_roster(db, session, clinic["client"].id, "present")

    sunday = run(app, db, "weekly-summary", monday - timedelta(days=1))
    first = run(app, db, "weekly-summary", monday)
    again = run(app, db, "weekly-summary", monday + timedelta(hours=1))

    assert sunday.counts["queued"] == 0
    assert first.counts["queued"] == 1 and again.counts["queued"] == 0
    [message] = inbox.messages
    assert message["To"] == clinic["coordinator"].email
    body = message.get_content()
    assert "Week of 1 March 2027" in body  # the house date, as every message writes it
    assert "1 of 1 met their weekly hours" in body
    assert "9.0 hours attended" in body
    assert "Casey" not in body


# --- minimum necessary -------------------------------------------------------------------------


def test_no_email_says_what_the_appointment_is(app, db, make, inbox, clinic):
    """A fortnight of every kind of message: none names the care, the program or the group."""
    sessions_ = clinic["sessions"]
    run(app, db, "send-reminders", DAY_BEFORE)
    run(app, db, "send-reminders", TWO_HOURS_BEFORE)
    for session in sessions_[:2]:
        run(app, db, "mark-no-shows", session.ends_at + GRACE)
    run(app, db, "absence-alerts", sessions_[1].ends_at + GRACE)
    run(app, db, "absence-alerts", datetime(2027, 3, 4, 13, 0, tzinfo=NEW_YORK))
    cancel(db, sessions_[3], datetime(2027, 3, 5, 12, 0, tzinfo=UTC))
    move(db, sessions_[4], sessions_[4].starts_at + timedelta(hours=1),
         datetime(2027, 3, 5, 12, 0, tzinfo=UTC))
    run(app, db, "notify-changes", datetime(2027, 3, 5, 12, 5, tzinfo=UTC))
    run(app, db, "weekly-summary", datetime(2027, 3, 8, 9, 30, tzinfo=NEW_YORK))

    subjects = {m["Subject"] for m in inbox.messages}
    assert subjects == {"Appointment reminder", "Client follow-up needed",
                        "Appointment cancelled", "Appointment changed",
                        "Last week's attendance summary"}
    for message in inbox.messages:
        # Staff mail too: a phone's lock screen shows who wrote before anyone opens it.
        assert message["From"] == f"Appointments <{SENDER}>"
        said = f"{message['From']}\n{message['Subject']}\n{message.get_content()}".lower()
        assert not [word for word in FORBIDDEN if word in said], said
        assert CANCEL_REASON.lower() not in said
    staff_mail = [m for m in inbox.messages if m["To"].endswith("@clinic.test")]
    assert staff_mail and all("casey" not in m.get_content().lower() for m in staff_mail)


def test_client_emails_carry_the_clinics_public_name_and_never_the_senders_own(
        app, db, inbox, clinic):
    """PUBLIC_NAME signs every client message and is the From name, even when the sender
    setting names the program: the inbox list shows that name before anyone opens the mail."""
    app.config.update(PUBLIC_NAME="Riverside Health",
                      MAIL_DEFAULT_SENDER=f"{PROGRAM_NAME} <{SENDER}>")
    friday = datetime(2027, 2, 26, 15, 0, tzinfo=UTC)
    _, wednesday, thursday = clinic["sessions"][:3]
    cancel(db, wednesday, friday)
    move(db, thursday, datetime(2027, 3, 4, 19, 0, tzinfo=NEW_YORK), friday)
    run(app, db, "notify-changes", friday + timedelta(minutes=5))
    run(app, db, "send-reminders", DAY_BEFORE)

    messages = inbox.to("casey@example.test")
    assert sorted(m["Subject"] for m in messages) == [
        "Appointment cancelled", "Appointment changed", "Appointment reminder"]
    for message in messages:
        assert message["From"] == f"Riverside Health <{SENDER}>"
        assert message.get_content().splitlines()[-2:] == ["", "Riverside Health"]
        headers = "\n".join(f"{name}: {value}" for name, value in message.items()).lower()
        assert not [word for word in FORBIDDEN if word in headers], headers


def test_a_public_name_beyond_ascii_or_with_commas_is_a_well_formed_from(app, db, inbox, clinic):
    app.config["PUBLIC_NAME"] = "Citas, Clínica Norte"
    run(app, db, "send-reminders", DAY_BEFORE)
    [message] = inbox.to("casey@example.test")
    assert message["From"].addresses[0].display_name == "Citas, Clínica Norte"
    assert message["From"].addresses[0].addr_spec == SENDER


@pytest.mark.parametrize("sender", ["appointments", "a@b@clinic.test", "<>", "@clinic.test"])
def test_a_sender_that_is_no_email_address_is_named(sender):
    config = {"MAIL_SERVER": "127.0.0.1", "MAIL_DEFAULT_SENDER": sender,
              "PUBLIC_NAME": "Appointments"}
    with pytest.raises(MailConfigError, match="MAIL_DEFAULT_SENDER"):
        Mailer.from_config(config)


# --- delivery ----------------------------------------------------------------------------------


def test_a_message_is_written_before_it_is_sent_and_marked_sent_after(
        app, db, inbox, clinic, database_url):
    """While the server receives it, the row is already committed as pending."""
    engine = create_engine(database_url)
    seen = []

    def look(message):
        number = int(message["Message-ID"].split("-")[1].split("@")[0])
        with engine.connect() as conn:
            seen.append(conn.execute(text("SELECT status, sent_at FROM notifications "
                                          "WHERE id = :id"), {"id": number}).one())

    inbox.probe = look
    try:
        run(app, db, "send-reminders", DAY_BEFORE)
    finally:
        engine.dispose()

    assert [tuple(row) for row in seen] == [("pending", None)]
    [row] = db.scalars(select(Notification)).all()
    assert (row.status, row.sent_at, row.attempts, row.last_error) == (
        "sent", DAY_BEFORE, 1, None)
    assert inbox.messages[0]["Message-ID"] == f"<notification-{row.id}@scheduler.invalid>"


def test_a_refused_message_stays_pending_with_the_error_and_goes_next_run(
        app, db, make, inbox, clinic):
    """One refused address does not stop the others; the run's counts say so; a retry sends."""
    enrol(db, make, clinic, email="pat@example.test")
    inbox.refused.add("casey@example.test")

    first = run(app, db, "send-reminders", DAY_BEFORE)

    assert first.counts == {"queued": 2, "sent": 1, "failed": 0, "still_pending": 1}
    held = db.scalar(select(Notification).where(Notification.to_address == "casey@example.test"))
    assert (held.status, held.attempts, held.sent_at) == ("pending", 1, None)
    assert "550" in held.last_error
    assert [m["To"] for m in inbox.messages] == ["pat@example.test"]

    inbox.refused.clear()
    retry = run(app, db, "send-reminders", DAY_BEFORE + timedelta(minutes=5))

    assert retry.counts == {"queued": 0, "sent": 1, "failed": 0, "still_pending": 0}
    db.refresh(held)
    assert (held.status, held.attempts) == ("sent", 2)
    assert len(inbox.to("casey@example.test")) == 1


def test_an_unreachable_mail_server_is_named():
    port = _free_port()  # closed again: nothing listens there
    mailer = Mailer.from_config({"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": port,
                                 "MAIL_DEFAULT_SENDER": SENDER, "MAIL_TIMEOUT": 2,
                                 "PUBLIC_NAME": "Appointments"})
    with pytest.raises(MailConfigError, match=f"127.0.0.1:{port}"):
        mailer.check()


@pytest.mark.parametrize("missing", ["MAIL_SERVER", "MAIL_DEFAULT_SENDER"])
def test_a_missing_mail_setting_is_named(missing):
    config = {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": 25, "MAIL_DEFAULT_SENDER": SENDER,
              "PUBLIC_NAME": "Appointments"}
    config[missing] = None
    with pytest.raises(MailConfigError, match=missing):
        Mailer.from_config(config)


@pytest.fixture
def handlers_kept():
    """The worker command installs SIGINT/SIGTERM handlers; put pytest's back; and fail, not
    hang, if it ever waits instead of refusing."""
    kept = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGALRM)}

    def too_slow(*_):
        raise AssertionError("the worker waited instead of refusing to start")

    signal.signal(signal.SIGALRM, too_slow)
    signal.alarm(20)
    try:
        yield
    finally:
        signal.alarm(0)
        for signum, handler in kept.items():
            signal.signal(signum, handler)


def test_the_worker_refuses_to_start_without_a_sender(app, runner, inbox, handlers_kept):
    app.config["MAIL_DEFAULT_SENDER"] = None
    result = runner.invoke(args=["worker", "--poll", "0.05"])
    assert result.exit_code != 0
    assert "Cannot start the worker" in result.output
    assert "MAIL_DEFAULT_SENDER" in result.output


def test_the_worker_refuses_to_start_when_the_mail_server_does_not_answer(
        app, runner, handlers_kept):
    port = _free_port()
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, MAIL_DEFAULT_SENDER=SENDER,
                      MAIL_TIMEOUT=2)
    result = runner.invoke(args=["worker", "--poll", "0.05"])
    assert result.exit_code != 0
    assert f"127.0.0.1:{port}" in result.output


# --- job history -------------------------------------------------------------------------------


def test_a_run_is_recorded_with_its_start_end_outcome_and_counts(app, db, now):
    finished = run(app, db, "mark-no-shows")
    [row] = db.scalars(select(JobRun)).all()
    assert (row.id, row.job, row.outcome, row.trigger) == (
        finished.id, "mark-no-shows", "ok", "cli")
    assert (row.started_at, row.finished_at) == (now, now)
    assert row.counts == {"marked_absent": 0} and row.error is None


def test_a_failing_job_is_recorded_failed_with_its_error(app, db, now, monkeypatch):
    def broken(app_, db_, at):
        raise RuntimeError("the horizon is on fire")

    monkeypatch.setitem(JOBS, "extend-horizon", replace(JOBS["extend-horizon"], run=broken))
    with pytest.raises(RuntimeError):
        run(app, db, "extend-horizon")
    [row] = db.scalars(select(JobRun)).all()
    assert (row.outcome, row.finished_at, row.counts) == ("failed", now, None)
    assert "the horizon is on fire" in row.error


def test_a_mail_job_without_mail_settings_fails_and_says_which(app, db, clinic):
    """Reminders queue, but with no MAIL_SERVER the run is failed and the message waits."""
    app.config["MAIL_SERVER"] = None
    with pytest.raises(MailConfigError):
        run(app, db, "send-reminders", DAY_BEFORE)
    [row] = db.scalars(select(JobRun)).all()
    assert row.outcome == "failed" and "MAIL_SERVER" in row.error
    assert [n.status for n in db.scalars(select(Notification))] == ["pending"]


def test_scheduled_runs_without_mail_say_once_that_messages_stay_queued(
        app, db, clinic, inbox, monkeypatch, caplog):
    """`make run` has no mail server: its jobs must not log a traceback every five minutes.
    The trouble is said once; when mail works the queued reminder goes and that is said too."""
    from scheduler.jobs import context, runner

    monkeypatch.setattr(context, "_app", app)
    monkeypatch.setattr(runner, "_mail_trouble", None)
    server = app.config["MAIL_SERVER"]
    app.config["MAIL_SERVER"] = None
    db.commit()
    caplog.set_level(logging.DEBUG)
    with clock.frozen(DAY_BEFORE):
        for name in ("send-reminders", "notify-changes", "send-reminders", "weekly-summary"):
            runner.run_scheduled(name)
    said = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage() for r in said] == [
        "Jobs run, but messages stay queued until mail works: "
        "MAIL_SERVER is not set: reminders and alerts cannot be sent."]
    assert not any(r.exc_info for r in caplog.records)
    db.expire_all()
    assert [n.status for n in db.scalars(select(Notification))] == ["pending"]
    assert {r.outcome for r in db.scalars(select(JobRun))} == {"failed"}

    caplog.clear()
    app.config["MAIL_SERVER"] = server
    with clock.frozen(DAY_BEFORE):
        runner.run_scheduled("send-reminders")
        runner.run_scheduled("send-reminders")
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == [
        "Mail works again: queued messages are going out."]
    assert len(inbox.to("casey@example.test")) == 1


def test_admins_list_job_runs_filtered_and_coordinators_may_not(app, db, client, auth, now,
                                                                monkeypatch):
    run(app, db, "extend-horizon")
    run(app, db, "mark-no-shows")
    monkeypatch.setitem(JOBS, "mark-no-shows", replace(
        JOBS["mark-no-shows"], run=lambda *_: 1 / 0))
    with pytest.raises(ZeroDivisionError):
        run(app, db, "mark-no-shows")
    admin = auth("admin")

    everything = client.get(f"{API}/jobs/runs", headers=admin)
    no_shows = client.get(f"{API}/jobs/runs?job=mark-no-shows", headers=admin)
    failed = client.get(f"{API}/jobs/runs?outcome=failed", headers=admin)

    assert everything.status_code == 200 and everything.json["total"] == 3
    assert [r["job"] for r in no_shows.json["items"]] == ["mark-no-shows"] * 2
    [bad] = failed.json["items"]
    assert bad["job"] == "mark-no-shows" and "ZeroDivisionError" in bad["error"]
    assert everything.json["items"][-1]["counts"] == {"sessions_created": 0}
    assert client.get(f"{API}/jobs/runs?job=nope", headers=admin).status_code == 422
    assert client.get(f"{API}/jobs/runs", headers=auth("coordinator")).status_code == 403


# --- the jobs command --------------------------------------------------------------------------


def test_jobs_list_names_all_seven(runner):
    result = runner.invoke(args=["jobs", "list"])
    assert result.exit_code == 0
    names = [line.split()[0] for line in result.output.splitlines() if line.strip()]
    assert names == ["extend-horizon", "mark-no-shows", "absence-alerts", "send-reminders",
                     "notify-changes", "deliver-webhooks", "weekly-summary"]


def test_jobs_run_runs_one_and_prints_its_counts(runner, db, now):
    result = runner.invoke(args=["jobs", "run", "mark-no-shows"])
    assert result.exit_code == 0, result.output
    assert "mark-no-shows: ok" in result.output and "'marked_absent': 0" in result.output
    db.expire_all()
    assert [(r.job, r.trigger) for r in db.scalars(select(JobRun))] == [
        ("mark-no-shows", "cli")]


def test_jobs_run_refuses_an_unknown_name(runner, db):
    result = runner.invoke(args=["jobs", "run", "sweep-floors"])
    assert result.exit_code != 0
    assert "sweep-floors" in result.output
    assert count(db, JobRun) == 0


def test_jobs_run_without_mail_settings_exits_non_zero_naming_the_setting(app, runner, clinic):
    """With a reminder to send and no MAIL_SERVER, the operator hears which setting is missing."""
    app.config["MAIL_SERVER"] = None
    with clock.frozen(DAY_BEFORE):
        result = runner.invoke(args=["jobs", "run", "send-reminders"])
    assert result.exit_code != 0
    assert "MAIL_SERVER" in result.output


def test_a_mail_job_with_nothing_to_send_needs_no_mail_server(app, db, now):
    """A laptop without SMTP still runs the jobs clean while no message is waiting."""
    app.config["MAIL_SERVER"] = None
    assert run(app, db, "weekly-summary").outcome == "ok"


# --- alerts API --------------------------------------------------------------------------------


@pytest.fixture
def alert(app, db, inbox, clinic):
    """An absence-run alert for Casey, raised by the jobs themselves."""
    for session in clinic["sessions"][:2]:
        run(app, db, "mark-no-shows", session.ends_at + GRACE)
    run(app, db, "absence-alerts", clinic["sessions"][1].ends_at + GRACE)
    return db.scalars(select(Alert)).one()


def alert_therapist_id(db, alert) -> int:
    return db.scalar(select(TreatmentPlan.primary_therapist_id)
                     .where(TreatmentPlan.client_id == alert.client_id))


def test_staff_see_open_alerts_and_acknowledging_one_is_audited_once(
        app, db, client, auth, alert):
    later = alert.raised_at + timedelta(hours=3)
    with clock.frozen(later):
        headers = auth("coordinator")
        listed = client.get(f"{API}/alerts", headers=headers)
        first = client.post(f"{API}/alerts/{alert.id}/acknowledge", headers=headers)
    with clock.frozen(later + timedelta(hours=1)):
        # Casey's primary therapist: the alert is of their caseload.
        headers = auth("clinician", staff_id=alert_therapist_id(db, alert))
        second = client.post(f"{API}/alerts/{alert.id}/acknowledge", headers=headers)
        open_now = client.get(f"{API}/alerts", headers=headers)
        all_alerts = client.get(f"{API}/alerts?open=false", headers=headers)
        missing = client.post(f"{API}/alerts/999999/acknowledge", headers=headers)

    assert listed.status_code == 200
    assert [(a["id"], a["kind"], a["client_id"]) for a in listed.json["items"]] == [
        (alert.id, "absence_streak", alert.client_id)]
    assert first.status_code == 200
    assert datetime.fromisoformat(first.json["acknowledged_at"]) == later
    assert second.status_code == 200
    assert second.json["acknowledged_at"] == first.json["acknowledged_at"]
    assert second.json["acknowledged_by_user_id"] == first.json["acknowledged_by_user_id"]
    assert open_now.json["items"] == []
    assert [a["id"] for a in all_alerts.json["items"]] == [alert.id]
    assert missing.status_code == 404
    db.expire_all()
    [event] = db.scalars(select(AuditEvent).where(AuditEvent.entity_type == "alert")).all()
    assert (event.action, event.entity_id) == ("acknowledge", alert.id)
    assert event.actor_user_id == first.json["acknowledged_by_user_id"] is not None


def test_clients_cannot_see_or_acknowledge_alerts(client, auth, alert):
    with clock.frozen(alert.raised_at):
        headers = auth("client")
        assert client.get(f"{API}/alerts", headers=headers).status_code == 403
        assert client.post(f"{API}/alerts/{alert.id}/acknowledge",
                           headers=headers).status_code == 403
