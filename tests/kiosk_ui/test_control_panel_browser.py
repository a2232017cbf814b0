"""The control panel in a real browser: Debian's chromium driven by Playwright, against the daemon's own
server (uvicorn on a free port) over a gallery running in real time."""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
import threading
from pathlib import Path

import pytest
from test_control_panel_api import GIVE_UP, wait_for, write_small_exhibit

from art2mus.installation.config import load_exhibit
from art2mus.installation.gallery import IDLE_KEY, Gallery

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
sync_api = pytest.importorskip("playwright.sync_api")
# Playwright's own 5 s (expect) and 30 s (waits) are wall-time limits a starved browser can pass:
# every check below waits on the page, and gives up only at GIVE_UP
sync_api.expect.set_options(timeout=GIVE_UP * 1000)
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
    exhibit_path = write_small_exhibit(tmp_path, repo_root, collection={"name": "Panel test room", "timezone": "Asia/Tokyo"})
    gallery = Gallery(load_exhibit(exhibit_path)).build(control_panel_port=0)
    stop = threading.Event()
    ready = threading.Event()
    thread = threading.Thread(
        target=gallery.run, args=(stop,), kwargs={"on_ready": lambda g: ready.set()}, daemon=True
    )
    thread.start()
    try:
        assert ready.wait(GIVE_UP)
        url = gallery.control_panel.url
        assert url and url.startswith("http://127.0.0.1:")
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.set_default_timeout(GIVE_UP * 1000)
            page.goto(url)
            expect = sync_api.expect
            expect(page.locator("#exhibit")).to_have_text("Panel test room")
            expect(page.locator("#playing")).to_have_text("Idle ambience")
            expect(page.locator("#why")).to_have_text("Following the camera")
            expect(page.locator("#artworks li")).to_have_count(2)

            page.get_by_role("button", name="Play The City at Six O'Clock").click()
            expect(page.locator("#playing")).to_have_text("The City at Six O'Clock")
            expect(page.locator("#why")).to_contain_text("Fixed from this panel")
            expect(page.locator("#artworks li.playing")).to_have_attribute("data-id", "city-at-six")
            assert wait_for(lambda: gallery.engine.status()["playing"] == "city-at-six")

            page.locator("#volume").fill("30")  # the range input: "input" then "change"
            # a jump of more than 20 points from one tap is asked about first
            page.get_by_role("button", name="Set 30 %").click()
            expect(page.locator("#volume-value")).to_have_text("30 %")
            assert wait_for(lambda: gallery.engine.status()["master_volume_target"] == 0.3)

            page.get_by_role("button", name="Idle ambience", exact=True).click()
            expect(page.locator("#playing")).to_have_text("Idle ambience")
            assert wait_for(lambda: gallery.engine.status()["playing"] == IDLE_KEY)
            page.get_by_role("button", name="Follow the camera").click()
            expect(page.locator("#why")).to_have_text("Following the camera")
            assert gallery.director.override is None
            # the panel's own event (not necessarily the newest: the walk's camera may choose right after)
            expect(page.locator("#events li", has_text="(chosen on this panel)")).not_to_have_count(0)
            expect(page.locator("#connection")).to_have_text("running")
            # times on the gallery's clock (Tokyo), whatever the browser's: the event list's first line
            shown = page.locator("#events li time").first
            expect(shown).to_have_text(re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$"))
            sent = shown.get_attribute("datetime")  # ISO with the gallery's offset, e.g. ...+09:00
            assert sent.endswith("+09:00") and shown.inner_text() == sent[:19].replace("T", " ")
            page.screenshot(path=str(tmp_path / "panel.png"), full_page=True)

            # a reload that retitles an artwork: the list and what plays show the new title at once
            exhibit_path.write_text(exhibit_path.read_text().replace("The City at Six O'Clock", "City at Six, Retitled"))
            page.get_by_role("button", name="Reload").click()
            expect(page.locator("#reload-state")).to_contain_text("reloaded")
            import datetime as dt  # noqa: PLC0415
            from zoneinfo import ZoneInfo  # noqa: PLC0415

            at = dt.datetime.fromisoformat(gallery.last_reload["at"]).astimezone(ZoneInfo("Asia/Tokyo"))
            # the reload's time on the gallery's clock too (it was the browser's, in the browser's format)
            expect(page.locator("#reload-state")).to_have_text(f"reloaded {at:%Y-%m-%d %H:%M:%S}")
            expect(page.locator("#artworks li[data-id=city-at-six] .text")).to_contain_text("City at Six, Retitled")
            page.get_by_role("button", name="Play City at Six, Retitled").click()
            expect(page.locator("#playing")).to_have_text("City at Six, Retitled")

            # a reload that takes long (a large collection's index), asked for by SIGHUP as systemctl does:
            # the page says it is under way for as long as it is, and the button waits (it gave up after 30 s)
            release, original = threading.Event(), gallery._prepare_reload
            gallery._prepare_reload = lambda at: release.wait(GIVE_UP) and original(at)  # the preparation, on its thread
            gallery.request_reload()
            expect(page.locator("#reload-state")).to_contain_text("reloading… (asked for ")
            expect(page.locator("#reload")).to_be_disabled()
            for _ in range(3):  # three more polls: still under way
                with page.expect_response(lambda r: "/api/status" in r.url):
                    pass
            expect(page.locator("#reload-state")).to_contain_text("reloading…")
            release.set()
            expect(page.locator("#reload-state")).to_have_text(re.compile(r"^reloaded \d{4}-"))
            expect(page.locator("#reload")).to_be_enabled()

            # the daemon stops: the page says so, greys what it shows, and a command says it was not sent
            stop.set()
            thread.join(10)
            expect(page.locator("#offline")).to_contain_text("has not answered since")
            expect(page.locator("body")).to_have_class(re.compile("stale"))
            page.get_by_role("button", name="Follow the camera").click()
            expect(page.locator("#error")).to_have_text(
                "The art2mus daemon does not answer at this address (is it running?) The command was not carried out."
            )
            browser.close()
        assert (tmp_path / "panel.png").stat().st_size > 10_000
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
    # the port is released when the gallery stops (its closed connections may wait in TIME_WAIT, as a
    # restarted daemon's server allows: a listener still there would refuse this bind all the same)
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", int(url.rsplit(":", 1)[1].strip("/"))))


# ---------------------------------------------------------------------------------------- issue 11: insight

SHOTS = Path(os.environ.get("ART2MUS_SCREENSHOTS", "")) if os.environ.get("ART2MUS_SCREENSHOTS") else None

#: pixels of the live view's outline colour (BGR 60, 220, 60), counted in the page
GREEN_PIXELS_JS = """() => {
  const img = document.getElementById('live');
  if (!img.complete || !img.naturalWidth) return 0;
  const canvas = document.createElement('canvas');
  canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
  const ctx = canvas.getContext('2d');
  ctx.drawImage(img, 0, 0);
  const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  let n = 0;
  for (let i = 0; i < data.length; i += 4) if (data[i + 1] > 180 && data[i] < 120 && data[i + 2] < 120) n++;
  return n;
}"""


def _run_gallery(exhibit_path: Path):
    gallery = Gallery(load_exhibit(exhibit_path)).build(control_panel_port=0)
    stop = threading.Event()
    ready = threading.Event()
    thread = threading.Thread(
        target=gallery.run, args=(stop,), kwargs={"on_ready": lambda g: ready.set()}, daemon=True
    )
    thread.start()
    assert ready.wait(GIVE_UP)
    return gallery, stop, thread


def _shoot(page, tmp_path: Path, name: str) -> Path:
    path = (SHOTS or tmp_path) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    return path


def test_live_view_meter_listening_and_screenshots(tmp_path, repo_root):
    gallery, stop, thread = _run_gallery(write_small_exhibit(tmp_path, repo_root))
    try:
        url = gallery.control_panel.url
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM,
                headless=True,
                args=[*ARGS, "--autoplay-policy=no-user-gesture-required"],
            )
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.set_default_timeout(GIVE_UP * 1000)
            page.goto(url)
            expect = sync_api.expect
            expect(page.locator("#connection")).to_have_text("running")
            # the live view: an image that changes...
            page.wait_for_function("() => document.getElementById('live').dataset.frame")
            first = page.locator("#live").get_attribute("data-frame")
            page.wait_for_function(f"() => document.getElementById('live').dataset.frame !== '{first}'")
            # ...and an outline once the walk faces an artwork (amber-fields from 5.3 s)
            page.wait_for_function(f"({GREEN_PIXELS_JS})() > 300", timeout=GIVE_UP * 1000)
            expect(page.locator("#vision")).to_contain_text("sees Amber Fields at Dusk")
            # thumbnails with their recognition quality
            expect(page.locator("#artworks li img")).to_have_count(2)
            page.wait_for_function(
                "() => [...document.querySelectorAll('#artworks li img')].every(i => i.naturalWidth > 0)"
            )
            expect(page.locator("#artworks li .quality").first).to_contain_text("keypoints")
            # the meter moves while the room plays
            page.evaluate(
                "() => { window.peaks = new Set(); setInterval(() => window.peaks.add(document.getElementById('peak').value), 200); }"
            )
            page.wait_for_function("() => window.peaks.size >= 3")
            # listening in the page: the audio element plays, the room does not change
            playing_before = gallery.engine.status()["playing"]
            page.get_by_role("button", name="Listen to The City at Six O'Clock").click()
            page.wait_for_function(
                "() => { const a = document.getElementById('listener');"
                " return a.dataset.what === 'city-at-six' && !a.paused && a.currentTime > 0 && a.readyState >= 3; }"
            )
            assert gallery.director.override is None and gallery.engine.status()["playing"] in (
                playing_before,
                "amber-fields",
                "idle",
            )
            # timestamped events and the log view
            expect(page.locator("#events li time").first).to_have_attribute(
                "datetime", re.compile(r"^\d{4}-\d\d-\d\dT")
            )
            logging.getLogger("art2mus.test").error("a problem for the log view")
            expect(page.locator("#logs li.ERROR").first).to_contain_text("a problem for the log view")
            # a record with a long unbroken text (a path, a digest list) wraps: the page stays 768 px wide below
            logging.getLogger("art2mus.test").warning("/a/long/path/" + "x" * 3000)
            expect(page.locator("#logs li.WARNING").first).to_contain_text("/a/long/path/")
            # reload: progress, then its result
            page.get_by_role("button", name="Reload").click()
            expect(page.locator("#reload-state")).to_contain_text("reloaded", timeout=GIVE_UP * 1000)
            _shoot(page, tmp_path, "panel-1280x800.png")
            page.set_viewport_size({"width": 768, "height": 1024})
            assert page.evaluate("() => document.documentElement.scrollWidth") <= 768
            _shoot(page, tmp_path, "panel-768x1024.png")
            # keyboard: Tab reaches the commands, Enter presses them
            page.locator("#idle").focus()
            page.keyboard.press("Enter")
            expect(page.locator("#why")).to_contain_text("Fixed from this panel")
            browser.close()
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()


