"""The Art2Mus aligner: an image embedding becomes a few tokens in GPT-2's input space.

:class:`ImageAligner` maps an L2-normalised image embedding ``(batch, dim)`` (ImageBind, CLIP...) to
``(batch, n_tokens, lm_dim)`` tokens that stand where AudioLDM2 puts its projected CLAP text embedding,
so GPT-2 can roll out the 8 "language of audio" (LoA) tokens that condition the UNet. The published Art2Mus
variants use 1 and 4 tokens with Linear -> Tanh -> Linear.

A trained aligner is a folder: ``config.json`` (the constructor arguments, the encoder it was trained for,
its conditioning profile (:mod:`art2mus.models.profiles`), the sha256 of its weights and a format version)
and ``model.safetensors`` (the weights). Loading verifies the sha256, so a flipped byte is an error, not
music from wrong weights. :func:`import_v1_aligner` converts the authors' published v1 ``.pt`` state dicts. Loading it against another encoder, or
against a language model of another width, raises :class:`AlignerMismatchError`, because an aligner
trained on one embedding space produces meaningless tokens from another.

:class:`VisualConditioningExtractor` pairs an encoder with its aligner: images -> tokens.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from art2mus.models.encoders.base import EncoderSpec, ImageEncoder
from art2mus.models.model_dir import (
    ALIGNER_CONFIG_FILE,
    ALIGNER_FORMAT_NAME,
    ALIGNER_FORMAT_VERSION,
    ALIGNER_WEIGHTS_FILE,
    FULL_SIZE_ENCODERS,
    aligner_identity,  # noqa: F401 - lives in the torch-free model_dir; imported from here too
    checkpoint_failure,
    read_aligner_config,
)

logger = logging.getLogger(__name__)

#: the folder's two files (the format's constants live in the torch-free model_dir, which validate reads)
CONFIG_FILE = ALIGNER_CONFIG_FILE
WEIGHTS_FILE = ALIGNER_WEIGHTS_FILE
#: output normalisations an aligner may apply to its tokens.
OUTPUT_NORMS = ("none", "layernorm")
#: largest v1 ``.pt`` file :func:`import_v1_aligner` reads (the published ones are ~6 and ~25 MB).
MAX_V1_CHECKPOINT_BYTES = 512 * 1024 * 1024


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file's bytes (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


class AlignerMismatchError(ValueError):
    """An aligner does not fit the encoder or language model it is being used with."""


class ImageAligner(nn.Module):
    """Image embedding ``(batch, embedding_dim)`` -> GPT-2 input tokens ``(batch, n_tokens, lm_dim)``.

    Linear(embedding_dim, hidden_dim) -> Tanh -> Linear(hidden_dim, n_tokens * lm_dim), reshaped to tokens,
    then an optional LayerNorm over each token. The constructor arguments are the saved config.

    Args:
        encoder_name: :attr:`EncoderSpec.name` of the encoder the aligner is trained for.
        embedding_dim: that encoder's embedding size (1024 for ImageBind huge, 768 for CLIP ViT-L/14).
        lm_dim: GPT-2's width (768 for AudioLDM2).
        n_tokens: tokens produced per image (the published variants: 1 and 4).
        hidden_dim: width of the hidden layer; default ``2 * lm_dim`` as in the published 4-token aligner.
        input_l2_norm: re-normalise incoming embeddings to unit L2 norm (encoders already do; this guards
            against un-normalised inputs such as a raw ONNX output).
        output_norm: ``"none"`` or ``"layernorm"`` (a learnt LayerNorm over each ``lm_dim`` token).
        input_shift: an ``embedding_dim`` vector added to each (L2-normalised) embedding before the
            network, then re-normalised: the modality-gap correction of an aligner trained on one modality
            and used on another (``art2mus train --music-only`` learns from ImageBind *audio* embeddings and
            stores ``mean(audio) - mean(image)`` here, so *images* land where the audio was; see
            :mod:`art2mus.training.modality_gap`). ``None``: no shift.
    """

    def __init__(
        self,
        encoder_name: str,
        embedding_dim: int,
        lm_dim: int = 768,
        n_tokens: int = 1,
        hidden_dim: int | None = None,
        input_l2_norm: bool = True,
        output_norm: str = "none",
        input_shift: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        for field, value in (("embedding_dim", embedding_dim), ("lm_dim", lm_dim), ("n_tokens", n_tokens)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"ImageAligner {field} must be a positive integer, got {value!r}")
        if n_tokens > 64:
            raise ValueError(f"ImageAligner n_tokens must be between 1 and 64, got {n_tokens}")
        if output_norm not in OUTPUT_NORMS:
            raise ValueError(f"ImageAligner output_norm must be one of {OUTPUT_NORMS}, got {output_norm!r}")
        hidden = 2 * lm_dim if hidden_dim is None else int(hidden_dim)
        if hidden < 1:
            raise ValueError(f"ImageAligner hidden_dim must be a positive integer, got {hidden_dim!r}")
        self.encoder_name = str(encoder_name)
        self.embedding_dim = int(embedding_dim)
        self.lm_dim = int(lm_dim)
        self.n_tokens = int(n_tokens)
        self.hidden_dim = hidden
        self.input_l2_norm = bool(input_l2_norm)
        self.output_norm = output_norm
        self.proj_in = nn.Linear(self.embedding_dim, hidden)
        self.act = nn.Tanh()
        self.proj_out = nn.Linear(hidden, self.n_tokens * self.lm_dim)
        self.norm = nn.LayerNorm(self.lm_dim) if output_norm == "layernorm" else nn.Identity()
        if input_shift is not None and len(input_shift) != self.embedding_dim:
            raise ValueError(
                f"ImageAligner input_shift must have {self.embedding_dim} values, got {len(input_shift)}"
            )
        self.input_shift = None if input_shift is None else [float(v) for v in input_shift]
        # not in the state dict (the config carries it), so older weight files load unchanged
        self.register_buffer(
            "_shift", None if input_shift is None else torch.tensor(self.input_shift), persistent=False
        )

    @property
    def encoder_spec(self) -> EncoderSpec:
        """The embedding space this aligner was trained for."""
        return EncoderSpec(name=self.encoder_name, dim=self.embedding_dim)

    @property
    def config(self) -> dict[str, Any]:
        """The constructor arguments (what ``config.json`` stores besides the format fields)."""
        return {
            "encoder_name": self.encoder_name,
            "embedding_dim": self.embedding_dim,
            "lm_dim": self.lm_dim,
            "n_tokens": self.n_tokens,
            "hidden_dim": self.hidden_dim,
            "input_l2_norm": self.input_l2_norm,
            "output_norm": self.output_norm,
            **({"input_shift": self.input_shift} if self.input_shift is not None else {}),
        }

    def forward(self, embeddings: torch.Tensor, shift: bool = True) -> torch.Tensor:
        """Map ``(batch, embedding_dim)`` embeddings to ``(batch, n_tokens, lm_dim)`` tokens.

        ``shift=False`` skips :attr:`input_shift` (training on the modality the aligner was fitted on)."""
        if embeddings.ndim != 2 or embeddings.shape[1] != self.embedding_dim:
            raise ValueError(
                f"ImageAligner expects embeddings of shape (batch, {self.embedding_dim}) from "
                f"{self.encoder_name!r}, got {tuple(embeddings.shape)}"
            )
        x = embeddings.to(dtype=self.proj_in.weight.dtype, device=self.proj_in.weight.device)
        if self.input_l2_norm:
            x = nn.functional.normalize(x, dim=-1, eps=1e-8)
        if shift and self._shift is not None:
            x = nn.functional.normalize(
                nn.functional.normalize(x, dim=-1, eps=1e-8) + self._shift.to(x), dim=-1, eps=1e-8
            )
        x = self.proj_out(self.act(self.proj_in(x)))
        return self.norm(x.reshape(x.shape[0], self.n_tokens, self.lm_dim))

    # --- saving and loading -------------------------------------------------------------------------
    def save(
        self,
        directory: str | Path,
        metadata: Mapping[str, Any] | None = None,
        conditioning_profile: str | None = None,
    ) -> Path:
        """Write ``config.json`` and ``model.safetensors`` into ``directory`` (created if needed).

        Args:
            metadata: JSON-serialisable extras stored under ``"metadata"`` (training data, steps, licence...).
            conditioning_profile: the profile it was trained under (default ``art2mus-music``).
        """
        from art2mus.common.whole_files import save_tensors, write_whole
        from art2mus.models.profiles import get_profile

        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        profile = get_profile(conditioning_profile).name
        tensors = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in self.state_dict().items()}
        # 0666 less the umask, not save_file's 0600: the daemon's user reads what a curator or root trained
        save_tensors(tensors, out / WEIGHTS_FILE, metadata={"format": ALIGNER_FORMAT_NAME})
        document = {
            "format": ALIGNER_FORMAT_NAME,
            "format_version": ALIGNER_FORMAT_VERSION,
            "class": type(self).__name__,
            "encoder": {"name": self.encoder_name, "dim": self.embedding_dim},
            "config": self.config,
            "conditioning_profile": profile,
            "weights_sha256": file_sha256(out / WEIGHTS_FILE),
            "metadata": dict(metadata or {}),
        }
        write_whole(out / CONFIG_FILE, (json.dumps(document, indent=2) + "\n").encode("utf-8"))
        logger.info("saved aligner (%s, %d tokens) to %s", self.encoder_name, self.n_tokens, out)
        return out

    @staticmethod
    def read_config(directory: str | Path) -> dict[str, Any]:
        """Read and validate an aligner folder's ``config.json`` (no weights are loaded); see
        :func:`~art2mus.models.model_dir.read_aligner_config`.

        Raises:
            FileNotFoundError: the folder or its ``config.json`` is missing.
            ValueError: the file is not an aligner config, or was written by a newer format version.
        """
        return read_aligner_config(directory)

    @classmethod
    def load(
        cls,
        directory: str | Path,
        encoder_spec: EncoderSpec | None = None,
        lm_dim: int | None = None,
        device: str | torch.device = "cpu",
        dtype: torch.dtype | None = None,
    ) -> ImageAligner:
        """Load an aligner folder written by :meth:`save`.

        Args:
            encoder_spec: the encoder it will be used with; refused unless name and dim match.
            lm_dim: the language model's width; refused unless it matches.

        Raises:
            AlignerMismatchError: trained for another encoder or another language-model width.
            FileNotFoundError, ValueError: missing or malformed files (the message names the file).
        """
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        folder = Path(directory)
        if folder.is_file():
            folder = folder.parent
        document = cls.read_config(folder)
        config = document["config"]
        trained_for = EncoderSpec(
            name=str(config.get("encoder_name")), dim=int(config.get("embedding_dim", -1))
        )
        if encoder_spec is not None and trained_for != encoder_spec:
            raise AlignerMismatchError(
                f"aligner {folder} was trained for encoder {trained_for.name!r} (dim {trained_for.dim}), "
                f"but the loaded encoder is {encoder_spec.name!r} (dim {encoder_spec.dim}); use an aligner "
                f"trained for {encoder_spec.name!r} or load the {trained_for.name!r} encoder"
            )
        if lm_dim is not None and int(config.get("lm_dim", -1)) != int(lm_dim):
            raise AlignerMismatchError(
                f"aligner {folder} produces {config.get('lm_dim')}-d tokens, but the language model is "
                f"{lm_dim}-d; it was trained for another AudioLDM2 build"
            )
        try:
            aligner = cls(**config)
        except TypeError as exc:
            raise ValueError(f'{folder / CONFIG_FILE}: bad "config" for ImageAligner: {exc}') from exc
        weights = folder / WEIGHTS_FILE
        if not weights.is_file():
            raise FileNotFoundError(f"aligner weights {weights} not found")
        verify_weights(folder, document)
        try:
            state = load_file(str(weights))
        except (SafetensorError, OSError) as exc:
            raise ValueError(f"aligner weights {weights} cannot be read: {exc}") from exc
        try:
            missing, unexpected = aligner.load_state_dict(state, strict=False)
        except RuntimeError as exc:  # shape mismatches
            raise ValueError(f"aligner weights {weights} do not match its config: {exc}") from exc
        if missing or unexpected:
            raise ValueError(
                f"aligner weights {weights} do not match its config: missing {sorted(missing)}, "
                f"unexpected {sorted(unexpected)}"
            )
        aligner.to(device=device)
        if dtype is not None:
            aligner.to(dtype=dtype)
        return aligner.eval()


def verify_weights(folder: str | Path, document: Mapping[str, Any] | None = None) -> str:
    """Check ``model.safetensors`` against the sha256 its ``config.json`` records; returns the hash.

    Folders written before hashes were recorded have none: the hash is computed and a warning logged.

    Raises:
        ValueError: the weights' bytes differ from the recorded hash (corrupted or replaced file).
    """
    folder = Path(folder)
    document = ImageAligner.read_config(folder) if document is None else document
    weights = folder / WEIGHTS_FILE
    actual = file_sha256(weights)
    recorded = document.get("weights_sha256")
    if recorded is None:
        logger.warning("aligner %s records no weights_sha256; its weights cannot be verified", folder)
    elif actual != recorded:
        raise ValueError(
            f"aligner weights {weights} are corrupted or were replaced: sha256 {actual} differs from "
            f"{recorded} recorded in {folder / CONFIG_FILE}; restore the file (or save the aligner again)"
        )
    return actual


#: the four tensors of a v1 ``ImageProjectionLayer`` state dict
V1_KEYS = ("projection1.weight", "projection1.bias", "projection2.weight", "projection2.bias")


def read_v1_checkpoint(checkpoint: str | Path) -> dict[str, torch.Tensor]:
    """The four tensors of an Art2Mus v1 ``ImageProjectionLayer`` state dict (``.pt``), their shapes checked:
    ``projection1`` (Linear embedding -> hidden) and ``projection2`` (Linear hidden -> n x token width);
    v1's hidden is twice its token width (1024 -> 1536 -> n x 768).

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is too large, truncated, not a torch checkpoint, or not a v1 state dict (the
            message names the file and what was expected, in one sentence).
    """
    path = Path(checkpoint)
    if not path.is_file():
        raise FileNotFoundError(f"v1 checkpoint {path} not found")
    size = path.stat().st_size
    if size > MAX_V1_CHECKPOINT_BYTES:
        raise ValueError(
            f"{path}: {size} bytes is larger than any v1 aligner (limit {MAX_V1_CHECKPOINT_BYTES}); not a v1 checkpoint"
        )
    expected = "a v1 state dict with projection1.weight/bias and projection2.weight/bias"
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises RuntimeError, EOFError, UnpicklingError... for bad files
        raise ValueError(
            f"{path} cannot be read as a torch checkpoint (truncated or not a .pt file): "
            f"{checkpoint_failure(path, exc)}"
        ) from exc
    if not isinstance(state, Mapping):
        raise ValueError(f"{path}: expected {expected}, got a {type(state).__name__}")
    if set(state) != set(V1_KEYS) or not all(isinstance(state[k], torch.Tensor) for k in V1_KEYS):
        raise ValueError(f"{path}: expected {expected}, got keys {sorted(map(str, state))[:8]}")
    w1, b1, w2, b2 = (state[k] for k in V1_KEYS)
    if (
        w1.ndim != 2
        or w2.ndim != 2
        or b1.shape != (w1.shape[0],)
        or b2.shape != (w2.shape[0],)
        or w2.shape[1] != w1.shape[0]
    ):
        raise ValueError(
            f"{path}: inconsistent v1 shapes projection1 {tuple(w1.shape)}, projection2 {tuple(w2.shape)}"
        )
    return dict(state)


def v1_token_width(state: Mapping[str, torch.Tensor]) -> int | None:
    """The GPT-2 width a v1 state dict was made for: half of ``projection1``'s outputs (v1's layer is
    ``Linear(embedding, 2 x width)``), when that divides ``projection2``'s outputs; else None."""
    hidden, outputs = int(state["projection1.weight"].shape[0]), int(state["projection2.weight"].shape[0])
    return hidden // 2 if hidden % 2 == 0 and outputs % (hidden // 2) == 0 else None


