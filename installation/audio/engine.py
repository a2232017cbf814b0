"""The audio engine: the director's commands in, the mix rendered ahead of the output, device loss survived.

Threads (all started by :meth:`AudioEngine.start`, all waiting on one stop event):

* **render** applies queued commands at block boundaries and renders the mix in blocks. With a
  device-paced output (PortAudio) it keeps the ring buffer filled ``buffer_seconds`` ahead of the
  device; with a clock-paced output (WAV, null) it writes each block when the clock says it is due.
  It wakes a few times a second (a wake-up costs a small machine as much CPU as mixing a block, and
  the steady state is mostly waking), and at once when a command is queued: what fell due is mixed
  first, so the command takes effect where the mix is at that moment, as if it had woken every block.
* **device** opens the output, and after a failure closes it and reopens it with exponential
  backoff. Opening, closing and PortAudio's terminate/initialise can block on a broken device: they
  happen here, never on the render thread or on the caller's.
* PortAudio's own callback thread only copies from the ring.

While the output is lost, the mix clock keeps running: the render thread goes on mixing at the
clock's pace (and drops the audio), so when the device comes back it plays what the mix is playing
*now*, not what it was playing when the device went away, and crossfades or ramps commanded in the
meantime have happened.

Callers never wait: commands are validated, queued and applied by the render thread; :meth:`status`
returns the last published snapshot. For tests and simulations the same steps run without threads:
:meth:`AudioEngine.open`, then :meth:`AudioEngine.pump` whenever the clock has moved.
"""

from __future__ import annotations

import collections
import logging
import math
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from art2mus.installation.audio.backends import create_output
from art2mus.installation.audio.clip import AudioClip, played_as, prepare_clip
from art2mus.installation.audio.clock import Clock, SystemClock
from art2mus.installation.audio.limiter import TruePeakLimiter
from art2mus.installation.audio.meter import ShortTermLoudnessMeter
from art2mus.installation.audio.mixer import Mixer
from art2mus.installation.audio.outputs import AudioOutput, OutputError
from art2mus.installation.audio.ringbuffer import FrameRingBuffer

logger = logging.getLogger(__name__)

#: engine states (``status()["state"]``)
OPENING = "opening"  # output not open yet; the mix clock runs, audio is dropped
PLAYING = "playing"  # output open and taking audio
LOST = "lost"  # output failed; the mix clock runs, audio is dropped, reopening with backoff
STOPPED = "stopped"

#: shortest master-volume ramp, seconds: a volume change asked for with no ramp (the panel's
#: ramp_seconds 0) stepped the whole mix by up to -5.7 dB in one 20 ms block, a click; 50 ms is heard
#: as immediate and does not click.
MIN_VOLUME_RAMP_SECONDS = 0.05
#: frames rendered in one go at most, so a clock that jumped far ahead cannot monopolise a pump.
_MAX_CATCHUP_S = 1.0
#: blocks mixed as one at most when the engine is driven by hand (``simulate``, a clock that is not the
#: wall's): each block costs the mixer, limiter, meter and output a fixed few tens of microseconds of
#: Python, 3,750 times for 80 s of mix. Commands still apply where the pump finds them, and a fade's
#: curve is evaluated at the chunk's ends (170 ms apart at most, against fades of seconds): an 80 s demo
#: mix differs from block-by-block mixing by at most 0.0007 (-63 dBFS)
_CHUNK_BLOCKS = 8
#: longest sleep of the render thread between two wakes when no command arrives, seconds: a clock-paced
#: output (WAV, null) gets the blocks that fell due meanwhile in one go
_WAKE_S = 0.1
#: a device-paced ring is topped up once it has drained by this fraction of its lead (``buffer_seconds``):
#: the device never has less than 7/8 of it ahead of what it plays
_REFILL_FRACTION = 0.125
#: an output lost again sooner than this after it opened (seconds; or sooner than the wait its loss would
#: cost, when that is longer) never really came back: a full disk takes the reopened WAV file's first block,
#: a broken card opens and dies at once. Such a loss counts as a failed attempt, so the next try backs off.
_SETTLE_MIN_S = 0.5
#: quick losses in a row logged as warnings; the ones after them at debug level, until the output settles
_QUICK_LOSSES_LOGGED = 3
#: a status asked for within this much mix of the last loudness reading reuses it, seconds: a reading costs
#: an FFT of the 3 s window (about 4 ms of a desktop core, more on a small board), and however many panels
#: poll the status (each about once a second) or a caller polls it in a loop, it is taken at most twice a
#: second
_LOUDNESS_REUSE_S = 0.5


