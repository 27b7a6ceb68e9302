"""Abuse protections: account lockout, rate limits, password rules, cookies and headers."""

import http.client
import json
import os
import re
import secrets
import socket
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from scheduler import clock, create_app
from scheduler.extensions import db as _db
from scheduler.extensions import limiter
from scheduler.models import AuditEvent, User
from scheduler.services import accounts, kiosk, passwords
from scheduler.services.errors import InvalidField
from tests.helpers import ACTOR, sign_in

API = "/api/v1"
PASSWORD = "correct horse battery"
WRONG = "incorrect horse battery"


@pytest.fixture
def user(make):
    return make.user("coordinator", password=PASSWORD)


def token(client, email, password):
    return client.post(f"{API}/auth/token", json={"email": email, "password": password})


def fail(client, email, times):
    """Send `times` wrong passwords; the limiter is reset so only the lockout is tested."""
    for _ in range(times):
        assert token(client, email, WRONG).status_code == 401
        limiter.reset()


def csrf(page: bytes) -> str:
    return re.search(rb'name="csrf_token"[^>]*value="([^"]+)"', page).group(1).decode()


def events(db, action):
    return db.scalars(select(AuditEvent).where(AuditEvent.action == action)
                      .order_by(AuditEvent.id)).all()


# --- lockout and back-off --------------------------------------------------------------------


def test_five_wrong_passwords_lock_the_account_even_against_the_right_one(client, db, user, now):
    """After the fifth miss the right password answers exactly as a wrong one does."""
    fail(client, user.email, 4)
    assert token(client, user.email, PASSWORD).status_code == 200  # four are forgiven
    fail(client, user.email, 5)

    locked = token(client, user.email, PASSWORD)

    assert locked.status_code == 401
    assert locked.json == token(client, user.email, WRONG).json
    db.expire_all()
    assert db.get(User, user.id).locked_until == now + timedelta(minutes=15)


def test_the_lock_doubles_with_each_further_miss_up_to_a_day(client, db, user, now):
    """15, 30, 60 … minutes: each miss after a lock ends locks for twice as long, at most 24 h."""
    fail(client, user.email, 5)
    at, expected = now, timedelta(minutes=15)
    for _ in range(9):
        db.expire_all()
        locked_until = db.get(User, user.id).locked_until
        assert locked_until - at == min(expected, timedelta(hours=24))
        at, expected = locked_until, expected * 2
        with clock.frozen(at):
            fail(client, user.email, 1)
    assert expected > timedelta(hours=24)  # the cap was reached on the way


def test_the_right_password_after_the_lock_ends_signs_in_and_resets_the_count(
        client, db, user, now):
    fail(client, user.email, 5)
    with clock.frozen(now + timedelta(minutes=14, seconds=59)):
        assert token(client, user.email, PASSWORD).status_code == 401
    with clock.frozen(now + timedelta(minutes=15)):
        assert token(client, user.email, PASSWORD).status_code == 200
        db.expire_all()
        row = db.get(User, user.id)
        assert (row.failed_logins, row.locked_until) == (0, None)
        # Counting starts afresh: four misses do not lock again.
        fail(client, user.email, 4)
        assert token(client, user.email, PASSWORD).status_code == 200


def test_attempts_during_a_lock_do_not_lengthen_it_but_are_audited(client, db, user, now):
    """Otherwise anyone could keep a clinician locked out by typing their email all day."""
    fail(client, user.email, 5)
    fail(client, user.email, 3)
    db.expire_all()
    assert db.get(User, user.id).locked_until == now + timedelta(minutes=15)
    [lock] = events(db, "lock")
    assert (lock.entity_type, lock.entity_id, lock.after["failed_logins"]) == ("user", user.id, 5)
    refused = events(db, "refuse_locked")
    assert [(e.entity_id, e.actor) for e in refused] == [(user.id, "sign-in")] * 3


def test_an_unknown_email_gets_the_same_answer_as_a_wrong_password(client, user):
    """No account enumeration: unknown, wrong and locked all read the same."""
    unknown = token(client, "nobody@clinic.test", WRONG)
    wrong = token(client, user.email, WRONG)
    assert (unknown.status_code, unknown.json) == (wrong.status_code, wrong.json)
    fail(client, "nobody@clinic.test", 10)  # and unknown emails never lock anything
    assert token(client, user.email, PASSWORD).status_code == 200


