"""Field coercions and validators the page forms share."""

from datetime import date

from wtforms import ValidationError

from scheduler.services.errors import DomainError, InvalidField
from scheduler.services.lookup import MAX_ID

EARLIEST, LATEST = date(2000, 1, 1), date(2100, 12, 31)


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


def in_range(form, field):
    """Dates a clinic can mean; a typo like year 20250 gets a message, not a database error."""
    if field.data is not None and not EARLIEST <= field.data <= LATEST:
        raise ValidationError(f"Must be between {EARLIEST} and {LATEST}.")


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