def test_the_badge_names_a_failing_audio_output(tmp_path, repo_root):
    exhibit = write_small_exhibit(
        tmp_path, repo_root, audio={"output": {"type": "pyaudio", "device": "no-such-sound-card-art2mus"}}
    )
    gallery, stop, thread = _run_gallery(exhibit)
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.set_default_timeout(GIVE_UP * 1000)
            page.goto(gallery.control_panel.url)
            expect = sync_api.expect
            expect(page.locator("#connection")).to_have_text("attention (1)")
            expect(page.locator("#attention li").first).to_contain_text("audio output down")
            expect(page.locator("#audible")).to_contain_text("Nothing reaches the speakers")
            _shoot(page, tmp_path, "panel-audio-down.png")
            browser.close()
    finally:
        stop.set()
        thread.join(10)



def test_a_cameras_last_error_is_shown_as_past_once_it_streams_again(tmp_path, repo_root):
    """The status keeps the camera's last error after it is back: the panel showed none, and read as
    current it would mislead, so once streaming it says how long ago it was."""
    import dataclasses

    gallery, stop, thread = _run_gallery(write_small_exhibit(tmp_path, repo_root))
    try:
        grabber = gallery.grabber
        real = grabber.health
        state = {"state": "reconnecting"}
        error = "/cam/walk.mp4: video file not found"
        grabber.health = lambda: dataclasses.replace(
            real(), state=state["state"], last_error=error, last_error_age_s=125.0
        )
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.set_default_timeout(GIVE_UP * 1000)
            page.goto(gallery.control_panel.url)
            expect = sync_api.expect
            expect(page.locator("#camera")).to_contain_text("reconnecting, ")
            expect(page.locator("#camera")).to_contain_text(f"reconnects: {error}")
            state["state"] = "streaming"
            expect(page.locator("#camera")).to_contain_text(f"reconnects, last error 2 min ago: {error}")
            browser.close()
    finally:
        stop.set()
        thread.join(10)


