"""Which text a request may carry: one rule for the API's fields and the pages' forms and
query values alike.

PostgreSQL refuses NUL in text (SQLite keeps it, so the same input passes there and fails in
production), every driver refuses lone surrogates, and other control characters are never
typed by a person: they come from a hostile client or a bad paste, and end up in names,
reasons and exports where no one can see or remove them.
"""

import re

from scheduler.i18n import gettext as _

# C0 and C1 controls (Unicode category Cc) but tab, line feed and carriage return, which a
# multi-line box may hold (browsers send its line breaks as CR LF).
_CONTROL = re.compile(r"[\x01-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_LINE_CONTROL = re.compile(r"[\t\n\r]")


def text_problem(value: str, *, multiline: bool) -> str | None:
    """Why `value` cannot be taken as text, in words for the person who sent it; else None."""
    if "\x00" in value:
        return _("Must not contain NUL characters.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return _("Must be valid Unicode text (no lone surrogates).")
    if _CONTROL.search(value):
        return _("Must not contain control characters.")
    if not multiline and _LINE_CONTROL.search(value):
        return _("Must be one line, without tabs or line breaks.")
    return None
