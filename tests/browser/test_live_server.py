"""The browser tests' own server and measures: a browser that leaves mid-answer must not leak a
file, and a page is measured with its stylesheet, not before it arrives."""

import gc
import socket
import struct
import time
import warnings

from playwright.sync_api import expect

from tests.browser.conftest import page_width


def _leave_mid_answer(base_url: str, path: str, after: float) -> None:
    host, port = base_url.removeprefix("http://").split(":")
    conn = socket.create_connection((host, int(port)))
    conn.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    time.sleep(after)  # the answer is on its way, as when Chromium leaves a page
    # Linger 0: close with a reset, not a polite FIN, exactly as a closed tab does.
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def test_an_icon_abandoned_mid_answer_leaves_no_open_file(live_server):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        # werkzeug is exposed for the 10 ms after it has sent an answer: step through them.
        for step in range(40):
            _leave_mid_answer(live_server, "/static/icons/icon.svg", after=step / 2000)
        time.sleep(0.3)
        gc.collect()
    leaked = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)
              and "static" in str(w.message)]
    assert leaked == []


def test_a_page_is_measured_with_its_stylesheet_even_when_it_comes_late(phone, login):
    login(phone, "admin")
    held = []
    phone.route("**/app.css*", lambda route: held.append(route))
    phone.goto("/audit", wait_until="commit")
    expect(phone.get_by_role("heading", level=1)).to_be_visible()
    # The hazard: the page's words are there while app.css is still on its way.
    assert phone.evaluate("document.documentElement.scrollWidth") > 390
    for route in held:
        route.continue_()
    assert page_width(phone) <= 390
