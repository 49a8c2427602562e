"""The staff console in a real browser (Debian's Chromium through Playwright) against the real
system `make demo` runs: `kanim demo` as a process, a real central beside the office, the demo's
own accounts and its day at every stage.

Each desk is logged in as its own role. What is checked: the walk-in done by keyboard alone, a
form posted without its CSRF token refused, another desk's URL answering the 403 page, the
language switch, and every desk page of every role free of serious or critical accessibility
violations (axe-core), with a screenshot of each at 1366×768 (tests/e2e/screenshots/, ignored
by git)."""

from __future__ import annotations

import time
from datetime import datetime
from zoneinfo import ZoneInfo

from collections.abc import Iterator
from pathlib import Path

import pytest

from kanim.ops.cluster import free_port
from tests.e2e.browser import (
    DESK_SCREEN,
    FLAGS,
    axe_script,
    dump,
    log_in,
    require_chromium,
    screenshot,
    serious_violations,
)
from tests.e2e.browser import CAMERA_FLAGS
from tests.e2e.demo_run import DemoRun
from tests.face_video import write_face_y4m

pytestmark = pytest.mark.timeout(300)
OFFICE_ROLES = ("front_desk", "cashier", "biometric_operator", "interviewer", "supervisor", "print_operator",
                "pickup_desk", "admin")
# Pages a desk reaches from its own page rather than from the menu: (screenshot name, path).
# What is not a path is a link on the page before it (the first failure's history, the next day
# with pickups), followed: the demo's data decides where it leads.
SUB_PAGES = {
    # The first booking's messages: the demo's first application of its day (DEMO-<local day>-0001).
    # (Not the first failure's link: at night the quiet hours hold every message, and nothing fails.)
    "supervisor": [("notifications", "/staff/notifications"),
                   ("message-history", "/staff/notifications/history?application=DEMO-{today}-0001"),
                   ("notifications-rules", "/staff/notifications/rules"),
                   ("notifications-preview-email",
                    "/staff/notifications/preview?purpose=ready&channel=email&language=id")],
    "pickup_desk": [("pickup-day", "/staff/pickup/day"), ("pickup-day-next", "#day-next")],
    # The complaint desk: the demo's first ticket in the queue, and the weekly report.
    "front_desk": [("tickets", "/staff/tickets"), ("ticket", "#queue a"), ("tickets-report", "/staff/tickets/report")],
}


def _link_once_there(page, selector: str, timeout: float = 30.0) -> str | None:  # noqa: ANN001
    """The href of `selector` on this page, reloading until it appears: the demo's data behind it
    (a first failed message, a next pickup day) is made by the node's workers a moment after it
    starts, not by the seeding."""
    deadline = time.monotonic() + timeout
    while True:
        if (link := page.query_selector(selector)) is not None:
            return link.get_attribute("href")
        if time.monotonic() > deadline:
            return None
        time.sleep(1)
        page.reload()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRun]:
    require_chromium()
    run = DemoRun(tmp_path_factory.mktemp("console") / "demo", free_port(), free_port(), free_port())
    try:
        yield run.start()
    finally:
        run.kill()


@pytest.fixture(scope="module")
def playwright() -> Iterator[object]:
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def chromium(playwright) -> Iterator[object]:  # noqa: ANN001
    browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS)
    yield browser
    browser.close()


@pytest.fixture
def context(chromium) -> Iterator[object]:  # noqa: ANN001
    ctx = chromium.new_context(viewport=DESK_SCREEN)
    yield ctx
    ctx.close()


def office(demo: DemoRun) -> str:
    return demo.url("office:")


def password(demo: DemoRun, role: str) -> str:
    return demo.accounts()["office", role]


