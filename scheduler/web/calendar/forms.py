"""The calendar pages' forms: the week filter, a series and its edits, one session's overrides
and enrolment; and the weekday part of a series' rule as the forms show it."""

from wtforms import (
    BooleanField,
    DateField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    TimeField,
    URLField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
    ValidationError,
)

from scheduler.models import SessionSeries
from scheduler.models.series import MAX_DURATION_MINUTES, SESSION_KINDS
from scheduler.services.errors import InvalidField
from scheduler.services.overrides import Override
from scheduler.web.form_fields import (
    PageForm,
    PickerChecks,
    PickerField,
    PlainForm,
    WholeNumber,
    in_range,
    optional_id,
)
from scheduler.web.labels import KIND_LABELS

WEEKDAY_NAMES = [("MO", "Monday"), ("TU", "Tuesday"), ("WE", "Wednesday"), ("TH", "Thursday"),
            ("FR", "Friday"), ("SA", "Saturday"), ("SU", "Sunday")]
WEEKDAYS = [SelectChoice(code, name) for code, name in WEEKDAY_NAMES]


class WeekFilterForm(PlainForm):
    """The week's GET filters; a plain Form: reading needs no CSRF token."""

    week = DateField("Week of", validators=[Optional(), in_range])
    program = SelectField("Program", coerce=optional_id, validators=[Optional()])
    room = PickerField("Room", validators=[Optional()])
    staff = PickerField("Staff member", validators=[Optional()])


MISSING_REASON = "A reason is required to book despite conflicts."


class OverrideFields:
    """An explicit, audited way past double-booking checks: a tick box and a reason."""

    override = BooleanField("Book anyway despite conflicts")
    # No Optional(): it would stop the chain before the inline check that wants a reason.
    override_reason = StringField("Reason for booking anyway", validators=[Length(max=500)])

    def validate_override_reason(self, field):
        try:
            self.override_or_none()
        except InvalidField as error:
            raise ValidationError(error.fields["override_reason"][0]) from None

    def override_or_none(self) -> Override | None:
        """The override to hand the service, only when the box is ticked."""
        return Override.given(self.override.data, self.override_reason.data,
                              field="override_reason", missing=MISSING_REASON)


class SeriesForm(OverrideFields, PageForm):
    program_id = SelectField("Program", coerce=optional_id,
                             validators=[DataRequired("Choose a program.")])
    title = StringField("Title", validators=[DataRequired("Give the series a title."),
                                             Length(max=200)])
    kind = SelectField("Kind", choices=[SelectChoice(k, KIND_LABELS[k]) for k in SESSION_KINDS],
                       default="group")
    description = TextAreaField("Description (optional)", validators=[Optional(),
                                                                      Length(max=5000)])
    room_id = PickerField("Room", validators=[Optional()])
    video_url = URLField("Video link (virtual sessions)", validators=[
        Optional(), Length(max=500),
        Regexp(r"^https://\S+$", message="Must be an https:// link.")])
    facilitator_ids = PickerChecks("Facilitators")
    weekdays = SelectMultipleField("Weekdays", choices=WEEKDAYS,
                                   validators=[DataRequired("Choose at least one weekday.")])
    start_time = TimeField("Start time (local)", validators=[InputRequired("Give a start time.")])
    duration_minutes = WholeNumber("Length in minutes", validators=[
        InputRequired("Give the length in minutes."),
        NumberRange(1, MAX_DURATION_MINUTES, f"Must be from 1 to {MAX_DURATION_MINUTES} (12 h).")])
    start_date = DateField("First day", validators=[InputRequired("Give the first day."),
                                                    in_range])
    end_date = DateField("Last day (optional)", validators=[Optional(), in_range])
    count = WholeNumber("Or number of sessions (optional)",
                        validators=[Optional(), NumberRange(1, 2000, "Must be from 1 to 2000.")])
    capacity = WholeNumber("Seats (left blank: 1 for individual, medical, assessment and case "
                           "management; 12 for groups and families; never more than the room "
                           "holds)",
                           validators=[Optional(), NumberRange(1, 500, "Must be from 1 to 500.")])

    def validate_end_date(self, field):
        if field.data and self.start_date.data and field.data < self.start_date.data:
            raise ValidationError("Must not be before the first day.")

    def validate_count(self, field):
        if field.data is not None and self.end_date.data is not None:
            raise ValidationError("Give a last day or a number of sessions, not both.")

    def series_fields(self) -> dict:
        """The form as create_series' keyword arguments."""
        rrule = "FREQ=WEEKLY;BYDAY=" + ",".join(self.weekdays.data)
        if self.count.data is not None:
            rrule += f";COUNT={self.count.data}"
        return dict(
            program_id=self.program_id.data, kind=self.kind.data, title=self.title.data.strip(),
            description=self.description.data or None, start_date=self.start_date.data,
            start_time=self.start_time.data, duration_minutes=self.duration_minutes.data,
            rrule=rrule, end_date=self.end_date.data, capacity=self.capacity.data,
            room_id=self.room_id.data, video_url=self.video_url.data or None,
            facilitator_ids=list(self.facilitator_ids.data or []),
        )


