"""Spanish for everything a client or the front desk sees (issue 21 §1), and choosing it.

The pages are walked as a reader meets them: every text node and every attribute a browser
shows or reads aloud (aria-label, alt, placeholder, title, a button input's value). Once the
test's own data (names, titles, rooms, the public name) and the dates, times and numbers are
taken out, each piece of text left must be found in a Spanish msgstr of the catalog, so a
string nobody marked for translation (or a translation missing) fails, naming the words.

The clinic's clock stands at Tue 16 February 2027 12:00 UTC (07:00 in New York).
"""

import functools
import os
import re
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser

import pytest
from babel import Locale
from babel.messages.pofile import read_po
from flask import current_app
from sqlalchemy import select

from scheduler import clock
from scheduler.languages import NAMES
from scheduler.models import AuditEvent, Client, User
from scheduler.services import (
    account_links,
    booking,
    clients,
    consents,
    disclosures,
    kiosk,
    recipients,
    sessions,
    users,
)
from tests.helpers import ACTOR, sign_in

CATALOG = os.path.join(os.path.dirname(__file__), "..", "scheduler", "translations", "es",
                       "LC_MESSAGES", "messages.po")
SPANISH = {"Accept-Language": "es"}
TONIGHT = datetime(2027, 2, 16, 23, 0, tzinfo=UTC)  # Tue 18:00 New York
AT_THE_DOOR = TONIGHT - timedelta(minutes=10)
PIN = "4821"


# --- the walk -----------------------------------------------------------------------------------

SHOWN_ATTRIBUTES = ("aria-label", "alt", "placeholder", "title")
BUTTON_INPUTS = ("submit", "button", "reset")
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}


