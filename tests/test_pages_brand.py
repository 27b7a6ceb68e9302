"""What a client's phone and browser keep: the neutral name, the icons and the web app manifest.

A page's title stays in the browser's history and the home-screen icon sits on the phone for
anyone to see, so both say PUBLIC_NAME ("Appointments" by default) and nothing about what the
appointments are for (42 CFR Part 2).
"""

import re

import pytest

from scheduler import create_app
from tests.helpers import sign_in

# Words that would tell an onlooker what kind of program this is.
REVEALING = ("iop", "scheduler", "addiction", "treatment", "recovery", "rehab", "substance",
             "relapse", "therapy", "detox", "sober", "outpatient", "alcohol", "drug")


@pytest.fixture(autouse=True)
def _clinic_clock(now):
    """Pages run at the frozen clinic 'now' (Tue 2027-02-16 12:00 UTC)."""


def title_of(html: str) -> str:
    return re.search(r"<title>(.*?)</title>", html, re.S).group(1).strip()


def header_of(html: str) -> str:
    return re.search(r'<header class="topbar">.*?<a class="brand"[^>]*>(.*?)</a>', html,
                     re.S).group(1).strip()


def revealing_words(text: str) -> list[str]:
    return [word for word in REVEALING if re.search(rf"\b{word}\b", text, re.I)]


# --- the pages a client or a passer-by sees ----------------------------------------------------


@pytest.fixture
def people(make):
    program = make.program(name="Sunrise Addiction Recovery IOP")
    return {
        "client": make.user("client", client_id=make.client(program, name="Avery Stone").id),
        "clinician": make.user("clinician"),
        "coordinator": make.user("coordinator"),
    }


def csrf_failure(client):
    return client.post("/login", data={"email": "a@b.test", "password": "x"})


def wrong_password(client):
    form = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form).group(1)
    return client.post("/login", data={"csrf_token": token, "email": "nobody@example.test",
                                       "password": "wrong password"})


# (who, how to get the page, the status it answers). The kiosk is signed in by staff, but it is
# the clients who stand in front of it; the error pages are shown to anyone.
CLIENT_FACING = {
    "home, signed out": (None, lambda c: c.get("/"), 200),
    "sign-in page": (None, lambda c: c.get("/login"), 200),
    "sign-in page after a wrong password": (None, wrong_password, 401),
    "not found, signed out": (None, lambda c: c.get("/no-such-page"), 404),
    "form expired (CSRF), signed out": (None, csrf_failure, 400),
    "the client portal": ("client", lambda c: c.get("/me"), 200),
    "not found, as a client": ("client", lambda c: c.get("/no-such-page"), 404),
    "not allowed, as a client": ("client", lambda c: c.get("/week"), 403),
    "the front-desk kiosk": ("clinician", lambda c: c.get("/kiosk"), 200),
    # Staff pages carry the same name: the kiosk and the error pages show that who is signed in
    # does not say who is looking, and one name everywhere cannot be got wrong by a new page.
    "the week, as a coordinator": ("coordinator", lambda c: c.get("/week"), 200),
    "today, as a clinician": ("clinician", lambda c: c.get("/today"), 200),
}


def fetch(app, people, case: str) -> str:
    who, get, status = CLIENT_FACING[case]
    client = app.test_client()
    if who is not None:
        sign_in(client, people[who])
    response = get(client)
    assert response.status_code == status, case
    return response.get_data(as_text=True)


@pytest.mark.parametrize("case", CLIENT_FACING)
def test_each_page_a_client_sees_is_titled_with_the_neutral_name(app, people, case):
    html = fetch(app, people, case)
    title, header = title_of(html), header_of(html)
    assert title.endswith("· Appointments"), title
    assert header == "Appointments"
    assert revealing_words(title) == [] and revealing_words(header) == []


@pytest.mark.parametrize("case", ["home, signed out", "sign-in page", "not found, signed out",
                                  "form expired (CSRF), signed out"])
def test_the_pages_anyone_may_open_say_nothing_about_the_program(app, people, case):
    """Signed out, the whole page is public: not a word of it, nor a link to the API's
    documentation, which names the program's kind."""
    html = fetch(app, people, case)
    assert revealing_words(html) == []
    assert "/api/v1/docs" not in html


def test_a_clinic_chooses_its_own_public_name(app, people):
    app.config["PUBLIC_NAME"] = "Riverside Health"
    for case in ("home, signed out", "sign-in page", "the client portal"):
        html = fetch(app, people, case)
        assert title_of(html).endswith("· Riverside Health")
        assert header_of(html) == "Riverside Health"
        assert "Appointments" not in title_of(html)


def test_a_public_name_with_markup_is_shown_as_text(app, people):
    app.config["PUBLIC_NAME"] = '<script>alert("x")</script> & Co'
    html = fetch(app, people, "sign-in page")
    assert "<script>alert" not in html
    assert title_of(html).endswith("· &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Co")


@pytest.mark.parametrize("name", ["", "Appointments\nBcc: everyone@example.test", "Tab\there",
                                  "x" * 61])
def test_an_unusable_public_name_stops_the_app_at_start_up(database_url, name):
    """It goes into email headers and a phone's home screen: no line breaks, nothing empty,
    nothing a launcher would cut to nonsense."""
    with pytest.raises(RuntimeError, match="PUBLIC_NAME"):
        create_app({"CONFIG_NAME": "testing", "SQLALCHEMY_DATABASE_URI": database_url,
                    "PUBLIC_NAME": name})