def test_a_walk_in_is_registered_by_keyboard_alone(demo, context) -> None:  # noqa: ANN001
    """Tab through the form, type, Enter: a desk officer never needs the mouse."""
    page = context.new_page()
    page.goto(f"{office(demo)}/staff/login")
    page.keyboard.press("Tab")  # the skip link first
    page.focus("#username")  # the login form autofocuses it; be explicit for the test
    page.keyboard.type("front_desk")
    page.keyboard.press("Tab")
    page.keyboard.type(password(demo, "front_desk"))
    page.keyboard.press("Enter")
    page.wait_for_url("**/staff/front-desk")
    person = demo.spare_people()[0]
    page.focus("#walk-in-form-full_name")
    page.keyboard.type(person.full_name)
    page.keyboard.press("Tab")
    page.keyboard.type(person.nik)
    page.keyboard.press("Tab")
    page.keyboard.type(person.birth_date.strftime("%m%d%Y"))  # Chromium's date field, en-US order
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    page.keyboard.type("p" if person.sex == "F" else "l")  # perempuan / laki-laki: the select jumps by letter
    focused = page.evaluate("document.activeElement.id")
    assert focused == "walk-in-form-sex", focused
    page.focus("#walk-in-form button[type=submit]")
    page.keyboard.press("Enter")
    notice = page.wait_for_selector("#walk-in .notice", timeout=15_000)
    assert person.full_name in notice.inner_text() and "W-" in notice.inner_text()
    screenshot(page, "front-desk-after-walk-in")


def test_a_form_posted_without_its_csrf_token_is_refused(demo, context) -> None:  # noqa: ANN001
    page = log_in(context, office(demo), "front_desk", password(demo, "front_desk"))
    answer = page.evaluate("""async () => {
        const body = new URLSearchParams({full_name: "Nur Aini", nik: "7171015501950001",
                                          birth_date: "1995-01-15", sex: "F"});
        const r = await fetch("/staff/front-desk/walk-in", {method: "POST", body, headers: {"HX-Request": "true"}});
        return {status: r.status, text: await r.text()};
    }""")
    assert answer["status"] == 403 and "CSRF" in answer["text"], answer
    page.goto(f"{office(demo)}/staff/front-desk/search?q=Nur+Aini")
    assert "Tidak ada hasil" in page.content() and "<table" not in page.content()  # nothing was made


def test_another_desks_url_answers_the_403_page(demo, context) -> None:  # noqa: ANN001
    page = log_in(context, office(demo), "cashier", password(demo, "cashier"))
    response = page.goto(f"{office(demo)}/staff/front-desk")
    assert response.status == 403
    assert "Loket ini bukan untuk Anda" in page.inner_text("main")
    screenshot(page, "403-page")


def test_the_language_switch_changes_the_console_to_english_and_back(demo, context) -> None:  # noqa: ANN001
    page = log_in(context, office(demo), "front_desk", password(demo, "front_desk"))
    assert page.inner_text("h1").startswith("Loket depan")
    with page.expect_navigation():
        page.select_option("#language", "en")
    assert page.inner_text("h1").startswith("Front desk"), page.inner_text("h1")
    assert "December" in page.inner_text("h1") or "January" in page.inner_text("h1") or page.inner_text("h1")
    screenshot(page, "front-desk-english")
    with page.expect_navigation():
        page.select_option("#language", "id")
    assert page.inner_text("h1").startswith("Loket depan")


def test_every_desk_page_of_every_role_has_no_serious_accessibility_violation(demo, chromium) -> None:  # noqa: ANN001
    """For each role, its landing desk, every desk its menu offers and the pages its desks lead
    to (SUB_PAGES): axe-core finds nothing serious or critical, and a screenshot of each page is
    written."""
    script = axe_script()
    found: dict[str, list[dict]] = {}
    seen: set[str] = set()
    context = chromium.new_context(viewport=DESK_SCREEN)
    try:
        login = context.new_page()
        login.goto(f"{office(demo)}/staff/login")
        found["login"] = serious_violations(login, script)
        screenshot(login, "login")
        for role in OFFICE_ROLES:
            # The last role's pages closed first: a page that polls (htmx) and asks again without
            # a session would be handed a new login token, and the next login form's would expire.
            for open_page in context.pages:
                open_page.close()
            context.clear_cookies()
            page = log_in(context, office(demo), role, password(demo, role))
            links = page.eval_on_selector_all("header nav a", "els => els.map(e => e.getAttribute('href'))")
            for href in [page.url.replace(office(demo), "")] + links:
                if href in seen:
                    continue
                seen.add(href)
                response = page.goto(f"{office(demo)}{href}")
                if response.status == 404:  # a desk listed before its page is built
                    continue
                assert response.status == 200, (role, href, response.status)
                found[href] = serious_violations(page, script)
                screenshot(page, Path(href).name or "home")
            for name, where in SUB_PAGES.get(role, []):
                today = datetime.now(ZoneInfo("Asia/Jakarta")).strftime("%Y%m%d")  # the demo's zone
                href = where.format(today=today) if where.startswith("/") else _link_once_there(page, where)
                assert href, (role, f"no {where} link on {page.url}")
                response = page.goto(f"{office(demo)}{href}")
                assert response.status == 200, (role, href, response.status)
                if href not in seen:
                    seen.add(href)
                    found[href] = serious_violations(page, script)
                    screenshot(page, name)
    finally:
        context.close()
    bad = {page: v for page, v in found.items() if v}
    assert not bad, dump(bad)
    assert "/staff/front-desk" in found


