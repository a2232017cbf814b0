"""Closing the gap between ImageBind's image and audio embeddings, for aligners trained on music alone.

``art2mus train --music-only`` teaches the aligner to map ImageBind *audio* embeddings of a music
library to that same music (its VAE latents), then feeds it ImageBind *image* embeddings at inference.
Contrastive joint spaces are not one cloud: each modality sits in its own narrow cone, and the two
cones are offset by a near-constant vector, the *modality gap* (Liang et al., "Mind the Gap:
Understanding the Modality Gap in Multi-modal Contrastive Representation Learning", NeurIPS 2022).
Zero-shot cross-modal conditioning closes it in two ways, both used here:

* **Mean shift** (Liang et al. 2022, section 4: shifting one modality's embeddings by the difference of
  the two centroids, then re-normalising; also the "projection to the text centroid" of DeCap, Li et al.,
  ICLR 2023, in its simplest form): :func:`fit_shift` takes the centroid of the museum's *image*
  embeddings and of the library's *audio* embeddings (each row L2-normalised) and stores
  ``mean(audio) - mean(image)`` in the aligner's ``input_shift`` (its ``config.json``), so every image
  embedding is moved into the audio cone at inference, in the daemon as in ``art2mus evaluate``.
* **Noise injection during training** (CapDec, Nukrai et al., "Text-Only Training for Image Captioning
  using Noise-Injected CLIP", EMNLP Findings 2022; the same idea as ClipCap-style training on one modality):
  Gaussian noise is added to each training (audio) embedding (``TrainingConfig.embedding_noise``; CapDec's
  variance 0.016, i.e. std 0.126, is the default for music-only runs) so the aligner responds smoothly to
  the neighbourhood an image embedding lands in after the shift, not only to exact audio embeddings.

:class:`GapFit` records the gap measured before and after the shift (centroid distance and the mean
image-audio cosine), written to the aligner's metadata and printed by the command.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

#: CapDec's noise variance (0.016) as a standard deviation
CAPDEC_NOISE_STD = float(np.sqrt(0.016))


@dataclass(frozen=True)
class GapFit:
    """A fitted mean shift and what it did on the embeddings it was fitted on.

    Attributes:
        shift: ``(dim,)`` vector to add to an L2-normalised image embedding (then re-normalise).
        centroid_distance_before, centroid_distance_after: Euclidean distance between the image and the
            audio centroid (unit-norm rows) before and after shifting the images.
        mean_cosine_before, mean_cosine_after: mean cosine of every image with every audio embedding.
        images, audio: how many embeddings of each modality it was fitted on.
    """

    shift: list[float]
    centroid_distance_before: float
    centroid_distance_after: float
    mean_cosine_before: float
    mean_cosine_after: float
    images: int
    audio: int

    def summary(self) -> dict[str, float | int]:
        """The figures without the vector (for metadata and printing)."""
        return {k: v for k, v in asdict(self).items() if k != "shift"}


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / (np.linalg.norm(x, axis=-1, keepdims=True) + 1e-12)


def apply_shift(image_embeddings: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """``(n, dim)`` image embeddings moved by ``shift`` and re-normalised (what the aligner does)."""
    return _unit(_unit(image_embeddings) + np.asarray(shift, dtype=np.float64))


def fit_shift(image_embeddings: np.ndarray, audio_embeddings: np.ndarray) -> GapFit:
    """Fit the mean shift from ``(n, dim)`` image and ``(m, dim)`` audio embeddings of one space."""
    images, audio = _unit(image_embeddings), _unit(audio_embeddings)
    if (
        images.ndim != 2
        or audio.ndim != 2
        or images.shape[1] != audio.shape[1]
        or not len(images)
        or not len(audio)
    ):
        raise ValueError(f"need image and audio embeddings of one size, got {images.shape} and {audio.shape}")
    shift = audio.mean(axis=0) - images.mean(axis=0)
    moved = apply_shift(images, shift)
    return GapFit(
        shift=[float(v) for v in shift],
        centroid_distance_before=float(np.linalg.norm(images.mean(0) - audio.mean(0))),
        centroid_distance_after=float(np.linalg.norm(moved.mean(0) - audio.mean(0))),
        mean_cosine_before=float((images @ audio.T).mean()),
        mean_cosine_after=float((moved @ audio.T).mean()),
        images=len(images),
        audio=len(audio),
    )
