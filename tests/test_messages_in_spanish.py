"""Emails in their reader's language: a Spanish client's reminders, notices, invitation and
reset, a Spanish coordinator's summary; an English reader's stay word for word as they were.

Through the real jobs and a real SMTP server (aiosmtpd). Every line of a Spanish email must be
Spanish from the catalog: `assert_spanish` matches each line against the es msgstrs, whose
placeholders may hold only the data the test names (dates, times, addresses, PUBLIC_NAME, the
link) or another catalog phrase.
"""

import os
import re
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest
from babel.messages.pofile import read_po

from scheduler import i18n
from scheduler.services import booking, closures, notifications
from tests import mailbox, test_jobs
from tests.mailbox import link_in
from tests.test_jobs import (
    ADDRESS,
    DAY_BEFORE,
    FORBIDDEN,
    GRACE,
    NEW_YORK,
    STAFF,
    cancel,
    mark_roster,
    move,
    run,
)

API = "/api/v1"
clinic = test_jobs.clinic  # Casey in a Mon/Wed/Thu 18:00 New York group from 1 March 2027
inbox = mailbox.inbox  # a real SMTP server, as a fixture
LINK = re.compile(r"https://clinic\.example\.org/(invite|reset)/[A-Za-z0-9_-]+")
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")


def content(message) -> str:
    """The body as written: a body that is not ASCII travels with CRLF line ends."""
    return message.get_content().replace("\r\n", "\n")


def _spanish_phrases() -> list[re.Pattern]:
    """Each es msgstr as a pattern whose placeholders match anything (checked separately)."""
    path = os.path.join(i18n.TRANSLATIONS, "es", "LC_MESSAGES", "messages.po")
    with open(path, "rb") as source:
        catalog = read_po(source, locale="es")
    patterns = []
    for message in catalog:
        if not message.id:
            continue
        for text in (message.string if isinstance(message.string, tuple) else
                     (message.string,)):
            parts = PLACEHOLDER.split(text or "")
            if "".join(parts).strip():  # a bare placeholder would match any line
                patterns.append(re.compile("(.+?)".join(re.escape(p) for p in parts)))
    return patterns


PHRASES = _spanish_phrases()


def _is_spanish(text: str, data: set[str]) -> bool:
    if text in data or LINK.fullmatch(text):
        return True
    for phrase in PHRASES:
        found = phrase.fullmatch(text)
        if found and all(value != text and _is_spanish(value, data)
                         for value in found.groups()):
            return True
    return False


def assert_spanish(message, *data: str) -> None:
    """The subject and every line of the body are catalog Spanish around the given data."""
    known = {"Appointments", *data}  # PUBLIC_NAME signs every message
    lines = [message["Subject"], *content(message).splitlines()]
    for line in lines:
        text = line.removeprefix("- ").strip()
        assert not text or _is_spanish(text, known), f"not catalog Spanish: {line!r}"


def spanish(make, db, clinic):
    """Casey now reads Spanish."""
    casey = clinic["client"]
    casey.language = "es"
    db.commit()
    return casey


def english_client(db, make, clinic, email="robin@example.test"):
    person = make.client(clinic["program"], name="Robin Vale", email=email)
    booking.enroll_client(db, STAFF, clinic["group"].id, person.id, now=DAY_BEFORE)
    db.commit()
    return person


# --- reminders and notices -----------------------------------------------------------------


def test_a_spanish_client_is_reminded_in_spanish_and_an_english_one_as_before(
        app, db, make, inbox, clinic):
    """Sunday 18:30 New York: Casey (es) hears of tomorrow at 18:00 in Spanish, on the program's
    clock (23:00 UTC); Robin (en) gets the very bytes English readers always had."""
    spanish(make, db, clinic)
    english_client(db, make, clinic)

    run(app, db, "send-reminders", DAY_BEFORE)

    [message] = inbox.to("casey@example.test")
    assert message["Subject"] == "Recordatorio de cita"
    assert content(message) == (
        f"Tiene una cita mañana a las 18:00 en {ADDRESS}.\n\n"
        "Si no puede venir, por favor avísenos.\n\nAppointments\n")
    assert_spanish(message, "18:00", ADDRESS)
    [english] = inbox.to("robin@example.test")
    assert english["Subject"] == "Appointment reminder"
    assert content(english) == (
        f"You have an appointment tomorrow at 18:00 at {ADDRESS}.\n\n"
        "If you cannot come, please let us know.\n\nAppointments\n")


def test_a_reminder_further_ahead_names_the_day_in_spanish_on_the_programs_clock(db, clinic):
    """Two days ahead the day is named; 23:00 UTC on Monday is 18:00 Monday in New York."""
    monday = clinic["sessions"][0]
    saturday = monday.starts_at - timedelta(days=2)
    with i18n.speaking("es"):
        subject, body = notifications.reminder_text(monday, saturday, "Appointments")
    assert subject == "Recordatorio de cita"
    assert body.startswith(f"Tiene una cita el lunes 1 de marzo a las 18:00 en {ADDRESS}.")
    with i18n.speaking("en"):
        _, english = notifications.reminder_text(monday, saturday, "Appointments")
    assert english.startswith(f"You have an appointment on Monday 1 March at 18:00 at {ADDRESS}.")


