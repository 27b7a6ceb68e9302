"""Sign-ins tracked on the server: page sessions end at sign-out, when idle, or when ended by
their owner or an admin; bearer tokens are revocable; all of it listed and audited."""

import re
from datetime import timedelta

from sqlalchemy import select

from scheduler import clock
from scheduler.extensions import db as _db
from scheduler.models import ApiToken, AuditEvent, LoginSession
from scheduler.services import logins
from tests.helpers import sign_in

API = "/api/v1"
PASSWORD = "correct horse battery staple"
BROWSER = {"User-Agent": "Firefox/140 (clinic desk)"}


def log_in(client, user) -> None:
    """Through the login form, as a person does."""
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    answer = client.post("/login", data={"email": user.email, "password": PASSWORD,
                                         "csrf_token": token}, headers=BROWSER)
    assert answer.status_code == 302, answer.get_data(as_text=True)


def page_token(client) -> str:
    page = client.get("/week").get_data(as_text=True)
    return re.search(r'<meta name="csrf-token" content="([^"]+)"', page).group(1)


def audit_actions(entity_type: str) -> list[tuple]:
    _db.session.rollback()
    return [(e.action, e.actor_user_id, (e.after or {}).get("user_id"),
             (e.after or {}).get("address"))
            for e in _db.session.scalars(select(AuditEvent).where(
                AuditEvent.entity_type == entity_type).order_by(AuditEvent.id))]


def move_clock(minutes: float):
    return clock.frozen(clock.now() + timedelta(minutes=minutes))


def test_logging_in_makes_a_tracked_session_and_logout_ends_it_at_once(app, client, make):
    user = make.user("coordinator", password=PASSWORD)
    log_in(client, user)
    row = _db.session.scalar(select(LoginSession).where(LoginSession.user_id == user.id))
    assert row.ended_at is None and row.user_agent == BROWSER["User-Agent"]
    assert row.ip_address == "127.0.0.1"
    assert client.get(f"{API}/auth/me").get_json()["id"] == user.id
    # The same cookie, kept by someone who copied it before sign-out.
    stolen = app.test_client()
    with client.session_transaction() as kept:
        copied = dict(kept)
    with stolen.session_transaction() as session:
        session.update(copied)
    answer = client.post("/logout", data={"csrf_token": page_token(client)})
    assert answer.status_code == 302
    assert stolen.get(f"{API}/auth/me").status_code == 401
    assert stolen.get("/week").headers["Location"].startswith("/login")
    assert [a[0] for a in audit_actions("login_session")] == ["sign_in", "sign_out"]
    assert audit_actions("login_session")[1][1:] == (user.id, user.id, "127.0.0.1")


def test_the_key_is_stored_only_hashed(client, make):
    user = make.user("coordinator", password=PASSWORD)
    log_in(client, user)
    with client.session_transaction() as session:
        key = session[logins.COOKIE_KEY]
    stored = _db.session.scalar(select(LoginSession.key_hash))
    assert key not in stored and len(stored) == 64


def test_a_cookie_without_a_live_sign_in_opens_nothing(client, make):
    """The old kind of cookie (a user id alone) or a made-up key: signed, but no sign-in."""
    user = make.user("admin")
    with client.session_transaction() as session:
        session["_user_id"] = str(user.id)
        session["_fresh"] = True
    assert client.get(f"{API}/auth/me").status_code == 401
    with client.session_transaction() as session:
        session[logins.COOKIE_KEY] = "made-up"
    assert client.get("/week").status_code == 302


def test_a_staff_session_ends_after_the_idle_minutes(client, make):
    user = make.user("coordinator", password=PASSWORD)
    log_in(client, user)
    with move_clock(29):
        assert client.get(f"{API}/auth/me").status_code == 200
        with move_clock(29):  # 58 minutes after sign-in, but only 29 idle
            assert client.get("/week").status_code == 200
            with move_clock(31):
                assert client.get(f"{API}/auth/me").status_code == 401
                assert client.get("/week").headers["Location"].startswith("/login")
            # Ended for good: going back in time does not revive it.
            assert client.get(f"{API}/auth/me").status_code == 401
    assert "end_idle" in [a[0] for a in audit_actions("login_session")]


def test_the_idle_minutes_are_configured(app, client, make):
    app.config["SESSION_IDLE_MINUTES"] = 5  # the app fixture puts it back
    log_in(client, make.user("clinician", password=PASSWORD))
    with move_clock(6):
        assert client.get(f"{API}/auth/me").status_code == 401


