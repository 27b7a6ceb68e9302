"""fhir change indexes: an EHR's "what changed since my last poll" reads from indexes

GET /fhir/R4/Appointment?_lastUpdated=ge… (scheduler/fhir/appointments.py) gathers the bookings
that may have changed since the bound from four index ranges: bookings, sessions and attendance
updated since it, and sessions that ended since it (an attended booking turns fulfilled then).
Without these indexes it read every consented client's bookings (about 18 s on a
4-million-booking network).

Revision ID: 0023_fhir_change_indexes
Revises: 0022_webhook_alerts
Create Date: 2026-12-07 19:00:00.000000

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '0023_fhir_change_indexes'
down_revision = '0022_webhook_alerts'
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_bookings_updated_at", "bookings", "updated_at"),
    ("ix_sessions_updated_at", "sessions", "updated_at"),
    ("ix_sessions_ends_at", "sessions", "ends_at"),
    ("ix_attendance_updated_at", "attendance", "updated_at"),
)


def upgrade():
    for name, table, column in INDEXES:
        op.create_index(name, table, [column], unique=False)


def downgrade():
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
