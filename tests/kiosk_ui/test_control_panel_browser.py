"""The control panel in a real browser: Debian's chromium driven by Playwright, against the daemon's own
server (uvicorn on a free port) over a gallery running in real time."""

from __future__ import annotations

import shutil
import socket
import threading

import pytest
from test_control_panel_api import wait_for, write_small_exhibit

from art2mus.installation.config import load_exhibit
from art2mus.installation.gallery import IDLE_KEY, Gallery

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]


def test_a_technician_uses_the_panel(tmp_path, repo_root):
    gallery = Gallery(load_exhibit(write_small_exhibit(tmp_path, repo_root))).build(control_panel_port=0)
    stop = threading.Event()
    ready = threading.Event()
    thread = threading.Thread(
        target=gallery.run, args=(stop,), kwargs={"on_ready": lambda g: ready.set()}, daemon=True
    )
    thread.start()
    try:
        assert ready.wait(15)
        url = gallery.control_panel.url
        assert url and url.startswith("http://127.0.0.1:")
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.goto(url)
            expect = sync_api.expect
            expect(page.locator("#exhibit")).to_have_text("Panel test room")
            expect(page.locator("#playing")).to_have_text("Idle ambience")
            expect(page.locator("#why")).to_have_text("Following the camera")
            expect(page.locator("#artworks li")).to_have_count(2)

            page.get_by_role("button", name="play city-at-six").click()
            expect(page.locator("#playing")).to_have_text("The City at Six O'Clock")
            expect(page.locator("#why")).to_contain_text("Fixed from this panel")
            expect(page.locator("#artworks li.playing")).to_have_attribute("data-id", "city-at-six")
            assert wait_for(lambda: gallery.engine.status()["playing"] == "city-at-six")

            page.locator("#volume").fill("30")  # the range input: "input" then "change"
            expect(page.locator("#volume-value")).to_have_text("30 %")
            assert wait_for(lambda: gallery.engine.status()["master_volume_target"] == 0.3)

            page.get_by_role("button", name="Idle ambience").click()
            expect(page.locator("#playing")).to_have_text("Idle ambience")
            assert wait_for(lambda: gallery.engine.status()["playing"] == IDLE_KEY)
            page.get_by_role("button", name="Follow the camera").click()
            expect(page.locator("#why")).to_have_text("Following the camera")
            assert gallery.director.override is None
            expect(page.locator("#events li").first).to_contain_text("(manual)")
            expect(page.locator("#connection")).to_have_text("running")
            page.screenshot(path=str(tmp_path / "panel.png"), full_page=True)
            browser.close()
        assert (tmp_path / "panel.png").stat().st_size > 10_000
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
    # the port is released when the gallery stops
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", int(url.rsplit(":", 1)[1].strip("/"))))
