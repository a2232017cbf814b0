"""What fails while the loop swaps a prepared reload in never reaches the loop: before, an exception in
``apply`` (a clip that cannot be read again, the schedule) left ``swap_if_ready`` and ended the daemon's
main loop, where the in-line reload had caught it ('a reload must never stop the room')."""

from __future__ import annotations

import threading

from art2mus.installation.background_reload import BackgroundReload


def test_an_exception_in_the_swap_is_raised_on_the_preparing_thread_not_in_the_loop():
    raised: list[BaseException] = []

    def apply(prepared):
        raise OSError(f"cannot read {prepared} again")

    def reload() -> bool:  # the preparing thread: hand_over, as GalleryControl.reload does
        try:
            return background.hand_over(apply, "amber-fields.flac")
        except OSError as exc:  # GalleryControl.reload logs it and records the failed reload
            raised.append(exc)
            return False

    background = BackgroundReload(reload)
    background.start()
    swapped = False
    for _ in range(500):  # the loop: frames until the swap is ready
        swapped = background.swap_if_ready()  # must not raise
        if swapped:
            break
        threading.Event().wait(0.01)
    assert swapped
    background._thread.join(5)
    assert not background.running
    assert [str(exc) for exc in raised] == ["cannot read amber-fields.flac again"]
    assert background.outcome is False
    assert background.swap_s is not None


def test_a_swap_that_works_returns_its_outcome():
    background = BackgroundReload(lambda: background.hand_over(lambda prepared: prepared == "ok", "ok"))
    background.start()
    for _ in range(500):
        if background.swap_if_ready():
            break
        threading.Event().wait(0.01)
    background._thread.join(5)
    assert background.outcome is True