def test_a_template_preview_follows_the_choice_of_channel_without_a_reload(demo, context) -> None:  # noqa: ANN001
    """The preview form answers with the message alone (htmx): an SMS shows its segments, a
    WhatsApp message its approved template and parameters, a Telegram message its text."""
    page = log_in(context, office(demo), "supervisor", password(demo, "supervisor"))
    page.goto(f"{office(demo)}/staff/notifications/preview")
    assert page.locator("#preview-result[data-channel=whatsapp] #preview-whatsapp-name").is_visible()
    page.select_option("#preview-form-channel", "sms")
    page.wait_for_selector("#preview-result[data-channel=sms] #preview-segments")
    assert page.url.endswith("/staff/notifications/preview"), "the page itself stays"
    screenshot(page, "notifications-preview-sms")
    page.select_option("#preview-form-channel", "telegram")
    page.wait_for_selector("#preview-result[data-channel=telegram] #preview-text")
    assert page.locator("#preview-html").count() == 0, "a chat message has no HTML part"
    screenshot(page, "notifications-preview-telegram")


def test_the_face_photo_is_taken_with_the_desks_camera_and_passes_the_checks(demo, playwright,  # noqa: ANN001
                                                                              tmp_path_factory) -> None:
    """Chromium's fake camera plays a face video; the operator starts the camera, takes the
    still, and the server's checks accept it (one face, size, plain light background)."""
    video = write_face_y4m(tmp_path_factory.mktemp("camera") / "face.y4m")
    browser = playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                         args=FLAGS + CAMERA_FLAGS + [f"--use-file-for-fake-video-capture={video}"])
    try:
        context = browser.new_context(viewport=DESK_SCREEN)
        context.grant_permissions(["camera"])
        page = log_in(context, office(demo), "biometric_operator", password(demo, "biometric_operator"))
        assert page.url.endswith("/staff/biometrics")
        page.locator("[id^=capture-open-]").first.click()
        page.wait_for_url("**/staff/biometrics/*")
        page.click("#camera-start")
        page.wait_for_function("document.querySelector('#camera-video').videoWidth > 0", timeout=15_000)
        page.click("#camera-capture")
        page.wait_for_selector("#photo-ok", timeout=20_000)
        checks = page.inner_text("#photo-checks")
        assert "✗" not in checks, checks
        assert page.locator("#photo-image").is_visible()
        screenshot(page, "biometrics-camera-photo")
    finally:
        browser.close()


