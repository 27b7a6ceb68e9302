"""Two-step sign-in: enrolling, codes at sign-in (API and pages), recovery codes, resets, the
roles that must use it. Codes are computed with pyotp from the secret at the frozen clock."""

import re
from datetime import timedelta
from urllib.parse import parse_qs, unquote, urlsplit

import pyotp
import pytest
from sqlalchemy import select

from config import ProductionConfig
from scheduler import clock, create_app
from scheduler.extensions import limiter
from scheduler.models import ApiToken, AuditEvent, User
from scheduler.models.mfa import MfaEnrolment, MfaRecoveryCode

API = "/api/v1"
PASSWORD = "correct horse battery"
WRONG = "incorrect horse battery"
STEP = timedelta(seconds=30)


@pytest.fixture
def user(make):
    return make.user("coordinator", password=PASSWORD)


def token(client, email, password=PASSWORD, otp=None):
    body = {"email": email, "password": password}
    if otp is not None:
        body["otp"] = otp
    return client.post(f"{API}/auth/token", json=body)


def events(db, action):
    db.rollback()
    return db.scalars(select(AuditEvent).where(AuditEvent.action == action)
                      .order_by(AuditEvent.id)).all()


def csrf(page: bytes) -> str:
    return re.search(rb'name="csrf_token"[^>]*value="([^"]+)"', page).group(1).decode()


def enrol(client, headers, now) -> tuple[str, list[str]]:
    """Enrol through the API; the secret and the recovery codes."""
    started = client.post(f"{API}/auth/mfa", headers=headers)
    assert started.status_code == 200, started.json
    secret = started.json["secret"]
    confirmed = client.post(f"{API}/auth/mfa/confirm", headers=headers,
                            json={"otp": pyotp.TOTP(secret).at(now)})
    assert confirmed.status_code == 200, confirmed.json
    return secret, confirmed.json["recovery_codes"]


@pytest.fixture
def enrolled(client, auth, user, now):
    """The coordinator, enrolled at now - 1 minute (so the code of now is still unused)."""
    with clock.frozen(now - timedelta(minutes=1)):
        secret, codes = enrol(client, auth.for_user(user), now - timedelta(minutes=1))
    return {"secret": secret, "codes": codes, "totp": pyotp.TOTP(secret)}


# --- enrolling -------------------------------------------------------------------------------


def test_enrolling_gives_a_secret_for_the_app_and_ten_single_use_recovery_codes(
        client, auth, user, db, now):
    headers = auth.for_user(user)
    started = client.post(f"{API}/auth/mfa", headers=headers)
    assert started.status_code == 200
    uri = urlsplit(started.json["otpauth_uri"])
    query = parse_qs(uri.query)
    assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
    assert query["secret"] == [started.json["secret"]]
    # The clinic's public name, never the program's nature; the account is the email.
    assert query["issuer"] == ["Appointments"]
    assert unquote(uri.path) == f"/Appointments:{user.email}"
    # Pending: the password alone still signs in.
    assert token(client, user.email).status_code == 200
    code = pyotp.TOTP(started.json["secret"]).at(now)
    confirmed = client.post(f"{API}/auth/mfa/confirm", headers=headers, json={"otp": code})
    assert confirmed.status_code == 200
    codes = confirmed.json["recovery_codes"]
    assert len(codes) == len(set(codes)) == 10
    assert [e.after for e in events(db, "mfa_enrol")] == [{"pending": True}]
    assert events(db, "mfa_confirm")[0].after == {"enrolled": True, "recovery_codes": 10}


def test_the_database_holds_neither_the_secret_nor_the_recovery_codes(
        client, db, user, enrolled):
    """A copy of the database alone yields no codes: the secret is derived under the app's key."""
    row = db.scalar(select(MfaEnrolment).where(MfaEnrolment.user_id == user.id))
    assert enrolled["secret"] not in row.seed
    hashes = db.scalars(select(MfaRecoveryCode.code_hash)).all()
    assert len(hashes) == 10
    plain = {c.replace("-", "") for c in enrolled["codes"]}
    assert not plain & set(hashes)
    assert not any(p in h for p in plain for h in hashes)


def test_a_wrong_first_code_is_refused_naming_the_field_and_audited(client, auth, user, db):
    headers = auth.for_user(user)
    secret = client.post(f"{API}/auth/mfa", headers=headers).json["secret"]
    right = pyotp.TOTP(secret).now()
    wrong = f"{(int(right) + 1) % 1000000:06d}"
    answer = client.post(f"{API}/auth/mfa/confirm", headers=headers, json={"otp": wrong})
    assert answer.status_code == 422
    assert "otp" in answer.json["errors"]["json"]
    assert len(events(db, "mfa_confirm_failed")) == 1
    # Still pending: the password alone signs in.
    assert token(client, user.email).status_code == 200


