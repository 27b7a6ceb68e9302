"""In Chromium: a forgotten password reset from /login, and an invitation accepted."""

import re

from playwright.sync_api import expect

from scheduler import clock
from scheduler.services import account_links
from tests import mailbox
from tests.browser.conftest import PASSWORD
from tests.mailbox import link_in

inbox = mailbox.inbox  # a real SMTP server, as a fixture
NEW = "a brand new long passphrase"


def test_forgot_password_from_login_to_a_new_password(page, app, live_server, make, inbox):
    app.config["PUBLIC_BASE_URL"] = "https://clinic.example.org"
    user = make.user("clinician", password=PASSWORD)
    page.goto("/login")
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Email").fill(user.email)
    page.get_by_role("button", name="Send the link").click()
    expect(page.get_by_role("status")).to_contain_text("on its way")
    [message] = inbox.wait_for(user.email)
    page.goto(f"/reset/{link_in(message, 'reset')}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Choose a new password")
    page.get_by_label("New password", exact=True).fill(NEW)
    page.get_by_label("New password again").fill(NEW)
    page.get_by_role("button", name="Set password").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.get_by_role("status")).to_have_text("Your password is set. Sign in with it.")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(NEW)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/today$"))


def test_an_invited_client_sets_a_password_and_reaches_the_portal(page, db, make):
    casey = make.client(email="casey@example.test")
    invited = make.user("client", client_id=casey.id)
    token, _ = account_links.issue_link(db, invited, "invite", clock.now())
    db.commit()
    page.goto(f"/invite/{token}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Choose your password")
    page.get_by_label("New password", exact=True).fill("short")
    page.get_by_label("New password again").fill("short")
    page.get_by_role("button", name="Set password").click()
    expect(page.get_by_text("must be at least 12 characters.")).to_be_visible()
    page.get_by_label("New password", exact=True).fill(NEW)
    page.get_by_label("New password again").fill(NEW)
    page.get_by_role("button", name="Set password").click()
    page.get_by_label("Email").fill(invited.email)
    page.get_by_label("Password").fill(NEW)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/me$"))
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Password").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Change your password")
    page.goto(f"/invite/{token}")
    expect(page.get_by_role("heading", level=1)).to_have_text("This link no longer works")
