"""Soundscapes longer than AudioLDM2's 10.24 s training clips: one long pass, or stitched segments.

AudioLDM2 was trained on 10.24 s clips; its UNet is convolutional with attention over the whole latent,
so it *can* denoise a 30-45 s latent in one pass, but that length is outside what it saw in training.
The alternative is to generate segments of at most the training length and join them with equal-power
crossfades (``tail * cos + head * sin``): two uncorrelated signals keep their summed power through the
join, and neither side has a discontinuity, so a join cannot click.

:func:`stitched_length_plan` says how many segments of what length make a clip, :func:`stitch` joins
them, :func:`render_stitched` drives a renderer. ``benchmarks/bench_long_clip.py`` measures one long pass
against stitching (FAD and ImageBindScore); the Art2Mus generator's ``segment_s`` setting chooses.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

#: AudioLDM2's training clip length, seconds.
TRAINING_CLIP_S = 10.24


def equal_power_ramps(length: int) -> tuple[np.ndarray, np.ndarray]:
    """(fade-out, fade-in) ramps of ``length`` samples whose squares sum to 1 at every sample."""
    phase = (np.arange(length, dtype=np.float64) + 0.5) / length * (math.pi / 2)
    return np.cos(phase), np.sin(phase)


def stitched_length_plan(total: int, segment: int, join: int) -> list[int]:
    """Segment lengths (samples) whose crossfaded sum, ``sum(lengths) - join * (n - 1)``, is exactly ``total``.

    Segments are as equal as possible and none is longer than ``segment``; one segment when ``total``
    fits. Raises ``ValueError`` when a join would not fit in a segment.
    """
    if total < 1 or segment < 1 or join < 0:
        raise ValueError(f"need total >= 1, segment >= 1, join >= 0 samples; got {total}, {segment}, {join}")
    if total <= segment:
        return [total]
    if 2 * join >= segment:
        raise ValueError(f"a join of {join} samples needs segments longer than {2 * join}, got {segment}")
    count = math.ceil((total - join) / (segment - join))
    span = total + join * (count - 1)  # samples of all segments together
    base, extra = divmod(span, count)
    lengths = [base + (1 if k < extra else 0) for k in range(count)]
    if min(lengths) <= 2 * join:
        raise ValueError(f"segments of {min(lengths)} samples are too short for joins of {join}")
    return lengths


def stitch(segments: list[np.ndarray], join: int) -> np.ndarray:
    """Join 1-D ``segments`` with ``join``-sample equal-power crossfades; returns float32.

    The output has ``sum(len) - join * (len(segments) - 1)`` samples.
    """
    if not segments:
        raise ValueError("stitch needs at least one segment")
    for k, segment in enumerate(segments):
        if segment.ndim != 1 or (len(segments) > 1 and segment.shape[0] <= 2 * join):
            raise ValueError(
                f"segment {k}: expected a 1-D waveform longer than {2 * join} samples, got shape {segment.shape}"
            )
    fade_out, fade_in = equal_power_ramps(join) if join else (None, None)
    out = np.asarray(segments[0], dtype=np.float64).copy()
    for segment in segments[1:]:
        segment = np.asarray(segment, dtype=np.float64)
        if join:
            out[-join:] = out[-join:] * fade_out + segment[:join] * fade_in
            out = np.concatenate([out, segment[join:]])
        else:
            out = np.concatenate([out, segment])
    return out.astype(np.float32)


def render_stitched(
    render: Callable[[int, float], np.ndarray],
    total: int,
    sample_rate: int,
    segment_s: float,
    join_s: float,
) -> tuple[np.ndarray, list[int]]:
    """``total`` samples made of segments ``render(k, seconds)`` (k = 0, 1, ...) joined by crossfades.

    ``render`` must return at least ``round(seconds * sample_rate)`` samples (extra ones are cut).
    Returns the waveform and the sample positions where each join's crossfade starts.
    """
    segment = int(round(segment_s * sample_rate))
    join = int(round(join_s * sample_rate))
    lengths = stitched_length_plan(total, segment, join)
    pieces = []
    for k, length in enumerate(lengths):
        piece = np.asarray(render(k, length / sample_rate), dtype=np.float32)
        if piece.shape[0] < length:
            raise ValueError(
                f"segment {k}: the renderer returned {piece.shape[0]} samples, expected {length}"
            )
        pieces.append(piece[:length])
    joins = list(np.cumsum([length - join for length in lengths[:-1]]).astype(int))
    waveform = stitch(pieces, join if len(pieces) > 1 else 0)
    return waveform, [int(j) for j in joins]
