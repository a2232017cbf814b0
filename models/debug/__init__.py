"""Tiny random-weight "debug" builds of every network, written in the real model-directory layout.

``build_debug_model_dir(path)`` writes::

    path/audioldm2-music/           tiny AudioLDM2 (see art2mus.models.debug.audioldm2)
    path/audioldm2 -> audioldm2-music   the same, standing in for cvssp/audioldm2 (art2mus-v1 profile)
    path/imagebind/                 tiny ImageBind (art2mus.models.debug.encoders.build_debug_imagebind)
    path/clip-vit-large-patch14/    tiny CLIP vision tower (art2mus.models.debug.encoders.build_debug_clip)
    path/aligners/debug-<encoder>-<n>tok/   random aligners (1 and 4 tokens) for each debug encoder

so that tests run the same loading code as the real weights, on a CPU, in seconds. Output of random
weights is noise-like and very quiet: normalise before listening.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

from art2mus.models.debug.audioldm2 import DEBUG_GPT2_DIM, build_debug_audioldm2

logger = logging.getLogger(__name__)

#: the file that marks a folder as a debug build (what it holds, its seed); ``models list`` reads it
DEBUG_BUILD_RECORD = "debug_build.json"
#: where a debug aligner came from, as its config records it and ``models list`` shows it
DEBUG_ALIGNER_ORIGIN = "debug build, random weights"
#: aligner variants written for each debug encoder (the published Art2Mus variants).
DEBUG_ALIGNER_TOKENS = (1, 4)
#: encoder kind -> (folder in the model directory, builder name in art2mus.models.debug.encoders)
_DEBUG_ENCODERS = {
    "imagebind": ("imagebind", "build_debug_imagebind"),
    "clip": ("clip-vit-large-patch14", "build_debug_clip"),
}


def debug_aligner_name(encoder_kind: str, n_tokens: int) -> str:
    """Folder name under ``aligners/`` of a debug aligner, e.g. ``debug-imagebind-4tok``."""
    return f"debug-{encoder_kind}-{n_tokens}tok"


def build_debug_model_dir(
    path: str | Path,
    *,
    seed: int = 0,
    encoders: Sequence[str] = ("imagebind", "clip"),
) -> Path:
    """Write a complete tiny model directory to ``path`` and return it.

    Args:
        seed: seed of every random weight (the same seed writes the same weights).
        encoders: debug image encoders to include (``imagebind``, ``clip``); each gets 1- and 4-token
            aligners. An empty sequence writes only AudioLDM2.
    """
    import torch

    from art2mus.models.aligner import ImageAligner

    root = Path(path)
    root.mkdir(parents=True, exist_ok=True)
    build_debug_audioldm2(root / "audioldm2-music", seed=seed)
    written = {"audioldm2-music": "audioldm2-music"}
    # the art2mus-v1 profile's base (cvssp/audioldm2): the same tiny network stands in for it
    if not (root / "audioldm2").exists():
        (root / "audioldm2").symlink_to("audioldm2-music", target_is_directory=True)
    written["audioldm2"] = "audioldm2-music"
    if encoders:
        from art2mus.models.debug import encoders as debug_encoders
        from art2mus.models.encoders import load_image_encoder

        for kind in encoders:
            if kind not in _DEBUG_ENCODERS:
                raise ValueError(
                    f"unknown debug encoder {kind!r}; expected one of {', '.join(_DEBUG_ENCODERS)}"
                )
            folder, builder = _DEBUG_ENCODERS[kind]
            getattr(debug_encoders, builder)(root / folder)
            spec = load_image_encoder(kind, root / folder).spec
            written[kind] = folder
            for i, n_tokens in enumerate(DEBUG_ALIGNER_TOKENS):
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(seed * 1000 + 17 * i + len(kind))
                    aligner = ImageAligner(
                        spec.name, spec.dim, lm_dim=DEBUG_GPT2_DIM, n_tokens=n_tokens, hidden_dim=32
                    )
                name = debug_aligner_name(kind, n_tokens)
                aligner.save(
                    root / "aligners" / name,
                    # `models list` says "origin: trained locally" for an aligner that names none
                    metadata={
                        "debug": True,
                        "seed": seed,
                        "origin": DEBUG_ALIGNER_ORIGIN,
                        "licence": "MIT (random weights)",
                    },
                )
                written[f"aligners/{name}"] = f"aligners/{name}"
    (root / DEBUG_BUILD_RECORD).write_text(
        json.dumps({"debug": True, "seed": seed, "parts": written}, indent=2) + "\n", encoding="utf-8"
    )
    logger.info("wrote a debug model directory to %s", root)
    return root


__all__ = [
    "DEBUG_ALIGNER_TOKENS",
    "DEBUG_BUILD_RECORD",
    "build_debug_audioldm2",
    "build_debug_model_dir",
    "debug_aligner_name",
]
