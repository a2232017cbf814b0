"""ImageBind (upstream code from ``imagebind-unofficial``) as an image and audio encoder.

Upstream's ``imagebind/__init__.py`` imports ``imagebind.data``, which needs ``pkg_resources``,
torchaudio, pytorchvideo and torchvision, and its model modules import ``timm.layers`` for
``DropPath`` and ``trunc_normal_``. None of those can live beside our torch, and we never patch
site-packages, so :func:`import_imagebind_model` imports only the model module, with a stub
``imagebind.data`` and our own ``timm.layers`` placed in ``sys.modules`` for the duration of that
import and removed afterwards (the model modules keep their references to our layers).

Weights: the upstream ``imagebind_huge.pth`` state dict, read from a local path only (upstream's
``imagebind_huge(pretrained=True)`` downloads it; we never call that). A directory may instead hold
a ``config.json`` that records other dimensions (the tiny debug build), so one loader builds any size::

    imagebind/
      imagebind_huge.pth          the upstream checkpoint (a state dict), or
      config.json                 {"name": ..., "version": 1, "checkpoint": "x.pth", "model": {ImageBindModel kwargs}}
      x.pth
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import json
import logging
import pickle
import sys
import types
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pydantic
import torch
from torch import nn

from art2mus.models.encoders.base import EncoderLoadError, EncoderSpec
from art2mus.models.encoders.imagebind_config import ImageBindEncoderConfig
from art2mus.models.encoders.preprocess import ImageBindAudioPreprocessor, ImagePreprocessor
from art2mus.models.encoders.torch_encoder import TorchImageEncoder

logger = logging.getLogger(__name__)

HUGE_CHECKPOINT_NAME = "imagebind_huge.pth"
CONFIG_NAME = "config.json"
CONFIG_VERSION = 1

# The dimensions of upstream's ``imagebind_huge()``; everything else keeps ImageBindModel's defaults.
IMAGEBIND_HUGE_KWARGS: dict[str, Any] = {
    "vision_embed_dim": 1280,
    "vision_num_blocks": 32,
    "vision_num_heads": 16,
    "text_embed_dim": 1024,
    "text_num_blocks": 24,
    "text_num_heads": 16,
    "out_embed_dim": 1024,
    "audio_drop_path": 0.1,
    "imu_drop_path": 0.7,
}

MODALITIES = ("vision", "text", "audio", "depth", "thermal", "imu")


# --------------------------------------------------------------------------------------------------
# The import shim
# --------------------------------------------------------------------------------------------------


def drop_path(
    x: torch.Tensor, drop_prob: float = 0.0, training: bool = False, scale_by_keep: bool = True
) -> torch.Tensor:
    """Stochastic depth per sample (timm's ``drop_path``): identity unless training with ``drop_prob > 0``."""
    if drop_prob == 0.0 or not training:
        return x
    keep_prob = 1.0 - drop_prob
    shape = (x.shape[0],) + (1,) * (x.ndim - 1)
    mask = x.new_empty(shape).bernoulli_(keep_prob)
    if keep_prob > 0.0 and scale_by_keep:
        mask.div_(keep_prob)
    return x * mask


class DropPath(nn.Module):
    """timm's ``DropPath`` (stochastic depth), for ImageBind's transformer blocks."""

    def __init__(self, drop_prob: float = 0.0, scale_by_keep: bool = True) -> None:
        super().__init__()
        self.drop_prob = drop_prob
        self.scale_by_keep = scale_by_keep

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return drop_path(x, self.drop_prob, self.training, self.scale_by_keep)

    def extra_repr(self) -> str:
        return f"drop_prob={round(self.drop_prob, 3):0.3f}"


@contextlib.contextmanager
def _temporary_modules(modules: dict[str, types.ModuleType]) -> Iterator[None]:
    """Install ``modules`` in ``sys.modules``; restore whatever was there before on exit."""
    previous = {name: sys.modules.get(name) for name in modules}
    sys.modules.update(modules)
    try:
        yield
    finally:
        for name, module in previous.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def import_imagebind_model() -> types.ModuleType:
    """Import and return upstream's ``imagebind.models.imagebind_model`` without its data loaders.

    Works with no torchvision, torchaudio, pytorchvideo, timm or pkg_resources installed. After the
    call ``sys.modules`` holds no ``timm`` or ``imagebind.data`` entry that this function added.
    Raises ``ImportError`` with an install hint when the upstream code is missing.
    """
    name = "imagebind.models.imagebind_model"
    if name in sys.modules:
        return sys.modules[name]
    data_stub = types.ModuleType("imagebind.data")
    data_stub.__doc__ = "Stub installed by art2mus while importing ImageBind's model code; never used."
    timm_stub = types.ModuleType("timm")
    layers_stub = types.ModuleType("timm.layers")
    layers_stub.DropPath = DropPath
    layers_stub.trunc_normal_ = nn.init.trunc_normal_  # same signature and maths as timm's
    timm_stub.layers = layers_stub
    stubs = {"imagebind.data": data_stub, "timm": timm_stub, "timm.layers": layers_stub}
    with _temporary_modules(stubs):
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as error:
            raise ImportError(
                f"ImageBind's model code could not be imported ({error}). Install the upstream code with "
                "`pip install --no-deps imagebind-unofficial einops ftfy regex iopath` "
                "(the PyPI package `imagebind` is an empty placeholder)."
            ) from error
    package = sys.modules.get("imagebind")
    if package is not None and getattr(package, "data", None) is data_stub:
        delattr(package, "data")
    logger.debug("imported %s through the import shim", name)
    return module


# --------------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------------


class ImageBindCheckpointConfig(pydantic.BaseModel):
    """``config.json`` beside a non-huge ImageBind checkpoint (the debug build writes one)."""

    model_config = pydantic.ConfigDict(extra="forbid")

    name: str = pydantic.Field(
        min_length=1, description="embedding-space name recorded by aligners, e.g. 'imagebind_debug'"
    )
    version: int = pydantic.Field(
        CONFIG_VERSION, ge=1, le=CONFIG_VERSION, description="config format version"
    )
    checkpoint: str = pydantic.Field(min_length=1, description="state-dict file name in the same directory")
    model: dict[str, Any] = pydantic.Field(
        default_factory=dict, description="ImageBindModel constructor arguments"
    )

    @pydantic.field_validator("model")
    @classmethod
    def _known_arguments(cls, value: dict[str, Any]) -> dict[str, Any]:
        allowed = imagebind_model_arguments()
        unknown = sorted(set(value) - set(allowed))
        if unknown:
            raise ValueError(
                f"unknown ImageBindModel arguments {unknown}; expected some of {sorted(allowed)}"
            )
        return {key: tuple(item) if isinstance(item, list) else item for key, item in value.items()}


def imagebind_model_arguments() -> dict[str, Any]:
    """``ImageBindModel``'s constructor arguments and their defaults."""
    signature = inspect.signature(import_imagebind_model().ImageBindModel.__init__)
    return {name: p.default for name, p in signature.parameters.items() if name != "self"}


def resolve_imagebind_path(path: str | Path) -> tuple[Path, ImageBindCheckpointConfig]:
    """Find the checkpoint and its config for ``path`` (a directory or a ``.pth`` file).

    A directory with ``config.json`` uses it; a directory without one must hold ``imagebind_huge.pth``
    (huge dimensions). A file uses the ``config.json`` beside it when present, else huge dimensions.
    """
    path = Path(path)
    expected = (
        f"a directory with {HUGE_CHECKPOINT_NAME} (or {CONFIG_NAME} + its checkpoint), or a .pth state dict"
    )
    if not path.exists():
        raise FileNotFoundError(f"ImageBind weights not found at {path}: expected {expected}")
    directory = path if path.is_dir() else path.parent
    config_path = directory / CONFIG_NAME
    if config_path.is_file():
        try:
            config = ImageBindCheckpointConfig.model_validate(
                json.loads(config_path.read_text(encoding="utf-8"))
            )
        except (json.JSONDecodeError, UnicodeDecodeError, pydantic.ValidationError) as error:
            raise EncoderLoadError(f"{config_path}: not a valid ImageBind config ({error})") from error
        checkpoint = path if path.is_file() else directory / config.checkpoint
    else:
        config = ImageBindCheckpointConfig(
            name="imagebind_huge", checkpoint=HUGE_CHECKPOINT_NAME, model=dict(IMAGEBIND_HUGE_KWARGS)
        )
        checkpoint = path if path.is_file() else directory / HUGE_CHECKPOINT_NAME
    if not checkpoint.is_file():
        raise FileNotFoundError(f"ImageBind checkpoint {checkpoint} not found: expected {expected}")
    return checkpoint, config


# torch.load's weights-only unpickler reports corrupt bytes as many exception types.
_CORRUPT_CHECKPOINT_ERRORS = (
    RuntimeError,
    pickle.UnpicklingError,
    EOFError,
    ValueError,
    zipfile.BadZipFile,
    UnicodeDecodeError,
    IndexError,
    KeyError,
    TypeError,
    AttributeError,
    OSError,
)


def _read_state_dict(checkpoint: Path) -> dict[str, torch.Tensor]:
    """``torch.load`` a state dict safely (``weights_only``), memory-mapped when it is a zip checkpoint."""
    # Only zip-format checkpoints (torch >= 1.6, as upstream's) can be memory-mapped.
    mmap = zipfile.is_zipfile(checkpoint)
    try:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True, mmap=mmap)
    except _CORRUPT_CHECKPOINT_ERRORS as error:
        from art2mus.models.model_dir import checkpoint_failure

        raise EncoderLoadError(
            f"{checkpoint}: not a readable PyTorch state dict ({checkpoint_failure(checkpoint, error)}); "
            "copy it again"
        ) from error
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise EncoderLoadError(
            f"{checkpoint}: expected a state dict (parameter name -> tensor), got {type(state).__name__}"
        )
    return state


