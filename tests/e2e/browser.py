"""A real browser for the console's tests: Debian's Chromium driven by Playwright for Python
(never a browser Playwright downloads), a fake camera fed a face video (tests/face_video.py), axe-core for
accessibility, and screenshots at the desk screen's size (1366×768).

Without /usr/bin/chromium (`.ci/run` installs it) the browser tests skip and say why; axe-core
comes from the npm registry into a cache folder the first time (it is not shipped with kanim).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
NO_CHROMIUM = "Debian's chromium is not installed (/usr/bin/chromium): `.ci/run` installs it with apt-get"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
CAMERA_FLAGS = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
DESK_SCREEN = {"width": 1366, "height": 768}
AXE_VERSION = "4.14.1"
AXE_CACHE = Path.home() / ".cache" / "kanim-tests" / f"axe-core-{AXE_VERSION}"
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"  # ignored by git
REPO = Path(__file__).resolve().parents[2]


def require_chromium() -> None:
    if not CHROMIUM.exists():
        pytest.skip(NO_CHROMIUM)


def axe_script() -> str:
    """axe.min.js, installed from npm once into a cache folder."""
    script = AXE_CACHE / "node_modules" / "axe-core" / "axe.min.js"
    if not script.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip("npm is not installed: axe-core comes from the npm registry")
        AXE_CACHE.mkdir(parents=True, exist_ok=True)
        r = subprocess.run([npm, "install", "--no-save", "--no-audit", "--no-fund", "--prefix", str(AXE_CACHE),
                            f"axe-core@{AXE_VERSION}"], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0 and script.exists(), f"npm could not install axe-core: {r.stderr[-2000:]}"
    return script.read_text()


def serious_violations(page, script: str) -> list[dict]:  # noqa: ANN001
    """axe-core's serious and critical violations of the page as it stands."""
    page.add_script_tag(content=script)
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [{"id": v["id"], "impact": v["impact"], "help": v["help"],
             "nodes": [n["target"] for n in v["nodes"]][:5]}
            for v in result["violations"] if v["impact"] in ("serious", "critical")]


def screenshot(page, name: str) -> Path:  # noqa: ANN001
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{re.sub(r'[^a-z0-9_-]+', '-', name.lower())}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def log_in(context, base_url: str, username: str, password: str):  # noqa: ANN001, ANN201
    """A page of `context` logged in through the console's login form."""
    page = context.new_page()
    page.goto(f"{base_url}/staff/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("form[action='/staff/login'] button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert "/staff/login" not in page.url, f"{username} could not log in: {page.inner_text('main')[:300]}"
    return page


def dump(value: object) -> str:
    return json.dumps(value, indent=1, default=str)[:3000]