def test_api_docs_render_with_the_network_blocked(tmp_path, repo_root):
    exhibit = write_small_exhibit(tmp_path, repo_root, control_panel={"token": "docs-token"})
    gallery, stop, thread = _run_gallery(exhibit)
    try:
        url = gallery.control_panel.url
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            page = browser.new_page()
            page.set_default_timeout(GIVE_UP * 1000)
            outside = []

            def only_the_panel(route):
                if route.request.url.startswith(url):
                    route.continue_()
                else:
                    outside.append(route.request.url)
                    route.abort()

            page.route("**/*", only_the_panel)
            page.goto(url + "api/docs?token=docs-token")
            expect = sync_api.expect
            # Swagger UI's 1.5 MB of JS takes a while to parse on a busy machine: wait on the page, not a clock
            expect(page.locator(".swagger-ui .info .title")).to_contain_text("control panel", timeout=GIVE_UP * 1000)
            expect(page.locator(".opblock-summary-path", has_text="/api/live.jpg")).to_have_count(
                1, timeout=GIVE_UP * 1000
            )
            page.goto(url + "redoc?token=docs-token")
            expect(page.locator("#redoc h1")).to_contain_text("control panel", timeout=GIVE_UP * 1000)
            # the sidebar's attribution holds ReDoc's logo from its CDN: once it is drawn, nothing went out
            expect(page.get_by_text("API docs by Redocly")).to_be_visible(timeout=GIVE_UP * 1000)
            page.wait_for_load_state("networkidle")
            assert outside == []
            assert page.goto(url + "api/docs").status == 401  # and not without the token
            assert page.goto(url + "redoc").status == 401
            # the panel itself without its token: a form asks for it (a browser cannot send the header)
            page.unroute("**/*")
            page.goto(url)
            expect(page.locator("#connection")).to_have_text("locked")
            expect(page.locator("#token-why")).to_contain_text("needs its access token")
            page.locator("#token-input").fill("docs-token")
            page.get_by_role("button", name="Open the panel").click()
            expect(page.locator("#exhibit")).to_have_text("Panel test room")
            assert "token" not in page.url  # kept in the tab's sessionStorage, not in its history
            # the right token: the form is gone from the screen (its CSS overrode [hidden]: on every page)
            expect(page.locator("#token-form")).to_be_hidden()
            page.goto(url + "?token=wrong")
            expect(page.locator("#token-why")).to_contain_text("is not this control panel's")
            browser.close()
    finally:
        stop.set()
        thread.join(10)


def test_a_room_closed_by_its_opening_hours_is_said_to_be_closed_not_broken(tmp_path, repo_root):
    """Silent on purpose: the line under what plays says why and until when, in plain grey; it gave the
    first attention item, or nothing."""
    import datetime as dt  # noqa: PLC0415

    today = dt.date.today()
    closed = [str(today + dt.timedelta(days=d)) for d in (-1, 0, 1)]  # whatever the gallery's timezone
    exhibit = write_small_exhibit(tmp_path, repo_root, schedule={"closed_dates": closed})
    gallery, stop, thread = _run_gallery(exhibit)
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.set_default_timeout(GIVE_UP * 1000)
            page.goto(gallery.control_panel.url)
            expect = sync_api.expect
            expect(page.locator("#audible")).to_contain_text(
                "Nothing reaches the speakers: the room is closed by its opening hours until "
            )
            expect(page.locator("#audible")).to_have_class(re.compile(r"\bclosed\b"))
            expect(page.locator("#attention li")).to_have_count(0)
            browser.close()
    finally:
        stop.set()
        thread.join(10)
