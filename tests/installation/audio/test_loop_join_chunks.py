"""``loop_join_is_smooth`` looks at a long clip a stretch at a time and stops early: the same answer as
comparing the join with every step of the whole clip at once."""

from __future__ import annotations

import numpy as np
import pytest

from art2mus.installation.audio import clip


def _whole_clip_answer(samples: np.ndarray) -> bool:
    x = samples.astype(np.float64)
    d1, d2 = np.abs(np.diff(x, axis=0)), np.abs(np.diff(x, n=2, axis=0))
    join_d1 = np.abs(x[0] - x[-1])
    join_d2 = np.maximum(np.abs(x[0] - 2 * x[-1] + x[-2]), np.abs(x[1] - 2 * x[0] + x[-1]))
    return bool(np.all(join_d1 <= d1.max(axis=0) + 1e-6) and np.all(join_d2 <= d2.max(axis=0) + 1e-6))


@pytest.mark.parametrize("frames", [8, 1000, clip._SMOOTH_CHUNK + 1, 3 * clip._SMOOTH_CHUNK + 7])
def test_the_answer_is_the_whole_clips(frames):
    rng = np.random.default_rng(frames)
    t = np.arange(frames)[:, None]
    clips = {
        "exact loop": np.sin(2 * np.pi * 3 * t / frames) * np.ones((1, 2)),
        "cut tone": np.sin(2 * np.pi * t * 0.0123 + np.array([[0.0, 1.0]])),
        "noise": rng.normal(0, 0.1, (frames, 2)),
        "drift": np.cumsum(rng.normal(0, 0.01, (frames, 1)), axis=0),
        # the only step as big as the join's lies in the last stretch
        "late step": np.concatenate([np.zeros((frames - 3, 2)), [[0.0, 0.0], [0.5, 0.5], [0.5, 0.5]]]),
    }
    answers = set()
    for name, x in clips.items():
        x = x.astype(np.float32)
        assert clip.loop_join_is_smooth(x) == _whole_clip_answer(x), name
        answers.add(_whole_clip_answer(x))
    assert answers == {True, False}
