"""Spanish in Chromium at phone size: Spanish runs about a quarter longer than English, so each
page a client or the front desk sees is checked for text cut off or pushed past the screen's
edge, and kept as a screenshot (test-artifacts/screens/es-*.png) for a person to look at."""

import pytest
from playwright.sync_api import expect

from scheduler import clock
from scheduler.services import kiosk, passwords
from tests.browser.conftest import NO_WORKER, PASSWORD, _phone, keep_screenshot
from tests.helpers import ACTOR
from tests.test_pages_spanish import AT_THE_DOOR, PIN
from tests.test_pages_spanish import full_week as full_week  # noqa: F401 - fixtures
from tests.test_pages_spanish import lucia as lucia  # noqa: F401
from tests.test_pages_spanish import program as program  # noqa: F401

# Narrower than the other phone tests' 390 px: many phones clients carry are 360 px wide.
NARROW = {"width": 360, "height": 740}

# Whatever sticks out past the screen's right edge, or is cut inside its own box: a button,
# a link, a label or a heading too narrow for its Spanish words.
OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const out = [];
  if (document.documentElement.scrollWidth > width) out.push('page scrolls sideways');
  for (const el of document.querySelectorAll(
      'h1, h2, h3, p, li, label, button, a, .badge, .flash, input[type=submit], option, span')) {
    const box = el.getBoundingClientRect();
    if (!box.width || getComputedStyle(el).visibility === 'hidden') continue;
    const words = el.textContent.trim().slice(0, 60);
    if (box.right > width + 1) out.push(`${el.tagName} past the edge: ${words}`);
    const style = getComputedStyle(el);
    if (style.overflowX !== 'visible' && el.tagName !== 'INPUT'
        && el.scrollWidth > el.clientWidth + 1) out.push(`${el.tagName} cut: ${words}`);
  }
  return out;
}"""


@pytest.fixture
def spanish_phone(browser, live_server):
    yield from _phone(browser, live_server, **NO_WORKER, locale="es-MX", viewport=NARROW)


@pytest.fixture
def english_phone(browser, live_server):
    """An English tablet or phone at the same width: someone at the desk chooses Spanish."""
    yield from _phone(browser, live_server, **NO_WORKER, locale="en-US", viewport=NARROW)


def looked_at(page, name: str) -> None:
    expect(page.locator("html")).to_have_attribute("lang", "es")
    keep_screenshot(page, f"es-phone-{name}")
    assert page.evaluate(OVERFLOW) == [], name


def test_the_client_and_signed_out_pages_fit_a_phone_in_spanish(spanish_phone, db, make, lucia,
                                                               full_week):
    page = spanish_phone
    for name, path in (("login", "/login"), ("forgot", "/forgot-password"),
                       ("link-gone", "/reset/no-such-link"), ("not-found", "/no-such-page")):
        page.goto(path)
        looked_at(page, name)
    page.goto("/login")
    page.get_by_role("button", name="Iniciar sesión").click()
    looked_at(page, "login-errors")

    lucia.password_hash = passwords.hash_secret(PASSWORD)
    db.commit()
    page.get_by_label("Correo electrónico").fill(lucia.email)
    page.get_by_label("Contraseña").fill(PASSWORD)
    page.get_by_role("button", name="Iniciar sesión").click()
    expect(page.get_by_role("heading", name="Hola, Lucía")).to_be_visible()
    looked_at(page, "me")
    page.get_by_role("button", name="Obtener mi enlace de calendario").click()
    expect(page.get_by_text("Su enlace de calendario está listo")).to_be_visible()
    looked_at(page, "me-calendar-link")
    page.get_by_label("Código que se muestra en la sala").fill("000000")
    page.get_by_role("button", name="Registrar llegada").click()
    # At noon no session of hers is open yet: the refusal says when check-in opens.
    expect(page.get_by_role("alert")).to_contain_text("abre 30 minutos antes")
    looked_at(page, "me-refused-check-in")


def test_the_kiosk_fits_a_phone_in_spanish_and_its_toggle_is_obvious(english_phone, db, make,
                                                                    lucia, full_week):
    kiosk.set_pin(db, ACTOR, lucia.client_id, PIN)
    db.commit()
    tablet = make.user("kiosk", password=PASSWORD)
    # An English tablet: the person at the desk chooses Spanish with the toggle.
    page = english_phone
    with clock.frozen(AT_THE_DOOR):
        page.goto("/login")
        page.get_by_label("Email").fill(tablet.email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        toggle = page.get_by_role("button", name="Español")
        expect(toggle).to_have_attribute("lang", "es")
        box = toggle.bounding_box()
        assert box["height"] >= 44 and box["width"] >= 44, box  # a finger's target
        toggle.click()
        expect(page.get_by_role("heading", name="Registrar llegada")).to_be_visible()
        looked_at(page, "kiosk")
        page.get_by_label("Su nombre").select_option(label="Lucía R.")
        page.get_by_label("Su PIN").fill("1111")
        page.get_by_role("button", name="Registrar llegada").click()
        expect(page.get_by_role("alert")).to_contain_text("PIN: no coincide.")
        looked_at(page, "kiosk-wrong-pin")
        page.get_by_label("Su nombre").select_option(label="Lucía R.")
        page.get_by_label("Su PIN").fill(PIN)
        page.get_by_role("button", name="Registrar llegada").click()
        expect(page.get_by_text("Su llegada quedó registrada. ¡Bienvenido!")).to_be_visible()
        # The next person finds the tablet in its own language.
        expect(page.locator("html")).to_have_attribute("lang", "en")
        keep_screenshot(page, "es-phone-kiosk-checked-in")
        assert page.evaluate(OVERFLOW) == []