def test_the_login_page_shares_the_lockout_and_its_message(client, user):
    """The page and the token endpoint count the same misses and say the same words."""
    form = {"csrf_token": csrf(client.get("/login").data), "email": user.email}
    for _ in range(3):
        answer = client.post("/login", data={**form, "password": WRONG})
        assert answer.status_code == 401
    fail(client, user.email, 2)
    answer = client.post("/login", data={**form, "password": PASSWORD})
    assert answer.status_code == 401
    assert b"Email or password is wrong." in answer.data
    assert b"Sign out" not in answer.data


def test_an_admin_unlocks_a_locked_account_and_it_is_audited(client, db, user, make, auth):
    fail(client, user.email, 5)
    admin = make.user("admin")

    answer = client.post(f"{API}/users/{user.id}/unlock", headers=auth.for_user(admin))

    assert answer.status_code == 200, answer.json
    assert answer.json == {"id": user.id, "email": user.email, "failed_logins": 0,
                           "locked_until": None}
    assert token(client, user.email, PASSWORD).status_code == 200
    [event] = events(db, "unlock")
    assert (event.actor_user_id, event.entity_type, event.entity_id) == (admin.id, "user", user.id)
    assert event.before["failed_logins"] == 5 and event.after == {"failed_logins": 0,
                                                                  "locked_until": None}


def test_unlocking_an_unknown_user_answers_404(client, auth):
    answer = client.post(f"{API}/users/999999/unlock", headers=auth("admin"))
    assert answer.status_code == 404
    assert answer.json["message"] == "No user with id 999999."


# --- rate limits -----------------------------------------------------------------------------
#
# The limits run twice: on memory:// (one process, `make run`) and on the Redis server on this
# machine, as production shares them between processes. Every key a run writes carries
# KEY_PREFIX, and only those keys are ever deleted: the server is shared, so never FLUSHALL,
# and never limiter.reset() on Redis (it deletes every rate-limit key, other runs' too).

REDIS_URL = os.environ.get("TEST_REDIS_URL") or "redis://127.0.0.1:6379/0"
KEY_PREFIX = f"iop-tests-{secrets.token_hex(8)}"


def redis_or_skip():
    import redis

    server = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=10)
    try:
        server.ping()
    except redis.RedisError as error:
        server.close()
        pytest.skip(f"Redis does not answer at {REDIS_URL} ({error}); the rate limits' "
                    "shared-storage runs need one (TEST_REDIS_URL names another)")
    return server


def forget_our_counts(server) -> None:
    keys = list(server.scan_iter(match=f"*{KEY_PREFIX}*", count=1000))
    if keys:
        server.delete(*keys)


@pytest.fixture
def app_config(request):
    """memory:// unless a test asks for "redis" (indirectly, through BOTH_STORAGES)."""
    if getattr(request, "param", "memory") == "memory":
        yield {}
        return
    server = redis_or_skip()
    try:
        yield {"RATELIMIT_STORAGE_URI": REDIS_URL, "RATELIMIT_KEY_PREFIX": KEY_PREFIX}
    finally:
        forget_our_counts(server)
        server.close()


BOTH_STORAGES = pytest.mark.parametrize("app_config", ["memory", "redis"], indirect=True)


def window_passes(app) -> None:
    """The limits' minute passing: this run's counts are forgotten, and nobody else's."""
    if app.config["RATELIMIT_STORAGE_URI"].startswith("redis"):
        server = redis_or_skip()
        forget_our_counts(server)
        server.close()
    else:
        limiter.reset()


@BOTH_STORAGES
def test_the_token_endpoint_answers_429_in_the_api_error_shape(app, client, user):
    app.config["RATELIMIT_SIGN_IN"] = "3 per minute"
    for _ in range(3):
        assert token(client, user.email, WRONG).status_code == 401
    answer = token(client, user.email, PASSWORD)
    assert answer.status_code == 429
    assert answer.json == {"code": 429, "status": "Too Many Requests",
                           "message": "Too many sign-in attempts from this address; "
                                      "wait a minute and try again."}
    assert int(answer.headers["Retry-After"]) > 0
    window_passes(app)
    assert token(client, user.email, PASSWORD).status_code == 200


