"""The demo page and the console in a real browser: Debian's Chromium, driven by Playwright,
against a real ``facelive serve`` (``admin_server``). Screenshots go to ``test-artifacts/``
(or ``FACELIVE_TEST_ARTIFACTS``). ``scripts/toolchains`` installs Chromium; a missing browser
fails these tests, it never skips them. Playwright's own browser download is never used.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Dialog, Page, expect, sync_playwright

from live_server import ADMIN_TOKEN, Credentials, LiveServer

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("FACELIVE_CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # A synthetic camera (a moving test pattern) that needs no permission prompt.
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
]
SAMPLES = "images/minivision-ai__Silent-Face-Anti-Spoofing/images/sample"
LIVE_GREEN = (0x1A, 0x7F, 0x37)  # the box colour of a live verdict (demo.js)

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def artifacts() -> Path:
    folder = Path(os.environ.get("FACELIVE_TEST_ARTIFACTS", REPO / "test-artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).is_file(), f"{CHROMIUM} missing: run scripts/toolchains"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    yield opened
    context.close()
    assert errors == [], errors  # no uncaught JavaScript error on the way


def console_key(server: LiveServer, name: str) -> Credentials:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"}
    reply = server.request("POST", "/admin/api/keys", json.dumps({"name": name}).encode(), headers)
    made = reply.json["data"]
    return Credentials(made["appcode"], made["app_key"], made["app_secret"], made["id"])


def wait_for_run(page: Page, run: int) -> None:
    expect(page.locator("#result")).to_have_attribute("data-runs", str(run), timeout=30_000)


def pixel(page: Page, x: float, y: float) -> tuple[int, int, int]:
    rgba = page.evaluate(
        "([x, y]) => Array.from(document.getElementById('photo').getContext('2d')"
        ".getImageData(Math.round(x), Math.round(y), 1, 1).data)",
        [x, y],
    )
    return rgba[0], rgba[1], rgba[2]


def test_demo_page_checks_live_and_attack_photos(
    page: Page, admin_server: LiveServer, fas_dev: Path, artifacts: Path
) -> None:
    creds = console_key(admin_server, "browser-demo")
    page.goto(admin_server.base_url + "/")
    page.fill("#appcode", creds.appcode)
    assert page.evaluate("sessionStorage.getItem('facelive.appcode')") == creds.appcode
    assert page.evaluate("localStorage.length") == 0

    page.set_input_files("#file", str(fas_dev / SAMPLES / "image_T1.jpg"))
    wait_for_run(page, 1)
    expect(page.locator("#result")).to_have_attribute("data-code", "200")
    expect(page.locator("#verdict")).to_have_text("Live / 活体")
    raw = json.loads(page.locator("#raw").text_content() or "")
    assert raw["code"] == 200 and raw["data"]["is_live"] is True
    expect(page.locator("#request-id")).to_have_text(raw["request_id"])
    assert page.locator("#latency").inner_text().endswith(" ms")
    assert page.locator("#score").inner_text() == f"{raw['data']['liveness_score']:.4f}"
    # The face box was drawn where the API put it: the middle of its top edge is box-green.
    canvas = page.locator("#photo")
    x, y, w, h = json.loads(canvas.get_attribute("data-box") or "null")
    scale = page.evaluate("document.getElementById('photo').width") / raw["data"]["image_width"]
    assert (x, y) == pytest.approx([v * scale for v in raw["data"]["face"]["box"][:2]], abs=0.2)
    assert w > 20 and h > 20
    assert canvas.get_attribute("data-landmarks") == "5"
    top = pixel(page, x + w / 2, y)
    assert all(abs(a - b) <= 40 for a, b in zip(top, LIVE_GREEN, strict=True)), top
    page.screenshot(path=str(artifacts / "demo-live.png"), full_page=True)

    page.set_input_files("#file", str(fas_dev / SAMPLES / "image_F2.jpg"))
    wait_for_run(page, 2)
    expect(page.locator("#result")).to_have_attribute("data-code", "4004")
    expect(page.locator("#verdict")).to_have_text("Not live / 非活体")
    reason = page.locator("#reasons li[data-reason='spoof_suspected']")
    expect(reason).to_contain_text("Looks like an attack")
    expect(reason).to_contain_text("疑似翻拍或攻击")
    attack_score = json.loads(page.locator("#raw").text_content() or "")["data"]["liveness_score"]
    assert attack_score < 0.8
    page.screenshot(path=str(artifacts / "demo-attack.png"), full_page=True)

    # The slider re-runs the check: at threshold 0 the same attack photo scores "live".
    page.focus("#thresh")
    page.keyboard.press("Home")
    wait_for_run(page, 3)
    expect(page.locator("#thresh-value")).to_have_text("0.00")
    expect(page.locator("#result")).to_have_attribute("data-code", "200")
    rerun = json.loads(page.locator("#raw").text_content() or "")
    assert rerun["data"]["liveness_score"] == attack_score  # same photo, new threshold
    assert rerun["request_id"] != raw["request_id"]
    page.screenshot(path=str(artifacts / "demo-threshold-0.png"), full_page=True)


def test_demo_page_shows_error_envelopes(
    page: Page, admin_server: LiveServer, fas_dev: Path, artifacts: Path
) -> None:
    page.goto(admin_server.base_url + "/")
    page.fill("#appcode", "0" * 32)  # no such key
    page.set_input_files("#file", str(fas_dev / SAMPLES / "image_T1.jpg"))
    wait_for_run(page, 1)
    expect(page.locator("#error")).to_be_visible()
    expect(page.locator("#error-code")).to_have_text("4010")
    expect(page.locator("#error-msg")).not_to_be_empty()
    expect(page.locator("#error-msg-cn")).not_to_be_empty()
    expect(page.locator("#verdict")).to_have_text("Key refused / 认证失败")
    assert page.locator("#photo").get_attribute("data-box") == ""
    page.screenshot(path=str(artifacts / "demo-error-4010.png"), full_page=True)


def test_demo_page_takes_a_camera_snapshot(
    page: Page, admin_server: LiveServer, artifacts: Path
) -> None:
    creds = console_key(admin_server, "browser-camera")
    page.goto(admin_server.base_url + "/")
    page.fill("#appcode", creds.appcode)
    page.click("#camera-start")
    expect(page.locator("#camera")).to_be_visible()
    # Polled with evaluate, not wait_for_function: the latter compiles its predicate with
    # eval inside the page, which the page's Content-Security-Policy rightly forbids.
    for _ in range(200):
        if page.evaluate("document.getElementById('video').videoWidth > 0"):
            break
        page.wait_for_timeout(50)
    else:
        raise AssertionError("the synthetic camera never delivered a frame")
    page.click("#snap")
    wait_for_run(page, 1)
    expect(page.locator("#camera")).to_be_hidden()  # the camera is released after the shot
    # Chromium's synthetic camera films a test pattern, not a face: the snapshot went to the
    # API as a JPEG, was decoded, and no face was found.
    raw = json.loads(page.locator("#raw").text_content() or "")
    assert raw["code"] == 4002, raw
    expect(page.locator("#error-code")).to_have_text("4002")
    assert page.evaluate("document.getElementById('photo').width") > 1  # the shot is shown
    page.screenshot(path=str(artifacts / "demo-camera.png"), full_page=True)


def test_demo_page_fits_a_phone(
    browser: Browser, admin_server: LiveServer, fas_dev: Path, artifacts: Path
) -> None:
    creds = console_key(admin_server, "browser-phone")
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True
    )
    try:
        phone = context.new_page()
        phone.goto(admin_server.base_url + "/")
        phone.fill("#appcode", creds.appcode)
        phone.set_input_files("#file", str(fas_dev / SAMPLES / "image_T1.jpg"))
        wait_for_run(phone, 1)
        expect(phone.locator("#verdict")).to_have_text("Live / 活体")
        # Nothing wider than the screen: no sideways scrolling.
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390
        photo = phone.locator("#photo").bounding_box()
        assert photo is not None and photo["width"] <= 390
        phone.screenshot(path=str(artifacts / "demo-phone-390.png"), full_page=True)
    finally:
        context.close()


def test_console_creates_and_revokes_a_key(
    page: Page, admin_server: LiveServer, artifacts: Path
) -> None:
    page.goto(admin_server.base_url + "/admin")
    page.fill("#token", "a-wrong-token-of-some-length")
    page.click("#signin")
    expect(page.locator("#login-error")).to_contain_text("4010")
    expect(page.locator("#app")).to_be_hidden()

    page.fill("#token", ADMIN_TOKEN)
    page.click("#signin")
    expect(page.locator("#app")).to_be_visible()
    page.fill("#new-name", "made-in-the-browser")
    page.click("#create")
    expect(page.locator("#issued")).to_be_visible()
    key_id = page.locator("#issued-id").inner_text()
    creds = Credentials(
        page.locator("#issued-appcode").inner_text(),
        page.locator("#issued-app-key").inner_text(),
        page.locator("#issued-app-secret").inner_text(),
        key_id,
    )
    assert admin_server.check({}, creds).json["code"] == 4001  # the new key works
    assert admin_server.check({}, creds, signed=True).json["code"] == 4001

    row = page.locator(f"tr[data-key-id='{key_id}']")
    row.locator("input[name='rps']").fill("2")
    row.locator("input[name='daily_quota']").fill("50")
    row.locator("button[data-action='limits']").click()
    expect(page.locator("#notice")).to_contain_text("saved")
    listed = admin_server.request(
        "GET", "/admin/api/keys", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    ).json["data"]["keys"]
    mine = next(k for k in listed if k["id"] == key_id)
    assert mine["limits"] == {"rps": 2.0, "burst": None, "daily_quota": 50}

    page.click("#refresh")  # the two requests above show in the chart and the table
    expect(page.locator("#usage-chart rect[data-code='4001']").first).to_be_visible()
    expect(page.locator("#recent tbody tr[data-code='4001']").first).to_be_visible()
    page.screenshot(path=str(artifacts / "console.png"), full_page=True)

    asked: list[str] = []

    def accept(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    row.locator("button[data-action='revoke']").click()
    expect(row.locator(".state")).to_contain_text("revoked")
    assert asked and key_id in asked[0]
    reply = admin_server.check({}, creds)
    assert (reply.status, reply.json["code"]) == (401, 4010)
    assert "revoked" in reply.json["msg"]
    page.screenshot(path=str(artifacts / "console-revoked.png"), full_page=True)
