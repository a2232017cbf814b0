"""The control panel driven from a phone and through a screen reader, in a real browser (Debian's chromium
through Playwright, the daemon's own server): what a technician found with a stray tap on the volume
slider, live regions that never spoke or spoke every second, buttons named by ids, an error box that stayed,
and a token form that left the token in the address."""

from __future__ import annotations

import contextlib
import shutil
import time
from pathlib import Path

import pytest
from test_control_panel_api import GIVE_UP, wait_for, write_small_exhibit
from test_control_panel_browser import ARGS, CHROMIUM, _run_gallery

sync_api = pytest.importorskip("playwright.sync_api")
sync_api.expect.set_options(timeout=GIVE_UP * 1000)
pytestmark = pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")
expect = sync_api.expect

PHONE = {"viewport": {"width": 390, "height": 740}, "has_touch": True, "is_mobile": True}

# counts each time a list or line is written with the text it already had (a screen reader reads it again,
# a keyboard user's place in a rebuilt list is lost), and each change of its text
WATCH_JS = """(ids) => {
  window.rewrites = {}; window.changes = {};
  for (const id of ids) {
    const element = document.getElementById(id);
    let last = element.textContent;
    window.rewrites[id] = 0; window.changes[id] = 0;
    new MutationObserver(() => {
      if (element.textContent === last) window.rewrites[id] += 1; else window.changes[id] += 1;
      last = element.textContent;
    }).observe(element, { childList: true, subtree: true, characterData: true });
  }
}"""


def _polls(page, count: int) -> None:
    for _ in range(count):
        with page.expect_response(lambda r: "/api/status" in r.url):
            pass


@contextlib.contextmanager
def _panel_on_a_phone(exhibit: Path, before_open=None):
    """(gallery, page): a gallery running in real time and the panel open in a phone-sized chromium."""
    gallery, stop, thread = _run_gallery(exhibit)
    try:
        if before_open:
            before_open(gallery)
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            page = browser.new_context(**PHONE).new_page()
            page.set_default_timeout(GIVE_UP * 1000)
            page.goto(gallery.control_panel.url)
            yield gallery, page
            browser.close()
    finally:
        stop.set()
        thread.join(10)


def test_a_stray_tap_on_the_volume_slider_is_asked_about_and_steps_are_small(tmp_path, repo_root):
    """A tap beside the 16 px track at 90 % of its width set the room from 29 % to 93 % at once."""
    with _panel_on_a_phone(
        write_small_exhibit(tmp_path, repo_root), before_open=lambda g: g.set_master_volume(0.29, 0.0)
    ) as (gallery, page):
        expect(page.locator("#volume-value")).to_have_text("29 %")
        box = page.locator("#volume").bounding_box()
        tap = {"x": box["width"] * 0.9, "y": box["height"] / 2}
        page.locator("#volume").click(position=tap)
        expect(page.locator("#volume-confirm")).to_be_visible()
        expect(page.locator("#volume-question")).to_contain_text("from 29 % to")
        _polls(page, 2)
        assert gallery.engine.status()["master_volume_target"] == pytest.approx(0.29)
        expect(page.locator("#volume")).to_have_value("29")
        page.get_by_role("button", name="Keep 29 %").click()
        expect(page.locator("#volume-confirm")).to_be_hidden()
        _polls(page, 1)
        assert gallery.engine.status()["master_volume_target"] == pytest.approx(0.29)
        # asked again, and said yes: the room takes it
        page.locator("#volume").click(position=tap)
        wanted = int(page.locator("#volume-yes").get_attribute("data-wanted"))
        assert wanted > 80
        page.locator("#volume-yes").click()
        assert wait_for(
            lambda: gallery.engine.status()["master_volume_target"] == pytest.approx(wanted / 100)
        )
        expect(page.locator("#volume-value")).to_have_text(f"{wanted} %")
        # the arrow keys: one point, no question
        page.locator("#volume").focus()
        page.keyboard.press("ArrowLeft")
        assert wait_for(
            lambda: gallery.engine.status()["master_volume_target"] == pytest.approx((wanted - 1) / 100)
        )
        expect(page.locator("#volume-confirm")).to_be_hidden()
        # the -/+ buttons: 5 points each
        expect(page.locator("#volume-value")).to_have_text(f"{wanted - 1} %")
        page.get_by_role("button", name="Room level down 5 %").click()
        assert wait_for(
            lambda: gallery.engine.status()["master_volume_target"] == pytest.approx((wanted - 6) / 100)
        )
        expect(page.locator("#volume-value")).to_have_text(f"{wanted - 6} %")
        page.get_by_role("button", name="Room level up 5 %").click()
        assert wait_for(
            lambda: gallery.engine.status()["master_volume_target"] == pytest.approx((wanted - 1) / 100)
        )
        expect(page.locator("#volume-result")).to_have_text("done")


