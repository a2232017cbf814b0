"""Export an image encoder (optionally with its aligner) to ONNX and run it with onnxruntime.

For Jetson-class machines where a torch install is heavy or slow: the exported graph is the same
tower as the torch encoder (pixels -> L2-normalised embedding, and optionally the aligner's tokens),
and :class:`OnnxImageEncoder` preprocesses with the same
:class:`~art2mus.models.encoders.preprocess.ImagePreprocessor`, so embeddings agree with torch's
(the export checks a cosine similarity of at least 0.999 on random pixels before it returns).

An export is a directory::

    encoder.onnx        the graph (input ``pixel_values`` (batch, 3, H, W) float32; outputs
                        ``image_embedding`` (batch, dim) and, with an aligner, ``aligned_tokens`` (batch, tokens, width))
    encoder.onnx.data   its weights (ONNX external data)
    encoder.json        spec (name, dim), preprocessing, outputs, versions, the export-time check and,
                        with an aligner, which one (``aligner``: its folder, weights sha256, profile)

onnxruntime runs on the CUDA provider when asked for (``device="cuda"``/``"auto"``) and present,
else on the CPU; :attr:`OnnxImageEncoder.provider` reports the provider actually used (onnxruntime-gpu
silently falls back to the CPU when CUDA libraries are missing).

The ``type: onnx`` encoder's :class:`OnnxEncoderConfig` is declared here beside its class: this module
imports torch and onnxruntime only inside the functions that use them, so the registry imports it as it is.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import Field

from art2mus.models.encoders.base import EncoderConfig, EncoderLoadError, EncoderSpec, ImageEncoder
from art2mus.models.encoders.preprocess import ImagePreprocessor

if TYPE_CHECKING:
    import torch

    from art2mus.models.encoders.torch_encoder import TorchImageEncoder

logger = logging.getLogger(__name__)


class OnnxEncoderConfig(EncoderConfig):
    """An ONNX export: a directory made by ``export_onnx_encoder``."""

    type: Literal["onnx"] = "onnx"
    threads: int = Field(0, ge=0, le=1024, description="onnxruntime intra-op threads (0: one per core).")
    allow_spinning: bool = Field(
        False, description="Let onnxruntime's idle workers busy-wait after each run."
    )

ONNX_FILE = "encoder.onnx"
METADATA_FILE = "encoder.json"
FORMAT_VERSION = 1
INPUT_NAME = "pixel_values"
EMBEDDING_OUTPUT = "image_embedding"
ALIGNED_OUTPUT = "aligned_tokens"
MIN_EXPORT_COSINE = 0.999


def _onnxruntime_errors() -> tuple[type[BaseException], ...]:
    """onnxruntime's load errors: its own pybind classes (not RuntimeError subclasses) plus OS/runtime errors."""
    from onnxruntime.capi import onnxruntime_pybind11_state as state

    names = (
        "Fail",
        "InvalidProtobuf",
        "NoSuchFile",
        "InvalidArgument",
        "InvalidGraph",
        "RuntimeException",
        "NotImplemented",
        "EPFail",
    )
    return (OSError, RuntimeError, *(getattr(state, name) for name in names if hasattr(state, name)))


def choose_providers(device: str, available: Sequence[str]) -> list[Any]:
    """onnxruntime providers for ``device``: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"``.

    CUDA is requested only where ``CUDAExecutionProvider`` is in ``available``; the CPU provider is
    always last as a fallback.
    """
    device = str(device).lower()
    if device == "cpu":
        return ["CPUExecutionProvider"]
    if device == "auto" or device == "cuda" or device.startswith("cuda:"):
        if "CUDAExecutionProvider" in available:
            device_id = int(device.split(":", 1)[1]) if ":" in device else 0
            return [("CUDAExecutionProvider", {"device_id": device_id}), "CPUExecutionProvider"]
        if device != "auto":
            logger.warning(
                "device %r asked for CUDA but onnxruntime offers only %s; running on the CPU",
                device,
                list(available),
            )
        return ["CPUExecutionProvider"]
    raise ValueError(f"device: expected 'cpu', 'cuda', 'cuda:N' or 'auto', got {device!r}")


