"""Schemathesis fuzzes every /api/v1 operation: no 5xx, and every answer as documented."""

import os
import re
from datetime import UTC, datetime, timedelta

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis import checks
from sqlalchemy import select

from scheduler import clock, create_app, demo_clinic
from scheduler.extensions import db as _db
from scheduler.models import User
from scheduler.services import accounts
from tests.conftest import PG_URL, IsolatedClient, reset_postgresql
from tests.fuzz_report import fuzz_tally

# The answer alone decides these; checks that send extra requests (e.g. `ignored_auth`) would
# go to the network, and tests/test_api_roles.py already covers who may call what.
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
]

OPENAPI = "/api/v1/openapi.json"
# The `now` fixture's instant: a Tuesday noon in the middle of a clinic week.
CLINIC_NOW = datetime(2027, 2, 16, 12, 0, tzinfo=UTC)
MAX_EXAMPLES = 25
# `make test` runs the random phase in one lane only (FUZZ_RANDOM=0 in the SQLite lane when the
# PostgreSQL lane follows): the cases are the same in both, and PostgreSQL is the stricter.
RANDOM_PHASE = os.environ.get("FUZZ_RANDOM", "1") != "0"
# The demo clinic's rows are numbered from 1 on a fresh database: it has at least this many
# of each kind it seeds, and its client login is client 1.
SEEDED_ID_RANGE = (1, 6)
# Operations that may end the fuzzer's own sign-in or take its role away: a revoked token, a
# changed password, a deactivated, demoted or reset login. The seeded logins come back after each.
ENDS_SIGN_INS = re.compile(r"^(DELETE /api/v1/auth/|POST /api/v1/auth/password|"
                           r"(PATCH|DELETE) /api/v1/users/)")
SEEDED_LOGIN = ("role", "is_active", "client_id", "staff_id", "password_hash", "failed_logins",
                "locked_until")
# What a client's own login may call; the rest answers them 403 before reading anything.
CLIENT_PATHS = (r"^/api/v1/(auth/me|checkin|clients/\{client_id\}|sessions/\{session_id\}$"
                r"|bookings/)")


def _served_openapi() -> dict:
    """The OpenAPI document exactly as the app serves it."""
    app = create_app({"CONFIG_NAME": "testing", "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    return app.test_client().get(OPENAPI).json


schema = schemathesis.openapi.from_dict(
    _served_openapi(),
    config=schemathesis.Config.from_dict({
        # Same cases every run, and nothing saved under .hypothesis between runs.
        "generation": {"deterministic": True, "database": "none"},
        # Examples and the coverage phase's boundary values (a fixed, finite set per
        # operation), then MAX_EXAMPLES random cases where RANDOM_PHASE says. Stateful
        # link-following is left out: the document declares no links.
        "phases": {"coverage": {"enabled": True}, "fuzzing": {"enabled": RANDOM_PHASE},
                   "stateful": {"enabled": False}},
    }),
)


@schema.hook
def flatmap_path_parameters(context, path_parameters):
    """Point most generated ids at seeded rows, so operations get past their 404."""
    if not path_parameters:
        return st.just(path_parameters)
    return st.fixed_dictionaries({
        name: st.one_of(st.integers(*SEEDED_ID_RANGE), st.just(value))
        if name.endswith("_id") and isinstance(value, int) else st.just(value)
        for name, value in path_parameters.items()
    })


@pytest.fixture(scope="module")
def clinic(tmp_path_factory):
    """One small seeded clinic for every operation, and real bearer tokens for two of its logins.

    Reseeding per operation costs ~3 s each (schema, seed, password hashes), more than the
    fuzzing itself; so operations share it in their fixed order, and one that changes the
    clinic (a discharge, a cancellation) leaves it as a real clinic would be left.
    """
    url = PG_URL or f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'clinic.sqlite'}"
    app = create_app({"CONFIG_NAME": "testing", "SQLALCHEMY_DATABASE_URI": url})
    app.test_client_class = IsolatedClient
    with clock.frozen(CLINIC_NOW), app.app_context():
        if PG_URL:
            reset_postgresql()
        else:
            _db.create_all()
        demo_clinic.seed(_db.session, n_clients=4, weeks=1, now=CLINIC_NOW)
        _db.session.commit()
        client = app.test_client()
        headers = {}
        for role, email in (("admin", "admin@demo.clinic"), ("client", "client@demo.clinic")):
            answer = client.post(
                "/api/v1/auth/token", json={"email": email, "password": demo_clinic.DEMO_PASSWORD})
            assert answer.status_code == 200, answer.json
            headers[role] = {"Authorization": f"Bearer {answer.json['token']}"}
        seeded = [(u.id, {name: getattr(u, name) for name in SEEDED_LOGIN})
                  for u in _db.session.scalars(select(User))]
        yield app, client, headers, seeded
        _db.session.remove()
        _db.engine.dispose()


FUZZ_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    # Generous for a busy 2-core CI machine; an answer this slow is a bug (e.g. a runaway
    # materialisation), not noise.
    deadline=timedelta(seconds=10),
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def _call_and_check(case, clinic, role: str, tally) -> None:
    """Send the case in-process as `role` and run every check on the answer."""
    app, client, headers, seeded = clinic
    response = case.call(app=app, session=client, headers=headers[role])
    tally.record(role, case.operation.label, response.status_code)
    try:
        case.validate_response(response, checks=CHECKS)
    finally:
        if ENDS_SIGN_INS.match(case.operation.label):
            _restore_sign_ins(headers, seeded)


def _restore_sign_ins(headers: dict, seeded: list) -> None:
    """The seeded logins as they were, with fresh tokens: a case that revoked the fuzzer's
    token, changed its password or demoted it must not leave every later case a 401 or 403."""
    db = _db.session
    db.rollback()
    for user_id, values in seeded:
        user = db.get(User, user_id)
        for name, value in values.items():
            setattr(user, name, value)
    now = clock.now()
    for role, email in (("admin", "admin@demo.clinic"), ("client", "client@demo.clinic")):
        user = db.scalar(select(User).where(User.email == email))
        token, _ = accounts.issue_api_token(db, user, now, ttl_hours=24)
        headers[role] = {"Authorization": f"Bearer {token}"}
    db.commit()


@pytest.fixture(scope="module")
def tally(pytestconfig):
    return fuzz_tally(pytestconfig)


@schema.parametrize()
@FUZZ_SETTINGS
def test_every_operation_answers_an_admin_as_documented(case, clinic, tally):
    """Any generated admin request answers without a server error and as its schema says."""
    _call_and_check(case, clinic, "admin", tally)


@schema.include(path_regex=CLIENT_PATHS).parametrize()
@FUZZ_SETTINGS
def test_client_facing_operations_answer_a_client_as_documented(case, clinic, tally):
    """Any generated request from a client's own login answers as its schema says."""
    _call_and_check(case, clinic, "client", tally)