def test_enrolling_again_while_it_is_on_is_refused(client, auth, user, enrolled):
    answer = client.post(f"{API}/auth/mfa", headers=auth.for_user(user))
    assert answer.status_code == 409
    assert "already on" in answer.json["message"]


def test_confirming_without_starting_is_refused(client, auth, user):
    answer = client.post(f"{API}/auth/mfa/confirm", headers=auth.for_user(user),
                         json={"otp": "123456"})
    assert answer.status_code == 409


@pytest.mark.parametrize("otp", ["12345", "1234567", "abcdef", "12\x0034", "x" * 65, 123456,
                                 None, ["123456"], "１２３４５６"])
def test_hostile_codes_are_refused_naming_the_field(client, auth, user, enrolled, otp, db):
    headers = auth.for_user(user)
    for answer in (client.post(f"{API}/auth/mfa/confirm", headers=headers, json={"otp": otp}),
                   client.post(f"{API}/auth/token", json={
                       "email": user.email, "password": PASSWORD, "otp": otp})):
        assert answer.status_code in (400, 409, 422), answer.json
        if answer.status_code != 409:
            assert "otp" in str(answer.json), answer.json
    # Malformed codes are no guesses: nothing counted.
    db.rollback()
    assert db.get(User, user.id).failed_logins == 0


# --- signing in through the API --------------------------------------------------------------


def test_without_a_code_the_right_password_answers_mfa_required_and_nothing_else_differs(
        client, user, enrolled):
    needed = token(client, user.email)
    assert needed.status_code == 401
    assert needed.json["mfa_required"] is True
    assert "token" not in needed.json
    wrong = token(client, user.email, WRONG)
    unknown = token(client, "nobody@clinic.test", WRONG)
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json == unknown.json
    assert "mfa_required" not in wrong.json
    # A wrong password with a right code is still just a wrong password.
    assert token(client, user.email, WRONG, enrolled["totp"].now()).json == wrong.json


def test_the_right_code_signs_in_once_and_the_same_code_again_is_a_replay(
        client, db, user, enrolled, now):
    code = enrolled["totp"].at(now)
    first = token(client, user.email, otp=code)
    assert first.status_code == 200 and first.json["token"]
    replay = token(client, user.email, otp=code)
    assert replay.status_code == 401
    assert "mfa_required" not in replay.json
    assert events(db, "mfa_code_failed")[-1].after["why"] == "replayed"
    # The next step's code works, half a minute later or already now (a phone running ahead).
    assert token(client, user.email, otp=enrolled["totp"].at(now + STEP)).status_code == 200
    with clock.frozen(now + 2 * STEP):
        assert token(client, user.email,
                     otp=enrolled["totp"].at(now + 2 * STEP)).status_code == 200


def test_a_code_from_long_ago_or_far_ahead_is_refused(client, user, enrolled, now):
    for when in (now - 3 * STEP, now + 3 * STEP):
        assert token(client, user.email, otp=enrolled["totp"].at(when)).status_code == 401


def test_wrong_codes_count_towards_the_lock_like_wrong_passwords(client, db, user, enrolled,
                                                                 now):
    right = enrolled["totp"].at(now)
    wrong = f"{(int(right) + 1) % 1000000:06d}"
    # Four wrong passwords, then the right password without a code: the count is not cleared,
    # or knowing the password would buy endless guesses at the code.
    for _ in range(4):
        assert token(client, user.email, WRONG).status_code == 401
        limiter.reset()
    assert token(client, user.email).json["mfa_required"] is True
    assert token(client, user.email, otp=wrong).status_code == 401
    db.rollback()
    locked_user = db.get(User, user.id)
    assert locked_user.locked_until == now + timedelta(minutes=15)
    # Locked: the right password and the right code are refused too, with the same answer.
    limiter.reset()
    answer = token(client, user.email, otp=right)
    assert answer.status_code == 401
    assert "mfa_required" not in answer.json
    failed = events(db, "mfa_code_failed")
    assert failed[0].after["why"] == "wrong"


def test_a_right_code_clears_the_count(client, db, user, enrolled, now):
    right = enrolled["totp"].at(now)
    wrong = f"{(int(right) + 1) % 1000000:06d}"
    for _ in range(3):
        assert token(client, user.email, otp=wrong).status_code == 401
    assert token(client, user.email, otp=right).status_code == 200
    db.rollback()
    assert db.get(User, user.id).failed_logins == 0


