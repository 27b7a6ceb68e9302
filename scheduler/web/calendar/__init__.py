"""Coordinator pages: the week calendar, one session and its overrides, series and enrolment.

One blueprint ("calendar"), its routes split by concern; importing the modules registers them.
"""

from scheduler.web.calendar import closures, enrollments, series, sessions, week
from scheduler.web.calendar.blueprint import bp

__all__ = ["bp", "closures", "enrollments", "series", "sessions", "week"]
