"""Two-step sign-in in Chromium: held on the set-up page, scanning, then the code step."""

import re
from datetime import timedelta

import pyotp
from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD


def test_a_coordinator_enrols_at_sign_in_then_signs_in_with_the_code(page, login, app, now):
    app.config["MFA_REQUIRED_ROLES"] = "admin,coordinator"
    user = login(page, "coordinator")
    # Held on the set-up page: every other page sends them back.
    expect(page).to_have_url(re.compile(r"/account/mfa$"))
    page.goto("/week")
    expect(page).to_have_url(re.compile(r"/account/mfa$"))
    page.get_by_role("button", name="Set up two-step sign-in").click()
    expect(page.get_by_role("img", name="QR code for your authenticator app")).to_be_visible()
    totp = pyotp.TOTP(page.locator("code.secret").inner_text())
    page.get_by_label("Code", exact=True).fill(totp.at(now))
    page.get_by_role("button", name="Turn on two-step sign-in").click()
    expect(page.locator(".recovery-codes li")).to_have_count(10)
    page.goto("/week")
    expect(page).to_have_url(re.compile(r"/week$"))
    page.get_by_role("button", name="Sign out").click()

    # The password alone is half a sign-in: the code page comes next.
    page.goto("/login?next=/clients")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/login/code$"))
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)
    # The code used to enrol is spent; a wrong one is refused and the page asks again.
    page.get_by_label("Code", exact=True).fill(totp.at(now))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("not right")
    page.get_by_label("Code", exact=True).fill(totp.at(now + timedelta(seconds=30)))
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/clients$"))
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
