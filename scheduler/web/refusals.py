"""A refused request in words for a page: the one place domain errors become page text."""

from collections.abc import Iterable, Mapping

from flask import g

from scheduler.i18n import gettext as _
from scheduler.services.conflicts import ConflictDetected
from scheduler.services.errors import DomainError, InvalidField
from scheduler.services.wording import field_words

# A page lists this many clashes; an enrolment over months can hit dozens.
SHOWN_CLASHES = 5


def clash_lines(error: ConflictDetected) -> list[str]:
    """The first few distinct clashes, and how many more there are."""
    details = list(dict.fromkeys(c.detail for c in error.clashes))
    lines = details[:SHOWN_CLASHES]
    if len(details) > SHOWN_CLASHES:
        lines.append(_("… and %(count)s more.", count=len(details) - SHOWN_CLASHES))
    return lines


def _label(path: str, labels: Mapping[str, str]) -> str:
    # "records.0.status" is labelled as its last part: the page shows one record at a time.
    last = path.rsplit(".", 1)[-1]
    return labels.get(path) or labels.get(last) or plain_label(last)


def plain_label(field: str) -> str:
    """A field the page has no label for, in words rather than as its column name:
    room_id is "Room", last_week "Last week"."""
    words = field_words(field)
    return words[:1].upper() + words[1:]


def describe(error: DomainError, labels: Mapping[str, str] | None = None,
             what: str | None = None) -> str:
    """The refusal as a sentence: conflicts name the clashing sessions (the API's message
    tells a program how to override), a field refusal names the field by its label on the
    page. `what` says what did not happen ("Not saved")."""
    if isinstance(error, ConflictDetected):
        text = " ".join(clash_lines(error))
    elif isinstance(error, InvalidField):
        text = " ".join(f"{_label(path, labels or {})}: {' '.join(messages)}"
                        for path, messages in error.fields.items())
    else:
        text = error.message
    return f"{what}: {text}" if what else text


def beside_fields(error: DomainError, labels: Mapping[str, str], fields: Iterable[str],
                  what: str | None = None) -> bool:
    """Put a refusal of the page's own fields beside them (g.field_refusals, field -> words,
    which the template shows next to each input as an alert); False when it concerns anything
    else, which the page then flashes. A flash alone is announced but far from the field.
    `what` says what did not happen, as describe's does."""
    if not isinstance(error, InvalidField) or not set(error.fields) <= set(fields):
        return False
    g.field_refusals = {path: describe(InvalidField(path, " ".join(messages), error.location),
                                       labels, what) for path, messages in error.fields.items()}
    return True


def beside(key: str, words: str) -> None:
    """Put the page's own words beside one input (g.field_refusals[key]): a form's own check,
    refused before any service was asked."""
    g.field_refusals = {key: words}


def beside_field(error: DomainError, labels: Mapping[str, str], key: str,
                 what: str | None = None) -> None:
    """Put a whole refusal beside one input (g.field_refusals[key]): a form of a single input,
    such as a row's role, whatever the refusal is about is about that input."""
    g.field_refusals = {key: describe(error, labels, what)}