class Visible(HTMLParser):
    """The text a reader of the page in the page's language meets: text nodes (not scripts or
    styles) and shown attributes. An element marked with another language (the switch's
    "English") is that language's on purpose, and is left out."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.page_language: str | None = None
        self.stack: list[tuple[str, str | None, bool]] = []  # tag, lang, hidden
        self.texts: list[str] = []

    def _language(self) -> str | None:
        return next((lang for _, lang, _ in reversed(self.stack) if lang), self.page_language)

    def _skipped(self) -> bool:
        return (any(hidden for _, _, hidden in self.stack)
                or self._language() != self.page_language)

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        if tag == "html":
            self.page_language = values.get("lang")
            return
        lang = values.get("lang")
        hidden = tag in ("script", "style") or "hidden" in values
        if tag not in VOID:
            self.stack.append((tag, lang, hidden))
        if hidden or (lang or self._language()) != self.page_language or self._skipped():
            return
        shown = [values.get(name) for name in SHOWN_ATTRIBUTES]
        if tag == "input" and values.get("type") in BUTTON_INPUTS:
            shown.append(values.get("value"))
        self.texts.extend(value for value in shown if value)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID and self.stack and self.stack[-1][0] == tag:
            self.stack.pop()

    def handle_endtag(self, tag):
        for index in range(len(self.stack) - 1, -1, -1):
            if self.stack[index][0] == tag:
                del self.stack[index:]
                break

    def handle_data(self, data):
        if data.strip() and not self._skipped():
            self.texts.append(data)


@functools.cache
def catalog_pieces() -> tuple[str, ...]:
    """Every Spanish msgstr cut at its placeholders, HTML tags and line breaks."""
    with open(CATALOG, "rb") as source:
        catalog = read_po(source, locale="es")
    pieces = []
    for message in catalog:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for string in strings:
            for piece in re.split(r"%\(\w+\)[sd]|<[^>]+>|\n", string or ""):
                piece = " ".join(piece.split())
                if piece:
                    pieces.append(piece)
    return tuple(pieces)


@functools.cache
def date_words() -> re.Pattern:
    """Spanish names of days and months, as Babel writes dates (`local`)."""
    spanish = Locale("es")
    names = set()
    for width in ("wide", "abbreviated"):
        names |= set(spanish.days["format"][width].values())
        names |= set(spanish.months["format"][width].values())
    words = sorted((re.escape(n.rstrip(".")) for n in names), key=len, reverse=True)
    alternatives = "|".join(words)
    return re.compile(rf"(?<!\w)(?:{alternatives})\.?(?!\w)", re.IGNORECASE)


# Left between the parts of a date once its names and numbers are out: "16 de febrero de 2027,
# 14:05", "a las 18:00".
DATE_GLUE = {"de", "a las", "de de", "h"}


def _found(words: list[str]) -> bool:
    """Whether the words read as a run of catalog text: each stretch of them inside a piece."""
    pieces = catalog_pieces()

    @functools.cache
    def covered(start: int) -> bool:
        if start == len(words):
            return True
        for end in range(len(words), start, -1):
            stretch = re.escape(" ".join(words[start:end]))
            if any(re.search(rf"(?<!\w){stretch}(?!\w)", piece) for piece in pieces) \
                    and covered(end):
                return True
        return False

    return covered(0)


def not_spanish(html: str, data: tuple[str, ...] = ()) -> list[str]:
    """The text of the page that no Spanish msgstr holds, once data, dates and numbers are out."""
    visible = Visible()
    visible.feed(html)
    assert visible.page_language == "es", "the page does not say it is Spanish"
    cut = "\x00"
    left = []
    for text in visible.texts:
        text = " ".join(text.split())
        for datum in sorted(data, key=len, reverse=True):
            text = text.replace(datum, cut)
        text = date_words().sub(cut, text)
        text = re.sub(r"\d+(?:[:.,]\d+)*", cut, text)
        for fragment in text.split(cut):
            fragment = fragment.strip(" ,.;:·–-()“”\"'?¿!¡")
            if not re.search(r"[^\W\d_]", fragment) or fragment in DATE_GLUE:
                continue
            words = re.findall(r"[^\s]+", fragment)
            if not _found(words) and not _found([w.strip(",.;:()“”") for w in words]):
                left.append(fragment)
    return left


def assert_spanish(answer, *data: str) -> str:
    html = answer.get_data(as_text=True)
    assert '<html lang="es">' in html
    # The public name, and each language named in its own words (the switch).
    fixed = (current_app.config["PUBLIC_NAME"], *NAMES.values())
    left = not_spanish(html, (*data, *fixed))
    assert left == [], f"{answer.request.path}: English (or untranslated) text: {left}"
    return html


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def switch(client, language: str, next_path: str = "/", headers=None):
    page = client.get("/login", headers=headers or {})
    token = csrf(page.get_data(as_text=True))
    return client.post("/language", data={"csrf_token": token, "language": language,
                                          "next": next_path}, headers=headers or {})


# --- the walk can fail ----------------------------------------------------------------------------


def test_the_walk_catches_an_unmarked_string():
    """The check itself: a Spanish page with one English sentence, an English label or an English
    button is refused, naming the words; the same page without them passes."""
    spanish = ('<html lang="es"><head><title>Mis sesiones · Appointments</title></head><body>'
               '<h1>Hola, Avery</h1><p>Del 10 de febrero de 2027 al 10 de agosto de 2027</p>'
               '<form lang="en"><button>English</button></form>'
               '<p><strong>7,5 h</strong> asistidas de una meta semanal de 9 h</p>')
    assert not_spanish(spanish + "</body></html>", ("Avery", "Appointments")) == []
    for english, words in (("<p>Check in</p>", "Check in"),
                           ('<input type="submit" value="Send the link">', "Send the link"),
                           ('<a aria-label="Main menu" href="/">x</a>', "Main menu"),
                           ("<p>Su PIN no coincide. Welcome!</p>", "Welcome")):
        assert words in " ".join(not_spanish(spanish + english + "</body></html>",
                                             ("Avery", "Appointments")))


# --- /me ----------------------------------------------------------------------------------------


@pytest.fixture
def program(make):
    return make.program(name="Evening IOP")


@pytest.fixture
def lucia(db, make, program):
    """A Spanish-speaking client and her login."""
    person = make.client(program, name="Lucía Romero")
    clients.set_language(db, ACTOR, person.id, "es")
    db.commit()
    return make.user("client", client_id=person.id)


DATA = ("Lucía Romero", "Lucía", "Coping skills", "Life skills", "Relapse prevention",
        "Family night", "Room B", "Kipu EHR", "Coordination of care", "Billing",
        "Evening IOP")


@pytest.fixture
def full_week(db, make, program, lucia, now):
    """Lucía booked into a group with a room and one by video, one session cancelled and one
    moved, second on a waitlist, and sharing with an EHR: one consent live, one stopped, with
    disclosures under it."""
    room = make.room(name="Room B")

    def one(title, starts, hours=2, **kw):
        return sessions.create_one_off(db, ACTOR, now=now, program_id=program.id, kind="group",
                                       title=title, starts_at=starts,
                                       ends_at=starts + timedelta(hours=hours), **kw)

    group = one("Coping skills", TONIGHT, room_id=room.id, capacity=12)
    video = one("Family night", TONIGHT + timedelta(days=1), video_url="https://video.example/x")
    cancelled = one("Relapse prevention", TONIGHT + timedelta(days=2))
    moved = one("Relapse prevention", TONIGHT + timedelta(days=3))
    full = one("Life skills", TONIGHT + timedelta(days=4), capacity=1)
    for session in (group, video, cancelled, moved):
        booking.book_client(db, ACTOR, session.id, lucia.client_id, now=now)
    for _ in range(2):
        booking.book_client(db, ACTOR, full.id, make.client(program).id, now=now)
    booking.book_client(db, ACTOR, full.id, lucia.client_id, now=now)
    sessions.change_session(db, ACTOR, cancelled, {"status": "cancelled"}, reason="Staff ill")
    sessions.change_session(db, ACTOR, moved, {"starts_at": moved.starts_at + timedelta(hours=1),
                                               "ends_at": moved.ends_at + timedelta(hours=1)})
    kipu = recipients.create_recipient(db, ACTOR, name="Kipu EHR", kind="ehr")
    live = consents.record(db, ACTOR, db.get(Client, lucia.client_id), recipient_id=kipu.id,
                           purpose="Coordination of care",
                           scope=["appointments", "attendance", "demographics"],
                           signed_on=date(2027, 2, 10), expires_on=date(2027, 8, 10), now=now)
    stopped = consents.record(db, ACTOR, db.get(Client, lucia.client_id), recipient_id=kipu.id,
                              purpose="Billing", scope=["appointments"],
                              signed_on=date(2027, 1, 5), expires_on=date(2027, 12, 31), now=now)
    consents.revoke(db, ACTOR, stopped, now - timedelta(days=3))
    at = now - timedelta(days=1)
    for second in range(3):
        disclosures.log(db, live, channel="fhir", scope="appointments", what="Appointment/1",
                        at=at.replace(second=second))
    disclosures.log(db, live, channel="webhook", scope="attendance", what="Appointment/1",
                    at=at + timedelta(hours=1))
    db.commit()
    return {"group": group}


def test_a_spanish_clients_me_is_spanish_throughout(client, lucia, full_week):
    sign_in(client, lucia)
    answer = client.get("/me")
    assert answer.status_code == 200
    html = assert_spanish(answer, *DATA, lucia.email)
    # Their words, their dates and their numbers.
    for spanish in ("Mis próximas sesiones", "Cancelada", "Cambiada al", "número 2 en la fila",
                    "Unirse por video", "Del 10 de febrero de 2027 al 10 de agosto de 2027",
                    "Detenido el 13 de febrero de 2027", "3 de sus citas", "mar 16 feb, 18:00",
                    "si usted asistió a una sesión", "un servicio de expedientes de salud"):
        assert spanish in html, spanish
    # The copy the phone keeps for when it is offline speaks her language too.
    offline = assert_spanish(client.get("/me/offline"), *DATA)
    assert "Sin conexión" in offline and "Cambiada al" in offline


def test_a_new_clients_me_and_the_calendar_link_are_spanish(client, lucia):
    sign_in(client, lucia)
    first = client.get("/me")
    html = assert_spanish(first, *DATA, lucia.email)
    assert "Obtener mi enlace de calendario" in html and "Todavía no tiene sesiones" in html
    made = client.post("/me/feed", data={"csrf_token": csrf(html)})
    assert made.status_code == 201
    shown = assert_spanish(made, *DATA, lucia.email)
    assert 'aria-label="Código QR de su enlace de calendario"' in shown
    assert 'data-copy-label="Copiar enlace"' in shown


def test_a_wrong_room_code_and_a_wrong_pin_are_refused_in_spanish(client, db, lucia, full_week):
    kiosk.set_pin(db, ACTOR, lucia.client_id, PIN)
    db.commit()
    sign_in(client, lucia)
    with clock.frozen(AT_THE_DOOR):
        token = csrf(client.get("/me").get_data(as_text=True))
        wrong = client.post("/me/checkin", data={"csrf_token": token, "code": "000000"})
        assert wrong.status_code == 422
        assert "Código: no coincide con el código que se muestra en la sala." in \
            assert_spanish(wrong, *DATA, lucia.email)
        short = client.post("/me/checkin", data={"csrf_token": token, "code": "12"})
        assert "escriba los seis dígitos" in assert_spanish(short, *DATA, lucia.email)
        pin = client.post("/me/kiosk-pin", data={"csrf_token": token, "current_pin": "1111",
                                                  "pin": "5555", "pin_again": "5556"})
        assert "no coincide con el PIN nuevo" in assert_spanish(pin, *DATA, lucia.email)


# --- the kiosk ----------------------------------------------------------------------------------


@pytest.fixture
def tablet(client, make):
    user = make.user("kiosk")
    sign_in(client, user)
    return user


def test_the_kiosk_in_spanish_start_wrong_pin_and_checked_in(client, db, tablet, lucia,
                                                             full_week):
    kiosk.set_pin(db, ACTOR, lucia.client_id, PIN)
    db.commit()
    with clock.frozen(AT_THE_DOOR):
        start = client.get("/kiosk", headers=SPANISH)
        html = assert_spanish(start, "Lucía R.", tablet.email)
        assert "Elija su nombre" in html
        assert re.search(r'<button[^>]*lang="es"[^>]*>Español</button>', html)
        assert re.search(r'<button[^>]*lang="en"[^>]*>English</button>', html)
        data = {"csrf_token": csrf(html), "client_id": str(lucia.client_id)}
        wrong = client.post("/kiosk", data={**data, "pin": "1111"}, headers=SPANISH)
        assert wrong.status_code == 422
        assert "PIN: no coincide." in assert_spanish(wrong, "Lucía R.", tablet.email)
        done = client.post("/kiosk", data={**data, "pin": PIN}, headers=SPANISH,
                           follow_redirects=True)
        assert "Su llegada quedó registrada" in assert_spanish(done, "Lucía R.", tablet.email)


def test_the_kiosk_toggle_speaks_spanish_until_the_check_in_then_the_tablets_language(
        client, db, tablet, lucia, full_week):
    kiosk.set_pin(db, ACTOR, lucia.client_id, PIN)
    db.commit()
    with clock.frozen(AT_THE_DOOR):
        english = client.get("/kiosk").get_data(as_text=True)
        assert '<html lang="en">' in english
        toggled = client.post("/language", data={"csrf_token": csrf(english), "language": "es",
                                                 "next": "/kiosk"})
        assert toggled.status_code == 303 and toggled.headers["Location"] == "/kiosk"
        spanish = client.get("/kiosk")
        html = assert_spanish(spanish, "Lucía R.", tablet.email)
        done = client.post("/kiosk", data={"csrf_token": csrf(html), "pin": PIN,
                                           "client_id": str(lucia.client_id)},
                           follow_redirects=True).get_data(as_text=True)
    # The welcome in her language, marked so; the page is the tablet's again for the next one.
    assert '<html lang="en">' in done
    assert '<span lang="es">Su llegada quedó registrada. ¡Bienvenido!</span>' in done
    assert "Choose your name" in done or "No session is open" in done
    # The tablet's login keeps no language of its own.
    db.expire_all()
    assert db.get(User, tablet.id).language is None


# --- signed out: sign-in, password, links, errors ----------------------------------------------


def test_the_signed_out_pages_speak_the_chosen_language(client, db, make):
    assert switch(client, "es", "/login").headers["Location"] == "/login"
    login = client.get("/login")
    html = assert_spanish(login)
    refused = client.post("/login", data={"csrf_token": csrf(html), "email": "nobody@x.test",
                                          "password": "wrong password"})
    assert refused.status_code == 401
    assert "El correo electrónico o la contraseña no son correctos." in assert_spanish(refused)
    empty = client.post("/login", data={"csrf_token": csrf(html), "email": "", "password": ""})
    assert "Este campo es obligatorio." in assert_spanish(empty)
    long = client.post("/login", data={"csrf_token": csrf(html), "email": "a" * 300 + "@x.test",
                                       "password": "x"})
    assert "No puede tener más de 254 caracteres." in assert_spanish(long)

    forgot = client.get("/forgot-password")
    assert_spanish(forgot)
    missing = client.post("/forgot-password", data={"csrf_token": csrf(html), "email": ""})
    assert "Escriba su correo electrónico." in assert_spanish(missing)

    staff = make.user("clinician")
    for purpose in ("invite", "reset"):
        token, _row = account_links.issue_link(db, staff, purpose, clock.now())
        db.commit()
        path = f"/{purpose}/{token}"
        page = client.get(path)
        shown = assert_spanish(page, staff.email)
        short = client.post(path, data={"csrf_token": csrf(shown), "password": "short",
                                        "confirm": "short"})
        assert short.status_code == 422
        assert "debe tener al menos 12 caracteres." in assert_spanish(short, staff.email)
        gone = client.get(f"/{purpose}/not-a-token")
        assert "Este enlace ya no funciona" in assert_spanish(gone)

    not_found = client.get("/no-such-page")
    assert not_found.status_code == 404
    assert_spanish(not_found)
    stale = client.post("/login", data={"email": "a@b.test", "password": "x"})
    assert stale.status_code == 400
    assert "Falta el código de seguridad del formulario." in assert_spanish(stale)


def test_a_spanish_client_refused_a_staff_page_reads_why_in_spanish(client, lucia):
    sign_in(client, lucia)
    refused = client.get("/clients")
    assert refused.status_code == 403
    assert "(cliente)" in assert_spanish(refused, lucia.email)
    missing = client.get("/no-such-page")
    assert missing.status_code == 404
    assert_spanish(missing, lucia.email)


# --- choosing the language ----------------------------------------------------------------------


def test_a_client_chooses_spanish_for_their_pages_emails_and_calendar(client, db, make, program):
    person = make.client(program, name="Avery Stone")
    sign_in(client, make.user("client", client_id=person.id))
    page = client.get("/me").get_data(as_text=True)
    assert '<html lang="en">' in page
    answer = client.post("/language", data={"csrf_token": csrf(page), "language": "es",
                                            "next": "/me"})
    assert answer.status_code == 303 and answer.headers["Location"] == "/me"
    db.expire_all()
    assert db.get(Client, person.id).language == "es"
    event = db.scalars(select(AuditEvent).where(AuditEvent.action == "set_language")).one()
    assert (event.entity_type, event.entity_id, event.after) == ("client", person.id,
                                                                  {"language": "es"})
    assert '<html lang="es">' in client.get("/me").get_data(as_text=True)


def test_a_staff_member_chooses_their_profiles_language(client, db, make):
    user = make.user("clinician")
    sign_in(client, user)
    page = client.get("/account/password").get_data(as_text=True)
    answer = client.post("/language", data={"csrf_token": csrf(page), "language": "es",
                                            "next": "/account/password"})
    assert answer.status_code == 303
    db.expire_all()
    assert db.get(User, user.id).language == "es"
    assert db.scalars(select(AuditEvent).where(AuditEvent.action == "set_language")).one()


def test_signed_out_the_choice_lives_in_the_browser_session_only(client, db):
    assert '<html lang="en">' in client.get("/login").get_data(as_text=True)
    assert switch(client, "es").status_code == 303
    assert '<html lang="es">' in client.get("/login").get_data(as_text=True)
    assert db.scalar(select(AuditEvent.id)) is None
    assert switch(client, "en").status_code == 303
    assert '<html lang="en">' in client.get("/login").get_data(as_text=True)


def test_the_switch_is_on_every_signed_out_page_and_in_the_top_bar(client, lucia):
    for path in ("/login", "/forgot-password", "/reset/gone", "/invite/gone"):
        html = client.get(path).get_data(as_text=True)
        assert 'action="/language"' in html, path
        assert re.search(r'<button[^>]*value="es"[^>]*lang="es"[^>]*>Español</button>', html)
    sign_in(client, lucia)
    me = client.get("/me").get_data(as_text=True)
    assert re.search(r'<header class="topbar">.*action="/language".*</header>', me, re.S)
    assert 'name="next" value="/me"' in me


@pytest.mark.parametrize("target", [
    "https://evil.example/", "//evil.example/", "/\\evil.example/", "\\\\evil.example",
    "javascript:alert(1)", "http:/evil.example", " //evil.example", "evil.example"])
def test_next_never_leaves_the_site(client, target):
    answer = switch(client, "es", target)
    assert answer.status_code == 303
    assert answer.headers["Location"] == "/"


def test_next_keeps_a_path_of_this_site_with_its_query(client):
    answer = switch(client, "es", "/kiosk?name=Lu")
    assert answer.headers["Location"] == "/kiosk?name=Lu"


@pytest.mark.parametrize(("field", "value"), [
    ("language", "es\x00"), ("language", "x" * 100_000), ("language", "fr"), ("language", ""),
    ("next", "/me\x00"), ("next", "/" + "a" * 100_000)])
def test_hostile_input_is_refused_naming_the_field(client, field, value):
    token = csrf(client.get("/login").get_data(as_text=True))
    data = {"csrf_token": token, "language": "es", "next": "/", field: value}
    answer = client.post("/language", data=data)
    assert 400 <= answer.status_code < 500
    assert field.capitalize() in answer.get_data(as_text=True)
    assert '<html lang="en">' in client.get("/login").get_data(as_text=True)


def test_the_switch_needs_its_csrf_token(client):
    answer = client.post("/language", data={"language": "es", "next": "/"})
    assert answer.status_code == 400
    assert '<html lang="en">' in client.get("/login").get_data(as_text=True)


def test_a_spanish_clients_password_and_two_step_pages_are_spanish(client, lucia):
    sign_in(client, lucia)
    page = client.get("/account/password")
    html = assert_spanish(page, lucia.email)
    wrong = client.post("/account/password", data={
        "csrf_token": csrf(html), "current_password": "not it", "password": "a long new phrase",
        "confirm": "a different phrase"})
    assert wrong.status_code == 422
    assert "Las dos contraseñas no son iguales." in assert_spanish(wrong, lucia.email)
    assert_spanish(client.get("/account/mfa"), lucia.email)
    started = client.post("/account/mfa/start", data={"csrf_token": csrf(html)},
                          follow_redirects=True)
    # 1Password is an app's name (its digit would otherwise be taken out as a number).
    shown = assert_spanish(started, lucia.email, "1Password",
                           *re.findall(r'<code class="secret">([^<]+)</code>',
                                       started.get_data(as_text=True)))
    assert "Escanee este código" in shown


def test_a_spanish_client_signs_out_into_spanish(client, lucia):
    sign_in(client, lucia)
    me = client.get("/me").get_data(as_text=True)
    out = client.post("/logout", data={"csrf_token": csrf(me)}, follow_redirects=True)
    assert "Cerró su sesión." in assert_spanish(out)


def test_a_clinician_running_the_kiosk_keeps_their_own_language(client, db, make, lucia,
                                                                 full_week):
    """The kiosk's toggle is for the person at the desk: the clinician who opened the kiosk
    keeps the language of their profile everywhere else."""
    clinician = make.user("clinician")
    users.set_own_language(db, ACTOR, clinician, "en")
    db.commit()
    with clock.frozen(AT_THE_DOOR):
        sign_in(client, clinician)
        english = client.get("/kiosk").get_data(as_text=True)
        toggled = client.post("/language", data={"csrf_token": csrf(english), "language": "es",
                                                 "next": "/kiosk", "for": "kiosk"})
        assert toggled.status_code == 303
        assert '<html lang="es">' in client.get("/kiosk").get_data(as_text=True)
        assert '<html lang="en">' in client.get("/today").get_data(as_text=True)
    db.expire_all()
    assert db.get(User, clinician.id).language == "en"
