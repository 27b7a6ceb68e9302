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

from scheduler.i18n import lazy_gettext as _l
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

WEEKDAY_NAMES = [("MO", _l("Monday")), ("TU", _l("Tuesday")), ("WE", _l("Wednesday")),
                 ("TH", _l("Thursday")), ("FR", _l("Friday")), ("SA", _l("Saturday")),
                 ("SU", _l("Sunday"))]
WEEKDAYS = [SelectChoice(code, name) for code, name in WEEKDAY_NAMES]


class WeekFilterForm(PlainForm):
    """The week's GET filters; a plain Form: reading needs no CSRF token."""

    week = DateField(_l("Week of"), validators=[Optional(), in_range])
    program = SelectField(_l("Program"), coerce=optional_id, validators=[Optional()])
    room = PickerField(_l("Room"), validators=[Optional()])
    staff = PickerField(_l("Staff member"), validators=[Optional()])


MISSING_REASON = _l("A reason is required to book despite conflicts.")


class OverrideFields:
    """An explicit, audited way past double-booking checks: a tick box and a reason."""

    override = BooleanField(_l("Book anyway despite conflicts"))
    # No Optional(): it would stop the chain before the inline check that wants a reason.
    override_reason = StringField(_l("Reason for booking anyway"), validators=[Length(max=500)])

    def validate_override_reason(self, field):
        try:
            self.override_or_none()
        except InvalidField as error:
            raise ValidationError(error.fields["override_reason"][0]) from None

    def override_or_none(self) -> Override | None:
        """The override to hand the service, only when the box is ticked."""
        return Override.given(self.override.data, self.override_reason.data,
                              field="override_reason", missing=str(MISSING_REASON))


class SeriesForm(OverrideFields, PageForm):
    program_id = SelectField(_l("Program"), coerce=optional_id,
                             validators=[DataRequired(_l("Choose a program."))])
    title = StringField(_l("Title"), validators=[DataRequired(_l("Give the series a title.")),
                                             Length(max=200)])
    kind = SelectField(_l("Kind"), choices=[SelectChoice(k, KIND_LABELS[k]) for k in SESSION_KINDS],
                       default="group")
    description = TextAreaField(_l("Description (optional)"), validators=[Optional(),
                                                                      Length(max=5000)])
    room_id = PickerField(_l("Room"), validators=[Optional()])
    video_url = URLField(_l("Video link (virtual sessions)"), validators=[
        Optional(), Length(max=500),
        Regexp(r"^https://\S+$", message=_l("Must be an https:// link."))])
    facilitator_ids = PickerChecks(_l("Facilitators"))
    weekdays = SelectMultipleField(_l("Weekdays"), choices=WEEKDAYS,
                                   validators=[DataRequired(_l("Choose at least one weekday."))])
    start_time = TimeField(_l("Start time (local)"),
                           validators=[InputRequired(_l("Give a start time."))])
    duration_minutes = WholeNumber(_l("Length in minutes"), validators=[
        InputRequired(_l("Give the length in minutes.")),
        NumberRange(1, MAX_DURATION_MINUTES, _l("Must be from 1 to %(max)s (12 h)."))])
    start_date = DateField(_l("First day"), validators=[InputRequired(_l("Give the first day.")),
                                                    in_range])
    end_date = DateField(_l("Last day (optional)"), validators=[Optional(), in_range])
    count = WholeNumber(_l("Or number of sessions (optional)"),
                        validators=[Optional(),
                                    NumberRange(1, 2000, _l("Must be from 1 to 2000."))])
    capacity = WholeNumber(_l("Seats (left blank: 1 for individual, medical, assessment and case "
                              "management; 12 for groups and families; never more than the "
                              "room holds)"),
                           validators=[Optional(),
                                       NumberRange(1, 500, _l("Must be from 1 to 500."))])

    def validate_end_date(self, field):
        if field.data and self.start_date.data and field.data < self.start_date.data:
            raise ValidationError(_l("Must not be before the first day."))

    def validate_count(self, field):
        if field.data is not None and self.end_date.data is not None:
            raise ValidationError(_l("Give a last day or a number of sessions, not both."))

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

    title = StringField(_l("Title"), validators=[DataRequired(_l("Give the series a title.")),
                                             Length(max=200)])
    description = TextAreaField(_l("Description (optional)"), validators=[Optional(),
                                                                      Length(max=5000)])
    room_id = PickerField(_l("Room"), validators=[Optional()])
    video_url = SeriesForm.video_url
    facilitator_ids = PickerChecks(_l("Facilitators"))
    weekdays = SeriesForm.weekdays
    start_time = SeriesForm.start_time
    duration_minutes = SeriesForm.duration_minutes
    end_date = SeriesForm.end_date
    capacity = WholeNumber(_l("Seats"), validators=[
        InputRequired(_l("Give the number of seats.")),
        NumberRange(1, 500, _l("Must be from 1 to 500."))])
    reason = StringField(_l("Why (kept in the audit trail, optional)"),
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
    end_date = DateField(_l("Last day it meets"), validators=[
        InputRequired(_l("Give the last day.")), in_range])
    reason = StringField(_l("Reason (clients hear that their sessions are cancelled)"), validators=[
        DataRequired(_l("A reason is required to end a series.")), Length(max=500)])


class CancelForm(PageForm):
    reason = StringField(_l("Reason for cancelling"), validators=[
        DataRequired(_l("A reason is required to cancel a session.")), Length(max=500)])


class MoveForm(OverrideFields, PageForm):
    new_date = DateField(_l("New date"),
                         validators=[InputRequired(_l("Give the new date.")), in_range])
    new_time = TimeField(_l("New start time (local)"),
                         validators=[InputRequired(_l("Give the new start time."))])


class RoomForm(OverrideFields, PageForm):
    room_id = PickerField(_l("New room"), validators=[DataRequired(_l("Choose a room."))])


class SubstituteForm(OverrideFields, PageForm):
    staff_id = PickerField(_l("Substitute facilitator"),
                           validators=[DataRequired(_l("Choose a staff member."))])


class EnrollForm(OverrideFields, PageForm):
    client_id = PickerField(_l("Client"), validators=[DataRequired(_l("Choose a client."))])


def weekday_codes(rrule: str) -> list[str]:
    for part in rrule.split(";"):
        key, _sep, value = part.partition("=")
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
    return ", ".join(str(names.get(code, code)) for code in weekday_codes(rrule))
