"""The WAV output over a long run: it rolls over at ``max_mb`` keeping ``keep`` full files, and a file that
passes 4 GiB is RF64 (a RIFF/WAV file's sizes are 32-bit: libsndfile capped them after 6.2 hours of
16-bit stereo at 48 kHz and the tail could no longer be read), while a shorter one stays plain WAV.

Small limits stand for the large ones; the 4 GiB file is a sparse one (a few kB on disk)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile
from pydantic import ValidationError

from art2mus.installation.audio import outputs
from art2mus.installation.audio.backends import create_output
from art2mus.installation.audio.outputs import OutputError, WavOutput, WavOutputConfig

RATE, CHANNELS, BLOCK = 48000, 2, 1000


def _blocks(n: int, first: int = 0) -> list[np.ndarray]:
    """``n`` blocks of a ramp that numbers each frame (frame i holds (i % 30000) / 32768 in PCM_16)."""
    frames = np.arange(first * BLOCK, (first + n) * BLOCK) % 30000 / 32768.0
    ramp = np.repeat(frames[:, None], CHANNELS, axis=1).astype(np.float32)
    return [ramp[k * BLOCK : (k + 1) * BLOCK] for k in range(n)]


def _frame_numbers(path: Path) -> np.ndarray:
    data, rate = soundfile.read(str(path), dtype="int16", always_2d=True)
    assert rate == RATE and data.shape[1] == CHANNELS
    return data[:, 0].astype(np.int64)


def test_the_file_rolls_over_at_max_mb_and_keeps_the_newest_full_ones(tmp_path):
    """50 kB files of 16-bit stereo (4 bytes a frame): 12 blocks of 1000 frames each, the 13th starts the
    next file; 60 blocks make five files, of which the current one and the two newest full ones stay."""
    out = WavOutput(tmp_path / "mix.wav", max_mb=0.05, keep=2)
    out.open(RATE, CHANNELS, None)
    for block in _blocks(60):
        out.write(block)
    out.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mix.1.wav", "mix.2.wav", "mix.wav"]
    assert out.rollovers == 4 and out.describe()["rollovers"] == 4 and out.frames_written == 60 * BLOCK
    for name in ("mix.2.wav", "mix.1.wav", "mix.wav"):
        path = tmp_path / name
        assert path.read_bytes()[:4] == b"RIFF" and path.stat().st_size <= 50_000 + 200  # a plain WAV header
    # each file holds a whole run of the mix, in order: the oldest kept one begins with block 24
    numbers = np.concatenate([_frame_numbers(tmp_path / n) for n in ("mix.2.wav", "mix.1.wav", "mix.wav")])
    assert numbers.tolist() == (np.arange(24 * BLOCK, 60 * BLOCK) % 30000).tolist()
    assert len(_frame_numbers(tmp_path / "mix.1.wav")) == 12 * BLOCK


def test_keep_0_starts_the_one_file_over(tmp_path):
    out = WavOutput(tmp_path / "mix.wav", max_mb=0.05, keep=0)
    out.open(RATE, CHANNELS, None)
    for block in _blocks(30):
        out.write(block)
    out.close()
    assert [p.name for p in tmp_path.iterdir()] == ["mix.wav"]
    assert _frame_numbers(tmp_path / "mix.wav").tolist() == list(range(24 * BLOCK, 30 * BLOCK))


def test_the_exhibit_sets_the_limit_with_bounds(tmp_path):
    out = create_output(WavOutputConfig(path=tmp_path / "x.wav", max_mb=700, keep=3))
    assert isinstance(out, WavOutput) and out.max_bytes == 700_000_000 and out.keep == 3
    unlimited = create_output(WavOutputConfig(path=tmp_path / "y.wav"))
    assert unlimited.max_bytes is None and unlimited.keep == 1
    with pytest.raises(ValidationError, match="keep"):
        WavOutputConfig(keep=-1)
    with pytest.raises(ValidationError, match="max_mb"):
        WavOutputConfig(max_mb=0)


def test_a_file_that_passes_4_gib_is_closed_as_rf64_and_reads_back(tmp_path):
    """libsndfile chooses the header when it closes the file, by its length: plain WAV under 4 GiB (what
    every tool reads), RF64 past it. The file is made to pass 4 GiB with a sparse hole after the mix."""
    short, long = tmp_path / "short.wav", tmp_path / "long.wav"
    for path in (short, long):
        out = WavOutput(path, subtype="PCM_16")
        out.open(RATE, CHANNELS, None)
        for block in _blocks(3):
            out.write(block)
        if path == long:
            os.truncate(path, 4_400_000_000)  # past 4 GiB; no bytes written, the filesystem leaves a hole
        out.close()
    assert short.read_bytes()[:4] == b"RIFF" and soundfile.info(str(short)).format in ("WAV", "WAVEX")
    with open(long, "rb") as f:
        assert f.read(4) == b"RF64"
    info = soundfile.info(str(long))
    assert info.format == "RF64" and info.frames == 3 * BLOCK  # the sizes are 64-bit and right
    assert _frame_numbers(long).tolist() == list(range(3 * BLOCK))


def test_a_file_appended_to_after_a_write_error_rolls_over_before_4_gib(tmp_path, monkeypatch):
    """A file reopened after a write error is appended to in place; closed as a plain WAV file it stays
    one, so it must not pass the RIFF limit (here made small): a new file begins before it."""
    monkeypatch.setattr(outputs, "RIFF_MAX_BYTES", 20_000 + (1 << 16))
    out = WavOutput(tmp_path / "mix.wav")
    out.open(RATE, CHANNELS, None)
    for block in _blocks(3):
        out.write(block)
    out.close()  # the engine closes and reopens the output after a write error
    out.open(RATE, CHANNELS, None)
    for block in _blocks(4, first=3):
        out.write(block)
    out.close()
    assert _frame_numbers(tmp_path / "mix.1.wav").tolist() == list(range(5 * BLOCK))  # 20 kB: 5 blocks
    assert _frame_numbers(tmp_path / "mix.wav").tolist() == list(range(5 * BLOCK, 7 * BLOCK))
    assert out.rollovers == 1


def test_a_rollover_that_cannot_start_the_new_file_is_an_output_error(tmp_path):
    out = WavOutput(tmp_path / "mix.wav", max_mb=0.01, keep=1)
    out.open(RATE, CHANNELS, None)
    out.write(_blocks(1)[0])
    (tmp_path / "mix.1.wav").mkdir()  # the name the full file would take is a directory
    (tmp_path / "mix.1.wav" / "x").touch()
    with pytest.raises(OutputError, match="cannot start a new WAV file at"):
        for block in _blocks(3, first=1):
            out.write(block)
    out.close()


@pytest.mark.parametrize("asked", [False, True])
def test_the_demos_fallback_file_rolls_over_and_a_named_one_is_kept_whole(tmp_path, monkeypatch, asked):
    """``art2mus demo`` on a machine without a sound card wrote ./art2mus-demo.wav without bound (a demo
    left on over a weekend filled the disk); a file named with --wav is a recording asked for."""
    from click.testing import CliRunner

    from art2mus.installation.audio import portaudio
    from art2mus.installation.cli import demo

    given = {}
    monkeypatch.setattr(portaudio, "probe_output_device", lambda wanted: None)  # no sound card
    monkeypatch.setattr(demo, "run_gallery", lambda *args, **kwargs: given.update(kwargs))
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(demo.command, ["--duration", "1", *(["--wav", "take.wav"] if asked else [])])
    assert result.exit_code == 0, result.output
    output = given["output"]
    assert isinstance(output, WavOutput)
    if asked:
        assert output.path == Path("take.wav") and output.max_bytes is None
    else:
        assert output.path == demo.DEFAULT_WAV and output.max_bytes == 350_000_000 and output.keep == 1
        assert "a new file every 350 MB" in result.output and "art2mus-demo.1.wav" in result.output


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "FLOAT"])
def test_the_samples_are_those_soundfiles_write_gives_and_it_is_not_called(tmp_path, monkeypatch, subtype):
    """The mix goes to libsndfile with one call a block, not through ``SoundFile.write``, whose checks and
    bookkeeping cost about 18 us a block (0.15 of the CPU s of an 80 s ``simulate`` went to writing the
    mix, now about 0.08); libsndfile converts the samples as before: the file is the one soundfile writes,
    byte for byte, for samples at, near and beyond +-1.0, a NaN and infinities among them."""
    rng = np.random.default_rng(7)
    edges = [1.0, -1.0, 1.5, -1.5, 2.0, -3.0, 1e30, -1e30, np.inf, -np.inf, np.nan, 0.0, -0.0]
    edges += [np.nextafter(np.float32(1), np.float32(0)), np.nextafter(np.float32(-1), np.float32(0))]
    edges += [(k + 0.5) / 32768 for k in range(-8, 8)] + [(k * 65536 - 0.5) / 2**31 for k in range(-8, 8)]
    samples = np.concatenate([np.asarray(edges), rng.uniform(-1.3, 1.3, 4 * BLOCK * CHANNELS)])
    mix = samples[: len(samples) // CHANNELS * CHANNELS].astype(np.float32).reshape(-1, CHANNELS)
    blocks = np.array_split(mix, 5)
    blocks.append(mix[:7].astype(np.float64))  # another dtype takes soundfile's own write
    blocks.append(np.asfortranarray(mix[:9]))  # as does a block that is not C-contiguous

    expected = tmp_path / "expected.wav"
    with outputs.open_growing_wav(expected, RATE, CHANNELS, subtype) as sound_file:
        for block in blocks:
            sound_file.write(block)

    through_soundfile = []
    soundfile_write = soundfile.SoundFile.write
    monkeypatch.setattr(
        soundfile.SoundFile,
        "write",
        lambda self, data: through_soundfile.append(data.dtype) or soundfile_write(self, data),
    )
    out = WavOutput(tmp_path / "mix.wav", subtype=subtype)
    out.open(RATE, CHANNELS, None)
    for block in blocks:
        out.write(block)
    out.close()
    assert through_soundfile == [np.float64, np.float32]  # the two blocks libsndfile is not handed directly
    assert out.frames_written == len(mix) + 16
    dtype = "float32" if subtype == "FLOAT" else "int32"
    got, want = (
        soundfile.read(str(p), dtype=dtype, always_2d=True)[0] for p in (tmp_path / "mix.wav", expected)
    )
    assert got.shape == (len(mix) + 16, CHANNELS)
    np.testing.assert_array_equal(got, want)
    assert (tmp_path / "mix.wav").read_bytes() == expected.read_bytes()


def test_a_block_of_the_wrong_width_is_refused(tmp_path):
    out = WavOutput(tmp_path / "mix.wav")
    out.open(RATE, CHANNELS, None)
    with pytest.raises(ValueError, match="channels"):
        out.write(np.zeros((10, 3), np.float32))
    out.close()
    assert soundfile.info(str(tmp_path / "mix.wav")).frames == 0