@BOTH_STORAGES
def test_the_login_page_answers_429_with_a_page_and_shares_the_count_with_the_api(
        app, client, user):
    """Switching from the API to the form buys no extra guesses."""
    app.config["RATELIMIT_SIGN_IN"] = "3 per minute"
    form = {"csrf_token": csrf(client.get("/login").data), "email": user.email,
            "password": WRONG}
    assert token(client, user.email, WRONG).status_code == 401
    assert client.post("/login", data=form).status_code == 401
    assert token(client, user.email, WRONG).status_code == 401
    answer = client.post("/login", data={**form, "password": PASSWORD})
    assert answer.status_code == 429
    assert answer.mimetype == "text/html"
    assert b"<h1>Too many attempts</h1>" in answer.data
    assert b"Too many sign-in attempts" in answer.data
    # Showing the form is never limited.
    assert client.get("/login").status_code == 200


def sign_in_with_the_form(app, email: str, password: str):
    """A browser of its own: the form, its CSRF token, the post."""
    browser = app.test_client()
    form = {"csrf_token": csrf(browser.get("/login").data), "email": email,
            "password": password}
    return browser.post("/login", data=form)


@BOTH_STORAGES
def test_thirty_staff_sign_in_from_one_address_but_ten_failures_stop_the_eleventh(
        app, client, make):
    """Only refused sign-ins count, on the form and the API alike (the default 10 a minute)."""
    staff = [make.user("clinician", password=PASSWORD) for _ in range(30)]
    for n, member in enumerate(staff):  # 08:00, one clinic address, within the minute
        if n % 2:
            assert token(client, member.email, PASSWORD).status_code == 200, n
        else:
            answer = sign_in_with_the_form(app, member.email, PASSWORD)
            assert answer.status_code == 302, n
    # Ten failures, spread over accounts and unknown emails so no account lock answers.
    for n in range(10):
        email = staff[n].email if n < 5 else f"nobody{n}@clinic.test"
        if n % 2:
            assert token(client, email, WRONG).status_code == 401, n
        else:
            assert sign_in_with_the_form(app, email, WRONG).status_code == 401, n
    # The eleventh attempt waits, right password or wrong, on either route.
    assert token(client, staff[29].email, PASSWORD).status_code == 429
    assert token(client, staff[29].email, WRONG).status_code == 429
    assert sign_in_with_the_form(app, staff[28].email, PASSWORD).status_code == 429
    window_passes(app)
    assert token(client, staff[29].email, PASSWORD).status_code == 200


@BOTH_STORAGES
def test_self_check_in_is_limited_per_client_on_the_api_and_the_page(app, client, make, auth):
    app.config["RATELIMIT_CHECKIN"] = "2 per minute"
    member = make.user("client")
    headers = auth.for_user(member)
    assert client.post(f"{API}/checkin", json={"code": "12"}, headers=headers).status_code == 422
    sign_in(client, member)
    page = client.get("/me").data
    assert client.post("/me/checkin", data={"csrf_token": csrf(page), "code": "12"}
                       ).status_code == 422
    answer = client.post(f"{API}/checkin", json={"code": "12"}, headers=headers)
    assert (answer.status_code, answer.json["message"]) == (
        429, "Too many check-in attempts; wait a minute and try again.")
    answer = client.post("/me/checkin", data={"csrf_token": csrf(page), "code": "12"})
    assert answer.status_code == 429 and b"Too many check-in attempts" in answer.data
    # Another client on the same clinic wifi (the same address) is not held up.
    other = auth.for_user(make.user("client"))
    assert app.test_client().post(f"{API}/checkin", json={"code": "12"},
                                  headers=other).status_code == 422