def load_imagebind_model(
    path: str | Path, modalities: Sequence[str] = ("vision", "audio")
) -> tuple[nn.Module, ImageBindCheckpointConfig]:
    """Build the ``ImageBindModel`` described at ``path``, load its weights, keep only ``modalities``.

    The model is built without allocating weights, then takes the (memory-mapped) checkpoint tensors
    directly, so loading the 4.8 GB huge checkpoint needs no second copy. Loading is strict: a
    checkpoint that does not match the configured dimensions raises :class:`EncoderLoadError`.
    Returns the frozen model (eval mode, on the CPU, float32) and its config.
    """
    from accelerate import init_empty_weights

    unknown = sorted(set(modalities) - set(MODALITIES))
    if unknown or not modalities:
        raise ValueError(f"modalities: expected a non-empty subset of {MODALITIES}, got {list(modalities)}")
    checkpoint, config = resolve_imagebind_path(path)
    module = import_imagebind_model()
    try:
        with init_empty_weights(include_buffers=False):
            model = module.ImageBindModel(**config.model)
    except (TypeError, ValueError, RuntimeError, AssertionError) as error:
        raise EncoderLoadError(
            f"{checkpoint.parent / CONFIG_NAME}: ImageBindModel({config.model}) cannot be built: {error}"
        ) from error
    state = _read_state_dict(checkpoint)
    try:
        model.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as error:
        detail = str(error)
        detail = detail if len(detail) < 600 else detail[:600] + " ..."
        raise EncoderLoadError(
            f"{checkpoint}: the state dict does not fit ImageBindModel with dimensions {config.model or 'of imagebind_huge'} "
            f"(name {config.name!r}); expected the matching checkpoint. {detail}"
        ) from error
    for modality in MODALITIES:
        if modality not in modalities:
            for container in (
                model.modality_preprocessors,
                model.modality_trunks,
                model.modality_heads,
                model.modality_postprocessors,
            ):
                del container[modality]
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    logger.info(
        "loaded ImageBind %r from %s (%d parameters kept for %s)",
        config.name,
        checkpoint,
        sum(p.numel() for p in model.parameters()),
        list(modalities),
    )
    return model, config


