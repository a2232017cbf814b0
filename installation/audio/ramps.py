"""Gain curves that move over a number of frames: voice fades and bus volume ramps.

A :class:`GainRamp` is evaluated exactly at block boundaries and interpolated linearly inside a block
(blocks are ~20 ms, fades last seconds), so consecutive blocks always join at the same value: a ramp
never clicks, whatever the block size.

Shapes:
    ``sine``: ``amp * sin(phase)`` with the phase moving linearly; two voices whose phases move in
        step along ``sin`` and ``cos`` keep ``g1**2 + g2**2`` constant (an equal-power crossfade).
    ``db``: linear in decibels (how loudness changes sound even); used between two audible levels.
    ``linear``: linear in amplitude; used when one end is silence (a dB ramp would spend most of its
        time inaudibly quiet).
"""

from __future__ import annotations

import math

#: below this linear gain a level counts as silence for choosing a ramp's shape (-60 dB).
SILENT_GAIN = 1e-3


class GainRamp:
    """A linear gain that is either constant or moving towards a target over a number of frames."""

    __slots__ = ("_shape", "_start", "_target", "_amp", "_phase0", "_dphase", "_frames", "_elapsed", "_value")

    def __init__(self, value: float = 0.0):
        self._value = float(value)
        self._shape = "const"
        self._start = self._target = self._value
        self._amp = self._phase0 = self._dphase = 0.0
        self._frames = 0
        self._elapsed = 0

    @property
    def value(self) -> float:
        """The gain now (linear)."""
        return self._value

    @property
    def target(self) -> float:
        """The gain at the end of the current ramp (the value itself when constant)."""
        return self._target

    @property
    def active(self) -> bool:
        """True while the gain is still moving."""
        return self._shape != "const"

    @property
    def remaining_frames(self) -> int:
        return 0 if self._shape == "const" else self._frames - self._elapsed

    def set(self, value: float) -> None:
        """Jump to ``value`` (only for things that are not sounding yet)."""
        self._value = self._start = self._target = float(value)
        self._shape = "const"

    def ramp_to(self, target: float, frames: int) -> None:
        """Move from the current value to ``target`` over ``frames`` frames (dB-linear between audible levels)."""
        target = float(target)
        if frames <= 0 or target == self._value:
            self.set(target)
            return
        self._shape = "db" if min(self._value, target) > SILENT_GAIN else "linear"
        self._start, self._target = self._value, target
        self._frames, self._elapsed = int(frames), 0

    def sine(self, amp: float, phase0: float, phase1: float, frames: int) -> None:
        """Follow ``amp * sin(phase)`` with the phase going linearly from ``phase0`` to ``phase1`` (radians).

        The caller chooses ``amp`` and ``phase0`` so that the curve starts at the current value.
        """
        end = amp * math.sin(phase1)
        if frames <= 0:
            self.set(end)
            return
        self._shape = "sine"
        self._amp, self._phase0, self._dphase = float(amp), float(phase0), float(phase1 - phase0)
        self._start, self._target = self._value, end
        self._frames, self._elapsed = int(frames), 0

    def _at(self, elapsed: int) -> float:
        u = min(elapsed / self._frames, 1.0)
        if self._shape == "sine":
            return self._amp * math.sin(self._phase0 + self._dphase * u)
        if self._shape == "db":
            return self._start * (self._target / self._start) ** u
        return self._start + (self._target - self._start) * u

    def advance(self, frames: int) -> tuple[float, float]:
        """Move ``frames`` frames on; return the gains at the start and at the end of that span."""
        g0 = self._value
        if self._shape == "const":
            return g0, g0
        self._elapsed += frames
        if self._elapsed >= self._frames:
            self._value = self._target
            self._shape = "const"
        else:
            self._value = self._at(self._elapsed)
        return g0, self._value
