"""Field coercions and validators the page forms share."""

from datetime import date

from wtforms import ValidationError

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
