"""A coordinator's explicit, audited decision to go past a conflict: an override and its why.

The services take an Override (or None) instead of a bare reason, so the rule that an override
needs a real reason is checked once, here, whether the API or a page asked for it.
"""

from dataclasses import dataclass

from scheduler.i18n import gettext as _
from scheduler.services.errors import InvalidField

# As long as the reason fields of the API and the forms allow.
MAX_REASON = 500
MISSING = "A reason is required with override."


def _checked(reason, field: str, missing: str) -> str:
    text = reason.strip() if isinstance(reason, str) else ""
    if not text:
        # The house wording is said in the caller's language; a page's own comes translated.
        raise InvalidField(field, _("A reason is required with override.") if missing == MISSING
                           else missing)
    if len(text) > MAX_REASON:
        raise InvalidField(field, _("Longer than maximum length %(MAX_REASON)s.",
                                    MAX_REASON=MAX_REASON))
    return text


@dataclass(frozen=True)
class Override:
    """Go ahead despite the conflicts found; `reason` is kept on the row and the audit trail."""

    reason: str

    def __post_init__(self):
        object.__setattr__(self, "reason", _checked(self.reason, "reason", MISSING))

    @classmethod
    def given(cls, requested: bool, reason: str | None, *, field: str = "reason",
              missing: str = MISSING) -> "Override | None":
        """The override a request asked for, or None. `field` and `missing` name the input
        and word the refusal as the caller shows them (a page names its own box)."""
        if not requested:
            return None
        return cls(_checked(reason, field, missing))


def reason_of(override: Override | None) -> str | None:
    """What the row and the audit trail keep: the stripped reason, or None."""
    return override.reason if override is not None else None
