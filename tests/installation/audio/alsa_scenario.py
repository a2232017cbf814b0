"""One audio-engine scenario through real PortAudio and ALSA on a machine without a sound card.

ALSA's ``file`` plugin stands in for the card: the ``default`` PCM converts to S16 and pipes the
samples into a *pacer* (this script, ``pace`` mode) that takes them at real-time speed and appends
them to a file. Killing the pacer breaks the pipe, which PortAudio sees as a failing device; a
configuration whose PCM cannot open stands in for the card being gone.

Run in a fresh process per scenario (ALSA reads its configuration per process, and a blocked
PortAudio must not take pytest with it)::

    python alsa_scenario.py play WORKDIR   # play noise while the main thread hogs the GIL
    python alsa_scenario.py loss WORKDIR   # lose the device, fail to reopen, get it back
    python alsa_scenario.py pace OUT STOP  # (used by ALSA) the pacing reader

Writes ``WORKDIR/result.json`` and the whole mix as ``WORKDIR/mix.npy``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path

RATE = 48000
FRAME_BYTES = 4  # S16 stereo


def pace(out_path: str, stop_path: str) -> None:
    """Copy stdin to ``out_path`` no faster than real time; exit when ``stop_path`` exists."""
    try:
        # Shrink the pipe from 64 KB (0.34 s) to 16 KB (85 ms), about what a sound card buffers.
        import fcntl

        fcntl.fcntl(sys.stdin.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), 16384)
    except OSError:
        pass
    start, taken = time.monotonic(), 0
    with open(out_path, "ab") as out:
        while not os.path.exists(stop_path):
            chunk = sys.stdin.buffer.read1(4096)
            if not chunk:
                break
            out.write(chunk)
            out.flush()
            taken += len(chunk)
            ahead = taken / (RATE * FRAME_BYTES) - (time.monotonic() - start)
            if ahead > 0:
                time.sleep(ahead)


def write_asoundrc(xdg: Path, text: str) -> None:
    """Replace the ALSA configuration atomically (a new inode, so ALSA sees the change on re-initialise)."""
    target = xdg / "alsa" / "asoundrc"
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, target)


def good_config(work: Path, name: str) -> str:
    pacer = f"{sys.executable} {Path(__file__).resolve()} pace {work / (name + '.raw')} {work / (name + '.stop')}"
    return (
        'pcm.!default { type plug slave { pcm "tofile" format S16_LE } }\n'
        f'pcm.tofile {{ type file slave.pcm "null" file "| exec {pacer}" format "raw" }}\n'
        "ctl.!default { type null }\n"
    )


BROKEN_CONFIG = "pcm.!default { type hw card 9 }\nctl.!default { type null }\n"


class ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(f"{record.levelname} {record.getMessage()}")


def wait_for(predicate, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def recorded_s(path: Path) -> float:
    """Seconds of audio ALSA has written to ``path`` so far (0 before the file exists)."""
    return path.stat().st_size / (RATE * FRAME_BYTES) if path.exists() else 0.0


def run(scenario: str, work: Path) -> None:
    import numpy as np

    from art2mus.installation.audio import AudioEngine, Backoff, prepare_clip
    from art2mus.installation.audio.portaudio import PyAudioOutput

    xdg = Path(os.environ["XDG_CONFIG_HOME"])
    write_asoundrc(xdg, good_config(work, "out1"))
    handler = ListHandler()
    logging.getLogger("art2mus").addHandler(handler)
    logging.getLogger("art2mus").setLevel(logging.INFO)

    class TimedOutput(PyAudioOutput):
        """Notes when each callback ran: ALSA can only have played silence of its own while one was late."""

        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.called_at: list[float] = []

        def _callback(self, *args):
            self.called_at.append(time.monotonic())
            return super()._callback(*args)

    output = TimedOutput("default", latency_s=0.05, stall_s=1.0)
    blocks: list[np.ndarray] = []
    engine = AudioEngine(
        output,
        master_volume=1.0,
        block_frames=1024,
        buffer_seconds=0.2,
        backoff=Backoff(0.2, 0.8),
        monitor=lambda first, block: blocks.append(block.copy()),
    )
    rng = np.random.default_rng(7)
    # long enough that no frame repeats however long a busy machine makes the scenario: each is identifiable
    noise = (rng.standard_normal((60 * RATE, 2)) * 0.1).astype(np.float32)
    engine.play(prepare_clip(noise, RATE, key="noise", mix_rate=RATE, loop_crossfade_s=0), crossfade_s=0)
    result: dict[str, object] = {}
    t0 = time.monotonic()
    engine.start()
    result["opened"] = wait_for(lambda: engine.status()["state"] == "playing", 5.0)
    if scenario == "play":
        # Pure-Python work on another thread must not starve the device: the callback only copies.
        # Spin until ALSA has recorded 0.8 s (the ~0.3 s of silence a callback stream starts with, then
        # sound), however slowly a busy machine gets there; 30 s is the give-up deadline.
        end = time.monotonic() + 30.0
        spins = 0
        while (spins < 200 or recorded_s(work / "out1.raw") < 0.8) and time.monotonic() < end:
            spins += sum(i * i for i in range(2000)) > 0
        result["spins"] = spins
    else:
        # a callback stream starts with ~0.3 s of silence here (PortAudio prefill + pipe): wait for sound
        wait_for(lambda: recorded_s(work / "out1.raw") >= 0.8, 30.0)
        t_loss = time.monotonic()
        write_asoundrc(xdg, BROKEN_CONFIG)  # the card is gone: reopening must fail
        (work / "out1.stop").touch()  # and the stream breaks now
        result["lost_detected"] = wait_for(lambda: engine.status()["state"] == "lost", 3.0)
        t_detected = time.monotonic()
        # Two readings of the mix clock while nothing can play (the first after the audio that was
        # still in the ring at the loss has been passed, and two tries to reopen have failed: PortAudio
        # takes its time to re-initialise on a busy machine).
        time.sleep(0.3)
        wait_for(lambda: engine.status()["reconnect_attempts"] >= 2, 30.0)
        # One reading is the mix clock minus however late the render thread is at that instant (0.2 s
        # on a machine busy with other work), so the clock is read every 10 ms for 0.4 s at each end of
        # a 1 s stretch: the mix never runs ahead of its clock, and the closest reading of each stretch
        # is that clock's value, whatever the thread's lateness.
        def clock_reading(seconds: float) -> tuple[float, float]:
            best, end = None, time.monotonic() + seconds
            while time.monotonic() < end:
                mix, wall = engine.position_s, time.monotonic()
                if best is None or mix - wall > best[0] - best[1]:
                    best = (mix, wall)
                time.sleep(0.01)
            return best

        mix_a, wall_a = clock_reading(0.4)
        time.sleep(0.2)
        result["status_while_lost"] = engine.status()
        mix_b, wall_b = clock_reading(0.4)
        result["mix_s_while_lost"] = mix_b - mix_a
        result["wall_s_while_lost"] = wall_b - wall_a
        t_restore = time.monotonic()
        write_asoundrc(xdg, good_config(work, "out2"))  # plugged back in
        result["came_back"] = wait_for(lambda: engine.status()["state"] == "playing", 10.0)
        t_back = time.monotonic()
        wait_for(lambda: recorded_s(work / "out2.raw") >= 0.4, 30.0)  # sound again, however busy the machine
        result.update(
            loss_at_s=t_loss - t0, detected_at_s=t_detected - t0, restored_at_s=t_restore - t0, back_at_s=t_back - t0
        )
    result["status"] = engine.status()
    engine.stop()
    # seconds by which callbacks came later than two callback periods (the ALSA buffer) after the one before
    period = output.frames_per_buffer / RATE
    gaps = np.diff(np.asarray(output.called_at))
    result["callbacks_late_s"] = [round(float(g) - 2 * period, 4) for g in gaps if g > 2 * period]
    result["elapsed_s"] = time.monotonic() - t0
    result["log"] = handler.messages
    np.save(work / "mix.npy", np.concatenate(blocks))
    (work / "result.json").write_text(json.dumps(result, default=str))


if __name__ == "__main__":
    if sys.argv[1] == "pace":
        pace(sys.argv[2], sys.argv[3])
    else:
        run(sys.argv[1], Path(sys.argv[2]))
