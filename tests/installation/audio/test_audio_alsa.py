"""The real PortAudio path on a machine without a sound card: ALSA's file plugin records what PortAudio plays.

Each scenario runs in its own process (see ``alsa_scenario.py``); both run at once to keep this
file to a few seconds. We check that what the mixer produced is exactly what reached ALSA (within
int16 rounding, after the leading silence a callback stream starts with), and that a device that
breaks and comes back is reopened with backoff and resumes at the current position of the mix.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import correlate

pytest.importorskip("pyaudio")

SCRIPT = Path(__file__).with_name("alsa_scenario.py")
SR = 48000
LSB = 1.0 / 32768


@pytest.fixture(scope="module")
def scenarios(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[dict, Path]]:
    runs = {}
    for name in ("play", "loss"):
        work = tmp_path_factory.mktemp(f"alsa-{name}")
        (work / "xdg").mkdir()
        # XDG_CONFIG_HOME must be set before PortAudio initialises; HOME too, so a developer's own
        # ~/.asoundrc cannot redefine the default PCM. ALSA's chatter goes to a file.
        env = {**os.environ, "XDG_CONFIG_HOME": str(work / "xdg"), "HOME": str(work)}
        stderr = (work / "stderr.txt").open("w")
        runs[name] = (subprocess.Popen([sys.executable, str(SCRIPT), name, str(work)], env=env, stderr=stderr), work, stderr)
    results = {}
    for name, (proc, work, stderr) in runs.items():
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        stderr.close()
        assert proc.returncode == 0, f"{name} scenario failed:\n{(work / 'stderr.txt').read_text()[-3000:]}"
        results[name] = (json.loads((work / "result.json").read_text()), work)
    return results


def align(raw: Path, mix: np.ndarray) -> tuple[int, int, float, int, int]:
    """Find the audio ALSA received in the mix.

    A starved process may miss a callback's deadline: the ring then hands PortAudio silence for the
    frames the mixer had not made yet (the engine counts them: ``frames_missing``) and the mix goes
    on with the next frame. So the recording is cut at runs of digital silence, and each piece must
    be the mix exactly, each starting where the previous one ended: nothing mixed lost or repeated.

    Returns ``(first mix frame, mix frames covered, largest difference in LSB, leading silent frames,
    silent frames inserted after the first sound)``.
    """
    got = np.fromfile(raw, dtype="<i2").reshape(-1, 2).astype(np.float64) * LSB
    sounding = np.flatnonzero(np.any(got != 0, axis=1))
    assert sounding.size, f"{raw.name} holds only silence"
    lead = int(sounding[0])
    got = got[lead : int(sounding[-1]) + 1]
    # pieces of sound between runs of >= 8 silent frames (noise at -20 dBFS is never 0 on both
    # channels for 8 frames running)
    silent = ~np.any(got != 0, axis=1)
    edges = np.flatnonzero(np.diff(np.concatenate(([0], silent.astype(np.int8), [0]))))
    runs = [(a, b) for a, b in zip(edges[::2], edges[1::2], strict=True) if b - a >= 8]
    bounds = [0, *[x for run in runs for x in run], got.shape[0]]
    pieces = [(a, b) for a, b in zip(bounds[::2], bounds[1::2], strict=True) if b > a]
    a, b = pieces[0]
    probe = got[a : a + min(4096, b - a), 0]
    start = int(np.argmax(correlate(mix[:, 0].astype(np.float64), probe, mode="valid", method="fft")))
    at, worst = start, 0.0
    for a, b in pieces:
        n = min(b - a, mix.shape[0] - at)
        worst = max(worst, float(np.abs(got[a : a + n] - mix[at : at + n]).max()) / LSB)
        at += n
    inserted = sum(b - a for a, b in runs)
    return start, at - start, worst, lead, inserted


def silence_accounted_for(result: dict) -> int:
    """Frames of silence the engine and the device can account for, at most.

    The ring's own shortfalls (``frames_missing``), plus what ALSA may have played on its own while
    PortAudio's callback thread did not get the CPU: PortAudio then restarts the PCM with its buffer
    zeroed (at most a few periods) and flags the next callback ``paOutputUnderflow`` (the output's
    ``device_underflows``), and a callback cannot be late without the scenario seeing it
    (``callbacks_late_s``). ALSA moves audio in whole periods, so a late callback's silence is its
    lateness rounded up to whole periods (CI once recorded 9,168 silent frames for 7 late callbacks
    whose lateness summed to 8,774 frames), plus one period: lateness is measured from the callback
    before, which itself ran anywhere within its period (CI once recorded 1,360 silent frames for one
    callback 0.012 s late with periods of 1,200 frames). Only a process the OS starves gets the last
    two; the mixer's frames are still neither lost nor repeated (``align`` checks that).
    """
    status = result["status"]
    output = status["output"]
    period = output["frames_per_buffer"]
    late_frames = sum((math.ceil(late * SR / period) + 1) * period for late in result["callbacks_late_s"])
    return status["frames_missing"] + output["device_underflows"] * 4 * period + late_frames


def test_what_was_mixed_is_what_reached_alsa(scenarios) -> None:
    result, work = scenarios["play"]
    mix = np.load(work / "mix.npy")
    start, n, worst, lead, inserted = align(work / "out1.raw", mix)
    status = result["status"]
    print(
        f"play: {n} frames reached ALSA after {lead} silent ones, equal to mix[{start}:] within {worst:.2f} LSB; "
        f"{inserted} silent frames inserted, the engine reports {status['frames_missing']} missing in "
        f"{status['underruns']} underruns; PortAudio flagged {status['output']['device_underflows']} device underflows; "
        f"callbacks late by {result['callbacks_late_s']} s"
    )
    assert result["opened"]
    assert n > 0.4 * SR  # most of the ~0.8 s played
    assert worst <= 1.0  # int16 rounding, piece by piece, with nothing mixed lost or repeated
    # A main thread spinning in pure Python the whole time did not starve the device: any silence in
    # the recording is silence the engine reports (the OS may starve the whole process when other
    # programs hog the CPUs; a GIL-hogging thread alone leaves 0 here on an idle machine).
    assert result["spins"] > 100
    assert inserted <= silence_accounted_for(result)
    assert status["output"]["device_name"] == "default"


def test_device_loss_is_logged_retried_with_backoff_and_resumes_at_the_current_mix_position(scenarios) -> None:
    result, work = scenarios["loss"]
    mix = np.load(work / "mix.npy")
    assert result["opened"] and result["lost_detected"] and result["came_back"]
    log = result["log"]
    assert any("audio output lost" in m for m in log)
    attempts = [m for m in log if "audio output unavailable" in m]
    assert len(attempts) >= 2 and "next try in 0.2 s" in attempts[0] and "next try in 0.4 s" in attempts[1]
    assert any("audio output back after" in m for m in log)
    lost = result["status_while_lost"]
    assert lost["state"] == "lost" and not lost["healthy"] and lost["reconnect_attempts"] >= 2
    # The mix clock ran on at real-time speed while nothing could play.
    assert result["mix_s_while_lost"] == pytest.approx(result["wall_s_while_lost"], abs=0.05)

    start1, n1, worst1, _, inserted1 = align(work / "out1.raw", mix)
    start2, n2, worst2, _, inserted2 = align(work / "out2.raw", mix)
    assert inserted1 + inserted2 <= silence_accounted_for(result)
    assert worst1 <= 1.0 and worst2 <= 1.0 and n2 > 0.2 * SR
    away = result["back_at_s"] - result["loss_at_s"]
    gap = (start2 - (start1 + n1)) / SR
    drift = (start2 / SR - result["back_at_s"]) - ((start1 + n1) / SR - result["loss_at_s"])
    print(f"loss: device away {away:.2f} s; the mix skipped {gap:.2f} s between the two recordings; "
          f"mix-vs-wall-clock offset changed by {drift:+.2f} s; detected after "
          f"{result['detected_at_s'] - result['loss_at_s']:.3f} s")
    assert start2 > start1 + n1  # not from the start, not a replay
    assert gap > away - 0.5  # not where it stopped either: the time away was skipped
    # Same offset to the wall clock before and after, up to the device's buffers (pipe 85 ms, ALSA
    # ~50 ms, ring 0.2 s) and the 0.1 s steps at which the test samples the state.
    assert abs(drift) < 0.5
    assert result["status"]["state"] == "playing" and result["status"]["losses"] == 1