def test_a_recovery_code_works_once_in_place_of_the_code_and_is_audited(
        client, db, user, enrolled):
    code = enrolled["codes"][0]
    assert token(client, user.email, otp=code).status_code == 200
    assert token(client, user.email, otp=code).status_code == 401
    # Typed without its dashes or in capitals, another one works too.
    other = enrolled["codes"][1].replace("-", "").upper()
    assert token(client, user.email, otp=other).status_code == 200
    used = events(db, "mfa_recovery_code_used")
    assert [e.after["recovery_codes_left"] for e in used] == [9, 8]
    assert events(db, "mfa_code_failed")[-1].after["why"] == "wrong recovery code"


def test_asking_for_the_code_does_not_use_up_the_sign_in_rate_limit(client, user, enrolled):
    """A client sends the password first to learn a code is needed; that is no guess."""
    for _ in range(12):
        assert token(client, user.email).status_code == 401


# --- turning it off and resets ---------------------------------------------------------------


def test_an_admin_reset_clears_it_ends_the_accounts_sign_ins_and_is_audited(
        client, db, user, enrolled, auth, make, now):
    old = auth.for_user(user)
    admin = make.user("admin")
    answer = client.delete(f"{API}/users/{user.id}/mfa", headers=auth.for_user(admin))
    assert answer.status_code == 204
    assert client.get(f"{API}/auth/me", headers=old).status_code == 401
    db.rollback()
    assert db.scalars(select(ApiToken).where(ApiToken.user_id == user.id,
                                             ApiToken.revoked_at.is_(None))).all() == []
    [reset] = events(db, "mfa_reset")
    assert (reset.entity_id, reset.actor_user_id) == (user.id, admin.id)
    assert reset.before == {"enrolled": True}
    assert db.scalar(select(MfaRecoveryCode.id)) is None
    # The password alone signs in again (the role does not require it here).
    assert token(client, user.email).status_code == 200


def test_a_reset_of_an_unknown_account_is_404(client, auth):
    answer = client.delete(f"{API}/users/999999/mfa", headers=auth("admin"))
    assert answer.status_code == 404


def test_the_account_holder_turns_it_off_with_a_current_code(client, db, user, enrolled, auth,
                                                             now):
    headers = auth.for_user(user)
    right = enrolled["totp"].at(now)
    wrong = f"{(int(right) + 1) % 1000000:06d}"
    refused = client.delete(f"{API}/auth/mfa", headers=headers, json={"otp": wrong})
    assert refused.status_code == 422 and "otp" in refused.json["errors"]["json"]
    assert client.delete(f"{API}/auth/mfa", headers=headers, json={"otp": right}).status_code \
        == 204
    assert token(client, user.email).status_code == 200
    assert len(events(db, "mfa_off")) == 1


# --- roles that must use it ------------------------------------------------------------------


@pytest.fixture
def required(app):
    app.config["MFA_REQUIRED_ROLES"] = "admin,coordinator"


def test_an_unenrolled_account_whose_role_requires_it_gets_no_token(client, make, required):
    coordinator = make.user("coordinator", password=PASSWORD)
    clinician = make.user("clinician", password=PASSWORD)
    refused = token(client, coordinator.email)
    assert refused.status_code == 403
    assert refused.json["mfa_enrolment_required"] is True
    assert "two-step" in refused.json["message"]
    assert token(client, clinician.email).status_code == 200
    # A wrong password still looks like any wrong password.
    assert "mfa_enrolment_required" not in token(client, coordinator.email, WRONG).json


def test_an_unenrolled_account_whose_role_requires_it_is_held_on_the_set_up_page(
        client, make, required, db, now):
    coordinator = make.user("coordinator", password=PASSWORD)
    form = {"csrf_token": csrf(client.get("/login").data), "email": coordinator.email,
            "password": PASSWORD}
    signed = client.post("/login", data=form)
    assert signed.status_code == 302
    # Every page sends them to the set-up page; the API refuses the session.
    week = client.get("/week")
    assert week.status_code == 302 and urlsplit(week.location).path == "/account/mfa"
    refused = client.get(f"{API}/programs")
    assert refused.status_code == 403 and refused.json["mfa_enrolment_required"] is True
    page = client.get("/account/mfa")
    assert b"must use two-step sign-in" in page.data
    assert client.post("/account/mfa/start",
                       data={"csrf_token": csrf(page.data)}).status_code == 302
    page = client.get("/account/mfa")
    assert b"<svg" in page.data
    secret = re.search(rb'<code class="secret">([A-Z2-7]+)</code>', page.data).group(1).decode()
    done = client.post("/account/mfa", data={"csrf_token": csrf(page.data),
                                             "otp": pyotp.TOTP(secret).at(now)})
    assert done.status_code == 200
    assert len(re.findall(rb"<li><code>[a-z2-9-]{14}</code></li>", done.data)) == 10
    assert client.get("/week").status_code == 200
    # Their role requires it: they cannot turn it off themselves.
    off = client.post("/account/mfa/off", data={"csrf_token": csrf(done.data),
                                                "otp": pyotp.TOTP(secret).at(now + STEP)})
    assert off.status_code == 403


