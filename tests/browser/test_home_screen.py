"""The portal on a phone's home screen: Chromium finds the manifest and the icons, and the main
pages leave nothing in the console (no missing favicon, no failed request, no script error)."""

import json
import re
from datetime import date, timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from scheduler.models import Session
from scheduler.services import booking, plans, sessions
from tests.browser.conftest import PASSWORD, watch_console
from tests.helpers import ACTOR

REVEALING = re.compile(r"\b(iop|scheduler|addiction|treatment|recovery|rehab|substance|relapse|"
                       r"therapy|detox|sober|outpatient)\b", re.I)


@pytest.fixture(autouse=True)
def _clinic_clock(now):
    """The live server runs at the frozen clinic 'now' (Tue 2027-02-16 07:00 New York)."""


@pytest.fixture
def clinic(db, make, now):
    """A client booked into a group this morning and an evening series: pages with content."""
    program = make.program(name="Evening program")
    room = make.room(name="Room B")
    series = make.series(program=program, title="Evening group", room_id=room.id,
                         start_date=date(2027, 2, 15), rrule="FREQ=WEEKLY;BYDAY=MO,TU,TH")
    person = make.client(program, name="Avery Stone")
    plans.create_plan(db, ACTOR, person.id, start_date=date(2027, 2, 1))
    group = sessions.create_one_off(
        db, ACTOR, now=now, program_id=program.id, kind="group", title="Coping skills",
        starts_at=now + timedelta(minutes=30), ends_at=now + timedelta(hours=3), capacity=8,
        room_id=room.id)
    booking.book_client(db, ACTOR, group.id, person.id, now=now)
    db.commit()
    first = db.scalars(select(Session).where(Session.series_id == series.id)
                       .order_by(Session.starts_at)).first()
    return {"client": person, "series": series, "session": first}


def visit(page, path: str, status: int = 200) -> None:
    response = page.goto(path)
    assert response.status == status, path
    page.wait_for_load_state("networkidle")
    # The favicon and the links in the head, asked for explicitly: Chromium's own favicon
    # request shows only in the console, and only once it has been answered.
    links = page.locator("head link[rel~=icon], head link[rel=apple-touch-icon], "
                         "head link[rel=manifest]")
    hrefs = [links.nth(i).get_attribute("href") for i in range(links.count())]
    for href in ["/favicon.ico", *hrefs]:
        assert page.request.get(href).status == 200, (path, href)


def test_the_public_pages_log_nothing_in_the_console(page):
    problems = watch_console(page)
    for path, status in (("/", 200), ("/login", 200), ("/no-such-page", 404),
                         ("/api/v1/docs", 200)):
        visit(page, path, status)
    assert problems == []


def test_the_client_portal_logs_nothing_in_the_console(phone, login, clinic, make):
    problems = watch_console(phone)
    member = make.user("client", client_id=clinic["client"].id, password=PASSWORD)
    login(phone, "client", user=member)
    expect(phone).to_have_url(re.compile(r"/me$"))
    visit(phone, "/me")
    phone.get_by_role("button", name="Get my calendar link").click()
    phone.wait_for_load_state("networkidle")
    visit(phone, "/week", 403)
    assert problems == []


def test_the_staff_pages_log_nothing_in_the_console(page, login, clinic):
    problems = watch_console(page)
    login(page, "coordinator")
    nav = page.get_by_role("navigation", name="Main").get_by_role("link")
    paths = [nav.nth(i).get_attribute("href") for i in range(nav.count())]
    paths += [f"/clients/{clinic['client'].id}", f"/clients/{clinic['client'].id}/plan/revise",
              "/series/new", f"/series/{clinic['series'].id}",
              f"/series/{clinic['series'].id}/edit", f"/sessions/{clinic['session'].id}",
              f"/sessions/{clinic['session'].id}/roster"]
    for path in paths:
        visit(page, path)
    assert problems == []


def test_chromium_reads_the_manifest_and_could_install_the_portal(phone, login, clinic, make):
    """Chromium's own view, through the DevTools protocol: the manifest parses without a
    warning, names the portal under the neutral name, and nothing but this private window
    (Playwright's contexts are incognito) stands in the way of installing it."""
    problems = watch_console(phone)
    member = make.user("client", client_id=clinic["client"].id, password=PASSWORD)
    login(phone, "client", user=member)
    phone.wait_for_load_state("networkidle")
    devtools = phone.context.new_cdp_session(phone)
    found = devtools.send("Page.getAppManifest")
    base = phone.url.rsplit("/", 1)[0]
    assert found["url"] == f"{base}/manifest.webmanifest"
    assert found["errors"] == []
    manifest = found["manifest"]
    assert manifest["startUrl"] == f"{base}/" and manifest["scope"] == f"{base}/"
    # The landing page sends the client on to their portal.
    phone.goto(manifest["startUrl"])
    assert phone.url == f"{base}/me"
    assert manifest["display"] == "kStandalone"
    assert manifest["name"] == json.loads(found["data"])["short_name"] == "Appointments"
    assert manifest["themeColor"] == "rgba(18,38,63,1)"  # app.css's top bar, #12263f
    assert not REVEALING.search(found["data"])
    blocking = {error["errorId"] for error in
                devtools.send("Page.getInstallabilityErrors")["installabilityErrors"]}
    assert blocking <= {"in-incognito"}
    # Every icon decodes at the size the manifest gives it, and the favicon decodes at all.
    for icon in manifest["icons"]:
        width, height = phone.evaluate("""src => new Promise((done, failed) => {
            const image = new Image();
            image.onload = () => done([image.naturalWidth, image.naturalHeight]);
            image.onerror = () => failed(new Error('cannot decode ' + src));
            image.src = src;
        })""", icon["url"])
        assert f"{width}x{height}" == icon["sizes"], icon["url"]
    assert phone.evaluate("""() => new Promise(done => {
        const image = new Image();
        image.onload = () => done(image.naturalWidth);
        image.onerror = () => done(0);
        image.src = '/favicon.ico';
    })""") > 0
    assert phone.title() == "My sessions · Appointments"
    assert problems == []
