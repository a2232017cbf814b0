"""Voices, equal-power crossfades, the mix bus (master volume, ducking) and its limiter.

The :class:`Mixer` is plain single-threaded DSP: the engine calls its command methods and
:meth:`Mixer.render` from one thread, so nothing here locks or waits.

Crossfades are equal power. The voice being brought in follows ``sin(theta)`` while every other
voice is scaled by ``cos(theta) / cos(theta0)``, with ``theta`` moving linearly from ``theta0``
(``asin`` of the incoming voice's current gain) to pi/2. The summed power of uncorrelated voices,
``sin^2 + cos^2 * sum(g_i^2) / cos^2(theta0)``, therefore stays constant, also when a new request
arrives in the middle of a crossfade (each voice continues from the gain it has, so nothing jumps),
and when the visitor comes back to an artwork that is still fading out (its voice is faded back in
where it is, instead of starting again).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from art2mus.installation.audio.clip import AudioClip
from art2mus.installation.audio.limiter import TruePeakLimiter
from art2mus.installation.audio.ramps import GainRamp

logger = logging.getLogger(__name__)

HALF_PI = math.pi / 2.0

#: At most this many voices sound at once. Requests faster than the crossfade (a visitor walking past
#: several paintings, reloads in a row) would otherwise stack fading voices without bound, each costing
#: a mix per block; beyond the cap the quietest fading voices leave over :data:`EVICT_SECONDS`.
MAX_VOICES = 6
#: How fast an evicted voice fades out (short enough to bound the pile-up, long enough not to click).
EVICT_SECONDS = 0.05
#: Shortest time over which a sounding voice's level changes (a reload's new ``gain_db`` or target
#: loudness): a step of a few dB in one sample is heard as a click and a jump, a dB ramp over 0.5 s as a
#: level change. A longer crossfade lends its length to the ramp.
LEVEL_RAMP_SECONDS = 0.5


class Voice:
    """One clip playing: a read position, a loudness level and a fade envelope.

    Args:
        clip: what to play (in the mix format).
        level: linear gain that brings the clip to the exhibit's loudness (and any extra gain); a
            sounding voice's level changes by a ramp (:meth:`ramp_level_to`), never a step.
        gain: initial value of the fade envelope (0 for a voice that fades in).
        position: first frame to play.
    """

    __slots__ = ("clip", "level_ramp", "envelope", "position", "finished")

    def __init__(self, clip: AudioClip, level: float, gain: float = 0.0, position: int = 0):
        self.clip = clip
        self.level_ramp = GainRamp(level)
        self.envelope = GainRamp(gain)
        self.position = int(position) % clip.frames if clip.loop else int(position)
        self.finished = False

    @property
    def key(self) -> str:
        return self.clip.key

    @property
    def gain(self) -> float:
        """The fade envelope's value now (0..1)."""
        return self.envelope.value

    @property
    def level(self) -> float:
        """The loudness level now (linear gain; moving while a level ramp runs)."""
        return self.level_ramp.value

    @property
    def target_level(self) -> float:
        """The level the voice is at or heading for (linear gain)."""
        return self.level_ramp.target

    def ramp_level_to(self, level: float, frames: int) -> None:
        """Move the level to ``level`` (linear gain) over ``frames`` frames, linearly in dB."""
        self.level_ramp.ramp_to(level, frames)

    def mix_into(self, out: np.ndarray, ramp01: np.ndarray, scratch: np.ndarray) -> None:
        """Add this voice's next ``len(out)`` frames to ``out`` (float32 ``(frames, channels)``).

        ``ramp01`` is ``arange(frames) / frames`` for every channel, shaped like ``out``, for gain
        interpolation; ``scratch`` is a work array of the same shape (its content is overwritten).
        Channel-shaped ramps and in-place arithmetic make this about twice as fast as broadcasting a
        ``(frames, 1)`` gain, which matters with several voices every block.
        """
        frames = out.shape[0]
        g0, g1 = self.envelope.advance(frames)
        l0, l1 = self.level_ramp.advance(frames)
        if self.finished:
            return
        segment = self._read(frames)
        a0, a1 = g0 * l0, g1 * l1
        if a0 == a1:
            if a0 != 0.0:
                np.multiply(segment, np.float32(a0), out=scratch)
                out += scratch
        else:
            np.multiply(ramp01, np.float32(a1 - a0), out=scratch)
            scratch += np.float32(a0)
            scratch *= segment
            out += scratch
        if self.envelope.value == 0.0 and not self.envelope.active:
            self.finished = True

    def _read(self, frames: int) -> np.ndarray:
        pos = self.position
        samples = self.clip.samples_upto(pos + frames)
        total = samples.shape[0]
        if pos + frames <= total:
            self.position = pos + frames
            if self.clip.loop and self.position == total:
                self.position = 0
            return samples[pos : pos + frames]
        if not self.clip.loop:
            segment = np.zeros((frames, samples.shape[1]), np.float32)
            if pos < total:
                segment[: total - pos] = samples[pos:]
            self.position = total
            self.finished = True
            return segment
        # Wrap around (possibly several times for a clip shorter than a block): gapless by construction.
        idx = (np.arange(pos, pos + frames)) % total
        self.position = (pos + frames) % total
        return samples[idx]