def test_a_spanish_client_hears_of_a_cancellation_and_a_move_in_spanish(
        app, db, make, inbox, clinic):
    """Wednesday cancelled, Thursday moved to 19:00: both notices in Spanish; Robin's in
    English, word for word as before."""
    spanish(make, db, clinic)
    english_client(db, make, clinic)
    _, wednesday, thursday = clinic["sessions"][:3]
    friday = datetime(2027, 2, 26, 15, 0, tzinfo=UTC)
    cancel(db, wednesday, friday)
    move(db, thursday, datetime(2027, 3, 4, 19, 0, tzinfo=NEW_YORK), friday)

    run(app, db, "notify-changes", friday + timedelta(minutes=5))

    by_subject = {m["Subject"]: m for m in inbox.to("casey@example.test")}
    assert sorted(by_subject) == ["Cambio en su cita", "Cita cancelada"]
    assert content(by_subject["Cita cancelada"]) == (
        "Su cita del miércoles 3 de marzo a las 18:00 está cancelada.\n\nAppointments\n")
    assert content(by_subject["Cambio en su cita"]) == (
        f"Su cita ahora es el jueves 4 de marzo a las 19:00 en {ADDRESS}.\n\nAppointments\n")
    for message in by_subject.values():
        assert_spanish(message, "miércoles 3 de marzo a las 18:00",
                       "jueves 4 de marzo a las 19:00", ADDRESS)
    english = {m["Subject"]: content(m) for m in inbox.to("robin@example.test")}
    assert english == {
        "Appointment cancelled":
            "Your appointment on Wednesday 3 March at 18:00 is cancelled.\n\nAppointments\n",
        "Appointment changed":
            f"Your appointment is now on Thursday 4 March at 19:00 at {ADDRESS}.\n\n"
            "Appointments\n"}


def test_an_online_session_is_a_video_call_in_spanish(db, clinic):
    """No room, a video link: the place is the call, in the reader's language."""
    monday = clinic["sessions"][0]
    monday.room_id, monday.video_url = None, "https://video.example.org/x"
    with i18n.speaking("es"):
        _, body = notifications.change_text(monday, "Appointments")
    assert "en una videollamada (el enlace está en su portal)" in body
    db.rollback()


def test_a_closure_and_its_lifting_reach_a_spanish_client_in_spanish(
        app, client, db, make, auth, inbox, clinic):
    """One notice per closure, its range and each session's day and time in Spanish."""
    spanish(make, db, clinic)
    english_client(db, make, clinic)
    headers = auth("coordinator")
    program = clinic["program"]
    answer = client.post(f"{API}/programs/{program.id}/closures", headers=headers,
                         buffered=True, json={"starts_on": "2027-03-01",
                                              "ends_on": "2027-03-04", "reason": "Nieve"})
    assert answer.status_code == 201, answer.json
    [closed] = inbox.wait_for("casey@example.test")
    client.delete(f"{API}/programs/{program.id}/closures/{answer.json['id']}", headers=headers,
                  buffered=True)
    closed, reopened = inbox.wait_for("casey@example.test", 2)

    assert closed["Subject"] == "Citas canceladas"
    body = content(closed)
    assert ("Estaremos cerrados del lunes 1 de marzo al jueves 4 de marzo. "
            "Estas citas quedan canceladas:") in body
    days = ["lunes 1 de marzo a las 18:00", "miércoles 3 de marzo a las 18:00",
            "jueves 4 de marzo a las 18:00"]
    assert [f"- {day}" for day in days] == [line for line in body.splitlines()
                                            if line.startswith("- ")]
    assert reopened["Subject"] == "Citas restablecidas"
    for message in (closed, reopened):
        assert_spanish(message, "lunes 1 de marzo", "jueves 4 de marzo", *days)
    english = inbox.wait_for("robin@example.test", 2)
    assert [m["Subject"] for m in english] == ["Appointments cancelled", "Appointments back on"]
    assert ("We are closed from Monday 1 March to Thursday 4 March. These appointments are "
            "cancelled:\n\n- Monday 1 March at 18:00\n") in content(english[0])


# --- invitation and reset ------------------------------------------------------------------


