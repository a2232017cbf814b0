"""The engine without PortAudio: clock-paced WAV output, commands, device loss and recovery, stuck devices."""

from __future__ import annotations

import contextlib
import logging
import os
import resource
import signal
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile
from alsa_scenario import wait_for
from audio_signals import SR, band_noise

from art2mus.installation.audio import (
    AudioEngine,
    AudioOutput,
    Backoff,
    FrameRingBuffer,
    ManualClock,
    NullOutput,
    OutputError,
    SystemClock,
    WavOutput,
    create_output,
)
from art2mus.installation.audio.engine import LOST, OPENING, PLAYING, STOPPED
from art2mus.installation.audio.portaudio import PyAudioOutput, find_output_device


class MixRecorder:
    """The engine's monitor: every mixed block by its first frame, so any stretch of the mix can be looked up."""

    def __init__(self) -> None:
        self.blocks: list[tuple[int, np.ndarray]] = []

    def __call__(self, first: int, block: np.ndarray) -> None:
        self.blocks.append((first, block.copy()))

    def mix(self) -> np.ndarray:
        firsts = [f for f, _ in self.blocks]
        assert firsts == sorted(firsts) and firsts[0] == 0
        return np.concatenate([b for _, b in self.blocks])


class FakeDevice(AudioOutput):
    """A device-paced output the test drives: it consumes from the ring when told, and can die."""

    type = "fake"
    device_paced = True

    def __init__(self) -> None:
        self.ring: FrameRingBuffer | None = None
        self.alive = False
        self.fail_opens = 0
        self.open_times: list[float] = []
        self.clock: ManualClock | None = None
        self.played: list[np.ndarray] = []

    def open(self, sample_rate: int, channels: int, ring: FrameRingBuffer) -> None:
        self.open_times.append(self.clock.monotonic() if self.clock else 0.0)
        if self.fail_opens:
            self.fail_opens -= 1
            raise OutputError("no such device (unplugged)")
        self.ring, self.alive = ring, True

    def consume(self, frames: int) -> None:
        if self.alive and self.ring is not None:
            self.played.append(self.ring.read(frames))

    def is_alive(self) -> bool:
        return self.alive

    def close(self) -> None:
        self.ring = None


def noise_clip(engine: AudioEngine, key: str, seed: int, seconds: float = 3.0):
    return engine.prepare(band_noise(seconds, seed, rms=0.1), SR, key=key)


def locate(stretch: np.ndarray, mix: np.ndarray) -> int:
    """Where ``stretch`` (exactly) occurs in ``mix``; -1 if nowhere."""
    probe = stretch[:64, 0]
    candidates = np.flatnonzero(mix[:, 0] == probe[0])
    for c in candidates:
        if c + len(stretch) <= len(mix) and np.array_equal(mix[c : c + len(stretch)], stretch):
            return int(c)
    return -1