def test_a_screen_reader_hears_what_plays_once_and_where_a_command_went(tmp_path, repo_root):
    with _panel_on_a_phone(write_small_exhibit(tmp_path, repo_root)) as (gallery, page):
        expect(page.locator("#artworks li")).to_have_count(2)
        expect(page.locator("#now-said")).to_have_attribute("aria-live", "polite")
        expect(page.locator("#now-said")).to_have_text("Now playing Idle ambience (the daemon started)")
        # the modes say which is on to a screen reader, not only by colour
        expect(page.locator("#follow")).to_have_attribute("aria-pressed", "true")
        expect(page.locator("#idle")).to_have_attribute("aria-pressed", "false")
        # named by title, not by id; the idle ambience's name is its visible text (WCAG 2.5.3)
        play = page.get_by_role("button", name="Play The City at Six O'Clock", exact=True)
        expect(
            page.get_by_role("button", name="Listen to The City at Six O'Clock", exact=True)
        ).to_have_count(1)
        assert page.locator("#listen-idle").get_attribute("aria-label") is None
        expect(page.get_by_role("button", name="Listen to the idle ambience", exact=True)).to_have_count(1)
        page.evaluate(WATCH_JS, ["now-said", "events", "logs", "connection", "playing", "why"])

        # the button is busy while its command is on its way, and says beside it what came of it
        held = []
        page.route("**/api/play", lambda route: held.append(route))
        play.click()
        page.wait_for_function("() => document.querySelector('[aria-busy=true]') !== null")
        assert play.get_attribute("aria-busy") == "true"
        expect(page.locator("#artworks li[data-id=city-at-six] [role=status]")).to_have_text("sending…")
        wait_for(lambda: held)
        held[0].continue_()
        page.unroute("**/api/play")
        expect(page.locator("#artworks li[data-id=city-at-six] [role=status]")).to_have_text("done")
        expect(play).not_to_have_attribute("aria-busy", "true")
        expect(page.locator("#now-said")).to_have_text(
            "Now playing The City at Six O'Clock (chosen on this panel)"
        )
        expect(page.locator("#artworks li[data-id=city-at-six]")).to_have_attribute("aria-current", "true")
        expect(page.locator("#artworks li[aria-current]")).to_have_count(1)
        expect(page.locator("#idle")).to_have_attribute("aria-pressed", "false")
        expect(page.locator("#follow")).to_have_attribute("aria-pressed", "false")
        _polls(page, 4)
        changes = page.evaluate("() => window.changes")
        rewrites = page.evaluate("() => window.rewrites")
        assert changes["now-said"] == 1  # said once, not at every poll
        # nothing is written again with the same text: the event list kept its place for 4 polls
        assert rewrites == {key: 0 for key in rewrites}, rewrites

        page.get_by_role("button", name="Idle ambience", exact=True).click()
        expect(page.locator("#idle")).to_have_attribute("aria-pressed", "true")
        expect(page.locator("#mode-result")).to_have_text("done")
        expect(page.locator("#now-said")).to_have_text("Now playing Idle ambience (chosen on this panel)")


