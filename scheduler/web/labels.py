"""What the staff pages call things; feeds keep their own, discreet titles (feeds/render.py).
Lazy: each is read in the language of the page it lands on."""

from scheduler.i18n import gettext as _
from scheduler.i18n import lazy_gettext as _l

KIND_LABELS = {
    "group": _l("Group therapy"), "individual": _l("Individual therapy"),
    "behavioral": _l("Behavioural skills (CBT/DBT)"), "family": _l("Family"),
    "education": _l("Education"), "medical": _l("Medication management"),
    "peer_support": _l("Peer support"), "assessment": _l("Assessment"),
    "case_management": _l("Case management"),
}

# The roster's five marks in tap order, then the clinic-side statuses set elsewhere.
ATTENDANCE_LABELS = {
    "present": _l("Present"), "late": _l("Late"), "left_early": _l("Left early"),
    "absent_excused": _l("Absent (excused)"), "absent_unexcused": _l("Absent (unexcused)"),
    "cancelled_by_clinic": _l("Cancelled by the clinic"),
    "leave_of_absence": _l("Leave of absence"),
}

METHOD_WORDS = {"self": _l("self check-in"), "kiosk": _l("kiosk"),
                "auto": _l("the no-show check")}


def mark_words(row) -> str:
    """An attendance record as the roster and the session page show it:
    "Late (transport), 150 min" or "Present, 180 min, by kiosk"; None is "Not marked yet"."""
    if row is None:
        return _("Not marked yet")
    text = str(ATTENDANCE_LABELS.get(row.status, row.status.replace("_", " ")))
    if row.reason_code:
        text += f" ({reason_words(row.reason_code)})"
    text += ", " + _("%(minutes)s min", minutes=row.minutes_attended)
    if row.method != "roster":
        text += ", " + _("by %(method)s", method=METHOD_WORDS.get(row.method, row.method))
    return text


# An absence's or a late arrival's reason (models.attendance.REASON_CODES), as the roster's
# choices name it.
REASON_LABELS = {
    "illness": _l("Illness"), "transport": _l("Transport"), "work": _l("Work"),
    "family": _l("Family"), "no_call": _l("No call"), "other": _l("Other"),
}


def reason_words(code: str) -> str:
    """The reason inside a sentence, "Late (transport)": the roster's label, not capitalised
    (one word list for both; the languages we speak capitalise only the first letter)."""
    label = str(REASON_LABELS.get(code, code.replace("_", " ")))
    return label[:1].lower() + label[1:]
