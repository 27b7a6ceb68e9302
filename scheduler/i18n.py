"""Languages: Flask-Babel's catalogs, whose language a request speaks, and dates, times and
numbers in that language, always on the program's clock.

Which language:
- a client signed in: theirs (Client.language), the one their emails and calendar speak too;
- the kiosk (its tablet login, or staff running it): the language the person at it chose with
  the toggle, else the browser's;
- staff: their profile's (User.language), else the browser's Accept-Language;
- anyone not signed in: the language chosen on the page (the toggle), else the browser's.

Messages sent outside a request (reminders, change notices) are written in the client's
language with `speaking(client.language)`.
"""

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, tzinfo

from babel import dates as babel_dates
from babel import numbers as babel_numbers
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, has_request_context, request, session
from flask_babel import Babel, force_locale, get_locale
from flask_babel import gettext as gettext
from flask_babel import lazy_gettext as lazy_gettext
from flask_babel import lazy_pgettext as lazy_pgettext
from flask_babel import ngettext as ngettext
from flask_babel import pgettext as pgettext
from flask_login import current_user

from scheduler.languages import DEFAULT, LANGUAGES, NAMES

TRANSLATIONS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "translations")
# Where a choice made with the language toggle is kept (the signed session cookie).
CHOSEN = "language"

babel = Babel()

# The house formats, as CLDR patterns per language: names of days and months come from
# Babel's locale data, the order and punctuation from each language's own habit. English keeps
# the day-month order every page and message has always used ("Monday 7 December").
PATTERNS = {
    "en": {
        "day": "EEEE d MMMM",
        "short_day": "EEE d MMM",
        "date": "d MMMM y",
        "short_date": "d MMM y",
        "time": "HH:mm",
        "datetime": "d MMMM y, HH:mm",
        "day_time": "EEEE d MMMM 'at' HH:mm",
        "short_day_time": "EEE d MMM, HH:mm",
        # The staff pages' other habits: '%A %-d %B %Y', '%a %-d %b %Y', '%-d %b',
        # '%a %-d %b %Y, %H:%M', '%A %-d %B %Y, %H:%M', '%-d %b %Y %H:%M'.
        "long_date": "EEEE d MMMM y",
        "short_day_date": "EEE d MMM y",
        "day_month": "d MMM",
        "short_day_date_time": "EEE d MMM y, HH:mm",
        "long_date_time": "EEEE d MMMM y, HH:mm",
        "short_date_time": "d MMM y HH:mm",
    },
    "es": {
        "day": "EEEE d 'de' MMMM",
        "short_day": "EEE d MMM",
        "date": "d 'de' MMMM 'de' y",
        "short_date": "d MMM y",
        "time": "H:mm",
        "datetime": "d 'de' MMMM 'de' y, H:mm",
        "day_time": "EEEE d 'de' MMMM 'a las' H:mm",
        "short_day_time": "EEE d MMM, H:mm",
        "long_date": "EEEE d 'de' MMMM 'de' y",
        "short_day_date": "EEE d MMM y",
        "day_month": "d MMM",
        "short_day_date_time": "EEE d MMM y, H:mm",
        "long_date_time": "EEEE d 'de' MMMM 'de' y, H:mm",
        "short_date_time": "d MMM y H:mm",
    },
}


def install(app: Flask) -> None:
    try:
        # A checkout or an upgrade brings .po files; the app never speaks an older catalog.
        compile_catalogs()
    except OSError as error:  # a read-only install: what was compiled at build time serves
        app.logger.warning("translations not compiled: %s", error)
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT)
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", TRANSLATIONS)
    babel.init_app(app, locale_selector=select_language)
    app.jinja_env.filters["local"] = local
    app.jinja_env.filters["number"] = number
    app.jinja_env.globals.update(current_language=current_language, LANGUAGE_NAMES=NAMES,
                                 LANGUAGES=LANGUAGES)


def usable(language: str | None) -> str | None:
    """The language if the clinic speaks it, else None."""
    return language if language in LANGUAGES else None


def select_language() -> str:
    """Flask-Babel's locale selector: see the module's docstring for the order."""
    if not has_request_context():
        return DEFAULT
    user = current_user
    if user is not None and user.is_authenticated:
        if user.role == "client" and user.client is not None:
            return usable(user.client.language) or DEFAULT
        # At the kiosk the language is the person's at the desk (its toggle), not the profile
        # of the staff member who opened it.
        if (user.role != "kiosk" and request.blueprint != "kiosk_pages"
                and usable(getattr(user, "language", None))):
            return user.language
    return (usable(session.get(CHOSEN))
            or request.accept_languages.best_match(LANGUAGES) or DEFAULT)


def current_language() -> str:
    locale = get_locale()
    return locale.language if locale is not None else DEFAULT


def choose(language: str) -> None:
    """Keep a choice made with the toggle for this browser's session."""
    session[CHOSEN] = usable(language) or DEFAULT


@contextmanager
def speaking(language: str | None) -> Iterator[str]:
    """Write in this language (a client's, for a message sent by a job); English if unknown."""
    chosen = usable(language) or DEFAULT
    with force_locale(chosen):
        yield chosen


def local(value: date | datetime | None, kind: str = "datetime", tz: tzinfo | None = None,
          language: str | None = None) -> str:
    """A date or a moment in the house format for `kind`, in the language being spoken; a
    moment is shown on `tz`'s clock (the program's), or its own if it carries one."""
    if value is None:
        return ""
    language = usable(language) or current_language()
    pattern = PATTERNS.get(language, PATTERNS[DEFAULT])[kind]
    if isinstance(value, datetime):
        if tz is not None:
            value = value.astimezone(tz)
        if value.hour == 1:
            # Spanish says "a la una" but "a las dos": one o'clock is singular.
            pattern = pattern.replace("'a las'", "'a la'")
        return babel_dates.format_datetime(value, pattern, tzinfo=value.tzinfo,
                                           locale=language)
    return babel_dates.format_date(value, pattern, locale=language)


def weekday_short(weekday: int) -> str:
    """A day of the week (0 is Monday) abbreviated as the language being spoken writes it:
    "Wed", "mié"; from Babel's locale data, so no catalog repeats it."""
    return babel_dates.get_day_names("abbreviated", locale=current_language())[weekday]


def number(value: float | int, language: str | None = None) -> str:
    """A number as the language writes it (1.5 in English, 1,5 in Spanish), no needless zeros."""
    return babel_numbers.format_decimal(value, format="#,##0.##",
                                        locale=usable(language) or current_language())


# --- compiled catalogs -------------------------------------------------------------------------


def compile_catalogs(directory: str = TRANSLATIONS) -> list[str]:
    """Compile each messages.po whose messages.mo is missing or older; the paths compiled.

    Written to a temporary file and renamed into place, so processes compiling at once (test
    workers) never read half a catalog.
    """
    compiled = []
    for language in os.listdir(directory) if os.path.isdir(directory) else ():
        folder = os.path.join(directory, language, "LC_MESSAGES")
        po, mo = os.path.join(folder, "messages.po"), os.path.join(folder, "messages.mo")
        if not os.path.exists(po):
            continue
        if os.path.exists(mo) and os.path.getmtime(mo) >= os.path.getmtime(po):
            continue
        with open(po, "rb") as source:
            catalog = read_po(source, locale=language)
        handle, temporary = tempfile.mkstemp(dir=folder, suffix=".mo")
        with os.fdopen(handle, "wb") as target:
            write_mo(target, catalog)
        os.replace(temporary, mo)
        compiled.append(mo)
    return compiled
