"""Field coercions, validators and base classes the page forms share."""

from flask import request
from flask_wtf import FlaskForm
from flask_wtf.i18n import translations as wtforms_words
from markupsafe import Markup
from wtforms import (
    DecimalField,
    Form,
    IntegerField,
    SelectField,
    SelectMultipleField,
    ValidationError,
    widgets,
)
from wtforms.validators import Length

from scheduler.i18n import lazy_gettext as _l
from scheduler.services import dates
from scheduler.services.errors import DomainError, InvalidField
from scheduler.services.lookup import MAX_ID
from scheduler.services.text import text_problem

# Counts, weeks and ids on a form are far smaller; a float holds every integer up to here.
MAX_WHOLE_NUMBER = 2**53
# WTForms' own words for a value too long and an empty field, marked so our catalog carries
# them (the Spanish page walk reads every refusal against it).
TOO_LONG = _l("Field cannot be longer than %(max)d characters.")
REQUIRED = _l("This field is required.")


def at_most(characters: int) -> Length:
    """Length(max=…) whose refusal speaks the page's language."""
    return Length(max=characters, message=TOO_LONG)


class TextChecked:
    """Every value posted to the form is text the clinic can keep (services/text.py's rule).

    A problem replaces the field's other errors and shows under it, so the form comes back
    with what was typed instead of reaching the database (where PostgreSQL refuses NUL: a 500).
    Multi-line boxes may hold tabs and line breaks; every other input is one line.
    """

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)  # type: ignore[misc]
        for field in self:  # type: ignore[attr-defined]
            multiline = isinstance(field.widget, widgets.TextArea)
            problem = next((why for value in getattr(field, "raw_data", None) or ()
                            if isinstance(value, str)
                            and (why := text_problem(value, multiline=multiline))), None)
            if problem:
                field.errors = [problem]
                valid = False
        return valid


class PageForm(TextChecked, FlaskForm):
    """The base of every posted page form (it carries the CSRF token)."""


class PlainForm(TextChecked, Form):
    """The base of forms without a token of their own: GET filters and rows inside a form."""

    class Meta:
        # WTForms' own refusals ("Not a valid date value.") in the page's language, from the
        # catalogs WTForms ships, as FlaskForm does for PageForm; a plain Form speaks English.
        def get_translations(self, form):
            return wtforms_words


class WholeNumber(IntegerField):
    """An integer a form can compare: NumberRange turns it into a float to look for NaN, and
    an integer past a float's range (a 309-digit one) crashes it, so such input is refused
    as it is typed."""

    def process_formdata(self, valuelist):
        super().process_formdata(valuelist)
        if self.data is not None and abs(self.data) > MAX_WHOLE_NUMBER:
            self.data = None
            raise ValueError(self.gettext("Not a valid integer value."))


class Hours(DecimalField):
    """A decimal that is a number: "NaN" and "Infinity" are refused as they are typed
    ("sNaN" would otherwise crash NumberRange)."""

    def process_formdata(self, valuelist):
        super().process_formdata(valuelist)
        if self.data is not None and not self.data.is_finite():
            self.data = None
            raise ValueError(self.gettext("Not a valid decimal value."))


def optional_id(value):
    """Select values: "" means none chosen; anything else must be an id."""
    if value in (None, "", "None"):
        return None
    if isinstance(value, int):
        return value
    number = int(value)  # ValueError → WTForms' "Not a valid choice"
    if not 0 < number <= MAX_ID:
        raise ValueError("not an id")
    return number


class PickerField(SelectField):
    """A choice among rows too many to list (clients, rooms, staff of a network): the page
    lists what was searched for (web/calendar/pickers.py's `offer`), and a posted id counts
    when it names a row the picker may take, listed or not, so an id typed into the
    combobox, or posted by a script, is checked against the rows themselves."""

    def __init__(self, label=None, validators=None, **kwargs):
        super().__init__(label, validators, coerce=optional_id, **kwargs)
        self.allowed = None  # id -> bool, set with the choices
        self.search = None  # what the page searched, and how to search as one types

    def pre_validate(self, form):
        if self.data is None:
            return
        if self.allowed is None or not self.allowed(self.data):
            raise ValidationError(self.gettext("Not a valid choice."))


class PickerChecks(SelectMultipleField):
    """Several rows among too many to list (a series' facilitators): checkboxes for those
    chosen and the first matches of a search (pickers.py's `offer_staff_many`). Each posted id
    counts when it names a row the field may take, listed or not."""

    def __init__(self, label=None, validators=None, **kwargs):
        super().__init__(label, validators, coerce=optional_id, **kwargs)
        self.allowed = None  # ids -> bool, set with the choices
        self.search = None

    def process_formdata(self, valuelist):
        super().process_formdata([v for v in valuelist if v not in ("", None)])

    def pre_validate(self, form):
        if not self.data:
            return
        if self.allowed is None or not self.allowed(self.data):
            raise ValidationError(self.gettext("One or more choices are not valid."))


def posted_text(name: str) -> str | None:
    """A one-line text a view reads from request.form itself, held to the forms' rule."""
    value = request.form.get(name)
    problem = text_problem(value, multiline=False) if value is not None else None
    if problem:
        raise InvalidField(name, problem, "form")
    return value


def in_range(form, field):
    """Dates a clinic can mean; a typo like year 20250 gets a message, not a database error."""
    if field.data is not None and not dates.in_calendar(field.data):
        raise ValidationError(f"Must be {dates.BETWEEN}.")


def put_on_form(form, error: DomainError, renames: dict | None = None) -> bool:
    """Show an InvalidField under its input; False when the form has no such input."""
    if not isinstance(error, InvalidField):
        return False
    placed = False
    for name, messages in error.fields.items():
        field = getattr(form, (renames or {}).get(name, name), None)
        if field is not None and hasattr(field, "errors"):
            field.errors = list(field.errors) + list(messages)
            placed = True
    return placed


# --- a field's error, next to it and announced (templates call these; WCAG 3.3.1, 4.1.3) -------

def error_id(field, id: str | None = None) -> str:
    return f"{id or field.id}-error"


def invalid(field, id: str | None = None) -> dict:
    """The input's attributes when it was refused: marked invalid and described by its error
    (field_error), so focusing it reads the reason."""
    if not field.errors:
        return {}
    return {"aria-invalid": "true", "aria-describedby": error_id(field, id)}


def field_error(field, id: str | None = None) -> Markup:
    """The refusal beside its input, as an alert: a sighted user sees it where they typed, a
    screen reader hears it when the page comes back."""
    if not field.errors:
        return Markup("")
    return Markup('<span class="field-error" id="{}" role="alert">{}</span>').format(
        error_id(field, id), " ".join(str(message) for message in field.errors))