@BOTH_STORAGES
def test_kiosk_pins_are_limited_per_kiosk_on_the_api_and_the_page(app, client, db, make, auth):
    app.config["RATELIMIT_KIOSK"] = "2 per minute"
    member = make.client()
    kiosk.set_pin(db, ACTOR, member.id, "4821")
    db.commit()
    desk = make.user("clinician")
    body = {"client_id": member.id, "pin": "0000"}
    assert client.post(f"{API}/kiosk/checkin", json=body,
                       headers=auth.for_user(desk)).status_code == 422
    sign_in(client, desk)
    form = {"csrf_token": csrf(client.get("/kiosk").data), **body}
    assert client.post("/kiosk", data=form).status_code == 422
    answer = client.post(f"{API}/kiosk/checkin", json=body, headers=auth.for_user(desk))
    assert answer.status_code == 429
    assert answer.json["message"] == ("Too many PIN attempts at this kiosk; "
                                      "wait a minute and try again.")
    answer = client.post("/kiosk", data=form)
    assert answer.status_code == 429 and b"Too many PIN attempts" in answer.data
    assert client.get("/kiosk").status_code == 200  # the page itself still opens
    window_passes(app)
    assert client.post("/kiosk", data=form).status_code == 422


@pytest.mark.parametrize(("proxies", "separate"), [(1, True), (0, False)])
def test_behind_a_trusted_proxy_each_caller_has_their_own_sign_in_limit(
        database_url, user, proxies, separate):
    """With TRUSTED_PROXIES the forwarded address counts; without it, the header is ignored."""
    app = create_app({"CONFIG_NAME": "testing", "SQLALCHEMY_DATABASE_URI": database_url,
                      "TRUSTED_PROXIES": proxies, "RATELIMIT_SIGN_IN": "1 per minute"})
    body = {"email": user.email, "password": WRONG}
    with app.test_client() as client:
        first = client.post(f"{API}/auth/token", json=body,
                            headers={"X-Forwarded-For": "203.0.113.7"})
        second = client.post(f"{API}/auth/token", json=body,
                             headers={"X-Forwarded-For": "198.51.100.9"})
    with app.app_context():
        _db.engine.dispose()
    assert first.status_code == 401
    assert second.status_code == (401 if separate else 429)


def feed_link(client, auth, make) -> str:
    answer = client.post(f"{API}/clients/{make.client().id}/feed",
                         headers=auth("coordinator"))
    assert answer.status_code == 201
    return urlsplit(answer.json["url"]).path


@BOTH_STORAGES
def test_a_live_feed_link_is_served_to_an_address_over_its_guess_limit(
        app, client, auth, make):
    """One clinic Wi-Fi: someone's guesses must not block every real calendar behind it."""
    app.config["FEED_GUESS_LIMIT"] = "3 per minute"
    link = feed_link(client, auth, make)
    for n in range(3):
        assert client.get(f"/feeds/guess-{n}.ics").status_code == 404
    refused = client.get("/feeds/guess-3.ics")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    served = client.get(link)
    assert served.status_code == 200 and served.mimetype == "text/calendar"
    assert client.get(link, headers={"If-None-Match": served.headers["ETag"]}
                      ).status_code == 304
    assert client.get("/feeds/guess-4.ics").status_code == 429  # misses still wait
    window_passes(app)
    assert client.get("/feeds/guess-5.ics").status_code == 404


