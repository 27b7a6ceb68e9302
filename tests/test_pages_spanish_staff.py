"""Staff who chose Spanish get the staff pages in Spanish: the clinician's day and roster,
the coordinator's week and a client's record, dates as Spanish writes them, and the header
row of a CSV export; the roster's answers to its script stay JSON (plain text, no 500)."""

import csv
import io
import json
import re
from html import unescape

from scheduler.services import users
from tests.helpers import ACTOR, sign_in
from tests.test_pages_clients import clinic

# The clinician's pages' fixtures: Dana Reyes's morning group, Coping skills (07:30–10:30 New
# York), with Avery Stone and Blake Ortiz booked.
from tests.test_pages_clinician import group as group  # noqa: F401 - fixtures
from tests.test_pages_clinician import program as program  # noqa: F401
from tests.test_pages_clinician import therapist as therapist  # noqa: F401

# The browser asks for English: the profile's Spanish must win.
ENGLISH_BROWSER = {"Accept-Language": "en-US,en;q=0.9"}


def speaking_spanish(db, user):
    users.set_own_language(db, ACTOR, user, "es")
    db.commit()
    return user


def text(page) -> str:
    """What a person reads in the page's own content (<main>; the navigation around it is
    base.html's), without tags or scripts, spaces collapsed."""
    html = page.get_data(as_text=True)
    body = html.split("<main", 1)[1].split("</main>", 1)[0]
    body = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", body, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", body))).strip()


def says(words: str, phrase: str) -> bool:
    """Whether the phrase is there as words ("Present" is not in "Presente")."""
    return re.search(rf"(?<!\w){re.escape(phrase)}(?!\w)", words) is not None


def csrf(page) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)


def test_a_spanish_clinician_reads_today_and_the_roster_in_spanish(client, db, make,
                                                                   therapist, group):
    clinician = speaking_spanish(db, make.user("clinician", staff_id=therapist.id))
    sign_in(client, clinician)

    today = client.get("/today", headers=ENGLISH_BROWSER)
    assert today.status_code == 200
    assert '<html lang="es">' in today.get_data(as_text=True)
    words = text(today)
    # Tuesday 16 February 2027, 07:00 in New York.
    assert "Hoy, martes 16 de febrero de 2027" in words
    assert "Día anterior" in words and "Día siguiente" in words
    assert "2 reservados de 8" in words and "7:30–10:30" in words
    assert "Lista de asistencia" in words
    for english in ("Today", "Previous day", "booked", "Roster"):
        assert not says(words, english), english

    roster = client.get(f"/sessions/{group.id}/roster", headers=ENGLISH_BROWSER)
    assert roster.status_code == 200
    assert '<html lang="es">' in roster.get_data(as_text=True)
    words = text(roster)
    assert "Lista de asistencia: Coping skills" in words
    assert "martes 16 de febrero, 7:30–10:30" in words
    assert "Código de registro para la sala" in words
    assert "Clientes reservados (2)" in words and "Marcar a todos presentes" in words
    assert "Sin marcar todavía" in words
    assert "Presente" in words and "Ausente (injustificado)" in words
    assert "Motivo u hora" in words and "Sin aviso" in words
    for english in ("Roster", "Mark all present", "Not marked yet", "Present", "Reason",
                    "Check-in code"):
        assert not says(words, english), english

    # The roster's script is answered in JSON, in Spanish, refusal and success alike.
    client_id = int(re.search(r'name="client_id" value="(\d+)"',
                              roster.get_data(as_text=True)).group(1))
    refused = client.post(f"/sessions/{group.id}/roster",
                          headers={"X-Requested-With": "fetch", **ENGLISH_BROWSER},
                          data={"csrf_token": csrf(roster), "client_id": client_id,
                                "status": "late"})
    assert refused.status_code == 422
    assert refused.json == {"error": "No se guardó: Motivo: elija uno para «tarde».",
                            "field": "reason_code"}
    marked = client.post(f"/sessions/{group.id}/roster",
                         headers={"X-Requested-With": "fetch", **ENGLISH_BROWSER},
                         data={"csrf_token": csrf(roster), "client_id": client_id,
                               "status": "present"})
    assert marked.status_code == 200
    assert marked.json["message"] == "Marcado: presente."
    assert marked.json["current"].startswith("Ahora: Presente, ")


def test_a_spanish_coordinator_reads_the_week_and_a_client_in_spanish(client, db, make,
                                                                      group):
    setup = clinic(db, make)
    coordinator = speaking_spanish(db, make.user("coordinator"))
    sign_in(client, coordinator)

    week = client.get("/week?site=all", headers=ENGLISH_BROWSER)
    assert week.status_code == 200
    assert '<html lang="es">' in week.get_data(as_text=True)
    words = text(week)
    assert "Semana del lunes 15 de febrero de 2027" in words
    assert "mar 16 feb Hoy" in words and "lun 15 feb" in words
    assert "Semana anterior" in words and "Nueva serie" in words
    assert "Coping skills" in words and "con Dana Reyes" in words
    for english in ("Week of", "Previous week", "New series", "No sessions", "Today"):
        assert not says(words, english), english

    record = client.get(f"/clients/{setup.avery.id}", headers=ENGLISH_BROWSER)
    assert record.status_code == 200
    assert '<html lang="es">' in record.get_data(as_text=True)
    words = text(record)
    assert "Avery Stone" in words and " el 2027-01-04" in words and says(words, "activo")
    assert "Plan de tratamiento" in words and "Terapeuta principal Dana Reyes" in words
    assert "Terapia de grupo: 3" in words
    assert "Horas por semana" in words and "Historial de asistencia" in words
    # The attendance history's dates, in Spanish, on the program's clock.
    assert "mié 10 feb 2027, 18:00" in words and "Presente" in words
    for english in ("Treatment plan", "Attendance history", "Group therapy", "admitted",
                    "Upcoming sessions", "Calendar feed link"):
        assert not says(words, english), english