class _ExportGraph:
    """Builds the module that is exported: tower -> normalise (-> aligner)."""

    @staticmethod
    def build(tower: torch.nn.Module, aligner: torch.nn.Module | None) -> torch.nn.Module:
        import torch

        class EncoderGraph(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.tower = tower
                self.aligner = aligner

            def forward(self, pixel_values: torch.Tensor):
                embedding = torch.nn.functional.normalize(self.tower(pixel_values).float(), dim=-1)
                if self.aligner is None:
                    return embedding
                return embedding, self.aligner(embedding)

        return EncoderGraph().eval()


def _cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a.reshape(a.shape[0], -1).astype(np.float64)
    b = b.reshape(b.shape[0], -1).astype(np.float64)
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-30)


def _json_config(aligner: Any) -> dict[str, Any] | None:
    """The aligner's ``config`` (e.g. ``ImageAligner.config``) when it is a JSON-ready dict, else ``None``."""
    config = getattr(aligner, "config", None)
    if not isinstance(config, dict):
        return None
    try:
        return json.loads(json.dumps(config))
    except (TypeError, ValueError):
        logger.warning("aligner config of %s is not JSON-serialisable; not recorded", type(aligner).__name__)
        return None


def export_onnx_encoder(
    encoder: TorchImageEncoder,
    out_dir: str | Path,
    aligner: torch.nn.Module | None = None,
    opset: int = 18,
    check_batch: int = 2,
    aligner_record: dict[str, Any] | None = None,
) -> Path:
    """Export ``encoder``'s tower (and ``aligner``, if given) to ``out_dir``; returns ``out_dir``.

    ``aligner_record`` (JSON-ready: the aligner's ``source`` folder, ``weights_sha256`` and
    ``conditioning_profile``) is kept in ``encoder.json`` as ``aligner``: what plays the graph's tokens
    is found and keyed by it (:func:`graph_aligner`).

    ``encoder`` must be float32 (load it with ``dtype=None``). ``aligner`` maps the normalised
    embedding ``(batch, dim)`` to tokens ``(batch, n_tokens, width)``. The batch axis is dynamic.
    After export the graph runs once on ``check_batch`` random inputs in onnxruntime (CPU) and must
    match torch with cosine similarity >= 0.999, else ``RuntimeError``.
    """
    import onnxruntime
    import torch

    if encoder.dtype != torch.float32:
        raise ValueError(
            f"encoder dtype is {encoder.dtype}; export from a float32 encoder (load it with dtype=None)"
        )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    graph = _ExportGraph.build(encoder.tower, aligner)
    height, width = encoder.preprocessor.crop_size
    generator = torch.Generator().manual_seed(0)
    example = torch.randn(check_batch, 3, height, width, generator=generator).to(encoder.device)
    with torch.no_grad():
        expected = graph(example)
    expected = (expected,) if aligner is None else expected
    output_names = [EMBEDDING_OUTPUT] if aligner is None else [EMBEDDING_OUTPUT, ALIGNED_OUTPUT]
    onnx_path = out_dir / ONNX_FILE
    torch.onnx.export(
        graph,
        (example,),
        str(onnx_path),
        input_names=[INPUT_NAME],
        output_names=output_names,
        dynamic_shapes={"pixel_values": {0: torch.export.Dim("batch", min=1, max=4096)}},
        opset_version=opset,
        dynamo=True,
        external_data=True,
        verbose=False,
    )
    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = session.run(output_names, {INPUT_NAME: example.cpu().numpy()})
    cosines = {
        name: float(_cosine_rows(ours, theirs.detach().cpu().float().numpy()).min())
        for name, ours, theirs in zip(output_names, got, expected, strict=True)
    }
    if min(cosines.values()) < MIN_EXPORT_COSINE:
        raise RuntimeError(
            f"{onnx_path}: onnxruntime disagrees with torch (min cosine per output {cosines}); export rejected"
        )
    metadata = {
        "format_version": FORMAT_VERSION,
        "spec": {"name": encoder.spec.name, "dim": encoder.spec.dim},
        "preprocess": encoder.preprocessor.to_dict(),
        "input": INPUT_NAME,
        "outputs": output_names,
        "aligned_shape": list(expected[1].shape[1:]) if aligner is not None else None,
        "aligner_class": type(aligner).__name__ if aligner is not None else None,
        "aligner_config": _json_config(aligner),
        "aligner": aligner_record if aligner is not None else None,
        "opset": opset,
        "torch_version": torch.__version__,
        "export_check_min_cosine": cosines,
    }
    (out_dir / METADATA_FILE).write_text(json.dumps(metadata, indent=2) + "\n", encoding="utf-8")
    logger.info("exported %s to %s (min cosine vs torch %s)", encoder.spec.name, onnx_path, cosines)
    return out_dir