class Backoff:
    """Delays between reconnection attempts: ``first_s`` doubling up to ``max_s`` seconds."""

    def __init__(self, first_s: float = 0.5, max_s: float = 30.0):
        if not (0 < first_s <= max_s):
            raise ValueError(f"backoff needs 0 < first_s <= max_s, got {first_s}, {max_s}")
        self.first_s, self.max_s = float(first_s), float(max_s)

    def delay(self, failures: int) -> float:
        """Seconds to wait after ``failures`` consecutive failed attempts (>= 1)."""
        return min(self.max_s, self.first_s * 2.0 ** max(0, failures - 1))


class AudioEngine:
    """Real-time mixer + output with the director's command API.

    Args:
        output: where the mix goes (:class:`~art2mus.installation.audio.outputs.AudioOutput`).
        sample_rate: mix rate in Hz.
        channels: 1 or 2.
        block_frames: frames mixed at a time (commands take effect on block boundaries).
        buffer_seconds: audio mixed ahead of a device-paced output, seconds.
        loudness_lufs: every clip plays at this integrated loudness (BS.1770), LUFS (the target; the status's
            ``loudness_lufs`` is what the output plays, measured).
        master_volume: initial master volume, linear 0..1.
        crossfade_seconds: default crossfade length, seconds.
        limiter_ceiling_dbtp: the bus limiter's ceiling, dBTP.
        loop_crossfade_seconds: blend used to make non-seamless loops seamless, seconds (0: off).
        backoff: delays between reconnection attempts.
        clock: the time source the mix is paced by (the system clock by default).
        monitor: called as ``monitor(first_frame, block)`` on the render thread with every mixed
            block (float32 ``(frames, channels)``), also while the output is lost. For meters and tests;
            it must be quick.
    """

    def __init__(
        self,
        output: AudioOutput,
        *,
        sample_rate: int = 48000,
        channels: int = 2,
        block_frames: int = 1024,
        buffer_seconds: float = 0.5,
        loudness_lufs: float = -23.0,
        master_volume: float = 0.8,
        crossfade_seconds: float = 4.0,
        limiter_ceiling_dbtp: float = -1.0,
        loop_crossfade_seconds: float = 0.25,
        backoff: Backoff | None = None,
        clock: Clock | None = None,
        monitor: Callable[[int, np.ndarray], None] | None = None,
    ):
        if block_frames < 16:
            raise ValueError(f"block_frames must be >= 16, got {block_frames}")
        if buffer_seconds <= 0:
            raise ValueError(f"buffer_seconds must be > 0, got {buffer_seconds}")
        if crossfade_seconds < 0:
            raise ValueError(f"crossfade_seconds must be >= 0, got {crossfade_seconds}")
        self.output = output
        self.sample_rate = int(sample_rate)
        self.channels = int(channels)
        self.block_frames = int(block_frames)
        self.loudness_lufs = float(loudness_lufs)
        self.crossfade_seconds = float(crossfade_seconds)
        self.loop_crossfade_seconds = float(loop_crossfade_seconds)
        self.backoff = backoff or Backoff()
        self.clock: Clock = clock or SystemClock()
        self.monitor = monitor
        limiter = TruePeakLimiter(self.sample_rate, self.channels, ceiling_dbtp=limiter_ceiling_dbtp)
        self.mixer = Mixer(self.sample_rate, self.channels, master_volume=master_volume, limiter=limiter)
        # Ahead of the device: at least two blocks, so a refill always fits before the ring runs dry.
        self._lead = max(2 * self.block_frames, int(round(buffer_seconds * self.sample_rate)))
        self.ring = FrameRingBuffer(self._lead + 4 * self.block_frames, self.channels)
        # The mix as it leaves for the output (after master volume, ducking and limiter), kept for the
        # status's short-term loudness: a device plays up to the ring's capacity behind the mix.
        self.meter = ShortTermLoudnessMeter(
            self.sample_rate, self.channels, history_frames=self.ring.capacity, write_frames=self.block_frames
        )
        self._meter_from = 0  # the meter's frame count when the output last opened
        self._loudness: tuple[int, float | None] = (-1, None)  # (window's end frame, reading) last measured

        self._commands: collections.deque[Callable[[], None]] = collections.deque()
        self._idle: tuple[AudioClip, float] | None = None
        self._state = OPENING
        self._state_lock = threading.Lock()
        # The mix clock: frame _anchor_frame is due at clock time _anchor_time (used while no device
        # paces the mix).
        self._anchor_time = self.clock.monotonic()
        self._anchor_frame = 0
        # failed attempts in a row: opens that failed, and reopenings lost again before the output settled
        self._failures = 0
        self._next_attempt = self._anchor_time
        self._lost_since: float | None = None
        self._opened_at: float | None = None  # when the output last opened
        self._quick_losses = 0  # losses in a row that came before the output settled
        self._last_error: str | None = None
        self._losses = 0
        self._peak = 0.0
        self._snapshot: dict[str, Any] = {}
        self._published_at = 0
        self._stop = threading.Event()
        self._render_wakeup = threading.Event()  # set by every command and by stop
        self._device_wakeup = threading.Event()
        self._threads: list[threading.Thread] = []
        self._started = False
        self._publish(self.clock.monotonic())

    @classmethod
    def from_config(
        cls,
        config: Any,
        *,
        clock: Clock | None = None,
        output_factory: Callable[[Any], AudioOutput] = create_output,
        monitor: Callable[[int, np.ndarray], None] | None = None,
    ) -> AudioEngine:
        """Build the engine from the exhibit's ``audio`` section (an ``AudioConfig``)."""
        return cls(
            output_factory(config.output),
            sample_rate=config.sample_rate,
            channels=config.channels,
            buffer_seconds=config.buffer_seconds,
            loudness_lufs=config.loudness_lufs,
            master_volume=config.master_volume,
            crossfade_seconds=config.crossfade_seconds,
            limiter_ceiling_dbtp=config.limiter_ceiling_dbtp,
            loop_crossfade_seconds=config.loop_crossfade_seconds,
            backoff=Backoff(config.reconnect_min_seconds, config.reconnect_max_seconds),
            clock=clock,
            monitor=monitor,
        )

    # ------------------------------------------------------------------ clips
    def prepare(
        self,
        waveform: np.ndarray,
        sample_rate: int,
        *,
        key: str,
        loop: bool = True,
        loudness_lufs: float | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> AudioClip:
        """Convert audio to this engine's mix format and measure its loudness (see :func:`prepare_clip`).

        Costs about 0.1 s per 30 s of audio: call it from the caller's thread, not from a callback.
        """
        return prepare_clip(
            waveform,
            sample_rate,
            key=key,
            mix_rate=self.sample_rate,
            channels=self.channels,
            loop=loop,
            loudness_lufs=loudness_lufs,
            loop_crossfade_s=self.loop_crossfade_seconds,
            metadata=metadata,
        )

    def played_as(self, loop: bool = True) -> str:
        """The name of the form :meth:`prepare` gives a clip, under which the soundscape cache keeps its
        loudness (see :func:`~art2mus.installation.audio.clip.played_as`)."""
        return played_as(self.sample_rate, self.channels, loop, self.loop_crossfade_seconds)

    # ------------------------------------------------------------------ commands (never block)
    def play(self, clip: AudioClip, crossfade_s: float | None = None, gain_db: float = 0.0) -> None:
        """Crossfade to ``clip`` over ``crossfade_s`` seconds (default: the configured length).

        The clip plays at the engine's target loudness plus ``gain_db``. Playing the clip object that
        is already playing (or still fading out) continues it where it is; another clip with the same
        key (e.g. a freshly generated one) crossfades in like any other.
        """
        self._check_clip(clip)
        seconds = self._seconds(crossfade_s)
        level = clip.gain_to(self.loudness_lufs) * 10.0 ** (gain_db / 20.0)
        what = f"play {clip.key} ({seconds:.1f} s)"
        self._command(lambda: self._log_and(what, self.mixer.crossfade_to, clip, seconds, level))

    def set_idle(self, clip: AudioClip | None, gain_db: float = 0.0) -> None:
        """The ambience :meth:`play_idle` plays (None: idle is silence), ``gain_db`` relative to artworks."""
        if clip is not None:
            self._check_clip(clip)
        self._idle = None if clip is None else (clip, float(gain_db))

    def play_idle(self, crossfade_s: float | None = None) -> None:
        """Crossfade to the idle ambience (or to silence when none is set)."""
        idle = self._idle
        if idle is None:
            self.fade_to_silence(crossfade_s)
        else:
            self.play(idle[0], crossfade_s, gain_db=idle[1])

    def fade_to_silence(self, seconds: float | None = None) -> None:
        """Fade every voice out over ``seconds`` (default: the crossfade length)."""
        seconds = self._seconds(seconds)
        what = f"fade to silence ({seconds:.1f} s)"
        self._command(lambda: self._log_and(what, self.mixer.crossfade_to, None, seconds))

    def set_master_volume(self, volume: float, ramp_s: float = 0.0) -> None:
        """Ramp the master volume (linear 0..1) to ``volume`` over ``ramp_s`` seconds (at least
        :data:`MIN_VOLUME_RAMP_SECONDS`, so that no caller can step the mix)."""
        if not (0.0 <= volume <= 1.0):
            raise ValueError(f"master volume must be between 0 and 1, got {volume}")
        ramp_s = max(self._seconds(ramp_s), MIN_VOLUME_RAMP_SECONDS)
        self._command(lambda: self.mixer.set_master_volume(volume, ramp_s))

    def duck(self, db: float, ramp_s: float = 0.5) -> None:
        """Lower the whole mix by ``db`` dB (>= 0) over ``ramp_s`` seconds; ``duck(0)`` restores it."""
        if not (0.0 <= db <= 120.0):
            raise ValueError(f"duck depth must be between 0 and 120 dB, got {db}")
        ramp_s = self._seconds(ramp_s)
        self._command(lambda: self.mixer.duck(db, ramp_s))

    def _command(self, apply: Callable[[], None]) -> None:
        """Queue ``apply`` for the render thread and wake it."""
        self._commands.append(apply)
        self._render_wakeup.set()

    def _seconds(self, seconds: float | None) -> float:
        if seconds is None:
            return self.crossfade_seconds
        if not (0.0 <= seconds <= 3600.0) or math.isnan(seconds):
            raise ValueError(f"a fade or ramp must last 0 to 3600 seconds, got {seconds}")
        return float(seconds)

    def _check_clip(self, clip: AudioClip) -> None:
        if clip.sample_rate != self.sample_rate or clip.channels != self.channels:
            raise ValueError(
                f"clip {clip.key!r} is {clip.sample_rate} Hz x {clip.channels} ch; this engine mixes "
                f"{self.sample_rate} Hz x {self.channels} ch (use AudioEngine.prepare)"
            )

    @staticmethod
    def _log_and(what: str, fn: Callable[..., None], *args: Any) -> None:
        logger.info("audio: %s", what)
        fn(*args)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Start the render and device threads; the output opens in the background."""
        if self._started:
            raise RuntimeError("the audio engine is already started")
        self._started = True
        self._stop.clear()
        now = self.clock.monotonic()
        self._anchor_time, self._anchor_frame = now, self.mixer.position
        self._next_attempt = now
        self._set_state(OPENING)
        self._threads = [
            threading.Thread(target=self._render_loop, name="audio-render", daemon=True),
            threading.Thread(target=self._device_loop, name="audio-device", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def stop(self, timeout_s: float = 2.0) -> None:
        """Stop the threads and close the output; a device stuck in close is left behind (logged)."""
        if not self._threads:
            self.close()
            return
        self._stop.set()
        self._render_wakeup.set()
        self._device_wakeup.set()
        for thread in reversed(self._threads):
            thread.join(timeout_s)
            if thread.is_alive():
                logger.error("audio thread %s did not stop within %.1f s (stuck device?)", thread.name, timeout_s)
        self._threads = []
        self._started = False
        self._set_state(STOPPED)
        self._publish(self.clock.monotonic())

    def open(self) -> None:
        """Open the output now, on this thread (manual driving with :meth:`pump`; raises :class:`OutputError`)."""
        now = self.clock.monotonic()
        self._anchor_time, self._anchor_frame = now, self.mixer.position
        self.ring.reset()
        self.output.open(self.sample_rate, self.channels, self.ring)
        with self._state_lock:
            self._state = PLAYING
            self._opened_at = now
            self._meter_from = self.meter.written

    def close(self) -> None:
        """Close the output (manual driving)."""
        self.output.close()
        self._set_state(STOPPED)
        self._publish(self.clock.monotonic())

    # ------------------------------------------------------------------ the render side
    def pump(self) -> int:
        """Apply queued commands and mix whatever is due now; returns the frames mixed.

        The render thread calls this in a loop; tests and simulations call it after moving their clock.
        Without running threads it also makes the due reconnection attempts.
        """
        now = self.clock.monotonic()
        state_before = self._state
        if not self._started:
            self._device_step(now)
        commanded = bool(self._commands)
        while self._commands:
            self._commands.popleft()()
        mixed = self._mix_due(now)
        # The status is rebuilt when something changed, and otherwise every 0.1 s of mix.
        if commanded or self._state != state_before or self.mixer.position >= self._published_at + self.sample_rate // 10:
            self._publish(now)
        return mixed

    def _mix_due(self, now: float) -> int:
        """Mix what is due at ``now``: the ring topped up for a device, else up to the clock."""
        if self._state == PLAYING and self.output.device_paced:
            if self.output.is_alive():
                return self._fill_ring()
            self._lose(now, self.output.failure or "the output stopped")
        return self._follow_clock(now)

    def _fill_ring(self) -> int:
        mixed = 0
        while self.ring.fill + self.block_frames <= self._lead:
            block = self._render()
            self.ring.write(block)
            mixed += block.shape[0]
        if not self.ring.primed:
            self.ring.prime()
        return mixed

    def _follow_clock(self, now: float) -> int:
        """Mix up to where the clock says the mix is; write it if a clock-paced output is open."""
        state = self._state
        if state == PLAYING and not self.output.realtime:
            due = self.mixer.position + self._lead
        else:
            due = self._anchor_frame + int((now - self._anchor_time) * self.sample_rate)
        if self._started:
            # On the render thread, come back between chunks so queued commands are not held up.
            due = min(due, self.mixer.position + int(_MAX_CATCHUP_S * self.sample_rate))
        mixed = 0
        while self.mixer.position + self.block_frames <= due:
            # the render thread mixes block by block; a hand-driven engine in chunks of whole blocks
            blocks = 1 if self._started else min(_CHUNK_BLOCKS, (due - self.mixer.position) // self.block_frames)
            block = self._render(blocks * self.block_frames)
            mixed += block.shape[0]
            if self._state == PLAYING and not self.output.device_paced:
                try:
                    self.output.write(block)
                except OutputError as exc:
                    self._lose(now, str(exc))
        return mixed

    def mix_rest(self) -> int:
        """Mix and write the part of a block the clock has reached beyond the last whole one (manual
        driving of a clock-paced output: the end of a simulation, whose mix then lasts exactly the
        simulated time); returns the frames mixed."""
        self.pump()
        if self._started or self._state != PLAYING or self.output.device_paced or not self.output.realtime:
            return 0
        due = self._anchor_frame + int((self.clock.monotonic() - self._anchor_time) * self.sample_rate)
        rest = due - self.mixer.position
        if rest <= 0:
            return 0
        block = self._render(rest)
        try:
            self.output.write(block)
        except OutputError as exc:
            self._lose(self.clock.monotonic(), str(exc))
        return rest

    def _render(self, frames: int | None = None) -> np.ndarray:
        first = self.mixer.position
        block = self.mixer.render(self.block_frames if frames is None else frames)
        self._peak = max(float(block.max()), -float(block.min()))
        self.meter.write(block)  # a copy: the loudness is computed when the status asks for it
        if self.monitor is not None:
            self.monitor(first, block)
        return block

    def _lose(self, now: float, reason: str) -> None:
        """The output failed: keep the mix clock where the listener was, and let the device thread reconnect:
        at once after an output that had settled, else after the backoff (see ``_SETTLE_MIN_S``)."""
        with self._state_lock:
            if self._state != PLAYING:
                return
            if self.output.device_paced:
                # Frames still in the ring were never heard: the mix continues from the last one that was.
                self._anchor_time, self._anchor_frame = now, self.mixer.position - self.ring.fill
            self._state = LOST
            self._losses += 1
            self._lost_since = now
            self._last_error = reason
            up_s = now - self._opened_at if self._opened_at is not None else math.inf
            quick = up_s < self._settle_s()
            if quick:  # it never really came back: one more failed attempt
                self._failures += 1
                self._quick_losses += 1
                delay = self.backoff.delay(self._failures)
            else:
                self._failures = self._quick_losses = 0
                delay = 0.0
            self._next_attempt = now + delay
            quick_losses = self._quick_losses
        if not quick:
            logger.warning("audio output lost: %s; the mix keeps running, reconnecting", reason)
        else:
            # A full disk or a broken card fails every reopening: a few lines say so, the rest go to debug
            # (the status page counts the losses), and a line says when the output has settled.
            log = logger.warning if quick_losses <= _QUICK_LOSSES_LOGGED else logger.debug
            log(
                "audio output lost again %.1f s after it opened (%d time%s in a row): %s; the mix keeps "
                "running, next try in %.1f s%s",
                up_s, quick_losses, "" if quick_losses == 1 else "s", reason, delay,
                "; until it stays up, further losses like this are logged at debug level"
                if quick_losses == _QUICK_LOSSES_LOGGED else "",
            )
        self._device_wakeup.set()

    def _settle_s(self) -> float:
        """Seconds an open output must stay up before a loss counts as new (lock held): at least as long
        as the wait its loss would cost."""
        return max(_SETTLE_MIN_S, self.backoff.delay(self._failures + 1))

    def _settle(self, now: float) -> None:
        """An output that has stayed up past the settle time came back for good: a later loss is a new one."""
        with self._state_lock:
            if self._state != PLAYING or not self._failures or self._opened_at is None:
                return
            up_s = now - self._opened_at
            if up_s < self._settle_s():
                return
            quick_losses, self._failures, self._quick_losses = self._quick_losses, 0, 0
        if quick_losses:
            logger.warning(
                "audio output has stayed up %.1f s after %d loss%s in a row soon after opening",
                up_s, quick_losses, "" if quick_losses == 1 else "es",
            )

    def _render_loop(self) -> None:
        delay = 0.0
        failures, last_logged = 0, -math.inf
        while not self._stop.is_set():
            self.clock.wait(self._render_wakeup, delay)
            # cleared before the queue is read: a command queued from here on wakes the next wait
            self._render_wakeup.clear()
            if self._stop.is_set():
                break
            try:
                self._render_step()
            except Exception:  # noqa: BLE001 - the top of a background loop: log and keep mixing
                failures += 1
                now = self.clock.monotonic()
                # A bug that fails every block must not fill the journal at 50 lines a second.
                if now - last_logged >= 60.0:
                    logger.exception("audio render loop failed (%d times so far); continuing", failures)
                    last_logged = now
            delay = self._next_render_delay()

    def _render_step(self) -> int:
        """One wake of the render thread: :meth:`pump`, but with commands waiting, what fell due while the
        thread slept is mixed first, so they take effect at the mix position of now (to within a block),
        not where the last wake left the mix. Returns the frames mixed."""
        mixed = 0
        # (an output that runs ahead of the clock never sleeps: nothing fell due there)
        if self._commands and (self.output.device_paced or self.output.realtime or self._state != PLAYING):
            mixed = self._mix_due(self.clock.monotonic())
        return mixed + self.pump()

    def _next_render_delay(self) -> float:
        """Seconds the render thread may sleep (a command wakes it earlier)."""
        rate = self.sample_rate
        if self._state == PLAYING and self.output.device_paced:
            # until the ring has drained by a fraction of its lead: the device takes frames at the sample rate
            refill = max(self.block_frames, int(self._lead * _REFILL_FRACTION))
            return min(max((self.ring.fill - (self._lead - refill)) / rate, 0.0005), _WAKE_S)
        if self._state == PLAYING and not self.output.realtime:
            return 0.0
        # until a few blocks are due by the clock
        batch = max(1, int(_WAKE_S * rate) // self.block_frames) * self.block_frames
        due_time = self._anchor_time + (self.mixer.position + batch - self._anchor_frame) / rate
        return min(max(due_time - self.clock.monotonic(), 0.0005), _WAKE_S)

    # ------------------------------------------------------------------ the device side
    def _device_loop(self) -> None:
        while not self._stop.is_set():
            try:
                wait = self._device_step(self.clock.monotonic())
            except Exception:  # noqa: BLE001 - the top of a background loop
                logger.exception("audio device loop failed; retrying")
                wait = self.backoff.max_s
            if wait is None:
                # Open and healthy: sleep until the render thread reports a loss.
                self._device_wakeup.wait(0.5)
                self._device_wakeup.clear()
            else:
                self.clock.wait(self._stop, wait)
        try:
            self.output.close()
        except Exception:  # noqa: BLE001 - shutting down: never let a broken device stop the daemon
            logger.exception("closing the audio output failed")

    def _device_step(self, now: float) -> float | None:
        """Reopen the output if it needs it and an attempt is due. Returns seconds until the next attempt
        (None when the output is open)."""
        if self._state not in (OPENING, LOST):
            self._settle(now)
            return None
        if now < self._next_attempt:
            return self._next_attempt - now
        was_lost = self._state == LOST
        self.output.close()
        # Nobody reads or writes the ring now: the old stream is closed, and the render side does not
        # write while the output is not playing.
        self.ring.reset()
        try:
            self.output.open(self.sample_rate, self.channels, self.ring)
        except OutputError as exc:
            self._failures += 1
            delay = self.backoff.delay(self._failures)
            self._next_attempt = now + delay
            self._last_error = str(exc)
            log = logger.warning if self._failures == 1 or delay >= self.backoff.max_s else logger.info
            log("audio output unavailable (attempt %d): %s; next try in %.1f s", self._failures, exc, delay)
            return delay
        with self._state_lock:
            if self._state not in (OPENING, LOST):
                return None
            self._state = PLAYING
            # _failures stays until the output settles: a loss before that is one more failed attempt
            self._opened_at = now
            self._meter_from = self.meter.written
        if was_lost:
            gone = now - (self._lost_since or now)
            # (while it keeps failing as soon as it opens, the losses' own lines say so)
            log = logger.warning if self._quick_losses == 0 else logger.debug
            log(
                "audio output back after %.1f s (%d failed attempts); resuming at mix time %.2f s",
                gone, self._failures, self.mixer.position / self.sample_rate,
            )
        self._lost_since = None
        return None

    def _set_state(self, state: str) -> None:
        with self._state_lock:
            self._state = state

    # ------------------------------------------------------------------ status
    @property
    def state(self) -> str:
        return self._state

    @property
    def position_s(self) -> float:
        """Seconds of mix rendered so far (the mix clock)."""
        return self.mixer.position / self.sample_rate

    def status(self) -> dict[str, Any]:
        """The last published status (JSON-friendly): state, what plays, levels, underruns, output health;
        with ``loudness_lufs`` measured now (see :meth:`short_term_loudness`). Any thread."""
        status = dict(self._snapshot)
        status["loudness_lufs"] = self.short_term_loudness()
        return status

    def short_term_loudness(self) -> float | None:
        """Short-term loudness of what the output has played, LUFS (EBU Tech 3341: BS.1770 K-weighting,
        the last 3 s, no gate), after master volume, ducking and limiter: what the speakers get. None while
        the output is not playing and until it has played 3 s since it opened; digital silence reads
        -120. Any thread: it costs one FFT of the window (a few ms) on the caller's thread, at most once
        per 0.5 s of mix (a reading that recent is reused)."""
        if self._state != PLAYING:
            return None
        written = self.meter.written  # before the ring's fill: a block mixed in between makes `end` early, not late
        # A device plays what is in its ring later: the window ends at the frame it plays now.
        end = written - (self.ring.fill if self.output.device_paced else 0)
        if end - self._meter_from < self.meter.window:
            return None
        last_end, last = self._loudness
        if 0 <= end - last_end < _LOUDNESS_REUSE_S * self.sample_rate:
            return last
        value = self.meter.loudness(end)
        reading = None if value is None else round(value, 2)
        self._loudness = (end, reading)
        return reading

    def sounding_keys(self) -> set[str]:
        """The clip keys of every voice in the last published status (within 0.1 s of mix, and after
        every command): what plays and what still fades out. Any thread."""
        return {voice["key"] for voice in self._snapshot["voices"]}

    def _publish(self, now: float) -> None:
        mixer = self.mixer
        self._published_at = mixer.position
        limiter = mixer.limiter
        duck = mixer.duck_gain.value
        self._snapshot = {
            "state": self._state,
            "healthy": self._state == PLAYING,
            "position_s": round(mixer.position / self.sample_rate, 3),
            "playing": mixer.current_key,
            "voices": [vars(v) for v in mixer.voice_status()],
            "master_volume": round(mixer.master.value, 4),
            "master_volume_target": round(mixer.master.target, 4),
            "duck_db": max(0.0, round(-20.0 * math.log10(duck), 2)) if duck > 0 else 120.0,
            "peak_dbfs": round(20.0 * math.log10(self._peak), 2) if self._peak > 0 else None,
            "limiter_gain_reduction_db": round(limiter.last_gain_reduction_db, 2) if limiter else 0.0,
            "loudness_lufs": None,  # measured when the status is asked for (status())
            "loudness_target_lufs": self.loudness_lufs,
            "underruns": self.ring.underruns,
            "frames_missing": self.ring.frames_missing,
            "buffer_s": round(self.ring.fill / self.sample_rate, 3),
            "output": self.output.describe(),
            "losses": self._losses,
            "last_error": self._last_error,
            "lost_for_s": round(now - self._lost_since, 2) if self._lost_since is not None else None,
            "reconnect_attempts": self._failures if self._state in (OPENING, LOST) else 0,
            "next_attempt_in_s": round(max(self._next_attempt - now, 0.0), 2) if self._state in (OPENING, LOST) else None,
        }
