"""What a client's phone and browser keep: the neutral name, the icons and the web app manifest.

A page's title stays in the browser's history and the home-screen icon sits on the phone for
anyone to see, so both say PUBLIC_NAME ("Appointments" by default) and nothing about what the
appointments are for (42 CFR Part 2).
"""

import json
import os
import re
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from scheduler import create_app
from tests.helpers import sign_in

ROOT = Path(__file__).resolve().parents[1]
# Words that would tell an onlooker what kind of program this is.
REVEALING = ("iop", "scheduler", "addiction", "treatment", "recovery", "rehab", "substance",
             "relapse", "therapy", "detox", "sober", "outpatient", "alcohol", "drug")
ICON_LINKS = {"icon", "apple-touch-icon", "manifest"}


def title_of(html: str) -> str:
    return re.search(r"<title>(.*?)</title>", html, re.S).group(1).strip()


def header_of(html: str) -> str:
    # The kiosk's brand is no link: it must not lead a client into the staff pages.
    return re.search(r'<header class="topbar[^"]*">.*?<(a|span) class="brand"[^>]*>(.*?)</\1>',
                     html, re.S).group(2).strip()


def revealing_words(text: str) -> list[str]:
    return [word for word in REVEALING if re.search(rf"\b{word}\b", text, re.I)]


def css_colour(selector: str, prop: str) -> str:
    """A colour the stylesheet gives, variables resolved, e.g. the top bar's background."""
    css = (ROOT / "scheduler/static/app.css").read_text()
    variables = dict(re.findall(r"(--[\w-]+):\s*(#[0-9a-fA-F]{3,6})", css))
    block = re.search(rf"(?m)^{re.escape(selector)}\s*{{([^}}]*)}}", css).group(1)
    value = re.search(rf"(?:^|;)\s*{prop}:\s*([^;]+)", block).group(1).strip()
    variable = re.fullmatch(r"var\((--[\w-]+)\)", value)
    return (variables[variable.group(1)] if variable else value).lower()


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


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
    "the portal's offline copy": ("client", lambda c: c.get("/me/offline"), 200),
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


