"""CLIP's image tower (transformers ``CLIPVisionModelWithProjection``) as an image encoder.

Loads a local directory in transformers layout (``config.json``, ``model.safetensors`` or
``pytorch_model.bin``, ``preprocessor_config.json``), e.g. ``openai/clip-vit-large-patch14`` saved
with ``save_pretrained``. Preprocessing follows the saved ``CLIPImageProcessor`` config but runs in our
own :class:`~art2mus.models.encoders.preprocess.ImagePreprocessor`, which needs no torchvision
(transformers 5's default CLIP processor does) and is shared with the ONNX export.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch
from torch import nn

from art2mus.models.encoders.base import EncoderLoadError, EncoderSpec
from art2mus.models.encoders.clip_config import CLIPEncoderConfig
from art2mus.models.encoders.preprocess import ImagePreprocessor
from art2mus.models.encoders.torch_encoder import TorchImageEncoder

logger = logging.getLogger(__name__)

WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
PREPROCESSOR_FILE = "preprocessor_config.json"

# (hidden_size, num_hidden_layers) -> the size word in OpenAI's model names.
_SIZE_NAMES = {(768, 12): "base", (1024, 24): "large", (1280, 32): "huge"}


def clip_spec_name(config) -> str:
    """Embedding-space name from a ``CLIPVisionConfig``: ``clip-vit-large-patch14`` for ViT-L/14 at 224.

    Architectures with no OpenAI name (the debug build) get one built from their dimensions, so they
    can never be mistaken for a real checkpoint.
    """
    size = _SIZE_NAMES.get((config.hidden_size, config.num_hidden_layers))
    if size is None:
        size = f"h{config.hidden_size}-l{config.num_hidden_layers}"
    name = f"clip-vit-{size}-patch{config.patch_size}"
    if config.image_size != 224:
        name += f"-{config.image_size}"
    return name


class CLIPImageTower(nn.Module):
    """CLIP pixels ``(B, 3, H, W)`` -> projected image embeddings ``(B, projection_dim)``."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.model(pixel_values=pixel_values).image_embeds


class CLIPEncoder(TorchImageEncoder):
    """CLIP image embeddings, L2-normalised, float32 ``(batch, projection_dim)`` (768 for ViT-L/14)."""

    config_class = CLIPEncoderConfig

    @classmethod
    def from_pretrained(
        cls,
        path: str | Path,
        device: torch.device | str = "cpu",
        dtype: torch.dtype | str | None = None,
        max_batch: int = 16,
    ) -> CLIPEncoder:
        """Load from a local transformers directory; never downloads.

        Raises ``FileNotFoundError`` for a missing directory or file and :class:`EncoderLoadError`
        for files that are present but unreadable or of another model type.
        """
        from safetensors import SafetensorError
        from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

        path = Path(path)
        expected = f"a transformers CLIP directory with config.json, one of {list(WEIGHT_FILES)} and {PREPROCESSOR_FILE}"
        if not path.is_dir():
            raise FileNotFoundError(f"CLIP model directory {path} not found: expected {expected}")
        missing = [name for name in ("config.json", PREPROCESSOR_FILE) if not (path / name).is_file()]
        if not any((path / name).is_file() for name in WEIGHT_FILES):
            missing.append(" or ".join(WEIGHT_FILES))
        if missing:
            raise FileNotFoundError(f"CLIP model directory {path} lacks {missing}: expected {expected}")
        try:
            processor_config = json.loads((path / PREPROCESSOR_FILE).read_text(encoding="utf-8"))
            preprocessor = ImagePreprocessor.from_clip_processor_config(
                processor_config, str(path / PREPROCESSOR_FILE)
            )
        except (json.JSONDecodeError, UnicodeDecodeError, ValueError, TypeError) as error:
            raise EncoderLoadError(
                f"{path / PREPROCESSOR_FILE}: not a usable CLIPImageProcessor config ({error})"
            ) from error
        try:
            config = CLIPVisionConfig.from_pretrained(path, local_files_only=True)
        except (OSError, ValueError, TypeError, KeyError) as error:
            raise EncoderLoadError(
                f"{path / 'config.json'}: not a CLIP (vision) config ({type(error).__name__}: {error})"
            ) from error
        try:
            model, info = CLIPVisionModelWithProjection.from_pretrained(
                path, config=config, local_files_only=True, output_loading_info=True
            )
        except (OSError, ValueError, RuntimeError, SafetensorError) as error:
            raise EncoderLoadError(
                f"{path}: CLIP weights could not be loaded ({type(error).__name__}: {error})"
            ) from error
        # transformers fills missing weights with random values and only warns; a half-loaded
        # encoder would silently produce garbage embeddings, so refuse it.
        missing_keys = list(info.get("missing_keys", ()))
        if missing_keys:
            raise EncoderLoadError(
                f"{path}: the weights lack {len(missing_keys)} CLIP vision parameters (e.g. {missing_keys[:3]}); "
                "expected a CLIPVisionModelWithProjection or CLIPModel checkpoint"
            )
        spec = EncoderSpec(name=clip_spec_name(config), dim=int(config.projection_dim))
        logger.info("loaded CLIP %r from %s", spec.name, path)
        return cls(CLIPImageTower(model), preprocessor, spec, device=device, dtype=dtype, max_batch=max_batch)