def test_a_spanish_client_is_invited_and_resets_their_password_in_spanish(
        client, db, make, auth, inbox):
    """The invitation a coordinator sends and the reset the client asks for: both Spanish,
    both naming nothing but PUBLIC_NAME; an English client's invitation is as before."""
    casey = make.client(name="Casey Quill", email="casey@example.test", language="es")
    robin = make.client(name="Robin Vale", email="robin@example.test")
    for person in (casey, robin):
        answer = client.post(f"{API}/users/invitations", headers=auth("coordinator"),
                             buffered=True, json={"email": person.email, "role": "client",
                                                  "client_id": person.id})
        assert answer.status_code == 201, answer.json

    [invitation] = inbox.wait_for("casey@example.test")
    assert invitation["Subject"] == "Su cuenta de Appointments"
    assert content(invitation).startswith(
        "Recibió una invitación para tener una cuenta en Appointments.\n\n"
        "Elija su contraseña aquí (el enlace funciona una sola vez, durante 72 horas):\n")
    assert_spanish(invitation)
    text = (invitation["Subject"] + content(invitation)).lower()
    assert not [word for word in FORBIDDEN if word in text]
    [english] = inbox.wait_for("robin@example.test")
    assert english["Subject"] == "Your Appointments account"
    token = link_in(english, "invite")
    assert content(english) == (
        "You have been invited to an account at Appointments.\n\n"
        "Choose your password here (the link works once, for 72 hours):\n"
        f"https://clinic.example.org/invite/{token}\n\n"
        "If you did not expect this message, you can ignore it.\n\nAppointments\n")

    link_in(invitation, "invite")
    asked = client.post(f"{API}/auth/password-reset", json={"email": "casey@example.test"},
                        buffered=True)
    assert asked.status_code == 202
    reset = inbox.wait_for("casey@example.test", 2)[1]
    assert reset["Subject"] == "Restablezca su contraseña de Appointments"
    assert content(reset).startswith(
        "Alguien pidió restablecer la contraseña de su cuenta.\n\n")
    assert link_in(reset, "reset")
    assert_spanish(reset)


# --- staff ---------------------------------------------------------------------------------


def test_a_spanish_coordinator_gets_the_weekly_summary_in_spanish(app, db, inbox, clinic):
    """Their profile says Spanish: the week's date and the hours (9,0) are Spanish too."""
    coordinator = clinic["coordinator"]
    coordinator.language = "es"
    db.commit()
    for session in clinic["sessions"][:3]:
        mark_roster(db, session, clinic["client"].id, "present")

    run(app, db, "weekly-summary", datetime(2027, 3, 8, 9, 30, tzinfo=NEW_YORK))

    [message] = inbox.to(coordinator.email)
    assert message["Subject"] == "Resumen de asistencia de la semana pasada"
    body = content(message)
    program_id = str(clinic["program"].id)
    assert f"Semana del 1 de marzo de 2027, programa n.º {program_id}:" in body
    assert "- 9,0 horas de asistencia en total" in body
    assert_spanish(message, "1 de marzo de 2027", program_id, "1", "9,0")


def test_an_absence_alert_reaches_each_staff_member_in_their_language(
        app, db, make, inbox, clinic):
    """The coordinator reads Spanish, the therapist (no login) English: one alert, two
    languages, neither naming the client."""
    coordinator = clinic["coordinator"]
    coordinator.language = "es"
    db.commit()
    monday, wednesday = clinic["sessions"][:2]
    run(app, db, "mark-no-shows", monday.ends_at + GRACE)
    run(app, db, "mark-no-shows", wednesday.ends_at + GRACE)
    run(app, db, "absence-alerts", wednesday.ends_at + GRACE)

    [spanish_alert] = inbox.to(coordinator.email)
    client_id = str(clinic["client"].id)
    assert spanish_alert["Subject"] == "Se necesita seguimiento de un cliente"
    assert content(spanish_alert).startswith(
        f"2 ausencias sin justificar seguidas (cliente n.º {client_id}).\n\n")
    assert_spanish(spanish_alert, client_id, "2")
    assert "Casey" not in content(spanish_alert)
    [english_alert] = inbox.to("therapist@clinic.test")
    assert english_alert["Subject"] == "Client follow-up needed"
    assert content(english_alert).startswith(
        f"2 unexcused absences in a row (client #{client_id}).\n\n")


def test_closure_words_follow_the_language_spoken(clinic, db):
    """The range a staff page's message quotes speaks that page's language."""
    closure = closures.Closure(program_id=clinic["program"].id,
                               starts_on=datetime(2027, 3, 1).date(),
                               ends_on=datetime(2027, 3, 1).date(), reason="x")
    with i18n.speaking("es"):
        assert closures.range_words(closure) == "el lunes 1 de marzo"
    with i18n.speaking("en"):
        assert closures.range_words(closure) == "on Monday 1 March"


def test_the_catalog_check_finds_english_left_in_a_spanish_email():
    """The check can fail: one English line among Spanish ones is named."""
    message = EmailMessage()
    message["Subject"] = "Recordatorio de cita"
    message.set_content(f"Tiene una cita hoy a las 18:00 en {ADDRESS}.\n\n"
                        "If you cannot come, please let us know.\n\nAppointments\n")
    with pytest.raises(AssertionError, match="If you cannot come"):
        assert_spanish(message, "18:00", ADDRESS)
    message.replace_header("Subject", "Appointment reminder")
    with pytest.raises(AssertionError, match="Appointment reminder"):
        assert_spanish(message, "18:00", ADDRESS)