def test_a_role_that_requires_it_cannot_turn_it_off_through_the_api(client, auth, user, enrolled,
                                                                    app, now):
    app.config["MFA_REQUIRED_ROLES"] = "coordinator"
    answer = client.delete(f"{API}/auth/mfa", headers=auth.for_user(user),
                           json={"otp": enrolled["totp"].at(now)})
    assert answer.status_code == 403
    assert "admin can reset" in answer.json["message"]


def test_production_requires_it_of_admins_and_coordinators_and_others_do_not():
    assert ProductionConfig.MFA_REQUIRED_ROLES == "admin,coordinator"


def test_an_unknown_role_in_the_setting_stops_the_app_from_starting(database_url):
    with pytest.raises(RuntimeError, match="coordinators"):
        create_app({"CONFIG_NAME": "testing", "SQLALCHEMY_DATABASE_URI": database_url,
                    "MFA_REQUIRED_ROLES": "admin,coordinators"})


# --- the two-step page sign-in ---------------------------------------------------------------


def _password_step(client, user, next_path=None):
    form = {"csrf_token": csrf(client.get("/login").data), "email": user.email,
            "password": PASSWORD}
    return client.post("/login" + (f"?next={next_path}" if next_path else ""), data=form)


def test_the_page_asks_for_the_code_on_a_second_step(client, user, enrolled, now):
    first = _password_step(client, user, "/clients")
    assert first.status_code == 302 and urlsplit(first.location).path == "/login/code"
    # Half signed in is not signed in.
    assert urlsplit(client.get("/week").location).path == "/login"
    page = client.get("/login/code")
    assert page.status_code == 200 and b"authenticator app" in page.data
    wrong = client.post("/login/code", data={"csrf_token": csrf(page.data), "otp": "000000"
                                             if enrolled["totp"].at(now) != "000000"
                                             else "111111"})
    assert wrong.status_code == 401
    done = client.post("/login/code", data={"csrf_token": csrf(page.data),
                                            "otp": enrolled["totp"].at(now)})
    assert done.status_code == 302 and done.location.endswith("/clients")
    assert client.get("/week").status_code == 200


def test_the_page_takes_a_recovery_code(client, user, enrolled):
    _password_step(client, user)
    page = client.get("/login/code")
    done = client.post("/login/code", data={"csrf_token": csrf(page.data),
                                            "otp": enrolled["codes"][3]})
    assert done.status_code == 302
    assert client.get("/week").status_code == 200


def test_the_code_step_waits_only_a_few_minutes(client, user, enrolled, now):
    _password_step(client, user)
    page = client.get("/login/code")
    later = now + timedelta(minutes=5)
    with clock.frozen(later):
        answer = client.post("/login/code", data={"csrf_token": csrf(page.data),
                                                  "otp": enrolled["totp"].at(later)})
        assert answer.status_code == 302 and urlsplit(answer.location).path == "/login"
        assert urlsplit(client.get("/week").location).path == "/login"


def test_signing_out_during_the_code_step_ends_it(client, user, enrolled, now):
    _password_step(client, user)
    page = client.get("/login/code")
    assert client.post("/logout", data={"csrf_token": csrf(page.data)}).status_code == 302
    answer = client.post("/login/code", data={"csrf_token": csrf(client.get("/login").data),
                                              "otp": enrolled["totp"].at(now)})
    assert answer.status_code == 302 and urlsplit(answer.location).path == "/login"
    assert urlsplit(client.get("/week").location).path == "/login"


def test_the_code_step_without_a_password_step_goes_back_to_the_login(client):
    answer = client.get("/login/code")
    assert answer.status_code == 302 and urlsplit(answer.location).path == "/login"


def test_hostile_codes_on_the_page_are_refused_naming_the_field(client, user, enrolled):
    _password_step(client, user)
    page = client.get("/login/code")
    for otp in ("abc", "12\x0034", "x" * 65):
        answer = client.post("/login/code", data={"csrf_token": csrf(page.data), "otp": otp})
        assert 400 <= answer.status_code < 500 and answer.status_code != 401
        assert b"field-error" in answer.data
