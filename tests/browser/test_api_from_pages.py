"""A page's own script may change things through /api/v1 with the sign-in cookie, but only with
the page's CSRF token (the browser adds the Origin itself); in real Chromium."""

from datetime import timedelta

from scheduler import clock
from scheduler.extensions import db as _db
from scheduler.models import User

UNLOCK = """async (path) => {
  const token = document.querySelector('meta[name="csrf-token"]').content;
  const send = async (headers) => (await fetch(path, {method: "POST", headers,
                                                      credentials: "same-origin"})).status;
  return {without: await send({}), with: await send({"X-CSRFToken": token})};
}"""


def test_a_page_script_write_works_with_the_csrf_header_and_not_without(page, login, make, db):
    locked = make.user("clinician")
    locked.failed_logins, locked.locked_until = 6, clock.now() + timedelta(hours=1)
    db.commit()
    login(page, "admin")
    statuses = page.evaluate(UNLOCK, f"/api/v1/users/{locked.id}/unlock")
    assert statuses == {"without": 403, "with": 200}
    _db.session.rollback()
    assert _db.session.get(User, locked.id).failed_logins == 0


def test_signing_out_ends_the_api_too(page, login):
    login(page, "coordinator")
    me = "async () => (await fetch('/api/v1/auth/me')).status"
    assert page.evaluate(me) == 200
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_load_state()
    assert page.evaluate(me) == 401
