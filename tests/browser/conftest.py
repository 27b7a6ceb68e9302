"""Browser tests: Playwright driving Debian's Chromium against the app on a real local server.

Each test gets the usual fresh app and database (tests/conftest.py), served by werkzeug on a
free port in a thread, and a fresh browser context. A failed test leaves a screenshot and the
page's HTML in test-artifacts/browser/. `keep_screenshot(page, name)` saves a screen a person
should look at (the kiosk, the roster, the portal) in test-artifacts/screens/, pass or fail.
"""

import os
import re
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
SCREENS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screens"
PASSWORD = "correct horse battery staple"


def keep_screenshot(page, name: str) -> Path:
    """Save the whole page as test-artifacts/screens/<name>.png for a person to look at."""
    SCREENS.mkdir(parents=True, exist_ok=True)
    path = SCREENS / (re.sub(r"[^A-Za-z0-9_.-]+", "_", name) + ".png")
    page.screenshot(path=str(path), full_page=True)
    return path

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - requirements.txt installs it
    sync_playwright = None


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


@pytest.fixture(scope="session")
def browser():
    if sync_playwright is None:
        pytest.skip("the playwright package is not installed (requirements.txt has it)")
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install -y chromium (.ci/run does)")
    with sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
        browser = playwright.chromium.launch(executable_path=CHROMIUM,
                                             args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield browser
        browser.close()


def enhanced(page) -> None:
    """Wait for static/js/picker.js (deferred): before it runs, each searchable picker is still
    a select, which is a combobox by the same name too, and typing into it picks by the
    select's own type-ahead.

    Deferred scripts run before DOMContentLoaded. Right after a click that navigates, the new
    document may not have parsed its pickers yet, so "no picker left unenhanced" alone would
    hold at once."""
    from playwright.sync_api import expect

    page.wait_for_load_state("domcontentloaded")
    expect(page.locator("[data-picker]:not([data-enhanced])")).to_have_count(0)


def page_width(page) -> int:
    """How wide the page is laid out, measured once its stylesheets have loaded.

    An action that navigates returns once the new page has begun loading, and its DOM can be
    there before app.css: a measurement then sees the unstyled page (a 669 px table on a 390 px
    phone) and fails at random under load."""
    page.wait_for_load_state("load")
    return page.evaluate("document.documentElement.scrollWidth")


def pick(page, label: str, name: str) -> None:
    """Choose a staff member in a searchable picker (static/js/picker.js) by typing."""
    from playwright.sync_api import expect

    enhanced(page)
    combo = page.get_by_role("combobox", name=label)
    combo.press_sequentially(name.split()[0].lower(), delay=30)
    page.get_by_role("listbox", name=label).get_by_role("option", name=name).click()
    expect(combo).to_have_value(name)


def watch_csp(page) -> list[str]:
    """Chromium's console reports of scripts, styles or images the CSP blocked."""
    violations: list[str] = []
    page.on("console", lambda message: violations.append(message.text)
            if "Content Security Policy" in message.text else None)
    return violations


def watch_console(page) -> list[str]:
    """What a developer would see in the browser's console: errors logged or thrown, and every
    request answered 4xx or 5xx (a missing favicon, a stylesheet that moved). The document a
    test navigates to on purpose is not a failed request: tests/browser checks its status."""
    problems: list[str] = []
    page.on("console", lambda message: problems.append(
        f"console {message.type}: {message.text} ({message.location.get('url')})")
        if message.type in ("error", "assert") and not _is_document(page, message) else None)
    page.on("pageerror", lambda error: problems.append(f"uncaught: {error}"))
    page.on("response", lambda response: problems.append(
        f"{response.status} for {response.url}")
        if response.status >= 400 and not response.request.is_navigation_request() else None)
    return problems


def _is_document(page, message) -> bool:
    # Chromium logs "Failed to load resource" for a 404 page itself, too.
    return (message.text.startswith("Failed to load resource")
            and message.location.get("url") == page.url)


def _answered_whole(app):
    """The app, each answer read to the end and closed before werkzeug sends it.

    werkzeug's server (3.1) drains the socket in the `finally` that should close the answer; a
    browser that reset the connection (a page left while its icon was on the way) makes that
    read raise, so the answer's open file is never closed and pytest reports the ResourceWarning
    as an error of whichever test came next. Our answers are small: holding one in memory costs
    nothing, and the file is closed here whatever the socket does."""
    def wsgi(environ, start_response):
        answer = app(environ, start_response)
        try:
            return [b"".join(answer)]
        finally:
            if hasattr(answer, "close"):
                answer.close()
    return wsgi


@pytest.fixture
def live_server(app):
    """The test app on 127.0.0.1 and a free port; its base URL."""
    server = make_server("127.0.0.1", 0, _answered_whole(app), threaded=True)
    # serve_forever looks for shutdown() every poll_interval: its default 0.5 s was up to half a
    # second of every browser test's teardown spent waiting.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)
    # Requests still being answered (an icon the closed page had asked for) would otherwise
    # run on into the next test, which shares the app and resets its config under them: a
    # KeyError and a 500 there. socketserver keeps each request's thread in `_threads`, an
    # instance list made at the first request (the class's placeholder is no list).
    for handler in list(vars(server).get("_threads", [])):
        handler.join(timeout=10)
    server.socket.close()


# The portal's service worker (/sw.js) fetches its offline copy in the background, requests
# no other test asked for and none waits on. Only tests/browser/test_offline.py, which is
# about the worker, lets it run (the `phone_with_worker` fixture).
NO_WORKER = {"service_workers": "block"}


@pytest.fixture
def page(request, browser, live_server):
    context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 900},
                                  **NO_WORKER)
    context.set_default_timeout(10_000)
    page = context.new_page()
    blocked = watch_csp(page)
    yield page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)
        try:
            page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
            (ARTIFACTS / f"{name}.html").write_text(page.content(), encoding="utf-8")
        except Exception as error:  # noqa: BLE001 - the test's own failure is what matters
            print(f"could not save the failed page: {error}")
    context.close()
    # Every browser test doubles as a check that its pages work under the CSP.
    assert blocked == [], f"Content-Security-Policy violations: {blocked}"


PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


def _phone(browser, live_server, **options):
    """A phone's context (PHONE, or what `options` say instead) and its page; its CSP watched."""
    context = browser.new_context(base_url=live_server, **{**PHONE, **options})
    context.set_default_timeout(10_000)
    page = context.new_page()
    blocked = watch_csp(page)
    yield page
    context.close()
    assert blocked == [], f"Content-Security-Policy violations: {blocked}"


@pytest.fixture
def phone(browser, live_server):
    """A phone-sized context, for the client portal."""
    yield from _phone(browser, live_server, **NO_WORKER)


@pytest.fixture
def phone_with_worker(browser, live_server):
    """A phone whose browser runs the portal's service worker, as a real one does."""
    yield from _phone(browser, live_server)


@pytest.fixture
def login(make):
    """login(page, role) signs a new user of that role in through the form; returns the user."""

    def sign_in(page, role: str, user=None, **kw):
        if user is None:
            user = make.user(role, password=PASSWORD, **kw)
        page.goto("/login")
        page.get_by_label("Email").fill(user.email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state()
        return user

    return sign_in