def test_one_application_goes_from_booking_to_handover_through_every_desk_in_the_browser(demo, chromium) -> None:  # noqa: ANN001
    """An applicant books online (the booking site is the API's client), then every desk works
    the application in the browser, each logged in as its own role; the real central confirms
    the clearances through the link and the passport is handed over to its holder."""
    import httpx

    from kanim.seed import SEED_DATA

    person = demo.spare_people()[1]
    api = f"{office(demo)}/api/v1"
    token = httpx.post(f"{api}/auth/token", json={"username": "front_desk", "password": password(demo, "front_desk")},
                       timeout=30).json()["access_token"]
    today = datetime.now(ZoneInfo("Asia/Jakarta")).date()  # the demo office's day, not the machine's (UTC)
    booked = httpx.post(f"{api}/bookings", headers={"Authorization": f"Bearer {token}"}, timeout=30, json={
        "account_ref": "online-journey", "day": today.isoformat(), "slot": "15:00",
        "applicants": [person.body()]})
    assert booked.status_code == 201, booked.text
    app_id = booked.json()["applications"][0]["id"]

    def desk(role: str):  # noqa: ANN202
        ctx = chromium.new_context(viewport=DESK_SCREEN)
        return ctx, log_in(ctx, office(demo), role, password(demo, role))

    contexts = []
    try:
        ctx, page = desk("front_desk")  # the applicant arrives: check-in
        contexts.append(ctx)
        page.click(f"#check-in-{app_id}")
        page.wait_for_selector(".notice")
        page.goto(f"{office(demo)}/staff/intake/{app_id}")  # the counter: three scans, intake
        for kind in ("ktp", "kk", "birth_certificate"):
            page.select_option("#scan-form-kind", kind)
            page.set_input_files("#scan-form-file", str(SEED_DATA / "face.jpg"))
            page.click("#scan-upload")
            page.wait_for_selector(f"#document-{kind}[data-state=scanned]")
        page.click("#intake-complete")
        page.wait_for_selector("#intake-outcome[data-outcome=done]")
        screenshot(page, "journey-intake")

        ctx, page = desk("cashier")  # the billing code, then the bank's receipt
        contexts.append(ctx)
        number = booked.json()["applications"][0]["number"]
        page.fill("#billing-form-application", number)
        page.click("#billing-issue")
        code = page.wait_for_selector("#billing-code").inner_text().strip()
        page.fill("#payment-form-billing_code", code)
        page.fill("#payment-form-receipt_ref", "BRI-JOURNEY-1")
        page.click("#payment-record")
        page.wait_for_selector("#payment-recorded")
        screenshot(page, "journey-cashier")

        ctx, page = desk("biometric_operator")  # the photo and ten fingers, from files
        contexts.append(ctx)
        page.goto(f"{office(demo)}/staff/biometrics/{app_id}")
        page.set_input_files("#photo-form-file", str(SEED_DATA / "face.jpg"))
        page.click("#photo-form-submit")
        page.wait_for_selector("#photo-ok")
        for n in range(1, 11):
            page.set_input_files(f"#finger-{n}-form-file", str(SEED_DATA / "finger.png"))
            page.click(f"#finger-{n}-upload")
            page.wait_for_selector(f"#finger-{n}[data-state=captured]")
        page.click("#complete-capture")
        page.wait_for_selector("#capture-done")
        screenshot(page, "journey-biometrics")

        ctx, page = desk("interviewer")
        contexts.append(ctx)
        page.goto(f"{office(demo)}/staff/interview/{app_id}")
        page.fill("#interview-form-notes", "Purpose: family visit. Documents consistent.")
        page.click("#interview-submit")
        page.wait_for_selector("#interview-recorded")

        ctx, page = desk("supervisor")
        contexts.append(ctx)
        page.goto(f"{office(demo)}/staff/supervisor/{app_id}")
        page.click("#approve-form-submit")
        page.wait_for_selector("#decision-done")

        ctx, page = desk("print_operator")  # print on the next booklet, look at it, pass it
        contexts.append(ctx)
        page.wait_for_selector(f"#print-{app_id}-button")
        page.click(f"#print-{app_id}-button")
        page.wait_for_selector("#job-panel[data-stage=printed] img#data-page")
        # The preview itself, not only its element: the page a print operator compares with.
        page.wait_for_function("() => { const i = document.querySelector('img#data-page');"
                               " return i && i.complete && i.naturalWidth > 0; }")
        screenshot(page, "journey-print-room")
        page.click(f"#qc-pass-{app_id}")
        page.wait_for_selector(f"#job-{app_id}", state="detached")

        ctx, page = desk("pickup_desk")  # the central's confirmations open the gate by themselves
        contexts.append(ctx)
        for _ in range(60):
            if page.locator(f"#choose-{app_id}").count():
                break
            page.wait_for_timeout(500)
            page.reload()
        page.click(f"#choose-{app_id}")
        page.check("#handover-form-kind-holder")
        page.fill("#handover-form-recipient_name", person.full_name)
        page.fill("#handover-form-id_nik", person.nik)
        page.fill("#handover-form-id_checked", "KTP")
        page.click("#handover-form-button")
        page.wait_for_selector("#handover-done")
        screenshot(page, "journey-handover")
    finally:
        for ctx in contexts:
            ctx.close()
    r = httpx.get(f"{api}/applications/{app_id}", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert r.json()["stage"] == "handed_over", r.json()