def test_a_csv_exports_header_row_follows_the_downloaders_language(client, db, make):
    setup = clinic(db, make)
    query = (f"/api/v1/reports/weekly-hours?program_id={setup.program.id}"
             "&from=2027-02-01&to=2027-02-14&format=csv&names=1")

    def header(user) -> list[str]:
        sign_in(client, user)
        answer = client.get(query, headers=ENGLISH_BROWSER)
        assert answer.status_code == 200 and answer.mimetype == "text/csv"
        rows = list(csv.reader(io.StringIO(answer.get_data(as_text=True))))
        assert len(rows) > 1
        return rows[0]

    english = header(make.user("coordinator"))
    assert english[:3] == ["client_id", "client_name", "week_start"]
    spanish = header(speaking_spanish(db, make.user("coordinator")))
    assert spanish[:3] == ["id_cliente", "nombre_cliente", "inicio_semana"]
    assert "horas_asistidas" in spanish and "attended_hours" not in spanish
    assert len(spanish) == len(english)


def test_a_scripts_csv_keeps_the_documented_field_names_whatever_its_language(client, db,
                                                                              make, auth):
    """A bearer token is a script reading columns by the names the README documents: a
    Spanish-speaking login's export keeps them."""
    setup = clinic(db, make)
    headers = auth.for_user(speaking_spanish(db, make.user("coordinator")))
    answer = client.get(f"/api/v1/reports/weekly-hours?program_id={setup.program.id}"
                        "&from=2027-02-01&to=2027-02-14&format=csv&names=1", headers=headers)
    assert answer.status_code == 200
    header = next(csv.reader(io.StringIO(answer.get_data(as_text=True))))
    assert header[:3] == ["client_id", "client_name", "week_start"]
    assert "attended_hours" in header


def test_the_apis_refusals_speak_the_callers_language_as_json(client, db, make, auth, group):
    """A service's refusal is plain text in the JSON answer: Spanish for a Spanish-speaking
    coordinator, English (as ever) for the rest."""
    spanish = auth.for_user(speaking_spanish(db, make.user("coordinator")))
    english = auth("coordinator")
    for headers, words in ((spanish, "No hay ningún cliente con id 999999."),
                           (english, "No client with id 999999.")):
        answer = client.post(f"/api/v1/sessions/{group.id}/bookings", json={"client_id": 999999},
                             headers={**headers, **ENGLISH_BROWSER})
        assert answer.status_code == 422 and answer.is_json
        assert answer.json["errors"]["json"]["client_id"] == [words]
    # A path that points at nothing: the 404 agrees its words with the thing ("ninguna sesión").
    for headers, words in ((spanish, "No hay ninguna sesión con id 999999."),
                           (english, "No session with id 999999.")):
        answer = client.get("/api/v1/sessions/999999", headers={**headers, **ENGLISH_BROWSER})
        assert answer.status_code == 404 and answer.json["message"] == words


def test_the_scripts_write_in_the_pages_language(client, db, make):
    """The pickers, the series preview and the roster write some words themselves: the page
    hands them over in its language (a JSON data block, which the CSP lets be)."""
    def words(user) -> dict:
        sign_in(client, user)
        html = client.get("/week", headers=ENGLISH_BROWSER).get_data(as_text=True)
        block = re.search(r'<script type="application/json" id="script-words">(.*?)</script>',
                          html, flags=re.S)
        return json.loads(unescape(block.group(1)))

    english = words(make.user("coordinator"))
    spanish = words(speaking_spanish(db, make.user("coordinator")))
    assert english["type_to_search"] == "Type to search"
    assert spanish["type_to_search"] == "Escriba para buscar"
    assert spanish["sessions_other"] == "Se crearían %(num)d sesiones."
    assert spanish["mark_absent_excused"] == "Ausente (justificado)" or \
        spanish["mark_absent_excused"] != english["mark_absent_excused"]
    assert set(spanish) == set(english)


def test_wtforms_own_refusals_on_a_plans_phase_rows_speak_spanish(client, db, make):
    """A plan's phase rows are plain forms inside the posted one; WTForms' own refusals on
    them ("Number must be between …") come in the reader's language, as on the form around
    them, never in English on a Spanish page."""
    setup = clinic(db, make)
    sign_in(client, speaking_spanish(db, make.user("clinician", staff_id=setup.therapist.id)))
    url = f"/clients/{setup.avery.id}/plan/revise"
    token = csrf(client.get(url, headers=ENGLISH_BROWSER))
    answer = client.post(url, headers=ENGLISH_BROWSER, data={
        "csrf_token": token, "weekly_hours_target": "9", "goals": "Stay sober",
        "phases-0-name": "Intensive", "phases-0-first_week": "600",
        "phases-0-per_week_group": "x"})
    assert answer.status_code == 422
    words = text(answer)
    assert "El número debe estar entre 1 y 520." in words
    assert "No es un valor entero válido." in words
    for english in ("Number must be between", "Not a valid integer value"):
        assert english not in words