def test_wav_output_is_paced_by_the_clock_and_holds_exactly_the_mix(tmp_path: Path) -> None:
    clock, rec = ManualClock(), MixRecorder()
    out = WavOutput(tmp_path / "mix.wav", subtype="FLOAT")
    engine = AudioEngine(out, clock=clock, monitor=rec, master_volume=1.0, block_frames=1024)
    engine.open()
    engine.play(noise_clip(engine, "a", 1), crossfade_s=0)
    assert engine.pump() == 0  # nothing is due before the clock moves
    clock.advance(2.0)
    assert engine.pump() == (2 * SR // 1024) * 1024
    clock.advance(0.5)
    engine.pump()
    engine.close()
    written, rate = soundfile.read(tmp_path / "mix.wav", dtype="float32")
    assert rate == SR and written.shape == (int(2.5 * SR) // 1024 * 1024, 2)
    np.testing.assert_array_equal(written, rec.mix())
    assert engine.status()["state"] == STOPPED


def test_non_realtime_wav_runs_ahead_of_the_clock(tmp_path: Path) -> None:
    clock = ManualClock()
    engine = AudioEngine(WavOutput(tmp_path / "fast.wav", realtime=False), clock=clock, buffer_seconds=0.5)
    engine.open()
    for _ in range(10):
        engine.pump()
    engine.close()
    assert soundfile.info(tmp_path / "fast.wav").duration >= 4.9 and clock.monotonic() == 0.0


def test_commands_are_validated_at_once_and_applied_on_the_mix_thread() -> None:
    clock = ManualClock()
    engine = AudioEngine(NullOutput(), clock=clock, crossfade_seconds=2.0)
    a = noise_clip(engine, "a", 1)
    with pytest.raises(ValueError, match="between 0 and 1"):
        engine.set_master_volume(2.0)
    with pytest.raises(ValueError, match="0 to 3600 seconds"):
        engine.play(a, crossfade_s=-1)
    with pytest.raises(ValueError, match="duck depth"):
        engine.duck(-3)
    other = engine.prepare(np.zeros(1000, np.float32), 16000, key="x", loudness_lufs=-23)
    mono = AudioEngine(NullOutput(), channels=1, clock=clock)
    with pytest.raises(ValueError, match="this engine mixes 48000 Hz x 1 ch"):
        mono.play(other)
    engine.play(a)
    assert engine.status()["playing"] is None  # queued, not applied yet
    engine.open()
    clock.advance(1.0)
    engine.pump()
    status = engine.status()
    assert status["playing"] == "a" and 0.3 < status["voices"][0]["gain"] < 0.9  # 1 s into a 2 s fade
    engine.duck(6, ramp_s=0)
    engine.set_master_volume(0.5, ramp_s=0)
    engine.play_idle(crossfade_s=0.5)  # no idle ambience set: fades to silence
    clock.advance(1.0)
    engine.pump()
    status = engine.status()
    assert status["duck_db"] == pytest.approx(6.0) and status["master_volume"] == pytest.approx(0.5)
    assert status["playing"] is None and status["voices"] == []
    idle = noise_clip(engine, "idle", 2)
    engine.set_idle(idle, gain_db=-9)
    engine.play_idle(crossfade_s=0)
    clock.advance(0.1)
    engine.pump()
    voice = engine.status()["voices"][0]
    assert voice["key"] == "idle" and voice["level_db"] == pytest.approx(20 * np.log10(idle.gain_to(-23)) - 9, abs=0.01)


def test_device_loss_keeps_the_mix_clock_and_resumes_at_the_current_position(caplog) -> None:
    caplog.set_level(logging.INFO, logger="art2mus.installation.audio")
    clock, rec, device = ManualClock(), MixRecorder(), FakeDevice()
    device.clock = clock
    block = 480
    engine = AudioEngine(
        device, clock=clock, monitor=rec, master_volume=1.0, block_frames=block, buffer_seconds=0.1,
        backoff=Backoff(0.5, 4.0),
    )
    a, b = noise_clip(engine, "a", 1), noise_clip(engine, "b", 2)
    engine.play(a, crossfade_s=0)

    def run(seconds: float) -> None:  # 10 ms ticks: the device takes 10 ms of audio per tick
        for _ in range(int(round(seconds * 100))):
            clock.advance(0.01)
            engine.pump()
            device.consume(block)

    run(1.0)
    assert engine.state == PLAYING and device.open_times == pytest.approx([0.01])  # opened on the first pump
    played_before = np.concatenate(device.played)
    device.played.clear()
    start = locate(played_before[-block * 10 :], rec.mix())
    heard_until = start + block * 10  # mix frame after the last one the device played

    device.alive, device.fail_opens = False, 3  # unplugged; the first three reopen attempts fail
    run(0.01)
    assert engine.state == LOST
    run(0.99)
    engine.play(b, crossfade_s=0)  # the director carries on while the device is away
    run(3.0)
    assert engine.state == PLAYING
    # Attempts right away, then after 0.5, 1 and 2 s of backoff (each at the next 10 ms tick).
    assert np.diff(device.open_times[1:]) == pytest.approx([0.5, 1.0, 2.0], abs=0.011)
    back_at = device.open_times[-1]
    lost_at = device.open_times[1] - 0.01
    played_after = np.concatenate(device.played)
    first = locate(played_after[:block * 4], rec.mix())
    assert first >= 0, "after reconnecting the device plays the mix, contiguously"
    # The mix went on for as long as the device was away: it resumes where the listener would be now.
    gap_s = (first - heard_until) / SR
    assert gap_s == pytest.approx(back_at - lost_at, abs=0.03)
    # ...and what it resumes with is b, commanded during the loss.
    assert engine.status()["playing"] == "b"
    assert abs(engine.position_s - clock.monotonic()) < 0.12
    messages = [r.getMessage() for r in caplog.records]
    assert any("audio output lost" in m for m in messages)
    assert sum("audio output unavailable" in m for m in messages) == 3
    assert any("audio output back after" in m for m in messages)
    status = engine.status()
    assert status["losses"] == 1 and status["healthy"] and status["underruns"] == 0


def test_stuck_device_never_blocks_the_caller_and_stop_gives_up_on_it(caplog) -> None:
    release = threading.Event()

    class StuckOutput(NullOutput):
        def open(self, sample_rate: int, channels: int, ring: FrameRingBuffer) -> None:
            release.wait(10)  # a driver that hangs in open
            raise OutputError("gave up")

    engine = AudioEngine(StuckOutput(), block_frames=256)
    engine.start()
    try:
        t0 = time.monotonic()
        clip = noise_clip(engine, "a", 1, seconds=1.0)
        engine.play(clip, crossfade_s=0)
        engine.set_master_volume(0.5, 1.0)
        assert time.monotonic() - t0 < 0.5
        time.sleep(0.3)
        status = engine.status()
        assert status["state"] == OPENING and not status["healthy"]
        assert status["position_s"] > 0.15  # the mix clock runs although nothing can be opened
        assert status["playing"] == "a"
        t0 = time.monotonic()
        engine.stop(timeout_s=0.2)
        assert time.monotonic() - t0 < 1.0
        assert any("did not stop" in r.getMessage() for r in caplog.records)
    finally:
        release.set()


def test_threads_mix_into_a_wav_file_in_real_time(tmp_path: Path) -> None:
    engine = AudioEngine(WavOutput(tmp_path / "live.wav"), block_frames=512)
    engine.play(noise_clip(engine, "a", 3, seconds=1.0), crossfade_s=0.1)
    engine.start()
    time.sleep(0.4)
    engine.stop()
    seconds = soundfile.info(tmp_path / "live.wav").duration
    assert 0.25 < seconds < 0.55
    assert soundfile.read(tmp_path / "live.wav")[0][-512:].std() > 0  # audio, not silence


class CountingClock(SystemClock):
    """The real clock, counting the render thread's waits (each is one wake-up of that thread)."""

    def __init__(self) -> None:
        self.waits = 0

    def wait(self, event: threading.Event, timeout: float) -> bool:
        if threading.current_thread().name == "audio-render":
            self.waits += 1
        return super().wait(event, timeout)


def test_the_render_thread_wakes_a_few_times_a_second_and_keeps_the_mix_clock() -> None:
    # a thread wake-up costs a small machine about as much CPU as mixing a block: in the steady state
    # (nothing commanded) the render thread wakes about 12 times a second, not once per 21 ms block
    clock = CountingClock()
    engine = AudioEngine(NullOutput(), clock=clock)
    engine.play(noise_clip(engine, "a", 1, seconds=1.0), crossfade_s=0)
    engine.start()
    try:
        time.sleep(0.3)
        waits, t0 = clock.waits, time.monotonic()
        time.sleep(1.0)
        waits, seconds = clock.waits - waits, time.monotonic() - t0
        lag = (engine._anchor_time + engine.position_s - engine._anchor_frame / SR) - time.monotonic()
    finally:
        engine.stop()
    assert waits / seconds <= 16  # a block at a time: 47
    # the mix follows the clock, never ahead of it, behind by at most the blocks of one wake (and a busy
    # machine's lateness)
    assert -0.4 < lag <= 0.0


def test_a_device_ring_is_topped_up_every_eighth_of_its_lead_and_never_runs_dry() -> None:
    clock, device = CountingClock(), FakeDevice()
    engine = AudioEngine(device, clock=clock, buffer_seconds=0.5)
    engine.play(noise_clip(engine, "a", 1, seconds=1.0), crossfade_s=0)
    engine.start()
    try:
        assert wait_for(lambda: engine.state == PLAYING and engine.ring.fill > 0, 5.0)
        waits, t0 = clock.waits, time.monotonic()
        consumed = 0
        while (elapsed := time.monotonic() - t0) < 1.0:  # the device takes what the clock says it plays
            due = int(elapsed * SR) - consumed
            device.consume(due)
            consumed += due
            time.sleep(0.01)
        waits = clock.waits - waits
    finally:
        engine.stop()
    assert waits <= 24  # the ring topped up every 62.5 ms (16 a second); half a block at a time: 94
    assert engine.ring.underruns == 0


def test_a_hand_driven_engine_mixes_in_chunks_of_whole_blocks_as_block_by_block(monkeypatch) -> None:
    """``simulate`` drives the engine by hand: what fell due is mixed at most eight blocks at a time (46
    blocks in 1 s: six renders, not 46), and the mix, a 1.5 s crossfade running through it, is the
    block-by-block mix within 0.002 (the fades' curves evaluated at the chunks' ends: a gain error under
    half a percent of a signal peaking at 0.4, while a fade runs)."""
    import art2mus.installation.audio.engine as engine_module

    def mixed(chunk_blocks: int) -> tuple[np.ndarray, int]:
        monkeypatch.setattr(engine_module, "_CHUNK_BLOCKS", chunk_blocks)
        clock, rec = ManualClock(), MixRecorder()
        engine = AudioEngine(NullOutput(), clock=clock, monitor=rec, master_volume=1.0, block_frames=1024)
        engine.open()
        engine.play(noise_clip(engine, "a", 1), crossfade_s=0)
        renders = []
        original = engine.mixer.render
        monkeypatch.setattr(engine.mixer, "render", lambda frames: renders.append(frames) or original(frames))
        for step in range(30):
            if step == 10:
                engine.play(noise_clip(engine, "b", 2), crossfade_s=1.5)
            clock.advance(0.1)
            engine.pump()
        first = len(renders)
        clock.advance(1.0)
        engine.pump()
        engine.close()
        return rec.mix(), len(renders) - first

    chunked, renders = mixed(8)
    blockwise, block_renders = mixed(1)
    assert block_renders in (46, 47) and renders == -(-block_renders // 8)
    assert chunked.shape == blockwise.shape
    assert float(np.abs(chunked - blockwise).max()) < 2e-3


def test_a_command_takes_effect_where_the_mix_is_when_it_is_given() -> None:
    # The render thread sleeps up to 0.1 s; a command wakes it, and the blocks that fell due meanwhile are
    # mixed before the command applies: it lands at the block boundary before the moment it was given, as
    # when the thread woke every block (not up to 0.1 s earlier, where the previous wake left the mix).
    clock, rec = ManualClock(), MixRecorder()
    engine = AudioEngine(NullOutput(), clock=clock, monitor=rec, crossfade_seconds=0)
    engine.open()
    engine._render_step()
    clock.advance(1.0)
    engine._render_step()  # a wake: the mix (silence) is now at the last block boundary before 1.0 s
    clock.advance(0.09)  # the thread sleeps; meanwhile, at 1.09 s, the director asks for a soundscape
    engine.play(noise_clip(engine, "a", 1))
    engine._render_step()  # the wake that command causes
    clock.advance(0.5)
    engine._render_step()
    mix = rec.mix()
    start = int(np.flatnonzero(np.any(mix != 0, axis=1))[0]) - engine.mixer.limiter.latency_frames
    given = int(1.09 * SR)
    assert given - engine.block_frames < start <= given


def test_wav_write_failure_is_a_loss_and_the_file_is_appended_after_reopening(tmp_path: Path, caplog) -> None:
    class FlakyWav(WavOutput):
        fail = False

        def write(self, block: np.ndarray) -> None:
            if self.fail:
                self.fail = False
                raise OutputError("disk full")
            super().write(block)

    clock, rec = ManualClock(), MixRecorder()
    out = FlakyWav(tmp_path / "flaky.wav", subtype="FLOAT")
    engine = AudioEngine(out, clock=clock, monitor=rec, block_frames=1000, backoff=Backoff(0.2, 1.0))
    engine.play(noise_clip(engine, "a", 1), crossfade_s=0)
    engine.open()
    clock.advance(0.5)
    engine.pump()
    out.fail = True
    clock.advance(0.1)
    engine.pump()
    assert engine.state == LOST
    for _ in range(3):
        clock.advance(0.1)
        engine.pump()  # without threads, pump makes the reconnection attempts too
    assert engine.state == PLAYING
    engine.close()
    written, _ = soundfile.read(tmp_path / "flaky.wav", dtype="float32")
    mix = rec.mix()
    # 24 blocks before the failure; then the file resumes where the mix clock was when it reopened
    # (0.7 s -> the block starting at frame 28000): the 0.1 s it could not be written is missing.
    np.testing.assert_array_equal(written[:24000], mix[:24000])
    assert locate(written[24000:], mix) == 28000
    assert "disk full" in engine.status()["last_error"]


def test_outputs_are_chosen_by_type(tmp_path: Path) -> None:
    from art2mus.installation.config.audio import NullOutputConfig, PyAudioOutputConfig, WavOutputConfig

    wav = create_output(WavOutputConfig(path=tmp_path / "x.wav", realtime=False, subtype="FLOAT"))
    assert isinstance(wav, WavOutput) and not wav.realtime and wav.subtype == "FLOAT"
    assert isinstance(create_output(NullOutputConfig()), NullOutput)
    pa = create_output(PyAudioOutputConfig(device="USB", latency_seconds=0.2, stall_seconds=5))
    assert isinstance(pa, PyAudioOutput) and pa.device == "USB" and pa.device_paced
    assert (pa.latency_s, pa.stall_s) == (0.2, 5.0)
    with pytest.raises(ValueError, match="unknown audio output type 'jack'; expected one of null, pyaudio, wav"):
        create_output(SimpleNamespace(type="jack"))


def test_engine_from_the_exhibit_audio_section(tmp_path: Path) -> None:
    from art2mus.installation.config.audio import AudioConfig

    config = AudioConfig.model_validate(
        {"output": {"type": "wav", "path": str(tmp_path / "o.wav")}, "sample_rate": 44100, "channels": 1,
         "master_volume": 0.5, "crossfade_seconds": 3, "loudness_lufs": -20, "buffer_seconds": 0.25,
         "loop_crossfade_seconds": 0.1, "reconnect_min_seconds": 1, "reconnect_max_seconds": 8}
    )
    engine = AudioEngine.from_config(config, clock=ManualClock())
    assert isinstance(engine.output, WavOutput) and engine.output.path == tmp_path / "o.wav"
    assert (engine.sample_rate, engine.channels, engine.loudness_lufs, engine.crossfade_seconds) == (44100, 1, -20.0, 3.0)
    assert engine.status()["master_volume"] == 0.5 and engine.loop_crossfade_seconds == 0.1
    assert [engine.backoff.delay(n) for n in (1, 2, 3, 4, 5)] == [1, 2, 4, 8, 8]
    assert engine.mixer.limiter.ceiling_dbtp == config.limiter_ceiling_dbtp
    with pytest.raises(ValueError, match=r"reconnect_max_seconds \(0.2\) must not be below reconnect_min_seconds \(0.5\)"):
        AudioConfig.model_validate({"reconnect_max_seconds": 0.2})


# ---------------------------------------------------------------- PyAudioOutput against a stand-in module
class FakeStream:
    def __init__(self, **kwargs) -> None:
        self.kwargs, self.active, self.closed = kwargs, True, False

    def is_active(self) -> bool:
        return self.active

    def close(self) -> None:
        self.closed = True


def fake_pyaudio(device_names: list[str]):
    log: dict[str, list] = {"inits": [], "terminates": [], "streams": []}

    class FakePyAudio:
        def __init__(self) -> None:
            log["inits"].append(self)

        def get_device_count(self) -> int:
            return len(device_names) + 1

        def get_device_info_by_index(self, i: int) -> dict:
            if i == len(device_names):
                return {"name": "Webcam Mic", "maxOutputChannels": 0}
            return {"name": device_names[i], "maxOutputChannels": 2}

        def open(self, **kwargs) -> FakeStream:
            stream = FakeStream(**kwargs)
            log["streams"].append(stream)
            return stream

        def terminate(self) -> None:
            log["terminates"].append(self)

    module = SimpleNamespace(PyAudio=FakePyAudio, paFloat32=1, paContinue=0, paOutputUnderflow=4)
    return module, log


def test_pyaudio_output_finds_devices_by_name() -> None:
    module, _ = fake_pyaudio(["sysdefault", "default", "USB Audio Device: Analog (hw:1,0)"])
    pa = module.PyAudio()
    assert find_output_device(pa, "DEFAULT") == (1, "default")  # exact beats "sysdefault"
    assert find_output_device(pa, "usb audio") == (2, "USB Audio Device: Analog (hw:1,0)")
    with pytest.raises(OutputError, match=r"no output device named 'HDMI'; PortAudio lists: 'sysdefault', 'default', 'USB"):
        find_output_device(pa, "HDMI")
    with pytest.raises(OutputError, match="no output device named 'Webcam'"):
        find_output_device(pa, "Webcam")  # an input-only device is not an output


def test_pyaudio_output_reinitialises_portaudio_and_only_copies_in_its_callback() -> None:
    module, log = fake_pyaudio(["default"])
    now = [100.0]
    out = PyAudioOutput("default", latency_s=0.1, stall_s=1.0, pyaudio_module=module,
                        quiet_native_logs=False, monotonic=lambda: now[0])
    ring = FrameRingBuffer(4096, 2)
    out.open(SR, 2, ring)
    stream = log["streams"][0]
    assert stream.kwargs["output_device_index"] == 0 and stream.kwargs["rate"] == SR
    assert stream.kwargs["frames_per_buffer"] == 2400 and stream.kwargs["start"]
    ring.write(np.full((1000, 2), 0.5, np.float32))
    ring.prime()
    data, flag = stream.kwargs["stream_callback"](None, 600, {}, 4)
    assert flag == module.paContinue and np.frombuffer(data, np.float32).tolist() == [0.5] * 1200
    assert out.device_underflows == 1 and out.is_alive()
    now[0] += 1.5  # no callback for 1.5 s: stuck
    assert not out.is_alive() and "no callback" in out.failure
    now[0] += 0.0
    stream.kwargs["stream_callback"](None, 10, {}, 0)
    stream.active = False  # PortAudio stopped the stream after a host error
    assert not out.is_alive() and "stopped" in out.failure
    out.open(SR, 2, ring)  # reconnect: a fresh PortAudio, the old one terminated
    assert len(log["inits"]) == 2 and log["terminates"] == [log["inits"][0]] and stream.closed
    out.close()
    assert log["terminates"] == log["inits"]


def test_pyaudio_output_reports_a_missing_device_as_an_output_error() -> None:
    module, log = fake_pyaudio(["default"])
    out = PyAudioOutput("Focusrite", pyaudio_module=module, quiet_native_logs=False)
    with pytest.raises(OutputError, match="no output device named 'Focusrite'"):
        out.open(SR, 2, FrameRingBuffer(1024, 2))
    assert log["terminates"] == log["inits"]  # nothing left initialised


class DyingDevice(FakeDevice):
    """A sound card that opens and fails at once, until ``healthy`` is set."""

    healthy = False

    def open(self, sample_rate: int, channels: int, ring: FrameRingBuffer) -> None:
        super().open(sample_rate, channels, ring)
        self.alive = self.healthy


def _messages(caplog, level: int = logging.WARNING) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= level]


def test_a_card_that_fails_as_soon_as_it_opens_backs_off_and_does_not_flood_the_log(caplog) -> None:
    """It used to be reopened (and lost, and back: three log lines) at every pump, for ever."""
    caplog.set_level(logging.DEBUG, logger="art2mus.installation.audio")
    clock, device = ManualClock(), DyingDevice()
    device.clock = clock
    engine = AudioEngine(device, clock=clock, block_frames=480, buffer_seconds=0.1, backoff=Backoff(0.5, 4.0))

    def run(seconds: float) -> None:  # 10 ms ticks
        for _ in range(int(round(seconds * 100))):
            clock.advance(0.01)
            engine.pump()
            device.consume(480)

    run(60.0)
    # waits that grow as after failed opens, up to the maximum: not an open at every tick
    assert np.diff(device.open_times)[:5] == pytest.approx([0.5, 1.0, 2.0, 4.0, 4.0], abs=0.011)
    assert 15 <= len(device.open_times) <= 20
    status = engine.status()
    assert status["state"] == LOST and status["reconnect_attempts"] == len(device.open_times)
    assert status["losses"] == len(device.open_times)
    warnings = _messages(caplog)
    assert len(warnings) == 3, warnings  # three in a row, then debug level
    assert "lost again 0.0 s after it opened (1 time in a row)" in warnings[0]
    assert "further losses like this are logged at debug level" in warnings[2]
    assert not any("back after" in m for m in warnings)

    caplog.clear()
    device.healthy = True  # repaired: the next try keeps it, and once it has stayed up a line says so
    run(10.0)
    assert engine.state == PLAYING
    assert any("has stayed up" in m and f"{len(device.open_times) - 1} losses in a row" in m for m in _messages(caplog))
    assert engine.status()["reconnect_attempts"] == 0
    # settled: a later loss is a new one, reconnected at once
    opens = len(device.open_times)
    device.alive = False
    run(0.05)
    assert engine.state == PLAYING and len(device.open_times) == opens + 1


def test_a_card_that_fails_as_soon_as_it_opens_backs_off_on_the_device_thread() -> None:
    clock, device = ManualClock(), DyingDevice()  # the threads' waits move this clock
    device.clock = clock
    engine = AudioEngine(device, clock=clock, block_frames=480, buffer_seconds=0.1, backoff=Backoff(0.5, 4.0))
    engine.start()
    try:
        assert wait_for(lambda: len(device.open_times) >= 6, 120.0), device.open_times
    finally:
        engine.stop()
    # the render thread moves the clock too: the device thread's waits are at least the backoff
    gaps = np.diff(device.open_times)[:5]
    assert all(gap >= wait - 1e-6 for gap, wait in zip(gaps, [0.5, 1.0, 2.0, 4.0, 4.0], strict=True)), gaps


def _writes_to_dev_full(path: Path) -> tuple[int, int]:
    """Point this process's descriptor of ``path`` at /dev/full (every write fails: No space left on
    device); returns (that descriptor, a copy of the real one) for :func:`_restore`."""
    real = str(path.resolve())
    fd = next(int(n) for n in os.listdir("/proc/self/fd") if os.path.realpath(f"/proc/self/fd/{n}") == real)
    saved, full = os.dup(fd), os.open("/dev/full", os.O_WRONLY)
    os.dup2(full, fd)
    os.close(full)
    return fd, saved


def _restore(fd: int, saved: int) -> None:
    os.dup2(saved, fd)
    os.close(saved)


@contextlib.contextmanager
def files_cannot_grow_past(size: int):
    """This process cannot write a file past ``size`` bytes (``RLIMIT_FSIZE``; ``write`` fails with EFBIG,
    as it fails with ENOSPC on a full disk): the disk fills up, for everything this process writes."""
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # else the kernel kills the process
    limits = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, limits[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limits)
        signal.signal(signal.SIGXFSZ, previous)


def test_a_wav_file_that_cannot_grow_backs_off_and_does_not_flood_the_log(tmp_path: Path, caplog) -> None:
    """The sweep's full disk: the reopened file takes no space until audio is written, so every reopening
    "worked" and was lost at the first block, 14 times a second, three log lines each."""
    caplog.set_level(logging.DEBUG, logger="art2mus.installation.audio")
    clock = ManualClock()
    out = WavOutput(tmp_path / "out.wav")
    opens: list[float] = []
    real_open = out.open
    out.open = lambda *args: (opens.append(clock.monotonic()), real_open(*args))[1]
    engine = AudioEngine(out, clock=clock, block_frames=1024, backoff=Backoff(0.5, 30.0))
    with files_cannot_grow_past(100_000):  # about half a second of the mix
        engine.open()
        for _ in range(600):  # 60 s in the render thread's 0.1 s wakes
            clock.advance(0.1)
            engine.pump()
        engine.close()
    # the technician reads why: the operating system's reason, not libsndfile's "System error."
    assert engine.status()["last_error"] == f"cannot write to {out.path}: File too large"
    assert np.diff(opens)[:7] == pytest.approx([0.6, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0], abs=0.11)
    assert len(opens) <= 9  # it was 10 a second here (the sweep: 265 in 19 s)
    warnings = _messages(caplog)
    assert len(warnings) == 5, warnings  # lost, back, then lost again three times in a row
    assert "audio output lost: " in warnings[0] and "audio output back after" in warnings[1]
    assert len(_messages(caplog, logging.INFO)) == 6  # and the first "writing the mix to"


needs_dev_full = pytest.mark.skipif(
    not (os.path.exists("/dev/full") and os.path.isdir("/proc/self/fd")), reason="needs Linux's /dev/full"
)


@needs_dev_full
def test_wav_output_errors_carry_the_operating_systems_reason(tmp_path: Path) -> None:
    out = WavOutput(tmp_path / "out.wav")
    out.open(SR, 2, FrameRingBuffer(1024, 2))
    swapped = _writes_to_dev_full(out.path)
    try:
        with pytest.raises(OutputError, match=r"^cannot write to .*out\.wav: No space left on device$"):
            out.write(np.zeros((1024, 2), np.float32))
    finally:
        _restore(*swapped)
        out.close()
    with pytest.raises(OutputError, match="No space left on device"):  # a new file on a full disk
        WavOutput("/dev/full").open(SR, 2, FrameRingBuffer(1024, 2))
