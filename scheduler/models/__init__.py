"""SQLAlchemy models, one module per aggregate."""

from scheduler.models.attendance import Attendance
from scheduler.models.audit import AuditEvent
from scheduler.models.availability import (
    ClientPreferredTime,
    ClientUnavailability,
    StaffTimeOff,
    StaffWorkingHours,
)
from scheduler.models.bookings import Booking, Enrollment
from scheduler.models.clients import Client, Episode
from scheduler.models.closures import Closure
from scheduler.models.feeds import FeedToken, FeedVersion
from scheduler.models.interop import (
    Consent,
    Disclosure,
    FhirClient,
    FhirToken,
    Recipient,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from scheduler.models.jobs import Alert, JobRun, Notification
from scheduler.models.mfa import MfaEnrolment, MfaRecoveryCode
from scheduler.models.plans import Assessment, PlanPhase, PlanRequirement, TreatmentPlan
from scheduler.models.programs import Program
from scheduler.models.proposals import ScheduleProposal
from scheduler.models.rooms import Room
from scheduler.models.series import SessionSeries, series_facilitators
from scheduler.models.sessions import Session, session_facilitators
from scheduler.models.sites import BreakGlassGrant, Site, staff_sites, user_sites
from scheduler.models.staff import Staff
from scheduler.models.users import AccountToken, ApiToken, LoginSession, User

__all__ = [
    "Consent",
    "Disclosure",
    "FhirClient",
    "FhirToken",
    "Recipient",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "AccountToken",
    "BreakGlassGrant",
    "Site",
    "staff_sites",
    "user_sites",
    "Alert",
    "JobRun",
    "Notification",
    "MfaEnrolment",
    "MfaRecoveryCode",
    "ApiToken",
    "LoginSession",
    "Assessment",
    "Attendance",
    "AuditEvent",
    "Booking",
    "ClientPreferredTime",
    "ClientUnavailability",
    "Enrollment",
    "FeedToken",
    "FeedVersion",
    "PlanPhase",
    "PlanRequirement",
    "StaffTimeOff",
    "StaffWorkingHours",
    "TreatmentPlan",
    "Client",
    "Closure",
    "Episode",
    "Program",
    "Room",
    "ScheduleProposal",
    "Session",
    "SessionSeries",
    "Staff",
    "User",
    "series_facilitators",
    "session_facilitators",
]