@dataclass
class VoiceStatus:
    """What one voice is doing (for status pages and logs)."""

    key: str
    gain: float
    target_gain: float
    level_db: float
    position_s: float
    duration_s: float
    loop: bool


class Mixer:
    """Mixes voices with equal-power crossfades onto a bus with master volume, ducking and a limiter.

    Args:
        sample_rate: Hz.
        channels: 1 or 2.
        master_volume: initial master volume, linear 0..1.
        limiter: the bus limiter (None: no limiter, for measurements of the raw mix).
    """

    def __init__(
        self,
        sample_rate: int = 48000,
        channels: int = 2,
        master_volume: float = 1.0,
        limiter: TruePeakLimiter | None = None,
    ):
        if channels not in (1, 2):
            raise ValueError(f"channels must be 1 or 2, got {channels}")
        self.sample_rate = int(sample_rate)
        self.channels = int(channels)
        self.limiter = limiter
        self.voices: list[Voice] = []
        self.master = GainRamp(_check_volume(master_volume))
        self.duck_gain = GainRamp(1.0)
        self.position = 0
        self._ramp01: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    # ----------------------------------------------------------------- commands
    def crossfade_to(self, clip: AudioClip | None, seconds: float, level: float = 1.0) -> None:
        """Make ``clip`` the only voice, crossfading over ``seconds`` (equal power).

        ``clip`` None fades everything to silence. ``level`` is the clip's linear gain (loudness
        normalisation and extra gain). If this very clip object is still sounding (e.g. fading out) its
        voice is faded back in from where it is rather than restarted, and a new ``level`` is reached
        by a dB ramp over the crossfade (at least :data:`LEVEL_RAMP_SECONDS`); a *new* clip with the
        same key (say, the generated soundscape replacing the procedural stand-in) crossfades like any
        other.
        """
        if seconds < 0:
            raise ValueError(f"crossfade seconds must be >= 0, got {seconds}")
        if clip is not None:
            self._check_clip(clip)
        target = None
        if clip is not None:
            target = next((v for v in self.voices if v.clip is clip and not v.finished), None)
            if target is None:
                target = Voice(clip, level, gain=0.0)
                self.voices.append(target)
            elif abs(target.target_level - level) > 1e-6 * max(1.0, level):
                logger.info("voice %s: level changes from %.3f to %.3f", clip.key, target.level, level)
                target.ramp_level_to(level, int(round(max(seconds, LEVEL_RAMP_SECONDS) * self.sample_rate)))
        theta0 = math.asin(min(max(target.gain, 0.0), 1.0)) if target is not None else 0.0
        # A voice already part-way in needs only the rest of the way: keep the fade's speed.
        frames = int(round(seconds * self.sample_rate * (HALF_PI - theta0) / HALF_PI))
        cos0 = math.cos(theta0)
        for voice in self.voices:
            if voice is target:
                voice.envelope.sine(1.0, theta0, HALF_PI, frames)
            elif cos0 > 1e-3:
                # g_i(theta) = g_i0 * cos(theta) / cos(theta0) = (g_i0 / cos0) * sin(pi/2 - theta)
                voice.envelope.sine(voice.gain / cos0, HALF_PI - theta0, 0.0, frames)
            else:
                voice.envelope.ramp_to(0.0, frames)
        self.voices = [v for v in self.voices if not (v.finished or (v.gain == 0.0 and not v.envelope.active))]
        self._evict_beyond_cap(target)

    def _evict_beyond_cap(self, keep: Voice | None) -> None:
        """Fade out the quietest fading voices quickly while more than :data:`MAX_VOICES` sound."""
        excess = len(self.voices) - MAX_VOICES
        if excess <= 0:
            return
        evict = int(round(EVICT_SECONDS * self.sample_rate))
        fading = sorted((v for v in self.voices if v is not keep), key=lambda v: v.gain)
        for voice in fading[:excess]:
            logger.debug("voice %s: evicted (more than %d voices)", voice.key, MAX_VOICES)
            voice.envelope.ramp_to(0.0, min(evict, voice.envelope.remaining_frames or evict))

    def set_master_volume(self, volume: float, seconds: float = 0.0) -> None:
        """Ramp the master volume (linear gain 0..1) to ``volume`` over ``seconds``."""
        self.master.ramp_to(_check_volume(volume), int(round(max(seconds, 0.0) * self.sample_rate)))

    def duck(self, db: float, seconds: float = 0.5) -> None:
        """Lower the bus by ``db`` dB (>= 0; 0 restores the level), ramping over ``seconds``."""
        if not (0.0 <= db <= 120.0):
            raise ValueError(f"duck depth must be between 0 and 120 dB, got {db}")
        self.duck_gain.ramp_to(10.0 ** (-db / 20.0), int(round(max(seconds, 0.0) * self.sample_rate)))

    # ----------------------------------------------------------------- rendering
    def render(self, frames: int) -> np.ndarray:
        """Mix the next ``frames`` frames. Returns float32 ``(frames, channels)``."""
        ramp01, scratch = self._ramp(frames)
        out = np.zeros((frames, self.channels), np.float32)
        for voice in self.voices:
            voice.mix_into(out, ramp01, scratch)
        if any(v.finished for v in self.voices):
            for voice in self.voices:
                if voice.finished:
                    logger.debug("voice %s finished", voice.key)
            self.voices = [v for v in self.voices if not v.finished]
        m0, m1 = self.master.advance(frames)
        d0, d1 = self.duck_gain.advance(frames)
        b0, b1 = m0 * d0, m1 * d1
        if b0 != b1:
            np.multiply(ramp01, np.float32(b1 - b0), out=scratch)
            scratch += np.float32(b0)
            out *= scratch
        elif b0 != 1.0:
            out *= np.float32(b0)
        if self.limiter is not None:
            out = self.limiter.process(out)
        self.position += frames
        return out

    # ----------------------------------------------------------------- inspection
    @property
    def current_key(self) -> str | None:
        """Key of the voice that is (or is becoming) the one playing; None when fading to silence."""
        for voice in reversed(self.voices):
            if voice.envelope.target > 0.0:
                return voice.key
        return None

    def voice_status(self) -> list[VoiceStatus]:
        return [
            VoiceStatus(
                key=v.key,
                gain=round(v.gain, 4),
                target_gain=round(v.envelope.target, 4),
                level_db=round(20.0 * math.log10(v.level), 2) if v.level > 0 else -math.inf,
                position_s=round(v.position / self.sample_rate, 3),
                duration_s=round(v.clip.duration_s, 3),
                loop=v.clip.loop,
            )
            for v in self.voices
        ]

    def _ramp(self, frames: int) -> tuple[np.ndarray, np.ndarray]:
        """``(ramp, scratch)`` for blocks of ``frames``: ``arange(frames) / frames`` in every channel, and a
        work array of the same shape (kept per block size, so rendering allocates nothing for gains)."""
        cached = self._ramp01.get(frames)
        if cached is None:
            ramp = np.arange(frames, dtype=np.float32) / np.float32(frames)
            ramp = np.ascontiguousarray(np.repeat(ramp[:, None], self.channels, axis=1))
            cached = (ramp, np.empty_like(ramp))
            self._ramp01[frames] = cached
        return cached

    def _check_clip(self, clip: AudioClip) -> None:
        if clip.sample_rate != self.sample_rate or clip.channels != self.channels:
            raise ValueError(
                f"clip {clip.key!r} is {clip.sample_rate} Hz x {clip.channels} ch; the mix is "
                f"{self.sample_rate} Hz x {self.channels} ch (prepare it with prepare_clip)"
            )


def _check_volume(volume: float) -> float:
    if not (0.0 <= volume <= 1.0):
        raise ValueError(f"master volume must be between 0 and 1, got {volume}")
    return float(volume)
