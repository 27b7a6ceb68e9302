"""Sharing outside the clinic, as the pages show it: a client's Part 2 consents, the form that
records one, and the accounting of disclosures, in words for staff (the client page) and for
the client (/me). The routes are the client page's (web/clients.py); the rule of what a consent
lets through is services/consents.py's alone.
"""

from dataclasses import dataclass, replace
from datetime import datetime, tzinfo

from sqlalchemy import select
from wtforms import DateField, SelectField, SelectMultipleField, StringField, widgets
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from scheduler import clock
from scheduler.extensions import db
from scheduler.i18n import gettext as _
from scheduler.i18n import lazy_gettext as _l
from scheduler.models import Client, Consent, Disclosure, Recipient
from scheduler.models.interop import CONSENT_SCOPES
from scheduler.services import consents, day_sheet, disclosures
from scheduler.web.form_fields import PageForm, in_range, optional_id

# The latest disclosures a page lists, as lines; the API pages through each one of them. An
# EHR's search discloses a page of appointments in one go: those read as one line ("50
# appointments"), so the latest READ_DISCLOSURES rows make at most SHOWN_DISCLOSURES lines.
SHOWN_DISCLOSURES = 50
READ_DISCLOSURES = 1000

# What a consent covers, as the form's checkboxes and the staff page say it.
SCOPE_LABELS = {"appointments": "Appointments (dates, times, place)",
                "attendance": "Attendance (came, late, absent)",
                "demographics": "Name, date of birth and identifiers"}
# One disclosure's part, for staff ("appointment") and for the client ("one of your
# appointments"); and several of them at once ("12 appointments", "12 of your appointments").
SCOPE_ITEM = {"appointments": "appointment", "attendance": "attendance",
              "demographics": "name, date of birth and identifiers"}
SCOPE_ITEMS = {"appointments": "{n} appointments", "attendance": "attendance at {n} sessions",
               "demographics": "name, date of birth and identifiers ({n} times)"}
SCOPE_ITEM_FOR_CLIENT = {"appointments": _l("one of your appointments"),
                         "attendance": _l("whether you attended a session"),
                         "demographics": _l("your name, date of birth and identifiers")}
# The client's words are the client's language: %(n)s, formatted when shown.
SCOPE_ITEMS_FOR_CLIENT = {"appointments": _l("%(n)s of your appointments"),
                          "attendance": _l("whether you attended %(n)s sessions"),
                          "demographics": _l("your name, date of birth and identifiers "
                                             "(%(n)s times)")}
SCOPE_FOR_CLIENT = {"appointments": _l("your appointments"),
                    "attendance": _l("your attendance"),
                    "demographics": _l("your name, date of birth and identifiers")}
# How it left: the recipient's system read it, or the clinic's system sent it.
CHANNEL_WORDS = {"fhir": "read by their system", "webhook": "sent to their system"}
KIND_FOR_CLIENT = {"ehr": _l("a health record service"), "billing": _l("a billing service"),
                   "referral": _l("a referral partner")}
FIELD_LABELS = {"recipient_id": "Shared with", "purpose": "Purpose", "scope": "What it covers",
                "signed_on": "Signed on", "expires_on": "Expires on",
                "document_ref": "Where the signed form is kept", "reason": "Reason"}


class ConsentForm(PageForm):
    """A signed §2.31 form, as the coordinator copies it in."""

    # The select lists active recipients; a posted id of any other is the service's to refuse
    # (by name), not WTForms' "Not a valid choice".
    recipient_id = SelectField(FIELD_LABELS["recipient_id"], coerce=optional_id,
                               validate_choice=False,
                               validators=[DataRequired("Choose who the client agreed to "
                                                        "share with.")])
    purpose = StringField(FIELD_LABELS["purpose"], validators=[
        DataRequired("Say what the sharing is for, as the form does."),
        Length(max=consents.PURPOSE_MAX,
               message=f"At most {consents.PURPOSE_MAX} characters.")],
        description="As the signed form says it, e.g. “Coordination of care”.")
    scope = SelectMultipleField(
        FIELD_LABELS["scope"], choices=[SelectChoice(s, SCOPE_LABELS[s]) for s in CONSENT_SCOPES],
        validators=[DataRequired("Tick at least one.")],
        widget=widgets.ListWidget(prefix_label=False), option_widget=widgets.CheckboxInput())
    signed_on = DateField(FIELD_LABELS["signed_on"],
                          validators=[InputRequired("Enter the day the client signed."),
                                      in_range])
    expires_on = DateField(FIELD_LABELS["expires_on"],
                           validators=[InputRequired("Enter the last day it covers."),
                                       in_range],
                           description="The last day the consent covers.")
    document_ref = StringField(FIELD_LABELS["document_ref"], validators=[
        Optional(), Length(max=consents.DOCUMENT_REF_MAX,
                           message=f"At most {consents.DOCUMENT_REF_MAX} characters.")],
        description="Optional: the scanned form's name or folder.")