@BOTH_STORAGES
def test_polling_a_live_feed_link_never_asks_the_rate_limit_storage(
        app, client, auth, make, monkeypatch):
    """The poll is the hot path: one token lookup, no round trip to Redis."""
    link = feed_link(client, auth, make)
    storage = limiter.limiter.storage
    calls = []
    for name in ("get", "incr", "get_expiry", "get_moving_window", "get_sliding_window"):
        if hasattr(storage, name):
            original = getattr(storage, name)
            monkeypatch.setattr(storage, name, lambda *a, _n=name, _f=original, **k: (
                calls.append(_n), _f(*a, **k))[1])
    first = client.get(link)
    assert first.status_code == 200
    assert client.get(link, headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
    assert calls == []
    assert client.get("/feeds/not-a-link.ics").status_code == 404
    assert calls  # the spy sees the storage when a miss is counted


def test_the_openapi_document_lists_the_429_answers(client):
    paths = client.get(f"{API}/openapi.json").json["paths"]
    for path in ("/api/v1/auth/token", "/api/v1/checkin", "/api/v1/kiosk/checkin"):
        assert "429" in paths[path]["post"]["responses"], path


# --- password rules --------------------------------------------------------------------------


@pytest.mark.parametrize(("password", "problem"), [
    ("eleven char", "must be at least 12 characters."),
    ("aaaaaaaaaaaaaaaa", "must not be one character repeated."),
    ("dana.reyes@clinic.test", "must not be the email address."),
    ("Dana.Reyes@Clinic.Test", "must not be the email address."),
    ("password1234", "is one of the most common passwords; choose another."),
    ("QWERTY123456", "is one of the most common passwords; choose another."),
])
def test_weak_passwords_are_refused_naming_the_field(db, password, problem):
    with pytest.raises(InvalidField) as refused:
        accounts.create_user(db, ACTOR, email="dana.reyes@clinic.test", role="admin",
                             password=password)
    assert refused.value.fields == {"password": [problem]}
    db.rollback()
    assert db.scalar(select(User.id)) is None


def test_a_long_uncommon_password_is_accepted(db):
    user = accounts.create_user(db, ACTOR, email="dana.reyes@clinic.test", role="admin",
                                password="tide pools at dawn")
    assert user.password_hash


def test_the_create_user_command_names_the_password_problem(runner, db):
    result = runner.invoke(args=["create-user", "--email", "a@clinic.test", "--role", "admin",
                                 "--password", "password1234"])
    assert result.exit_code != 0
    assert "password: is one of the most common passwords" in result.output
    assert db.scalar(select(User.id)) is None


def test_production_hashes_passwords_with_scrypt_and_refuses_the_tests_fast_method(
        database_url, db, make):
    """The suite's fast hash never reaches a clinic, and a hash from either still checks."""
    production = {"CONFIG_NAME": "production", "SQLALCHEMY_DATABASE_URI": database_url,
                  "SECRET_KEY": "not-the-real-one", "RATELIMIT_ONE_PROCESS": True}
    with pytest.raises(RuntimeError) as refused:
        create_app({**production, "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"})
    assert "PASSWORD_HASH_METHOD='pbkdf2:sha256:1000' is meant for tests only" in str(
        refused.value)
    made_in_tests = accounts.create_user(db, ACTOR, email="dana.reyes@clinic.test",
                                         role="admin", password=PASSWORD)
    db.commit()
    assert made_in_tests.password_hash.startswith("pbkdf2:sha256:1000$")
    app = create_app(production)
    try:
        with app.app_context():
            assert passwords.method() == "scrypt"
            made_in_production = accounts.create_user(
                _db.session, ACTOR, email="sam.ortiz@clinic.test", role="admin",
                password=PASSWORD)
            assert made_in_production.password_hash.startswith("scrypt:")
            assert passwords.matches(made_in_tests.password_hash, PASSWORD)
            assert not passwords.matches(made_in_production.password_hash, WRONG)
            _db.session.rollback()
            _db.engine.dispose()
    finally:
        passwords.use_method("pbkdf2:sha256:1000")


# --- cookies and headers ---------------------------------------------------------------------


def _session_cookie(response) -> str:
    [cookie] = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    return cookie


def test_the_session_cookie_is_httponly_lax_and_lasts_a_shift(app, client, user, now):
    form = {"csrf_token": csrf(client.get("/login").data), "email": user.email,
            "password": PASSWORD}
    cookie = _session_cookie(client.post("/login", data=form))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # development and tests serve plain http
    assert app.permanent_session_lifetime == timedelta(hours=10)
    assert "Expires=" in cookie


def test_production_marks_cookies_secure_and_sends_hsts(database_url):
    app = create_app({"CONFIG_NAME": "production", "SQLALCHEMY_DATABASE_URI": database_url,
                      "SECRET_KEY": "not-the-real-one", "RATELIMIT_ONE_PROCESS": True})
    assert app.config["SESSION_COOKIE_SECURE"] and app.config["REMEMBER_COOKIE_SECURE"]
    with app.test_client() as production:
        # Behind the proxy the request is https; the cookie and HSTS need that.
        answer = production.get("/login", base_url="https://clinic.example.org")
    with app.app_context():
        _db.engine.dispose()
    assert "Secure" in _session_cookie(answer)
    assert answer.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


def test_production_refuses_per_process_rate_limit_counts_unless_it_is_the_only_process(
        database_url):
    """With two web processes memory:// lets every limit through twice: refuse to start."""
    production = {"CONFIG_NAME": "production", "SQLALCHEMY_DATABASE_URI": database_url,
                  "SECRET_KEY": "not-the-real-one"}
    for storage in ({}, {"RATELIMIT_STORAGE_URI": "memory://"}):
        with pytest.raises(RuntimeError) as refused:
            create_app({**production, **storage})
        assert "RATELIMIT_STORAGE_URI=redis://" in str(refused.value)
        assert "RATELIMIT_ONE_PROCESS=true" in str(refused.value)
    for allowed in ({"RATELIMIT_ONE_PROCESS": True}, {"RATELIMIT_STORAGE_URI": REDIS_URL}):
        app = create_app({**production, **allowed})
        with app.app_context():
            _db.engine.dispose()
    # `make run` is one process and keeps its counts in memory.
    development = create_app({"CONFIG_NAME": "development",
                              "SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": "x"})
    assert development.config["RATELIMIT_STORAGE_URI"] == "memory://"
    with development.app_context():
        _db.engine.dispose()


def _post_token(port: int, email: str, password: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("POST", f"{API}/auth/token",
                           body=json.dumps({"email": email, "password": password}),
                           headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


class HeldRequest:
    """A sign-in sent in two halves: the sync worker that accepts it can do nothing else until
    the second half comes, so meanwhile every other request goes to the other worker."""

    def __init__(self, port: int, email: str, password: str):
        body = json.dumps({"email": email, "password": password}).encode()
        self.request = (f"POST {API}/auth/token HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                        "Content-Type: application/json\r\n"
                        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
                        ).encode() + body
        self.socket = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.socket.sendall(self.request[:16])

    def finish(self) -> int:
        self.socket.sendall(self.request[16:])
        answer = b""
        while chunk := self.socket.recv(65536):
            answer += chunk
        self.socket.close()
        return int(answer.split(b" ", 2)[1])


@pytest.mark.parametrize("shared", [True, False], ids=["redis", "memory-control"])
def test_two_gunicorn_workers_share_one_sign_in_count(db, make, database_url, tmp_path,
                                                      shared):
    """Ten failed sign-ins a minute means ten across the processes, not ten in each.

    The memory:// run is the control: it shows that the failures did reach both workers, so
    that per-process counts let the eleventh through (the defect this test guards against).
    """
    from bench.support import gunicorn

    if shared:
        server = redis_or_skip()
        limits = {"RATELIMIT_STORAGE_URI": REDIS_URL, "RATELIMIT_KEY_PREFIX": KEY_PREFIX}
    else:
        limits = {"RATELIMIT_STORAGE_URI": "memory://", "RATELIMIT_ONE_PROCESS": "true"}
    member = make.user("clinician", password=PASSWORD)
    db.commit()
    try:
        with gunicorn(database_url, str(tmp_path), workers=2, threads=1,
                      env={**limits, "RATELIMIT_SIGN_IN": "10 per minute"}) as (port, log, _):
            held = HeldRequest(port, "nobody-held@clinic.test", WRONG)
            # Unknown emails fail without locking anyone, so only the rate limit can refuse.
            first = [_post_token(port, f"nobody{n}@clinic.test", WRONG) for n in range(4)]
            from_the_held_worker = held.finish()
            rest = [_post_token(port, f"nobody{n}@clinic.test", WRONG) for n in range(4, 9)]
            eleventh = _post_token(port, member.email, PASSWORD)
        assert first + [from_the_held_worker] + rest == [401] * 10
        assert eleventh == (429 if shared else 200)
    finally:
        if shared:
            forget_our_counts(server)
            server.close()


@pytest.mark.parametrize("path", ["/login", "/api/v1/programs", "/api/v1/openapi.json",
                                  "/api/v1/docs", "/feeds/unknown.ics", "/no-such-page",
                                  "/static/app.css", "/healthz", "/favicon.ico",
                                  "/manifest.webmanifest"])
def test_every_response_carries_the_security_headers_but_no_hsts_outside_production(
        client, path):
    with client.get(path) as response:  # closes the static file
        headers = response.headers
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self';" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert "Strict-Transport-Security" not in headers


def test_the_api_docs_page_has_no_inline_script(client):
    """Swagger UI starts from a static file, so the CSP can forbid inline script."""
    html = client.get(f"{API}/docs").get_data(as_text=True)
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    assert scripts and all('src="' in attrs and not body.strip() for attrs, body in scripts)
    assert 'data-spec-url="/api/v1/openapi.json"' in html
