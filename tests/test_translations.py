"""The catalogs and the choice of language: every marked string is in each catalog and
translated there, placeholders survive translation, and each person is answered in theirs."""

import os
import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from scheduler import i18n
from scheduler.languages import LANGUAGES
from scheduler.models import Client
from scheduler.services import errors, users
from scheduler.web.labels import reason_words
from tests.helpers import ACTOR, sign_in

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "_l": None,
            "pgettext": ((1, "c"), 2), "lazy_pgettext": ((1, "c"), 2),
            "npgettext": ((1, "c"), 2, 3)}


def catalog(language: str):
    with open(os.path.join(i18n.TRANSLATIONS, language, "LC_MESSAGES", "messages.po"),
              "rb") as source:
        return read_po(source, locale=language)


def marked_strings() -> set[str]:
    """What `make translations` would extract: every string marked in code and templates."""
    with open(os.path.join(ROOT, "babel.cfg")) as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    found = set()
    for _, _, message, _, _ in extract_from_dir(ROOT, method_map, options_map,
                                                keywords=KEYWORDS):
        found.add(message[0] if isinstance(message, tuple) else message)
    return found


@pytest.mark.parametrize("language", [lang for lang in LANGUAGES if lang != "en"])
def test_every_marked_string_is_in_the_catalog_and_translated(language):
    entries = catalog(language)
    ids = {m.id[0] if isinstance(m.id, tuple) else m.id for m in entries if m.id}
    missing = sorted(marked_strings() - ids)
    assert not missing, (f"not in the {language} catalog (run `make translations`, then "
                         f"translate): {missing[:20]}")
    untranslated = [m.id for m in entries if m.id and (
        m.fuzzy or not all(m.string) if isinstance(m.string, tuple) else not m.string
        or m.fuzzy)]
    assert not untranslated, f"untranslated or fuzzy in {language}: {untranslated[:20]}"


@pytest.mark.parametrize("language", [lang for lang in LANGUAGES if lang != "en"])
def test_translations_keep_every_placeholder(language):
    # Babel's checkers: %(name)s in the msgid must be in the msgstr, and no new ones.
    problems = [(m.id, [str(e) for e in errors]) for m, errors in catalog(language).check()]
    assert not problems, problems


def test_a_new_catalog_is_compiled_when_the_app_starts(tmp_path):
    folder = tmp_path / "es" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    (folder / "messages.po").write_text(
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=utf-8\\n"\n\n'
        'msgid "Check in"\nmsgstr "Registrar llegada"\n', encoding="utf-8")
    assert i18n.compile_catalogs(str(tmp_path)) == [str(folder / "messages.mo")]
    assert i18n.compile_catalogs(str(tmp_path)) == []  # already current


def test_dates_follow_the_language_on_the_programs_clock():
    chicago = ZoneInfo("America/Chicago")
    moment = datetime(2026, 12, 8, 3, 30, tzinfo=ZoneInfo("UTC"))  # 21:30 the day before
    assert i18n.local(moment, "day_time", chicago, language="en") == "Monday 7 December at 21:30"
    assert i18n.local(moment, "day_time", chicago, language="es") == (
        "lunes 7 de diciembre a las 21:30")
    one = datetime(2026, 12, 8, 7, 15, tzinfo=ZoneInfo("UTC"))  # 1:15 in Chicago
    assert i18n.local(one, "day_time", chicago, language="es") == (
        "martes 8 de diciembre a la 1:15")
    assert i18n.local(date(2026, 12, 7), "date", language="es") == "7 de diciembre de 2026"
    assert i18n.number(7.5, language="es") == "7,5"
    assert i18n.number(7.0, language="en") == "7"


def test_a_browser_asking_for_spanish_gets_spanish_pages(client):
    page = client.get("/login", headers={"Accept-Language": "es-MX,es;q=0.9,en;q=0.5"})
    assert b'<html lang="es">' in page.data
    page = client.get("/login", headers={"Accept-Language": "fr-FR, en;q=0.8"})
    assert b'<html lang="en">' in page.data


def test_a_client_is_answered_in_their_language_whatever_the_browser_says(client, db, make):
    member = make.user("client", client_id=make.client(language="es").id)
    sign_in(client, member)
    page = client.get("/me", headers={"Accept-Language": "en"})
    assert b'<html lang="es">' in page.data


def test_a_staff_members_profile_language_wins_over_the_browser(client, db, make):
    coordinator = make.user("coordinator")
    users.set_own_language(db, ACTOR, coordinator, "es")
    db.commit()
    sign_in(client, coordinator)
    assert b'<html lang="es">' in client.get("/", headers={"Accept-Language": "en"},
                                             follow_redirects=True).data
    coordinator.language = None
    db.commit()
    assert b'<html lang="en">' in client.get("/", headers={"Accept-Language": "en"},
                                             follow_redirects=True).data


def test_coordinators_set_a_clients_language_by_api(client, db, make, auth):
    someone = make.client(name="Rosa Díaz")
    headers = auth("coordinator")
    answer = client.patch(f"/api/v1/clients/{someone.id}", json={"language": "es"},
                          headers=headers)
    assert answer.status_code == 200 and answer.json["language"] == "es"
    db.expire_all()
    assert db.get(Client, someone.id).language == "es"
    refused = client.patch(f"/api/v1/clients/{someone.id}", json={"language": "klingon"},
                           headers=headers)
    assert refused.status_code == 422
    assert "language" in refused.json["errors"]["json"]
    db.expire_all()
    assert db.get(Client, someone.id).language == "es"


def test_every_missing_thing_a_service_names_has_its_words():
    """A 404 or a 422 for an id that points at nothing names the thing in a whole sentence of
    the reader's language (errors.NO_SUCH); a thing missing there would come out English."""
    named = set()
    for folder, _, files in os.walk(os.path.join(ROOT, "scheduler")):
        for name in files:
            if name.endswith(".py"):
                with open(os.path.join(folder, name)) as source:
                    code = source.read()
                named |= set(re.findall(
                    r'(?:NotFound|no_such)\(\s*"([^"]+)"', code))
                named |= set(re.findall(
                    r'(?:get_or_404|get_referenced)\([^()]*?"([^"]+)"\s*\)', code, re.S))
    assert "session" in named and "client" in named  # the scan finds them at all
    assert named - set(errors.NO_SUCH) == set()


def test_a_reason_inside_a_sentence_is_the_rosters_label_uncapitalised(app):
    """"Tarde (transporte), 150 min": the roster's reason choices, one word list, read inside
    a sentence in each language."""
    with i18n.speaking("es"):
        assert [reason_words(code) for code in ("transport", "no_call", "illness")] == [
            "transporte", "sin aviso", "enfermedad"]
    with i18n.speaking("en"):
        assert reason_words("no_call") == "no call"
    assert reason_words("unheard_of") == "unheard of"