def import_v1_aligner(
    checkpoint: str | Path,
    directory: str | Path,
    *,
    encoder_name: str = FULL_SIZE_ENCODERS["imagebind"].name,
    lm_dim: int | None = None,
    embedding_dim: int | None = None,
    metadata: Mapping[str, Any] | None = None,
    lm_dim_name: str = "lm_dim",
) -> Path:
    """Convert an Art2Mus v1 ``ImageProjectionLayer`` state dict (``.pt``) into an aligner folder.

    v1 (``justivanr/art2mus_``, ``src/art2mus/art2mus_pipeline.py`` and ``art2mus_4_pipeline.py``) is
    ``projection1`` (Linear 1024 -> 1536), ``act1`` (Tanh) and ``projection2`` (Linear 1536 -> n x 768),
    reshaped to ``(-1, n, 768)``, applied to ImageBind embeddings as they come (no re-normalisation). The
    folder gets the ``art2mus-v1`` conditioning profile.

    Args:
        encoder_name, lm_dim: the embedding space and GPT-2 width (v1: ``imagebind_huge``, the name the
            ImageBind encoder gives ImageBind huge, and 768); ``lm_dim`` None: :func:`v1_token_width`.
        embedding_dim: that encoder's embedding size, when known: a checkpoint for another size is refused.
        lm_dim_name: what ``lm_dim`` is called where the caller sets it (``--lm-dim`` on the command line),
            for the message that asks to set it.

    Raises:
        FileNotFoundError: no such file.
        AlignerMismatchError: the checkpoint takes embeddings of another size than ``embedding_dim``.
        ValueError: the file is truncated, not a torch checkpoint, or not a v1 state dict (the message
            names the file and what was expected).
    """
    path = Path(checkpoint)
    state = read_v1_checkpoint(path)
    w1, b1, w2, b2 = (state[k] for k in V1_KEYS)
    if lm_dim is None:
        lm_dim = v1_token_width(state)
    if lm_dim is None or w2.shape[0] % lm_dim:
        tokens = f"{lm_dim}-d tokens" if lm_dim else "tokens half as wide as projection1 (v1's layout)"
        raise ValueError(
            f"{path}: projection2 gives {w2.shape[0]} values, not a whole number of {tokens}: set "
            f"{lm_dim_name} to the width of the GPT-2 it was trained for (v1: 768)"
        )
    if embedding_dim is not None and w1.shape[1] != embedding_dim:
        raise AlignerMismatchError(
            f"{path}: projection1 takes {w1.shape[1]}-d embeddings, but encoder {encoder_name!r} gives "
            f"{embedding_dim}-d: the checkpoint was trained for another encoder"
        )
    aligner = ImageAligner(
        encoder_name,
        int(w1.shape[1]),
        lm_dim=lm_dim,
        n_tokens=int(w2.shape[0]) // lm_dim,
        hidden_dim=int(w1.shape[0]),
        input_l2_norm=False,
    )
    aligner.load_state_dict(
        {"proj_in.weight": w1, "proj_in.bias": b1, "proj_out.weight": w2, "proj_out.bias": b2}
    )
    info = {
        "origin": f"Art2Mus v1 checkpoint {path.name}",
        "source_sha256": file_sha256(path),
        **dict(metadata or {}),
    }
    info.setdefault("licence", "none stated (the v1 repository states no licence)")
    return aligner.save(directory, metadata=info, conditioning_profile="art2mus-v1")


