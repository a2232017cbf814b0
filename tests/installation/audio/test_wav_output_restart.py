"""A restart of a daemon writing its mix to a rotated WAV file (``max_mb`` with ``keep``) loses no
recording: a restart truncated room.wav from 26.5 MB to a new file and kept no room.1.wav; then, setting
the file aside at each start, a crash loop pushed every kept recording out within ``keep`` restarts
(room.2.wav 60 s, room.1.wav 50 s, room.wav 30 s: two 3 s restarts left 36 s). A restart now continues the
file, and only the size rotation sets it aside."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import soundfile

from art2mus.installation.audio.outputs import WavOutput

RATE, CHANNELS, BLOCK = 48000, 2, 1000


def _run(path, blocks: int, first: int, **kwargs) -> WavOutput:
    """One run of the output: open, ``blocks`` blocks numbered from block ``first``, close."""
    out = WavOutput(path, **kwargs)
    out.open(RATE, CHANNELS, None)
    for n in range(first, first + blocks):
        frames = np.arange(n * BLOCK, (n + 1) * BLOCK) % 30000 / 32768.0
        out.write(np.stack([frames, frames], axis=1).astype(np.float32))
    out.close()
    return out


def _numbers(path) -> list[int]:
    data, _ = soundfile.read(str(path), dtype="int16")
    return data[:, 0].tolist()


def test_a_restart_continues_the_previous_runs_file(tmp_path, caplog):
    room = tmp_path / "room.wav"
    _run(room, 3, 0, max_mb=10, keep=2)  # the first run
    with caplog.at_level("INFO"):
        _run(room, 2, 3, max_mb=10, keep=2)  # the restart
    assert sorted(p.name for p in tmp_path.iterdir()) == ["room.wav"]
    assert _numbers(room) == list(range(5 * BLOCK))  # one valid WAV file holding both runs
    assert soundfile.info(str(room)).format == "WAVEX"
    assert "room.wav: continuing the previous run's recording" in caplog.text


def test_restarts_in_a_loop_keep_every_recording_up_to_the_size_bound(tmp_path):
    room = tmp_path / "room.wav"
    block_bytes = BLOCK * CHANNELS * 2
    max_mb = 10 * block_bytes / 1e6  # ten blocks a file
    for run in range(14):  # 14 runs of 2 blocks: 28 blocks, files of 10, 10 and 8
        _run(room, 2, 2 * run, max_mb=max_mb, keep=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["room.1.wav", "room.2.wav", "room.wav"]
    kept = _numbers(tmp_path / "room.2.wav") + _numbers(tmp_path / "room.1.wav") + _numbers(room)
    assert kept == list(range(28 * BLOCK))


def test_another_format_is_set_aside(tmp_path):
    room = tmp_path / "room.wav"
    soundfile.write(str(room), np.zeros((1000, 1), np.float32), 44100)  # mono at 44.1 kHz
    (tmp_path / "notes.wav").write_bytes(b"not a WAV file")
    _run(room, 1, 0, max_mb=10, keep=2)
    _run(tmp_path / "notes.wav", 1, 0, max_mb=10, keep=2)
    assert soundfile.info(str(tmp_path / "room.1.wav")).samplerate == 44100
    assert (tmp_path / "notes.1.wav").read_bytes() == b"not a WAV file"
    assert _numbers(room) == _numbers(tmp_path / "notes.wav") == list(range(BLOCK))


_KILLED_WRITER = """
import os, sys
import numpy as np
import soundfile
from art2mus.installation.audio.outputs import open_growing_wav
path, first, blocks = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
if os.path.exists(path):
    f = soundfile.SoundFile(path, "r+")
    f.seek(0, soundfile.SEEK_END)
else:
    f = open_growing_wav(path, 48000, 2, "PCM_16")
for n in range(first, first + blocks):
    frames = np.arange(n * 1000, (n + 1) * 1000) % 30000 / 32768.0
    f.write(np.stack([frames, frames], axis=1).astype(np.float32))
os.kill(os.getpid(), 9)  # a crash, a power cut: the header keeps its sizes from the last close
"""


def _killed(path, first: int, blocks: int) -> None:
    subprocess.run([sys.executable, "-c", _KILLED_WRITER, str(path), str(first), str(blocks)], check=False)


def test_a_file_left_unclosed_by_a_crash_is_kept_whole(tmp_path):
    room = tmp_path / "room.wav"
    _killed(room, 0, 3)  # a fresh file, never closed
    _run(room, 1, 3, max_mb=10, keep=2)
    assert _numbers(room) == list(range(4 * BLOCK))
    _killed(room, 4, 5)  # appended to, then killed: its header says 4 blocks, 9 are on disk
    assert soundfile.info(str(room)).frames == 4 * BLOCK
    with open(room, "ab") as f:
        f.write(b"\x01\x02\x03")  # a frame cut short
    _run(room, 1, 9, max_mb=10, keep=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["room.wav"]
    assert _numbers(room) == list(range(10 * BLOCK))


def test_an_empty_file_keep_0_and_a_file_without_max_mb(tmp_path):
    empty = tmp_path / "empty.wav"
    empty.touch()  # nothing to keep: it must not push a real recording out
    _run(empty, 1, 0, max_mb=10, keep=1)
    one = tmp_path / "one.wav"
    _run(one, 2, 0, max_mb=10, keep=0)  # keep 0: continued too; only a rollover starts it over
    _run(one, 1, 2, max_mb=10, keep=0)
    take = tmp_path / "take.wav"  # simulate -o, demo --wav: one recording, written over at each run
    _run(take, 2, 0)
    _run(take, 1, 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.wav", "one.wav", "take.wav"]
    assert _numbers(empty) == list(range(BLOCK))
    assert _numbers(one) == list(range(3 * BLOCK))
    assert _numbers(take) == list(range(2 * BLOCK, 3 * BLOCK))


def test_the_demo_starts_a_file_of_its_own_and_keeps_the_last_one(tmp_path):
    """``art2mus demo`` without a sound card writes art2mus-demo.wav (max_mb, keep 1) and says the previous
    run's file is kept as art2mus-demo.1.wav: a second demo is its own recording, not appended to the first."""
    demo = tmp_path / "art2mus-demo.wav"
    _run(demo, 3, 0, max_mb=350, keep=1, continue_previous=False)
    _run(demo, 2, 3, max_mb=350, keep=1, continue_previous=False)
    assert _numbers(tmp_path / "art2mus-demo.1.wav") == list(range(3 * BLOCK))
    assert _numbers(demo) == list(range(3 * BLOCK, 5 * BLOCK))
