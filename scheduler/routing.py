"""Ids in paths: `<int:...>` in every route, API and page, matches only an id a row can have."""

from werkzeug.routing import IntegerConverter, ValidationError

from scheduler.services.lookup import MAX_ID


class RowId(IntegerConverter):
    """1 to MAX_ID; a larger number matches no route, so it answers 404 before any view runs.

    Views used to hand such ids to the database, which refused them ("integer out of range"
    on PostgreSQL, OverflowError on SQLite): a 500 wherever a view forgot its own check.
    """

    def __init__(self, map, fixed_digits=0, min=1, max=MAX_ID, signed=False):
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)

    def to_python(self, value: str) -> int:
        if len(value) > len(str(self.max)):
            raise ValidationError()  # too long to be in range; spares int() a huge string
        return super().to_python(value)


def install(app) -> None:
    """Make RowId the app's `int` converter; before any route is added, which compiles it."""
    app.url_map.converters["int"] = RowId
