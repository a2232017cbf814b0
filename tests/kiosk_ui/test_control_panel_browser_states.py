"""The control panel in a real browser when the daemon or the room is not well: a daemon that takes
requests and never answers, a camera that stops, artworks that cannot play. Same driver as
``test_control_panel_browser.py`` (Debian's chromium through Playwright, the daemon's own server)."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from zoneinfo import ZoneInfo

import pytest
from test_control_panel_api import GIVE_UP, write_small_exhibit
from test_control_panel_browser import ARGS, CHROMIUM, _run_gallery
from test_control_panel_requests import write_exhibit_with_a_left_out_artwork

sync_api = pytest.importorskip("playwright.sync_api")
sync_api.expect.set_options(timeout=GIVE_UP * 1000)
pytestmark = pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")


def _open(p, url: str, **context):
    browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
    page = browser.new_context(viewport={"width": 1280, "height": 800}, **context).new_page()
    page.set_default_timeout(GIVE_UP * 1000)
    page.goto(url)
    return browser, page


def test_a_hung_daemon_greys_the_page_and_a_command_is_not_confirmed(tmp_path, repo_root):
    """A daemon that accepts connections and never answers (SIGSTOP, a wedged process) looked healthy:
    the page's requests waited for ever and piled up. Now a request gives up after a few seconds, the
    page greys as for a refused connection, on the gallery's clock, and only one status poll waits at a time."""
    exhibit = write_small_exhibit(
        tmp_path, repo_root, collection={"name": "Panel test room", "timezone": "Asia/Tokyo"}
    )
    gallery, stop, thread = _run_gallery(exhibit)
    try:
        with sync_api.sync_playwright() as p:
            # the browser on UTC, the gallery in Tokyo (+09:00): the banner's time must be Tokyo's
            browser, page = _open(p, gallery.control_panel.url, timezone_id="UTC")
            expect = sync_api.expect
            expect(page.locator("#connection")).to_have_text("running")
            # no token on this panel: its token form is not shown (its CSS overrode [hidden])
            expect(page.locator("#token-form")).to_be_hidden()
            # the daemon stops answering: every request is taken and held, never answered
            held, waiting, most = [], {"status": 0}, {"status": 0}

            def hold(route):
                if "/api/status" in route.request.url:
                    waiting["status"] += 1
                    most["status"] = max(most["status"], waiting["status"])
                held.append(route)

            def ended(request):
                if "/api/status" in request.url:
                    waiting["status"] -= 1

            page.on("requestfailed", ended)
            page.route("**/api/**", hold)
            hung_at = dt.datetime.now(ZoneInfo("Asia/Tokyo"))
            expect(page.locator("#offline")).to_contain_text("has not answered since")
            expect(page.locator("body")).to_have_class(re.compile(r"\bstale\b"))
            expect(page.locator("#connection")).to_have_text("no connection")
            shown = re.search(r"since (\d\d):(\d\d):(\d\d)", page.locator("#offline").inner_text())
            assert shown, page.locator("#offline").inner_text()
            at = hung_at.replace(hour=int(shown[1]), minute=int(shown[2]), second=int(shown[3]))
            apart = (at - hung_at).total_seconds() % 86400  # a day wraps: 23:59:59 and 00:00:01 are 2 s apart
            assert min(apart, 86400 - apart) < GIVE_UP  # Tokyo's clock, not UTC's (9 h off)
            page.get_by_role("button", name="Idle ambience", exact=True).click()
            expect(page.locator("#error")).to_contain_text("did not answer within 4 s")
            expect(page.locator("#error")).to_contain_text("The command was not carried out")
            # the polls waited for each other instead of piling up (without that, one a second lasting 4 s
            # each: 4 or more at once); 2 allows the browser reporting one's abort after the next one began
            assert most["status"] <= 2, most
            assert gallery.director.override is None
            page.unroute("**/api/**")
            for route in held:  # the requests given up on are gone: nothing to answer any more
                try:
                    route.continue_()
                except Exception:  # noqa: BLE001, S110 - an aborted request cannot be continued
                    pass
            # it answers again: the page comes back by itself
            expect(page.locator("#connection")).to_have_text("running")
            expect(page.locator("body")).not_to_have_class(re.compile(r"\bstale\b"))
            expect(page.locator("#offline")).to_be_hidden()
            browser.close()
    finally:
        stop.set()
        thread.join(10)


def _run_with_a_left_out_artwork(tmp_path, repo_root):
    """The small exhibit running, city-at-six's audio file no audio at all (left out, the rest play)."""
    import threading  # noqa: PLC0415

    from art2mus.installation.config import load_exhibit  # noqa: PLC0415
    from art2mus.installation.gallery import Gallery  # noqa: PLC0415

    path = write_exhibit_with_a_left_out_artwork(tmp_path, repo_root)
    path.write_text(path.read_text().replace("enabled: false", "enabled: true"))
    gallery = Gallery(load_exhibit(path, audio_may_fail=True)).build(control_panel_port=0)
    stop, ready = threading.Event(), threading.Event()
    thread = threading.Thread(
        target=gallery.run, args=(stop,), kwargs={"on_ready": lambda g: ready.set()}, daemon=True
    )
    thread.start()
    assert ready.wait(GIVE_UP)
    return gallery, stop, thread


