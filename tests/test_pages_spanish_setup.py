"""Staff pages in Spanish (issue 21): an admin whose profile says Spanish gets the Setup pages,
the logins, the alerts and the audit log in Spanish, dates and numbers included, whatever
the browser asks for; an English admin gets the very same pages in English, as before.

The clinic is the alerts page's (tests/test_pages_alerts.py): Sam broke the glass for Avery
on Tue 16 February 2027 at 07:00 in New York, Blake is short of hours, Avery missed three.
"""

import re
from html import unescape

import pytest

from scheduler.services import users
from tests.helpers import ACTOR, sign_in
from tests.test_pages_alerts import clinic, rows

__all__ = ["clinic"]  # the fixture, imported for these tests

BROWSER_SAYS_ENGLISH = {"Accept-Language": "en-US,en;q=0.9"}


def text(page: str) -> str:
    """What a reader sees: the page without its tags, scripts and styles, spaces collapsed."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", page))).strip()


def nav(page: str) -> str:
    return re.search(r'<nav aria-label="[^"]*">.*?</nav>', page, re.S).group(0)


def setup_entry(page: str) -> str:
    """The main bar's link to Setup, with its attributes (aria-current marks it current)."""
    return re.search(r'<a href="/staff"[^>]*>[^<]*</a>', nav(page)).group(0)


def speaking(db, user, language: str | None):
    users.set_own_language(db, ACTOR, user, language)
    db.commit()
    return user


def get(client, path: str) -> str:
    answer = client.get(path, headers=BROWSER_SAYS_ENGLISH)
    assert answer.status_code == 200, path
    return answer.get_data(as_text=True)


@pytest.fixture
def spanish_admin(client, db, clinic):
    sign_in(client, speaking(db, clinic["admin"], "es"))
    return clinic["admin"]


def test_setup_pages_are_in_spanish_with_setup_marked_current(client, make, spanish_admin):
    make.room(name="Sala Norte")
    expected = {
        "/programs": ("Programas", ["Agregar un programa", "Nivel de atención (ASAM)",
                                    "Zona horaria", "Evening IOP", "Activo",
                                    "Privado: “Cita” y la dirección"]),
        "/rooms": ("Salas", ["Agregar una sala", "Asientos", "Sala Norte", "En uso", "1 sala."]),
        "/sites": ("Sedes", ["Agregar una sede", "Buscar una sede por nombre"]),
        "/staff": ("Personal", ["Horario de trabajo", "Definir horario", "Sin límite"]),
        "/recipients": ("Destinatarios", ["Agregar un destinatario",
                                          "Todavía no hay destinatarios"]),
    }
    for path, (title, words) in expected.items():
        page = get(client, path)
        assert '<html lang="es">' in page, path
        assert f"<h1>{title}</h1>" in page, path
        seen = text(page)
        for word in words:
            assert word in seen, (path, word)
        # The main bar in Spanish, its Setup entry current on every Setup page.
        bar = text(nav(page))
        for label in ("Semana", "Clientes", "Alertas", "Configuración", "Cuentas",
                      "Registro de auditoría"):
            assert label in bar, (path, label)
        assert "Setup" not in bar and "Logins" not in bar
        assert "aria-current" in setup_entry(page) and "Configuración" in setup_entry(page)


def test_a_refusal_is_in_spanish_on_the_page_and_in_the_apis_json(client, db, auth, clinic):
    speaking(db, clinic["admin"], "es")
    headers = auth.for_user(clinic["admin"])
    first = client.post("/api/v1/sites", json={"name": "Eastside", "timezone": "UTC"},
                        headers=headers)
    assert first.status_code == 201
    again = client.post("/api/v1/sites", json={"name": "Eastside", "timezone": "UTC"},
                        headers=headers)
    assert again.status_code == 422
    assert "Ya existe una sede llamada 'Eastside'." in again.get_data(as_text=True)
    sign_in(client, clinic["admin"])
    page = client.post("/rooms", data={"csrf_token": csrf(get(client, "/rooms")), "name": "",
                                       "capacity": "0"}, headers=BROWSER_SAYS_ENGLISH)
    assert page.status_code == 422
    seen = text(page.get_data(as_text=True))
    assert "No se agregó: corrija los campos marcados abajo." in seen
    assert "Póngale un nombre a la sala." in seen


def csrf(page: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)


def test_the_logins_page_is_in_spanish(client, spanish_admin):
    seen = text(get(client, "/users"))
    for words in ("Cuentas", "Invitar a alguien", "Enviar invitación", "Cualquier función",
                  "Último inicio de sesión", "Verificación en dos pasos", "Administrador",
                  "(usted)", "Todas las sedes", "Desactivar", "Cerrar sesión en todas partes"):
        assert words in seen, words
    assert "Invite someone" not in seen and "Never" not in seen


def test_the_alerts_page_speaks_spanish_dates_and_numbers(client, spanish_admin):
    page = get(client, "/alerts")
    assert '<html lang="es">' in page
    glass, short, streak = rows(page)
    assert glass.startswith("mar 16 feb 2027, 7:00 Acceso de emergencia Avery Stone")
    assert ("Sam Ortiz usó el acceso de emergencia para leer el expediente clínico de Avery "
            "Stone, con acceso hasta mar 16 feb 2027, 8:00. Su motivo: “Covering Dana's crisis "
            "call”") in glass
    assert glass.endswith("Revisada")
    assert "3 faltas sin justificar seguidas; última asistencia lun 8 feb 2027, 18:00." in streak
    assert ("Reservadas 4,5 de 9 horas esta semana; las sesiones con lugares libres podrían "
            "cubrir la diferencia.") in short
    assert "Horas por debajo de la meta esta semana" in short


def test_the_audit_log_is_in_spanish(client, spanish_admin):
    page = get(client, "/audit")
    seen = text(page)
    for words in ("Registro de auditoría", "Cualquier acción", "Cuándo", "Quién",
                  "Acceso de emergencia", "Idioma elegido", "Consultado", "Cancelado"):
        assert words in seen, words
    # The dates of the events are written in Spanish, on the clinic's clock.
    assert re.search(r"\b(lun|mar|mié|jue|vie|sáb|dom) \d{1,2} [a-z]+ 20\d\d \d{1,2}:\d\d:\d\d",
                     seen)
    assert not re.search(r"\b(Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d", seen)


def test_english_pages_are_unchanged(client, db, clinic):
    sign_in(client, speaking(db, clinic["admin"], "en"))
    page = get(client, "/rooms")
    assert '<html lang="en">' in page and "<h1>Rooms</h1>" in page
    assert "aria-current" in setup_entry(page) and ">Setup</a>" in setup_entry(page)
    assert "0 rooms." in text(page) and "No rooms yet." in text(page)
    glass, short, _ = rows(get(client, "/alerts"))
    assert glass.startswith("Tue 16 Feb 2027, 07:00 Broke the glass Avery Stone")
    assert "Booked 4.5 of 9 hours this week;" in short
    seen = text(get(client, "/users"))
    assert "Invite someone" in seen and "Every site" in seen and "(you)" in seen
    seen = text(get(client, "/audit"))
    assert "Audit log" in seen and "Broke the glass" in seen
    assert re.search(r"\b(Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d{1,2} [A-Z][a-z]{2} 20\d\d "
                     r"\d\d:\d\d:\d\d", seen)
