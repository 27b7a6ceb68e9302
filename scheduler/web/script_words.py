"""The words the pages' scripts write themselves (the pickers, the series preview, the roster),
in the language of the page. base.html puts them in a JSON data block (`#script-words`; data,
not code, so the CSP that forbids inline script has nothing to refuse) that the scripts read.
"""

from flask_babel import get_translations

from scheduler.i18n import gettext as _
from scheduler.web.clinician import MARK_LABELS


def script_words() -> dict[str, str]:
    # The catalog's plural forms themselves, the count left for the script to put in
    # (ngettext would fill it in here). Named so `make translations` finds the strings.
    ungettext = get_translations().ungettext
    words = {
        # static/js/picker.js
        "type_to_search": _("Type to search"),
        "no_matches": _("No matches."),
        "first_of": _("First %(shown)s of %(total)s matches; type more to narrow."),
        # static/js/calendar.js: the new series' live preview
        "not_ready": _("Not ready to preview yet."),
        "no_conflicts": _("No conflicts."),
        "preview_unavailable": _("The preview is not available right now."),
        # Plural forms by count: English and Spanish both have one and other.
        "sessions_one": ungettext("%(num)d session would be made.",
                                  "%(num)d sessions would be made.", 1),
        "sessions_other": ungettext("%(num)d session would be made.",
                                    "%(num)d sessions would be made.", 2),
        "conflicts_one": ungettext("%(num)d conflict: saving will be refused.",
                                   "%(num)d conflicts: saving will be refused.", 1),
        "conflicts_other": ungettext("%(num)d conflict: saving will be refused.",
                                     "%(num)d conflicts: saving will be refused.", 2),
        "clash_room": _("Room"),
        "clash_staff": _("Staff"),
        "clash_staff_time_off": _("Staff time off"),
        # static/js/roster.js
        "not_saved": _("Not saved."),
        "needs_reason": _("Not saved: choose a reason for %(mark)s."),
        "now": _("Now: %(mark)s"),
    }
    words.update({f"mark_{status}": str(label) for status, label in MARK_LABELS.items()})
    return words