def graph_aligner(path: str | Path) -> dict[str, Any] | None:
    """The aligner an ONNX export at ``path`` (its folder or ``encoder.onnx``) carries, as its ``encoder.json``
    records it: ``{"source", "weights_sha256", "conditioning_profile"}``; None for an export without an aligner,
    one made before the record (no ``aligner`` entry) or an unreadable description. Plain JSON, no
    onnxruntime: validate and the cache key read it."""
    path = Path(path)
    directory = path.parent if path.suffix == ".onnx" else path
    try:
        metadata = json.loads((directory / METADATA_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    record = metadata.get("aligner") if isinstance(metadata, dict) else None
    if not isinstance(record, dict) or ALIGNED_OUTPUT not in (metadata.get("outputs") or []):
        return None
    if not isinstance(record.get("weights_sha256"), str):
        return None
    return record


class OnnxImageEncoder(ImageEncoder):
    """An exported encoder run by onnxruntime; same interface and embeddings as the torch encoder.

    Args:
        session: an ``onnxruntime.InferenceSession`` over an export made by :func:`export_onnx_encoder`.
        preprocessor: the export's preprocessing.
        spec: the export's embedding space.
        metadata: the parsed ``encoder.json``.
        max_batch: images per ``session.run`` call.
    """

    config_class = OnnxEncoderConfig

    def __init__(
        self,
        session: Any,
        preprocessor: ImagePreprocessor,
        spec: EncoderSpec,
        metadata: dict[str, Any],
        max_batch: int = 16,
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch: expected at least 1 image per pass, got {max_batch}")
        self.session = session
        self.preprocessor = preprocessor
        self.spec = spec
        self.metadata = metadata
        self.max_batch = max_batch
        self.outputs = list(metadata["outputs"])

    @property
    def provider(self) -> str:
        """The execution provider onnxruntime actually uses, e.g. ``"CPUExecutionProvider"``."""
        return self.session.get_providers()[0]

    @property
    def has_aligner(self) -> bool:
        """Whether the graph also computes the aligner's tokens (see :meth:`align_images`)."""
        return ALIGNED_OUTPUT in self.outputs

    @classmethod
    def from_pretrained(
        cls,
        path: str | Path,
        device: str = "cpu",
        dtype: Any = None,
        providers: Sequence[Any] | None = None,
        max_batch: int = 16,
        threads: int = 0,
        allow_spinning: bool = False,
    ) -> OnnxImageEncoder:
        """Open an export directory (or its ``encoder.onnx``); ``device`` picks providers (see :func:`choose_providers`).

        ``dtype`` must be ``None`` or float32: an export runs in the precision it was exported in.
        ``providers`` overrides the choice made from ``device``. ``threads``: onnxruntime intra-op
        threads (0 = one per core). ``allow_spinning``: onnxruntime's default lets its idle workers
        busy-wait after each run, which on a 2-core machine starves torch (the generator) in the same
        process for a while; we turn it off unless asked.
        """
        import onnxruntime

        if dtype is not None and str(dtype).removeprefix("torch.") not in ("float32", "fp32"):
            raise ValueError(f"dtype: ONNX encoders run in the float32 they were exported in; got {dtype!r}")
        path = Path(path)
        directory = path.parent if path.suffix == ".onnx" else path
        expected = f"a directory made by export_onnx_encoder with {ONNX_FILE} and {METADATA_FILE}"
        if not directory.is_dir():
            raise FileNotFoundError(f"ONNX encoder directory {directory} not found: expected {expected}")
        onnx_path, metadata_path = directory / ONNX_FILE, directory / METADATA_FILE
        for needed in (onnx_path, metadata_path):
            if not needed.is_file():
                raise FileNotFoundError(f"{needed} not found: expected {expected}")
        try:
            metadata = json.loads(metadata_path.read_text(encoding="utf-8"))
            if metadata.get("format_version") != FORMAT_VERSION:
                raise ValueError(
                    f"format_version {metadata.get('format_version')!r}, expected {FORMAT_VERSION}"
                )
            spec = EncoderSpec(name=str(metadata["spec"]["name"]), dim=int(metadata["spec"]["dim"]))
            preprocessor = ImagePreprocessor.from_dict(metadata["preprocess"])
            outputs = list(metadata["outputs"])
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError) as error:
            raise EncoderLoadError(
                f"{metadata_path}: not a valid ONNX encoder description ({type(error).__name__}: {error})"
            ) from error
        chosen = (
            list(providers)
            if providers is not None
            else choose_providers(device, onnxruntime.get_available_providers())
        )
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if allow_spinning else "0")
        try:
            session = onnxruntime.InferenceSession(str(onnx_path), sess_options=options, providers=chosen)
        except _onnxruntime_errors() as error:
            raise EncoderLoadError(
                f"{onnx_path}: onnxruntime cannot load this model ({type(error).__name__}: {error})"
            ) from error
        graph_inputs = [node.name for node in session.get_inputs()]
        graph_outputs = [node.name for node in session.get_outputs()]
        if graph_inputs != [INPUT_NAME] or graph_outputs != outputs:
            raise EncoderLoadError(
                f"{onnx_path}: graph has inputs {graph_inputs} and outputs {graph_outputs}; {METADATA_FILE} expects "
                f"[{INPUT_NAME!r}] and {outputs}"
            )
        encoder = cls(session, preprocessor, spec, metadata, max_batch=max_batch)
        logger.info("loaded ONNX encoder %r from %s on %s", spec.name, onnx_path, encoder.provider)
        return encoder

    def _run(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        pixels = self.preprocessor(images)
        results = [
            self.session.run(self.outputs, {INPUT_NAME: chunk})
            for chunk in np.array_split(pixels, -(-len(pixels) // self.max_batch))
        ]
        return [np.concatenate([result[i] for result in results]) for i in range(len(self.outputs))]

    def encode_images(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        """Embed RGB uint8 ``(H, W, 3)`` images; returns float32 ``(len(images), dim)`` on the CPU, unit L2 rows."""
        import torch

        embedding = torch.from_numpy(np.ascontiguousarray(self._run(images)[0], dtype=np.float32))
        return torch.nn.functional.normalize(embedding, dim=-1)

    def align_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """The aligner's tokens for ``images``: float32 ``(batch, n_tokens, width)``, from an export with an aligner."""
        if not self.has_aligner:
            raise RuntimeError(
                f"this ONNX export of {self.spec.name} has no aligner; export with aligner=... to get tokens"
            )
        return self._run(images)[self.outputs.index(ALIGNED_OUTPUT)]

    def embed_and_align(self, images: Sequence[np.ndarray]) -> tuple[torch.Tensor, np.ndarray]:
        """One pass of the graph: unit embeddings float32 ``(batch, dim)`` (as :meth:`encode_images`) and the
        aligner's tokens float32 ``(batch, n_tokens, width)`` (as :meth:`align_images`)."""
        import torch

        if not self.has_aligner:
            raise RuntimeError(
                f"this ONNX export of {self.spec.name} has no aligner; export with aligner=... to get tokens"
            )
        outputs = self._run(images)
        embedding = torch.from_numpy(np.ascontiguousarray(outputs[0], dtype=np.float32))
        return torch.nn.functional.normalize(embedding, dim=-1), outputs[self.outputs.index(ALIGNED_OUTPUT)]