def test_an_artwork_with_nothing_to_play_cannot_be_played_and_says_why(tmp_path, repo_root):
    """Play on it answered "There is no artwork 'city-at-six'; the artworks are: ..., city-at-six", and
    Listen the browser's "no supported source was found"."""
    gallery, stop, thread = _run_with_a_left_out_artwork(tmp_path, repo_root)
    try:
        with sync_api.sync_playwright() as p:
            browser, page = _open(p, gallery.control_panel.url)
            expect = sync_api.expect
            expect(page.locator("#artworks li")).to_have_count(2)
            play = page.locator("#artworks li[data-id=city-at-six] button", has_text="Play")
            listen = page.locator("#artworks li[data-id=city-at-six] button", has_text="Listen")
            expect(play).to_be_disabled()
            expect(listen).to_be_disabled()
            expect(play).to_have_attribute("title", re.compile(r"^no soundscape: .*garbage\.wav"))
            expect(page.locator("#artworks li[data-id=amber-fields] button", has_text="Play")).to_be_enabled()
            # asked for anyway (a list from before a reload): the server's reason, not the browser's error
            page.evaluate("() => listen('city-at-six', 'The City at Six O\\'Clock')")
            expect(page.locator("#error")).to_contain_text(
                "Cannot listen to The City at Six O'Clock: city-at-six has nothing to listen to: no soundscape: "
            )
            page.evaluate("() => command('/play', { artwork: 'city-at-six' })")
            expect(page.locator("#error")).to_contain_text("city-at-six cannot play: no soundscape: ")
            # a refused value names its field (the page showed "Unprocessable Entity")
            page.evaluate("() => command('/volume', { volume: 2 })")
            expect(page.locator("#error")).to_have_text(
                re.compile(r"^volume: Input should be less than or equal to 1")
            )
            browser.close()
    finally:
        stop.set()
        thread.join(10)


def test_a_lost_camera_a_ramp_and_a_closing_room_are_said_as_they_are(tmp_path, repo_root):
    """A lost camera kept its last frame captioned "sees nothing · nobody" and its old 10 fps; the level
    line said "now 43 % = room × period 50 %" in mid-ramp; what plays was "—" while closed; the changes
    gave raw reason codes; and the keypoint figure had no scale and another "weak" than init's."""
    import dataclasses  # noqa: PLC0415

    gallery, stop, thread = _run_gallery(write_small_exhibit(tmp_path, repo_root))
    try:
        with sync_api.sync_playwright() as p:
            browser, page = _open(p, gallery.control_panel.url)
            expect = sync_api.expect
            expect(page.locator("#connection")).to_have_text("running")
            expect(page.locator("#events li").last).to_contain_text("Idle ambience (the daemon started)")
            expect(page.locator("#artworks li .quality").first).to_contain_text(
                "keypoints in the index (all scales)"
            )
            expect(page.locator("h3 code")).to_have_text("art2mus unseen promote")
            expect(page.locator("#live")).not_to_have_class(re.compile(r"\bstale\b"))

            grabber, real = gallery.grabber, gallery.grabber.health
            grabber.health = lambda: dataclasses.replace(
                real(), state="reconnecting", fps=10.0, last_frame_age_s=24.0
            )
            assert gallery.status()["camera"]["fps"] == 0.0  # /metrics and the page: no frames, no rate
            expect(page.locator("#camera")).to_contain_text("reconnecting, 0.0 fps")
            expect(page.locator("#vision")).to_have_text("camera reconnecting")
            expect(page.locator("#presence")).to_have_text(re.compile(r"^no image since \d\d:\d\d:\d\d$"))
            expect(page.locator("#live")).to_have_class(re.compile(r"\bstale\b"))
            grabber.health = real
            expect(page.locator("#live")).not_to_have_class(re.compile(r"\bstale\b"))

            gallery.set_master_volume(0.2, 60.0)  # a minute's ramp: the page sees it under way
            # the target is the level beside it: "20 % (ramping to 20 %, now 43 %)" said it twice
            expect(page.locator("#volume-value")).to_have_text("20 %")
            expect(page.locator("#volume-real")).to_have_text(re.compile(r"^\(ramping, now \d+ %\)$"))

            status = gallery.status
            gallery.status = lambda: {
                **status(),
                "playing": None,
                "schedule": {"open": False, "until": None, "period": "closed", "volume": 0.0},
            }
            expect(page.locator("#playing")).to_have_text("Silence (closed)")
            expect(page.locator("#audible")).to_have_text(
                "The room is closing by its opening hours: fading out"
            )
            # an unseen artwork is found by its frame, not scored: "(score 0)" said nothing true
            unseen = "unseen:u45853f3f3e4a4a30"
            gallery.status = lambda: {
                **status(),
                "vision": {"artwork": unseen, "score": 0},
                "titles": {unseen: "unseen artwork u4585… (seen 3 times)"},
            }
            expect(page.locator("#vision")).to_have_text("sees unseen artwork u4585… (seen 3 times)")
            gallery.status = lambda: {**status(), "vision": {"artwork": "amber-fields", "score": 31}}
            expect(page.locator("#vision")).to_have_text(re.compile(r"^sees .* \(score 31\)$"))
            browser.close()
    finally:
        stop.set()
        thread.join(10)
