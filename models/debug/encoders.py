"""Tiny random-weight ImageBind and CLIP image encoders, saved in the on-disk format the real loaders read.

* :func:`build_debug_imagebind` writes an upstream ``ImageBindModel`` state dict with small
  dimensions (~1.7 M parameters, all six modalities as upstream) plus the ``config.json`` that tells
  the loader those dimensions; spec ``EncoderSpec("imagebind_debug", 40)``. Images stay 224x224 and
  audio keeps ImageBind's 128 mel bins x 204 frames, so the real preprocessing is exercised.
* :func:`build_debug_clip` writes a ``CLIPVisionModelWithProjection`` with ``save_pretrained`` and a
  ``CLIPImageProcessor`` ``preprocessor_config.json``; spec ``clip-vit-h32-l2-patch32``, dim 48.

The embedding widths (40, 48) differ from each other and from the debug AudioLDM2 widths
(GPT-2 24, T5 32, CLAP 16), so wiring an aligner to the wrong space fails loudly. Both builders take
the directory the part lives in (``MODEL_DIR/imagebind``, ``MODEL_DIR/clip-vit-large-patch14``), the
same path that ``load_image_encoder`` reads, and a seed; the global torch RNG state is left untouched.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

#: embedding width of the debug ImageBind (the real huge one is 1024).
DEBUG_IMAGEBIND_DIM = 40
#: embedding width of the debug CLIP (ViT-L/14's projection is 768).
DEBUG_CLIP_DIM = 48
DEBUG_IMAGEBIND_NAME = "imagebind_debug"
DEBUG_IMAGEBIND_CHECKPOINT = "imagebind_debug.pth"

#: ImageBindModel arguments of the debug build: every modality, tiny widths, one or two blocks.
DEBUG_IMAGEBIND_KWARGS: dict[str, Any] = {
    "kernel_size": [2, 56, 56],  # 4x4 patches of a 224x224 image instead of 16x16
    "out_embed_dim": DEBUG_IMAGEBIND_DIM,
    "vision_embed_dim": 32,
    "vision_num_blocks": 2,
    "vision_num_heads": 2,
    "audio_embed_dim": 32,
    "audio_num_blocks": 2,
    "audio_num_heads": 2,
    "audio_drop_path": 0.1,
    "text_embed_dim": 16,
    "text_num_blocks": 1,
    "text_num_heads": 2,
    "depth_embed_dim": 16,
    "depth_num_blocks": 1,
    "depth_num_heads": 2,
    "thermal_embed_dim": 16,
    "thermal_num_blocks": 1,
    "thermal_num_heads": 2,
    "imu_embed_dim": 16,
    "imu_num_blocks": 1,
    "imu_num_heads": 2,
}

#: CLIPVisionConfig arguments of the debug build.
DEBUG_CLIP_CONFIG: dict[str, Any] = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "image_size": 224,
    "patch_size": 32,
    "projection_dim": DEBUG_CLIP_DIM,
}


def build_debug_imagebind(directory: str | Path, seed: int = 0) -> Path:
    """Write a tiny random ImageBind into ``directory`` (created); returns ``directory``.

    Files: ``config.json`` (name ``imagebind_debug``, dimensions) and ``imagebind_debug.pth`` (the
    upstream state-dict format, ~7 MB). Load it with ``load_image_encoder("imagebind", directory)``.
    """
    import torch

    from art2mus.models.encoders.imagebind import CONFIG_NAME, CONFIG_VERSION, import_imagebind_model

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    module = import_imagebind_model()
    kwargs = {
        key: tuple(value) if isinstance(value, list) else value
        for key, value in DEBUG_IMAGEBIND_KWARGS.items()
    }
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = module.ImageBindModel(**kwargs).eval()
    torch.save(model.state_dict(), directory / DEBUG_IMAGEBIND_CHECKPOINT)
    config = {
        "name": DEBUG_IMAGEBIND_NAME,
        "version": CONFIG_VERSION,
        "checkpoint": DEBUG_IMAGEBIND_CHECKPOINT,
        "model": DEBUG_IMAGEBIND_KWARGS,
    }
    (directory / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    logger.info(
        "built debug ImageBind (%d parameters) in %s", sum(p.numel() for p in model.parameters()), directory
    )
    return directory


def build_debug_clip(directory: str | Path, seed: int = 0) -> Path:
    """Write a tiny random CLIP vision tower + ``CLIPImageProcessor`` config into ``directory``; returns it.

    Same files as ``openai/clip-vit-large-patch14``'s vision tower saved with ``save_pretrained``
    (``config.json``, ``model.safetensors``, ``preprocessor_config.json``). Load it with
    ``load_image_encoder("clip", directory)``.
    """
    import torch
    from transformers import CLIPImageProcessorPil, CLIPVisionConfig, CLIPVisionModelWithProjection

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = CLIPVisionModelWithProjection(CLIPVisionConfig(**DEBUG_CLIP_CONFIG)).eval()
    model.save_pretrained(directory)
    # The PIL processor writes the same preprocessor_config.json as CLIPImageProcessor
    # ("image_processor_type": "CLIPImageProcessor") and needs no torchvision.
    CLIPImageProcessorPil().save_pretrained(directory)
    logger.info(
        "built debug CLIP (%d parameters) in %s", sum(p.numel() for p in model.parameters()), directory
    )
    return directory
