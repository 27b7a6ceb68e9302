"""What the staff pages call things; feeds keep their own, discreet titles (feeds/render.py)."""

KIND_LABELS = {
    "group": "Group therapy", "individual": "Individual therapy",
    "behavioral": "Behavioural skills (CBT/DBT)", "family": "Family", "education": "Education",
    "medical": "Medication management", "peer_support": "Peer support",
    "assessment": "Assessment", "case_management": "Case management",
}

# The roster's five marks in tap order, then the clinic-side statuses set elsewhere.
ATTENDANCE_LABELS = {
    "present": "Present", "late": "Late", "left_early": "Left early",
    "absent_excused": "Absent (excused)", "absent_unexcused": "Absent (unexcused)",
    "cancelled_by_clinic": "Cancelled by the clinic", "leave_of_absence": "Leave of absence",
}

METHOD_WORDS = {"self": "self check-in", "kiosk": "kiosk", "auto": "the no-show check"}


def mark_words(row) -> str:
    """An attendance record as the roster and the session page show it:
    "Late (transport), 150 min" or "Present, 180 min, by kiosk"; None is "Not marked yet"."""
    if row is None:
        return "Not marked yet"
    text = ATTENDANCE_LABELS.get(row.status, row.status.replace("_", " "))
    if row.reason_code:
        text += f" ({row.reason_code.replace('_', ' ')})"
    text += f", {row.minutes_attended} min"
    if row.method != "roster":
        text += f", by {METHOD_WORDS.get(row.method, row.method)}"
    return text