# --------------------------------------------------------------------------------------------------
# The encoder
# --------------------------------------------------------------------------------------------------


class ImageBindVisionTower(nn.Module):
    """ImageBind's vision path: pixels ``(B, 3, 224, 224)`` -> unit-norm embeddings ``(B, out_embed_dim)``."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.model({"vision": pixel_values})["vision"]


class ImageBindEncoder(TorchImageEncoder):
    """ImageBind image (and audio) embeddings, L2-normalised, float32 ``(batch, out_embed_dim)``.

    Build with :meth:`from_pretrained`. ``model`` is an upstream ``ImageBindModel`` holding at least
    the vision modality (and audio for :meth:`encode_audio`).
    """

    config_class = ImageBindEncoderConfig

    def __init__(
        self,
        model: nn.Module,
        spec: EncoderSpec,
        audio_preprocessor: ImageBindAudioPreprocessor | None = None,
        device: torch.device | str = "cpu",
        dtype: torch.dtype | str | None = None,
        max_batch: int = 16,
    ) -> None:
        super().__init__(
            ImageBindVisionTower(model),
            ImagePreprocessor(crop_rounding="round"),
            spec,
            device,
            dtype,
            max_batch,
        )
        self.model = model
        self.audio_preprocessor = audio_preprocessor or ImageBindAudioPreprocessor()

    @classmethod
    def from_pretrained(
        cls,
        path: str | Path,
        device: torch.device | str = "cpu",
        dtype: torch.dtype | str | None = None,
        modalities: Sequence[str] = ("vision", "audio"),
        max_batch: int = 16,
    ) -> ImageBindEncoder:
        """Load from a local ImageBind directory or ``.pth`` file (see the module docstring)."""
        if "vision" not in modalities:
            raise ValueError(f"modalities: an image encoder needs 'vision', got {list(modalities)}")
        model, config = load_imagebind_model(path, modalities)
        arguments = {**imagebind_model_arguments(), **config.model}
        spec = EncoderSpec(name=config.name, dim=int(arguments["out_embed_dim"]))
        audio = ImageBindAudioPreprocessor(
            num_mel_bins=int(arguments["audio_num_mel_bins"]),
            target_length=int(arguments["audio_target_len"]),
        )
        return cls(model, spec, audio, device=device, dtype=dtype, max_batch=max_batch)

    def _audio_batch(self, waveforms: Sequence[np.ndarray] | np.ndarray) -> list[np.ndarray]:
        if isinstance(waveforms, np.ndarray):
            if waveforms.ndim == 1:
                return [waveforms]
            if waveforms.ndim == 2:
                return list(waveforms)
            raise ValueError(
                f"waveforms: expected (samples,), (batch, samples) or a list of waveforms, got an array of shape {waveforms.shape}"
            )
        if len(waveforms) == 0:
            raise ValueError("waveforms: expected at least one waveform, got an empty list")
        return list(waveforms)

    @torch.no_grad()
    def encode_audio(self, waveforms: Sequence[np.ndarray] | np.ndarray, sample_rate: int) -> torch.Tensor:
        """Embed float waveforms at ``sample_rate`` Hz (resampled to 16 kHz); returns float32 ``(batch, dim)``.

        ``waveforms``: one ``(samples,)`` array, a ``(batch, samples)`` array, or a list whose items
        are ``(samples,)`` or ``(channels, samples)`` (the first channel is used, as upstream does).
        Each waveform's three 2 s clips are embedded and averaged, as upstream does; rows have unit
        L2 norm, so a dot product with :meth:`encode_images` rows is ImageBind's cosine similarity.
        """
        if "audio" not in self.model.modality_trunks:
            raise RuntimeError(
                f"{self.spec.name}: loaded without the audio modality; load with modalities including 'audio'"
            )
        batch = self._audio_batch(waveforms)
        clips = torch.stack(
            [self.audio_preprocessor(w, sample_rate, name=f"waveforms[{i}]") for i, w in enumerate(batch)]
        )
        clips = clips.to(device=self.device, dtype=self.dtype)  # (batch, clips, 1, mel, frames)
        outputs = [self.model({"audio": chunk})["audio"] for chunk in clips.split(self.max_batch)]
        return torch.nn.functional.normalize(torch.cat(outputs).float(), dim=-1)