def test_the_public_name_comes_from_the_environment(tmp_path):
    """As an operator sets it: PUBLIC_NAME in the environment of a fresh process."""
    script = ("from scheduler import create_app\n"
              "app = create_app({'CONFIG_NAME': 'testing', "
              f"'SQLALCHEMY_DATABASE_URI': 'sqlite:///{tmp_path / 'env.sqlite'}'}})\n"
              "print(app.test_client().get('/manifest.webmanifest').json['name'])\n"
              "print(app.test_client().get('/login').get_data(as_text=True))\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            cwd=ROOT, timeout=60, env={**os.environ, "PUBLIC_NAME": "Cedar Desk"})
    assert result.returncode == 0, result.stderr
    name, page = result.stdout.split("\n", 1)
    assert name == "Cedar Desk"
    assert title_of(page) == "Sign in · Cedar Desk"


def test_a_public_name_with_markup_is_shown_as_text(app, people):
    app.config["PUBLIC_NAME"] = '<script>alert("x")</script> & Co'
    html = fetch(app, people, "sign-in page")
    assert "<script>alert" not in html
    assert title_of(html).endswith("· &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Co")
    manifest = app.test_client().get("/manifest.webmanifest")
    assert manifest.json["name"] == '<script>alert("x")</script> & Co'


@pytest.mark.parametrize("name", ["", "Appointments\nBcc: everyone@example.test", "Tab\there",
                                  "x" * 61])
def test_an_unusable_public_name_stops_the_app_at_start_up(database_url, name):
    """It goes into email headers and a phone's home screen: no line breaks, nothing empty,
    nothing a launcher would cut to nonsense."""
    with pytest.raises(RuntimeError, match="PUBLIC_NAME"):
        create_app({"CONFIG_NAME": "testing", "SQLALCHEMY_DATABASE_URI": database_url,
                    "PUBLIC_NAME": name})


# --- icons and the manifest --------------------------------------------------------------------


def head_links(html: str) -> dict[str, list[dict]]:
    """<link> tags of the page's head by rel, each as its attributes."""
    head = html.split("</head>")[0]
    links: dict[str, list[dict]] = {}
    for tag in re.findall(r"<link\b[^>]*>", head):
        attributes = dict(re.findall(r'(\w[\w-]*)="([^"]*)"', tag))
        links.setdefault(attributes.get("rel"), []).append(attributes)
    return links


def test_every_page_links_its_icons_and_the_manifest_and_each_link_answers(client):
    html = client.get("/login").get_data(as_text=True)
    links = head_links(html)
    assert set(links) >= ICON_LINKS
    assert {link["href"] for link in links["manifest"]} == {"/manifest.webmanifest"}
    icon_types = {link.get("type") for link in links["icon"]}
    assert "image/svg+xml" in icon_types
    assert "/favicon.ico" in {link["href"] for link in links["icon"]}
    for rel in ICON_LINKS:
        for link in links[rel]:
            with client.get(link["href"]) as response:
                assert response.status_code == 200, link
                if link.get("type"):
                    assert response.mimetype == link["type"]
    [apple] = links["apple-touch-icon"]
    with client.get(apple["href"]) as response:
        assert png_size(response.data) == (180, 180)
    theme = re.search(r'<meta name="theme-color" content="([^"]+)">', html).group(1)
    assert theme == css_colour(".topbar", "background")
    assert re.search(r'<meta name="apple-mobile-web-app-title" content="Appointments">', html)


def test_the_favicon_is_an_icon_of_three_sizes_cached_for_a_week(client):
    with client.get("/favicon.ico") as response:
        assert response.status_code == 200
        data = response.data
    assert response.mimetype in ("image/vnd.microsoft.icon", "image/x-icon")
    reserved, kind, count = struct.unpack("<HHH", data[:6])
    assert (reserved, kind) == (0, 1)
    sizes = []
    for n in range(count):
        width, height, _, _, _, _, length, offset = struct.unpack(
            "<BBBBHHII", data[6 + 16 * n:22 + 16 * n])
        assert png_size(data[offset:offset + length]) == (width, height)
        sizes.append(width)
    assert sorted(sizes) == [16, 32, 48]
    # Anyone may have it, and it changes seldom; the ETag lets a browser check cheaply after.
    assert response.cache_control.public and response.cache_control.max_age == 7 * 24 * 3600
    assert "Set-Cookie" not in response.headers
    with client.get("/favicon.ico", headers={"If-None-Match": response.headers["ETag"]}) as again:
        assert again.status_code == 304


def test_the_manifest_puts_the_portal_on_the_home_screen_under_the_neutral_name(client):
    response = client.get("/manifest.webmanifest")
    assert response.status_code == 200
    assert response.mimetype == "application/manifest+json"
    manifest = json.loads(response.data)
    assert (manifest["name"], manifest["short_name"]) == ("Appointments", "Appointments")
    assert (manifest["id"], manifest["start_url"], manifest["scope"], manifest["display"]) == (
        "/me", "/", "/", "standalone")
    assert manifest["theme_color"] == css_colour(".topbar", "background")
    assert manifest["background_color"] == css_colour("body", "background")
    assert revealing_words(response.get_data(as_text=True)) == []
    declared = set()
    for icon in manifest["icons"]:
        with client.get(icon["src"]) as image:
            assert image.status_code == 200 and image.mimetype == icon["type"] == "image/png"
            width, height = png_size(image.data)
        assert icon["sizes"] == f"{width}x{height}"
        declared.add((icon["sizes"], icon.get("purpose", "any")))
    # Chrome installs with a 192 and a 512; Android crops a maskable one to its own shape.
    assert {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")} <= declared
    assert response.cache_control.public and response.cache_control.max_age == 24 * 3600
    assert "Set-Cookie" not in response.headers
    again = client.get("/manifest.webmanifest",
                       headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


def test_the_service_worker_is_served_for_the_whole_site_and_checked_at_every_visit(client):
    response = client.get("/sw.js")
    assert response.status_code == 200
    # Browsers refuse a worker script of any other type; served from the root, its scope may
    # be the whole site (the home-screen app starts at "/") without Service-Worker-Allowed.
    assert response.mimetype == "text/javascript"
    assert response.cache_control.no_cache and not response.cache_control.public
    assert b'"/me/offline"' in response.data
    assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert "Set-Cookie" not in response.headers
    assert client.get("/sw.js", headers={"If-None-Match": response.headers["ETag"]}
                      ).status_code == 304


def test_only_the_portal_registers_the_service_worker(app, people):
    for who, path in (("client", "/me"), ("coordinator", "/week"), ("clinician", "/today"),
                      (None, "/login")):
        client = app.test_client()
        if who is not None:
            sign_in(client, people[who])
        html = client.get(path).get_data(as_text=True)
        assert ("js/portal-offline.js" in html) == (path == "/me"), path


def test_the_manifest_follows_the_public_name(app, client):
    app.config["PUBLIC_NAME"] = "Riverside Health"
    manifest = client.get("/manifest.webmanifest").json
    assert (manifest["name"], manifest["short_name"]) == ("Riverside Health", "Riverside Health")


def test_the_icon_uses_only_the_stylesheets_colours(client):
    with client.get("/static/icons/icon.svg") as response:
        svg = response.get_data(as_text=True)
    css = (ROOT / "scheduler/static/app.css").read_text().lower()
    colours = set(re.findall(r'fill="(#[0-9a-f]{6})"', svg))
    assert colours and all(colour in css for colour in colours)
    assert revealing_words(svg) == []


def test_the_committed_icons_are_what_the_script_draws():
    """tools/make_icons.py is the icons' source: a change to it without re-running it fails."""
    result = subprocess.run([sys.executable, str(ROOT / "tools/make_icons.py"), "--check"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