def test_last_seen_moves_at_most_once_a_minute(client, make):
    user = make.user("coordinator", password=PASSWORD)
    log_in(client, user)
    start = _db.session.scalar(select(LoginSession.last_seen_at))
    with move_clock(0.5):
        client.get(f"{API}/auth/me")
        _db.session.rollback()
        assert _db.session.scalar(select(LoginSession.last_seen_at)) == start
    with move_clock(2):
        client.get(f"{API}/auth/me")
        _db.session.rollback()
        assert _db.session.scalar(select(LoginSession.last_seen_at)) == start + timedelta(
            minutes=2)


def test_a_client_session_is_not_ended_for_idling(client, make):
    log_in(client, make.user("client", password=PASSWORD))
    with move_clock(120):
        assert client.get(f"{API}/auth/me").status_code == 200


def test_delete_token_revokes_the_token_it_is_called_with(client, make):
    user = make.user("clinician", password=PASSWORD)
    answer = client.post(f"{API}/auth/token", json={"email": user.email, "password": PASSWORD},
                         headers=BROWSER)
    bearer = {"Authorization": f"Bearer {answer.get_json()['token']}"}
    other = client.post(f"{API}/auth/token", json={"email": user.email, "password": PASSWORD})
    keep = {"Authorization": f"Bearer {other.get_json()['token']}"}
    assert client.get(f"{API}/auth/me", headers=bearer).status_code == 200
    assert client.delete(f"{API}/auth/token", headers=bearer).status_code == 204
    assert client.get(f"{API}/auth/me", headers=bearer).status_code == 401
    assert client.get(f"{API}/auth/me", headers=keep).status_code == 200
    actions = audit_actions("api_token")
    assert [a[0] for a in actions] == ["sign_in", "sign_in", "revoke"]
    assert actions[2][1:] == (user.id, user.id, "127.0.0.1")


def test_delete_token_with_a_page_sign_in_is_refused(client, make):
    log_in(client, make.user("coordinator", password=PASSWORD))
    answer = client.delete(f"{API}/auth/token", headers={
        "X-CSRFToken": page_token(client), "Origin": "http://localhost"})
    assert answer.status_code == 400 and "bearer token" in answer.get_json()["message"]


def test_tokens_record_their_last_use(client, auth, make):
    user = make.user("clinician")
    headers = auth.for_user(user)
    client.get(f"{API}/auth/me", headers={**headers, **BROWSER})
    _db.session.rollback()
    row = _db.session.scalar(select(ApiToken))
    assert row.last_used_at == clock.now() and row.user_agent == BROWSER["User-Agent"]
    assert row.ip_address == "127.0.0.1"


def test_the_list_shows_live_sessions_and_tokens_and_marks_the_current(client, auth, make):
    user = make.user("coordinator", password=PASSWORD)
    log_in(client, user)
    headers = auth.for_user(user)
    mine = client.get(f"{API}/auth/sessions").get_json()["items"]
    assert sorted(i["kind"] for i in mine) == ["session", "token"]
    current = [i for i in mine if i["current"]]
    assert len(current) == 1 and current[0]["kind"] == "session"
    assert current[0]["user_agent"] == BROWSER["User-Agent"]
    assert current[0]["ip_address"] == "127.0.0.1"
    by_token = client.get(f"{API}/auth/sessions", headers=headers).get_json()["items"]
    assert [i["kind"] for i in by_token if i["current"]] == ["token"]


def test_ending_ones_own_session_by_id(app, client, auth, make):
    user = make.user("coordinator", password=PASSWORD)
    log_in(client, user)
    headers = auth.for_user(user)
    session_id = next(i["id"] for i in client.get(f"{API}/auth/sessions").get_json()["items"]
                      if i["kind"] == "session")
    assert client.delete(f"{API}/auth/sessions/{session_id}", headers=headers).status_code == 204
    assert client.get(f"{API}/auth/me").status_code == 401
    assert client.delete(f"{API}/auth/sessions/{session_id}", headers=headers).status_code == 404
    items = client.get(f"{API}/auth/sessions", headers=headers).get_json()["items"]
    assert [i["kind"] for i in items] == ["token"]
    assert "end_session" in [a[0] for a in audit_actions("login_session")]


