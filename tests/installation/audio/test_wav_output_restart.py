"""A restart of a daemon writing its mix to a rotated WAV file (``max_mb`` with ``keep``) keeps the
previous run's recording as a rollover would: a restart truncated room.wav from 26.5 MB to a new file and
kept no room.1.wav."""

from __future__ import annotations

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


def test_a_start_keeps_the_previous_runs_file_as_a_rollover_does(tmp_path, caplog):
    room = tmp_path / "room.wav"
    _run(room, 3, 0, max_mb=10, keep=2)  # the first run
    with caplog.at_level("INFO"):
        _run(room, 2, 3, max_mb=10, keep=2)  # the restart
    assert _numbers(tmp_path / "room.1.wav") == list(range(3 * BLOCK))
    assert _numbers(room) == list(range(3 * BLOCK, 5 * BLOCK))
    assert "room.wav: the previous run's recording is kept as room.1.wav" in caplog.text
    _run(room, 1, 5, max_mb=10, keep=2)  # a third start: the oldest moves on, keep bounds them
    assert sorted(p.name for p in tmp_path.iterdir()) == ["room.1.wav", "room.2.wav", "room.wav"]
    assert _numbers(tmp_path / "room.2.wav") == list(range(3 * BLOCK))
    assert _numbers(tmp_path / "room.1.wav") == list(range(3 * BLOCK, 5 * BLOCK))
    _run(room, 1, 6, max_mb=10, keep=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["room.1.wav", "room.2.wav", "room.wav"]
    assert _numbers(tmp_path / "room.2.wav") == list(range(3 * BLOCK, 5 * BLOCK))


def test_an_empty_file_keep_0_and_a_file_without_max_mb_are_written_over(tmp_path):
    empty = tmp_path / "empty.wav"
    empty.touch()  # nothing to keep: it must not push a real recording out
    _run(empty, 1, 0, max_mb=10, keep=1)
    one = tmp_path / "one.wav"
    _run(one, 2, 0, max_mb=10, keep=0)  # keep 0: the one file starts over, as at a rollover
    _run(one, 1, 2, max_mb=10, keep=0)
    take = tmp_path / "take.wav"  # simulate -o, demo --wav: one recording, written over at each run
    _run(take, 2, 0)
    _run(take, 1, 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.wav", "one.wav", "take.wav"]
    assert _numbers(one) == _numbers(take) == list(range(2 * BLOCK, 3 * BLOCK))
