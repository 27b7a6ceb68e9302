"""Signing in and out, and what each role may open."""

import re

from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD


def test_a_wrong_password_shows_an_error_and_keeps_the_user_out(page, make):
    user = make.user("coordinator", password=PASSWORD)
    page.goto("/login")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Email or password is wrong.")
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)


def test_signing_in_lands_on_the_role_start_page_and_signing_out_ends_it(page, login):
    login(page, "clinician")
    expect(page).to_have_url(re.compile(r"/today$"))
    main_nav = page.get_by_role("navigation", name="Main")
    expect(main_nav.get_by_role("link", name="Today")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    page.goto("/today")
    expect(page).to_have_url(re.compile(r"/login\?next=/today$"))


def test_a_client_opening_a_coordinator_page_gets_403(page, login):
    login(page, "client")
    response = page.goto("/week")
    assert response.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("You may not open this page")
    # A client's navigation offers none of the coordinator's pages.
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Week")).to_have_count(0)


def test_the_login_form_refuses_a_post_without_its_csrf_token(client, make):
    user = make.user("coordinator", password=PASSWORD)
    answer = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert answer.status_code == 400
    assert b"Sign out" not in answer.data