def test_another_persons_sign_in_is_404_and_stays_live(client, auth, make):
    owner = make.user("coordinator")
    theirs = auth.for_user(owner)
    token_id = _db.session.scalar(select(ApiToken.id).where(ApiToken.user_id == owner.id))
    sign_in(client.application.test_client(), owner)
    session_id = _db.session.scalar(select(LoginSession.id).where(LoginSession.user_id == owner.id))
    nosy = auth("coordinator")
    for target in (f"tokens/{token_id}", "tokens/999999", f"sessions/{session_id}",
                   "sessions/999999", "sessions/nonsense"):
        answer = client.delete(f"{API}/auth/{target}", headers=nosy)
        assert answer.status_code == 404, target
        assert str(token_id) not in answer.get_json()["message"]
    assert client.get(f"{API}/auth/me", headers=theirs).status_code == 200
    answer = client.get(f"{API}/auth/sessions", query_string={"user_id": owner.id},
                        headers=nosy)
    assert answer.status_code == 403


def test_an_admin_lists_and_ends_anyones_sign_ins(client, auth, make):
    owner = make.user("clinician", password=PASSWORD)
    log_in(client, owner)
    admin = make.user("admin")
    as_admin = auth.for_user(admin)
    items = client.get(f"{API}/auth/sessions", query_string={"user_id": owner.id},
                       headers=as_admin).get_json()["items"]
    assert [(i["kind"], i["user_id"], i["current"]) for i in items] == [
        ("session", owner.id, False)]
    answer = client.delete(f"{API}/auth/sessions/{items[0]['id']}", headers=as_admin)
    assert answer.status_code == 204
    assert client.get(f"{API}/auth/me").status_code == 401
    other = auth.for_user(owner)
    token_id = _db.session.scalar(select(ApiToken.id).where(ApiToken.user_id == owner.id))
    assert client.delete(f"{API}/auth/tokens/{token_id}", headers=as_admin).status_code == 204
    assert client.get(f"{API}/auth/me", headers=other).status_code == 401
    ended = [a for a in audit_actions("login_session") if a[0] == "end_session"]
    assert ended == [("end_session", admin.id, owner.id, "127.0.0.1")]
    missing = client.get(f"{API}/auth/sessions", query_string={"user_id": 999999},
                         headers=as_admin)
    assert missing.status_code == 404


def test_end_all_ends_page_sessions_and_tokens_but_the_kept_ones(client, auth, make, db):
    user = make.user("coordinator", password=PASSWORD)
    log_in(client, user)
    other = make.user("coordinator", password=PASSWORD)
    headers = auth.for_user(user)
    kept = db.scalar(select(ApiToken.id).where(ApiToken.user_id == user.id))
    second = client.application.test_client()
    sign_in(second, user)
    sign_in(client.application.test_client(), other)
    ended = logins.end_all(db, user, clock.now(), keep_token_id=kept)
    db.commit()
    assert ended == 2
    assert client.get(f"{API}/auth/me").status_code == 401
    assert second.get(f"{API}/auth/me").status_code == 401
    assert client.get(f"{API}/auth/me", headers=headers).status_code == 200
    live_other = db.scalar(select(LoginSession).where(LoginSession.user_id == other.id))
    assert live_other.ended_at is None


def test_a_deactivated_user_is_signed_out_everywhere(client, make, db):
    user = make.user("clinician", password=PASSWORD)
    log_in(client, user)
    user.is_active = False
    db.commit()
    assert client.get(f"{API}/auth/me").status_code == 401


def test_me_names_the_user_id(client, auth, make):
    user = make.user("clinician")
    assert client.get(f"{API}/auth/me", headers=auth.for_user(user)).get_json()["id"] == user.id


def test_signing_in_again_in_the_same_browser_ends_the_earlier_sign_in(client, make):
    first = make.user("coordinator", password=PASSWORD)
    log_in(client, first)
    second = make.user("clinician", password=PASSWORD)
    answer = client.post("/login", data={"email": second.email, "password": PASSWORD,
                                         "csrf_token": page_token(client)})
    assert answer.status_code == 302
    _db.session.rollback()
    earlier = _db.session.scalar(select(LoginSession).where(LoginSession.user_id == first.id))
    assert earlier.ended_at is not None
    assert client.get(f"{API}/auth/me").get_json()["role"] == "clinician"