def test_the_badge_is_short_and_said_once(tmp_path, repo_root):
    """With 32 artwork problems the badge (a status region) held 330 characters, rewritten every second."""
    exhibit = write_small_exhibit(
        tmp_path, repo_root, audio={"output": {"type": "pyaudio", "device": "no-such-sound-card-art2mus"}}
    )
    with _panel_on_a_phone(exhibit) as (gallery, page):
        expect(page.locator("#connection")).to_have_text("attention (1)")
        expect(page.locator("#connection a")).to_have_attribute("href", "#attention")
        expect(page.locator("#audible")).to_have_attribute("aria-live", "assertive")
        expect(page.locator("#audible")).to_contain_text("Nothing reaches the speakers")
        page.evaluate(WATCH_JS, ["connection", "audible", "attention", "why"])
        _polls(page, 3)
        assert page.evaluate("() => window.rewrites") == {
            "connection": 0,
            "audible": 0,
            "attention": 0,
            "why": 0,
        }


def test_an_error_can_be_closed_and_goes_by_itself(tmp_path, repo_root):
    with _panel_on_a_phone(write_small_exhibit(tmp_path, repo_root)) as (gallery, page):
        expect(page.locator("#artworks li")).to_have_count(2)
        page.evaluate("() => command('/volume', { volume: 2 })")  # refused by the daemon (over 1)
        expect(page.locator("#error")).to_contain_text("volume: Input should be less than or equal to 1")
        page.get_by_role("button", name="Close").click()
        expect(page.locator("#error-box")).to_be_hidden()
        page.evaluate("() => command('/volume', { volume: 2 })")
        expect(page.locator("#error-box")).to_be_visible()
        shown = time.monotonic()
        # not cleared by the status polls that follow (they are not what failed) ...
        _polls(page, 2)
        expect(page.locator("#error-box")).to_be_visible()
        # ... but after some 15 s it goes
        expect(page.locator("#error-box")).to_be_hidden()
        assert time.monotonic() - shown > 10


def test_the_token_form_alone_takes_the_token_and_keeps_it_out_of_the_address(tmp_path, repo_root):
    exhibit = write_small_exhibit(tmp_path, repo_root, control_panel={"token": "a11y-token"})

    with _panel_on_a_phone(exhibit) as (gallery, page):
        expect(page.locator("#connection")).to_have_text("locked")
        expect(page.locator("#token-input")).to_be_focused()
        expect(page.locator("main")).to_be_hidden()  # no panel of "—" and dead buttons under the form
        expect(page.locator("#token-why")).to_have_attribute("role", "alert")
        page.locator("#token-input").fill("wrong")
        page.get_by_role("button", name="Open the panel").click()
        expect(page.locator("#token-why")).to_contain_text("is not this control panel's")
        expect(page.locator("#token-input")).to_be_focused()
        expect(page.locator("main")).to_be_hidden()
        page.locator("#token-input").fill("a11y-token")
        page.keyboard.press("Enter")
        expect(page.locator("#exhibit")).to_have_text("Panel test room")
        expect(page.locator("main")).to_be_visible()
        expect(page.locator("#artworks li img")).to_have_count(2)
        page.wait_for_function(
            "() => [...document.querySelectorAll('#artworks li img')].every(i => i.naturalWidth > 0)"
        )
        assert "token" not in page.url
        # a reload of the tab keeps it (sessionStorage); the history holds no token
        page.reload()
        expect(page.locator("#connection")).not_to_have_text("locked")
        expect(page.locator("#exhibit")).to_have_text("Panel test room")
        # a link that carries it: taken out of the address at once
        page.goto(gallery.control_panel.url + "?token=a11y-token#events")
        expect(page.locator("#exhibit")).to_have_text("Panel test room")
        assert "token" not in page.url and page.url.endswith("#events")
        assert "token" not in "".join(page.evaluate("() => [location.href, document.referrer]"))