class SeriesEditForm(OverrideFields, PageForm):
    """What a coordinator may change on a running series; program and first day stay."""

    title = StringField("Title", validators=[DataRequired("Give the series a title."),
                                             Length(max=200)])
    description = TextAreaField("Description (optional)", validators=[Optional(),
                                                                      Length(max=5000)])
    room_id = PickerField("Room", validators=[Optional()])
    video_url = SeriesForm.video_url
    facilitator_ids = PickerChecks("Facilitators")
    weekdays = SeriesForm.weekdays
    start_time = SeriesForm.start_time
    duration_minutes = SeriesForm.duration_minutes
    end_date = SeriesForm.end_date
    capacity = WholeNumber("Seats", validators=[
        InputRequired("Give the number of seats."), NumberRange(1, 500, "Must be from 1 to 500.")])
    reason = StringField("Why (kept in the audit trail, optional)",
                         validators=[Optional(), Length(max=500)])

    def changes_to(self, series: SessionSeries) -> dict:
        """Only what differs, so an untouched field never reshuffles the occurrences."""
        wanted = dict(
            title=self.title.data.strip(), description=self.description.data or None,
            room_id=self.room_id.data, video_url=self.video_url.data or None,
            start_time=self.start_time.data, duration_minutes=self.duration_minutes.data,
            end_date=self.end_date.data, capacity=self.capacity.data,
            rrule=with_weekdays(series.rrule, self.weekdays.data))
        changes = {k: v for k, v in wanted.items() if getattr(series, k) != v}
        facilitators = sorted(self.facilitator_ids.data or [])
        if facilitators != sorted(s.id for s in series.facilitators):
            changes["facilitator_ids"] = facilitators
        return changes


class EndSeriesForm(PageForm):
    end_date = DateField("Last day it meets", validators=[
        InputRequired("Give the last day."), in_range])
    reason = StringField("Reason (clients hear that their sessions are cancelled)", validators=[
        DataRequired("A reason is required to end a series."), Length(max=500)])


class CancelForm(PageForm):
    reason = StringField("Reason for cancelling", validators=[
        DataRequired("A reason is required to cancel a session."), Length(max=500)])


class MoveForm(OverrideFields, PageForm):
    new_date = DateField("New date", validators=[InputRequired("Give the new date."), in_range])
    new_time = TimeField("New start time (local)",
                         validators=[InputRequired("Give the new start time.")])


class RoomForm(OverrideFields, PageForm):
    room_id = PickerField("New room", validators=[DataRequired("Choose a room.")])


class SubstituteForm(OverrideFields, PageForm):
    staff_id = PickerField("Substitute facilitator",
                           validators=[DataRequired("Choose a staff member.")])


class EnrollForm(OverrideFields, PageForm):
    client_id = PickerField("Client", validators=[DataRequired("Choose a client.")])


def weekday_codes(rrule: str) -> list[str]:
    for part in rrule.split(";"):
        key, _, value = part.partition("=")
        if key == "BYDAY":
            return value.split(",")
    return []


def with_weekdays(rrule: str, codes: list[str]) -> str:
    """The series' rule with new weekdays; COUNT, INTERVAL and the rest are kept."""
    if sorted(codes) == sorted(weekday_codes(rrule)):
        return rrule
    parts = [p for p in rrule.split(";") if not p.startswith("BYDAY=")]
    return ";".join(parts + ["BYDAY=" + ",".join(codes)])


def weekday_names(rrule: str) -> str:
    names = dict(WEEKDAY_NAMES)
    return ", ".join(names.get(code, code) for code in weekday_codes(rrule))