class RevokeForm(PageForm):
    reason = StringField(FIELD_LABELS["reason"], validators=[
        Optional(), Length(max=consents.REASON_MAX,
                           message=f"At most {consents.REASON_MAX} characters.")])


def offer_recipients(form: ConsentForm) -> bool:
    """The active recipients in the form's select; False when there are none to choose."""
    rows = db.session.execute(select(Recipient.id, Recipient.name)
                              .where(Recipient.is_active.is_(True))
                              .order_by(Recipient.name, Recipient.id)).all()
    form.recipient_id.choices = [SelectChoice("", "Choose a service"),
                                 *(SelectChoice(row.id, row.name) for row in rows)]
    return bool(rows)


@dataclass(frozen=True)
class ConsentRow:
    consent: Consent
    state: str  # live, revoked or expired
    revoked_on: datetime | None  # in the program's zone

    @property
    def covers(self) -> str:
        return covers_words(self.consent)

    @property
    def covers_for_client(self) -> str:
        return _and([SCOPE_FOR_CLIENT[s] for s in self.consent.scope])


@dataclass(frozen=True)
class DisclosureRow:
    at: datetime  # in the program's zone
    recipient: str
    kind: str
    channel: str
    scope: str
    consent: Consent | None
    # How many disclosures the line stands for: one search's page of appointments is one line.
    count: int = 1

    @property
    def what(self) -> str:
        if self.count > 1:
            return SCOPE_ITEMS[self.scope].format(n=self.count)
        return SCOPE_ITEM.get(self.scope, self.scope)

    @property
    def what_for_client(self) -> str:
        if self.count > 1:
            return str(SCOPE_ITEMS_FOR_CLIENT[self.scope]) % {"n": self.count}
        return str(SCOPE_ITEM_FOR_CLIENT.get(self.scope, self.scope))

    @property
    def how(self) -> str:
        return CHANNEL_WORDS.get(self.channel, self.channel)


@dataclass(frozen=True)
class Sharing:
    """What the client page's and the portal's sharing sections show."""

    consents: list[ConsentRow]
    disclosures: list[DisclosureRow]
    disclosure_total: int
    tz: tzinfo
    form: ConsentForm | None = None
    has_recipients: bool = False
    # The consent whose revoke form came back refused, what was typed and why.
    revoke_id: int | None = None
    revoke_form: RevokeForm | None = None


def covers_words(consent: Consent) -> str:
    """What a consent covers, for staff: "appointments and attendance"."""
    return _and([consents.SCOPE_WORDS[s] for s in consent.scope])


def _and(items: list[str]) -> str:
    if len(items) == 1:
        return str(items[0])
    return _("%(first)s and %(last)s", first=", ".join(map(str, items[:-1])), last=items[-1])


def sharing_of(client: Client, form: ConsentForm | None = None,
               revoke_id: int | None = None, revoke_form: RevokeForm | None = None) -> Sharing:
    """The client's consents (live first) and latest disclosures; with `form`, the recording
    form offering the active recipients."""
    tz = day_sheet.program_zone(db.session, client.program_id)
    now = clock.now()
    rows = []
    for consent in consents.for_client(db.session, client.id):
        state = consents.state(consent, now)
        rows.append(ConsentRow(consent, state, consent.revoked_at.astimezone(tz)
                               if consent.revoked_at is not None else None))
    rows.sort(key=lambda row: row.state != "live")  # stable: newest first within each
    logged, total = disclosures.for_client(db.session, client.id, limit=READ_DISCLOSURES)
    under = disclosures.consents_of(db.session, logged)
    shown = _lines(logged, under, tz)
    has_recipients = offer_recipients(form) if form is not None else False
    return Sharing(rows, shown, total, tz, form, has_recipients, revoke_id, revoke_form)


def _lines(logged: list[Disclosure], under: dict, tz: tzinfo) -> list[DisclosureRow]:
    """The disclosures as lines, newest first: consecutive ones to the same recipient, by the
    same way, of the same kind, under the same consent and in the same minute are one line."""
    lines: list[DisclosureRow] = []
    for row in logged:
        at = row.disclosed_at.astimezone(tz)
        last = lines[-1] if lines else None
        if (last is not None and last.recipient == row.recipient.name
                and last.channel == row.channel and last.scope == row.scope
                and last.consent is under.get(row.consent_id)
                and last.at.replace(second=0, microsecond=0)
                == at.replace(second=0, microsecond=0)):
            lines[-1] = replace(last, count=last.count + 1)
            continue
        if len(lines) == SHOWN_DISCLOSURES:
            break
        lines.append(DisclosureRow(at, row.recipient.name, row.recipient.kind, row.channel,
                                   row.scope, under.get(row.consent_id)))
    return lines


def blank_form(client: Client) -> ConsentForm:
    """The recording form, signed today and running a year, unless posted."""
    form = ConsentForm(formdata=None)
    today = day_sheet.program_today(db.session, clock.now(), client.program_id)
    form.signed_on.data = today
    form.expires_on.data = today.replace(year=today.year + 1) if not (
        today.month == 2 and today.day == 29) else today.replace(year=today.year + 1, day=28)
    return form