class VisualConditioningExtractor:
    """An image encoder and the aligner trained for it: images -> GPT-2 input tokens.

    Args:
        encoder: any :class:`ImageEncoder` (frozen).
        aligner: an :class:`ImageAligner` whose :attr:`ImageAligner.encoder_spec` equals ``encoder.spec``.

    Raises:
        AlignerMismatchError: the aligner was trained for another encoder.
    """

    def __init__(self, encoder: ImageEncoder, aligner: ImageAligner) -> None:
        if aligner.encoder_spec != encoder.spec:
            raise AlignerMismatchError(
                f"aligner trained for {aligner.encoder_spec.name!r} (dim {aligner.encoder_spec.dim}) cannot be "
                f"used with encoder {encoder.spec.name!r} (dim {encoder.spec.dim})"
            )
        self.encoder = encoder
        self.aligner = aligner

    @property
    def n_tokens(self) -> int:
        return self.aligner.n_tokens

    def embed(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        """RGB uint8 images ``(H, W, 3)`` -> L2-normalised embeddings ``(batch, dim)`` (float32)."""
        return self.encoder.encode_images(images)

    def tokens(self, embeddings: torch.Tensor) -> torch.Tensor:
        """Embeddings ``(batch, dim)`` -> tokens ``(batch, n_tokens, lm_dim)`` on the aligner's device/dtype."""
        return self.aligner(embeddings)

    def __call__(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        """Images -> tokens ``(batch, n_tokens, lm_dim)``."""
        return self.tokens(self.embed(images))
