"""Mixer speed: how many times faster than real time the engine mixes 3 voices at 48 kHz stereo on one core.

Three 30 s soundscapes (band-limited noise at the exhibit loudness, like real ones) crossfade into
each other in a cycle: a new 4 s equal-power crossfade starts every 1.5 s, so all three voices sound
with moving gains the whole time, the master volume ramps, and the bus limiter runs. The process is
pinned to one CPU. Cases:

* ``mixer``: ``Mixer.render`` alone (voices, bus gain, limiter) at several block sizes;
* ``engine``: ``AudioEngine.pump`` with a null output (adds the command queue, status, ring-free path, and
  the copy of each block into the loudness meter's ring);
* ``ring``: mixer + writing into the ring buffer + the callback's copy out of it, what the device path costs;
* ``limiting``: the mix 14 dB hotter, so the limiter reduces gain all the time (its slow path);
* ``loudness_read``: one short-term loudness reading (3 s window), what each status the panel polls
  (about once a second) costs the caller's thread, in ms; ``meter_write_us`` is the render thread's share.

    .venv/bin/python benchmarks/bench_mixer.py [--seconds 60] [--repeats 3] [--out FILE]

Prints JSON; the headline figure is ``x_realtime`` of the ``mixer`` case at the default block (1024).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np

SR = 48000
TARGET_X = 500.0


def _clips(seconds: float = 30.0):
    from scipy.signal import butter, sosfilt

    from art2mus.installation.audio import prepare_clip

    clips = []
    sos = butter(4, [40, 16000], btype="band", fs=SR, output="sos")
    for i, key in enumerate("abc"):
        x = sosfilt(sos, np.random.default_rng(i).standard_normal((int(seconds * SR), 2)), axis=0)
        x = (0.1 * x / np.sqrt(np.mean(x**2))).astype(np.float32)
        clips.append(prepare_clip(x, SR, key=key, mix_rate=SR))
    return clips


def _drive(render, mixer, clips, seconds: float, block: int, gain_db: float = 0.0) -> dict:
    """Render ``seconds`` of the cycling 3-voice scene with ``render(frames)``; returns timing."""
    levels = [c.gain_to(-23.0) * 10 ** (gain_db / 20) for c in clips]
    mixer.crossfade_to(clips[0], 0.0, levels[0])
    mixer.crossfade_to(clips[1], 4.0, levels[1])
    mixer.set_master_volume(0.5 if gain_db == 0 else 1.0, seconds)
    every = int(1.5 * SR)
    frames_total = int(seconds * SR)
    next_switch, which, voices_sum, blocks, limited = every, 2, 0, 0, 0
    done = 0
    start = time.process_time()
    while done < frames_total:
        if done >= next_switch:
            mixer.crossfade_to(clips[which], 4.0, levels[which])
            which = (which + 1) % 3
            next_switch += every
        render(block)
        voices_sum += len(mixer.voices)
        limited += bool(mixer.limiter is not None and mixer.limiter.last_gain_reduction_db > 0)
        blocks += 1
        done += block
    cpu = time.process_time() - start
    return {
        "audio_s": done / SR,
        "cpu_s": round(cpu, 4),
        "x_realtime": round(done / SR / cpu, 1),
        "mean_voices": round(voices_sum / blocks, 2),
        "blocks_limited": round(limited / blocks, 3),
    }


def _best(runs: list[dict]) -> dict:
    return max(runs, key=lambda r: r["x_realtime"])


def _loudness_read(clip, repeats: int) -> dict:
    """CPU cost of the status's short-term loudness: reading it (caller's thread), writing a block (render)."""
    from art2mus.installation.audio.meter import ShortTermLoudnessMeter

    meter = ShortTermLoudnessMeter(SR, 2, write_frames=1024)
    meter.write(clip.samples[: 4 * SR])
    reads = []
    for _ in range(max(3, repeats) * 10):
        start = time.process_time()
        meter.loudness()
        reads.append(time.process_time() - start)
    block = np.ascontiguousarray(clip.samples[:1024])
    start = time.process_time()
    for _ in range(10000):
        meter.write(block)
    write_s = (time.process_time() - start) / 10000
    return {
        "read_ms": round(min(reads) * 1e3, 2),
        "read_ms_median": round(sorted(reads)[len(reads) // 2] * 1e3, 2),
        "meter_write_us": round(write_s * 1e6, 2),
        "render_share_pct_of_core": round(write_s * SR / 1024 * 100, 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="audio rendered per run")
    parser.add_argument("--repeats", type=int, default=3, help="runs per case (the best is reported)")
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args()

    # One core: pin the process (numpy's element-wise kernels are single-threaded anyway).
    cpu = None
    if hasattr(os, "sched_setaffinity"):
        cpu = sorted(os.sched_getaffinity(0))[-1]
        os.sched_setaffinity(0, {cpu})

    from art2mus.installation.audio import (
        AudioEngine,
        FrameRingBuffer,
        ManualClock,
        Mixer,
        NullOutput,
        TruePeakLimiter,
    )

    clips = _clips()

    def new_mixer() -> Mixer:
        return Mixer(SR, 2, master_volume=1.0, limiter=TruePeakLimiter(SR, 2, ceiling_dbtp=-1.0))

    cases: dict[str, dict] = {}
    for block in (256, 512, 1024, 2048, 4096):
        runs = []
        for _ in range(args.repeats):
            mixer = new_mixer()
            runs.append(_drive(mixer.render, mixer, clips, args.seconds, block))
        cases[f"mixer_block{block}"] = _best(runs)

    runs = []
    for _ in range(args.repeats):
        mixer = new_mixer()
        ring = FrameRingBuffer(8192, 2)
        ring.prime()

        def through_ring(frames: int, mixer=mixer, ring=ring) -> None:
            ring.write(mixer.render(frames))
            ring.read_bytes(frames)  # what the PortAudio callback does

        runs.append(_drive(through_ring, mixer, clips, args.seconds, 1024))
    cases["ring_block1024"] = _best(runs)

    runs = []
    for _ in range(args.repeats):
        engine = AudioEngine(NullOutput(), clock=ManualClock(), master_volume=1.0, block_frames=1024)
        engine.open()
        clock = engine.clock

        def pump(frames: int, engine=engine, clock=clock) -> None:
            clock.advance(frames / SR)
            engine.pump()

        runs.append(_drive(pump, engine.mixer, clips, args.seconds, 1024))
    cases["engine_block1024"] = _best(runs)

    runs = []
    for _ in range(args.repeats):
        mixer = new_mixer()
        runs.append(_drive(mixer.render, mixer, clips, args.seconds, 1024, gain_db=14.0))
    cases["limiting_block1024"] = _best(runs)
    cases["loudness_read"] = _loudness_read(clips[0], args.repeats)

    headline = cases["mixer_block1024"]["x_realtime"]
    print(
        json.dumps(
            {
                "benchmark": "mixer",
                "sample_rate": SR,
                "channels": 2,
                "voices": 3,
                "scene": "3 noise soundscapes at -23 LUFS, 4 s equal-power crossfade started every 1.5 s, master ramp, limiter on",
                "pinned_cpu": cpu,
                "block_frames": 1024,
                "x_realtime": headline,
                "target_x_realtime": TARGET_X,
                "meets_target": headline >= TARGET_X,
                "cases": cases,
                "python": sys.version.split()[0],
                "numpy": np.__version__,
                "machine": platform.machine(),
            },
            indent=2,
        )
    )
    if args.out:
        with open(args.out, "w") as fh:
            json.dump({"x_realtime": headline, "cases": cases}, fh, indent=2)


if __name__ == "__main__":
    main()
