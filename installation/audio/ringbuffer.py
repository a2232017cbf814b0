"""A single-producer single-consumer ring of audio frames between the mixer and the device callback.

The mixer thread writes whole blocks ahead of time; the PortAudio callback only copies out what it
needs (it never mixes, allocates big buffers or waits on a lock), so Python work elsewhere cannot
starve the device as long as the ring holds audio. Each side moves only its own counter, after
touching the data, which is safe under the GIL for one writer and one reader.
"""

from __future__ import annotations

import numpy as np


class FrameRingBuffer:
    """Float32 frames ``(capacity, channels)`` written by one thread and read by another.

    A read that finds fewer frames than asked for is an *underrun*: the missing tail is silence and
    :attr:`underruns` counts it. Until :meth:`prime` is called (after a reset, when the mixer has
    filled the ring for the first time), reads return silence without counting underruns, so
    opening a device does not look like a dropout.
    """

    def __init__(self, capacity_frames: int, channels: int):
        if capacity_frames <= 0 or channels <= 0:
            raise ValueError(f"ring needs positive capacity and channels, got {capacity_frames}, {channels}")
        self.capacity = int(capacity_frames)
        self.channels = int(channels)
        self._buf = np.zeros((self.capacity, self.channels), np.float32)
        self._written = 0  # frames ever written (moved only by the writer)
        self._read = 0  # frames ever read (moved only by the reader)
        self._primed = False
        self.underruns = 0
        self.frames_missing = 0

    @property
    def fill(self) -> int:
        """Frames written and not yet read."""
        return self._written - self._read

    @property
    def free(self) -> int:
        return self.capacity - self.fill

    @property
    def primed(self) -> bool:
        return self._primed

    def prime(self) -> None:
        """Start counting short reads as underruns (call once the ring holds enough audio)."""
        self._primed = True

    def reset(self) -> None:
        """Drop everything buffered. Only while neither side is running (e.g. between two device streams)."""
        self._read = self._written
        self._primed = False

    def write(self, frames: np.ndarray) -> int:
        """Append ``frames`` (float32 ``(n, channels)``); returns how many fitted (the rest is dropped)."""
        n = min(frames.shape[0], self.free)
        if n <= 0:
            return 0
        start = self._written % self.capacity
        first = min(n, self.capacity - start)
        self._buf[start : start + first] = frames[:first]
        if first < n:
            self._buf[: n - first] = frames[first:n]
        self._written += n  # publish after the data is in place
        return n

    def read(self, frames: int) -> np.ndarray:
        """Take ``frames`` frames (float32 ``(frames, channels)``); silence where the ring ran dry."""
        out = np.zeros((frames, self.channels), np.float32)
        if not self._primed:
            return out
        n = min(frames, self._written - self._read)
        if n > 0:
            start = self._read % self.capacity
            first = min(n, self.capacity - start)
            out[:first] = self._buf[start : start + first]
            if first < n:
                out[first:n] = self._buf[: n - first]
            self._read += n
        if n < frames:
            self.underruns += 1
            self.frames_missing += frames - max(n, 0)
        return out

    def read_bytes(self, frames: int) -> bytes:
        """:meth:`read` as interleaved float32 bytes, what a PortAudio ``paFloat32`` callback returns."""
        return self.read(frames).tobytes()
