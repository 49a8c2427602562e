"""The public pages on a phone (360×740) in a real browser (Debian's Chromium through
Playwright) against a real `kanim serve` during an outage (`offline_server`: no central): the
lookup from the receipt's QR link (number filled in, birth date asked) to its answer, and the
status page showing online payment confirmation down; a subscription to it (the form, then the
confirmation link, then active); no script on any page, all free of serious accessibility
violations (axe-core), with screenshots (tests/e2e/screenshots/)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.browser import FLAGS, axe_script, dump, require_chromium, screenshot, serious_violations
from tests.e2e.desks import person, walk_in

pytestmark = pytest.mark.timeout(120)
PHONE = {"width": 360, "height": 740}


@pytest.fixture(scope="module")
def phone() -> Iterator[object]:
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS)
        context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, java_script_enabled=True)
        yield context
        context.close()
        browser.close()


def test_on_a_phone_the_lookup_answers_from_the_qr_link_and_the_status_page_shows_the_outage(offline_server, phone) -> None:  # noqa: ANN001
    who = person(name="Siti Rahmawati Lookup")
    app = walk_in(offline_server, who)
    page = phone.new_page()
    page.goto(f"{offline_server.base_url}/track?number={app['number']}")
    assert page.input_value("#number") == app["number"], "the QR link fills the number in"
    assert page.evaluate("document.scripts.length") == 0
    assert serious_violations(page, axe := axe_script()) == [], dump(serious_violations(page, axe))
    page.fill("#birth_date", who.birth_date.isoformat())
    page.click("form.track-form button[type=submit]")
    page.wait_for_selector("#answer")
    assert page.get_attribute("#answer", "data-state") == "received"
    text = page.inner_text("main")
    assert "Halo, Siti" in text and "Lookup" not in text and who.nik not in text, "the first name only"
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], "no sideways scrolling"
    assert serious_violations(page, axe) == [], dump(serious_violations(page, axe))
    screenshot(page, "public-track-answer-phone")

    page.goto(f"{offline_server.base_url}/status?lang=en")
    assert page.get_attribute("#component-payment_confirmation", "data-level") == "major_outage"
    assert page.get_attribute("#component-booking", "data-level") == "operational"
    assert page.evaluate("document.scripts.length") == 0
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert serious_violations(page, axe) == [], dump(serious_violations(page, axe))
    screenshot(page, "public-status-phone")

    # A subscription: the form, the confirmation's link (read where the message would carry it:
    # this server has no https public address, so the message asks for a reply YA), active.
    page.check("#subscribe-form input[value=sms]")
    page.fill("#subscribe-address", "0813 5550 1234")
    page.click("#subscribe-form button[type=submit]")
    page.wait_for_selector("#asked")
    assert "5550" not in page.inner_text("main"), "nothing typed is shown back"
    code = subscription_code(offline_server.data_dir, "+6281355501234")
    page.goto(f"{offline_server.base_url}/s/{code}?lang=en")
    assert page.evaluate("document.scripts.length") == 0
    page.click("#confirm")
    page.wait_for_selector("#active")
    assert page.get_attribute("#subscription", "data-state") == "active"
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert serious_violations(page, axe) == [], dump(serious_violations(page, axe))
    screenshot(page, "public-subscription-active-phone")


def subscription_code(data_dir, address: str) -> str:  # noqa: ANN001
    import sqlite3

    with sqlite3.connect(data_dir / "kanim.db") as db:
        return db.execute("SELECT code FROM status_subscriber WHERE address = ?", (address,)).fetchone()[0]
