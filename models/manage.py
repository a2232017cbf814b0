"""Managing the local model directory: what it holds, pulling it, importing v1 aligners, exporting ONNX.

The library side of ``art2mus models`` (the commands are a few lines over these). Importing this module
does not import torch; the import and export steps load it when they run.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from art2mus.models.encoders.base import EncoderSpec
from art2mus.models.model_dir import (
    FULL_SIZE_ENCODERS,
    V1_ALIGNERS,
    V1_LICENCE,
    HubUnreachableError,
    ModelDir,
    default_model_dir,
    format_size,
)

Report = Callable[[str], Any]


class DownloadError(OSError):
    """A download that started and failed (a network error mid-file, a full disk); the message says which."""


def open_model_dir(path: Path | None, factory: Callable[[Path], ModelDir] = ModelDir) -> ModelDir:
    """The model directory at ``path`` (default: :func:`~art2mus.models.model_dir.default_model_dir`),
    made by ``factory`` (tests hand in one with a fake downloader)."""
    return factory(path if path is not None else default_model_dir())


def check_aligner_name(name: str) -> str:
    """``name`` if it is a plain folder name (an aligner's under ``aligners/``); ``ValueError`` otherwise."""
    if "/" in name or name in ("", ".", ".."):
        raise ValueError(f"{name!r} must be a plain folder name")
    return name


def os_error_message(exc: OSError, mdir: ModelDir) -> str:
    """One sentence for an ``OSError`` of ``import-v1`` or ``export-onnx`` (they printed a traceback): a
    folder of the model directory this user may not write (read-only, another owner) is named, with what
    to do; any other error names its file."""
    reason = (exc.strerror or str(exc)).lower()
    if exc.filename is None:
        return f"{mdir.root}: {reason}"
    path = Path(exc.filename)
    if isinstance(exc, PermissionError) and (path == mdir.root or mdir.root in path.parents):
        while not path.exists() and path != path.parent:  # the folder it would have been made in
            path = path.parent
        return f"{path}: cannot write here ({reason}); run as the folder's owner or give another --model-dir"
    return f"{path}: {reason}"


def status_document(mdir: ModelDir) -> dict[str, Any]:
    """``models list --json``: the directory and one object per model and aligner."""
    return {"model_dir": str(mdir.root), "models": [row.as_dict() for row in mdir.status()]}


def status_lines(mdir: ModelDir) -> list[str]:
    """``models list``: each model and aligner (present, missing or damaged, size, licence, what is missing
    or damaged) and, when a model is missing or damaged, the command that fetches it."""
    rows = mdir.status()
    lines = [f"model directory: {mdir.root}"]
    name_w = max(len(r.key) for r in rows)
    for row in rows:
        state = "MISSING" if not row.present else "DAMAGED" if row.damaged else "present"
        size = format_size(row.size_bytes) if row.size_bytes else "-"
        lines.append(f"  {row.key:<{name_w}}  {state:<7}  {size:>10}  {row.licence}")
        lines.append(f"  {'':<{name_w}}  {row.description}")
        if row.missing and row.size_bytes:
            lines.append(f"  {'':<{name_w}}  incomplete, missing: {', '.join(row.missing)}")
        for damaged in row.damaged:
            lines.append(f"  {'':<{name_w}}  damaged or incomplete: {damaged}")
    missing = [r.key for r in rows if r.kind == "model" and not r.present]
    if missing:
        lines.append(
            f"missing: {', '.join(missing)}; on a connected machine run: art2mus models pull --model-dir {mdir.root}"
        )
    damaged = [r.key for r in rows if r.kind == "model" and r.present and r.damaged]
    if damaged:
        lines.append(
            f"damaged: {', '.join(damaged)}; copy them again, or on a connected machine run: art2mus models pull "
            f"--model-dir {mdir.root} --force --only {' --only '.join(damaged)}"
        )
    return lines


def pull_models(mdir: ModelDir, only: Iterable[str], force: bool, report: Report) -> list[str]:
    """Download ``only`` (default: every model and both v1 aligners) with a progress bar on stderr;
    ``report`` gets each licence and what happens. Returns the keys downloaded.

    Raises :class:`~art2mus.models.model_dir.HubUnreachableError` when the hub cannot be reached,
    :class:`DownloadError` when a download fails on the way, ``ValueError`` for an unknown key."""
    from tqdm import tqdm

    keys = list(only) or [*mdir.entries, *V1_ALIGNERS]
    for key in keys:
        report(f"{key}: licence {V1_LICENCE if key in V1_ALIGNERS else mdir.entries[key].licence}")
    bars: dict[str, tqdm] = {}

    def progress(done: int, total: int | None) -> None:
        bar = bars.get("url")
        if bar is None:
            bar = bars["url"] = tqdm(
                total=total, unit="B", unit_scale=True, unit_divisor=1024, file=sys.stderr
            )
        bar.update(done - bar.n)

    try:
        return mdir.pull(keys, force=force, progress=progress, report=report)
    except HubUnreachableError:
        raise
    except OSError as exc:
        raise DownloadError(f"download failed: {exc}") from exc
    finally:
        for bar in bars.values():
            bar.close()


def v1_encoder(mdir: ModelDir, encoder: str) -> tuple[str, EncoderSpec]:
    """The encoder kind and embedding space ``import-v1 --encoder`` names: ``imagebind`` or ``clip`` (the
    model directory's encoder of that kind, else the full-size one ``pull`` fetches), or the name of one of
    those spaces (``imagebind_huge``, ``clip-vit-large-patch14``, an installed build's: ``imagebind_debug``...).

    Raises ``ValueError`` naming the accepted values."""
    choices: dict[str, tuple[str, EncoderSpec]] = {}
    for kind, full_size in FULL_SIZE_ENCODERS.items():
        here = mdir.encoder_spec(kind)
        choices[kind] = (kind, here or full_size)
        for spec in (full_size, here):
            if spec is not None:
                choices.setdefault(spec.name, (kind, spec))
    if encoder not in choices:
        raise ValueError(
            f"--encoder {encoder!r} is not an encoder of {mdir.describe()}: expected one of {', '.join(choices)}"
        )
    return choices[encoder]


def import_v1(
    mdir: ModelDir, checkpoint: Path, name: str, encoder: str, lm_dim: int | None, force: bool
) -> Path:
    """Convert a v1 image-projection state dict into ``aligners/<name>`` (profile ``art2mus-v1``), for the
    encoder ``encoder`` (see :func:`v1_encoder`) and GPT-2 width ``lm_dim`` (None: read from the checkpoint,
    half of ``projection1``'s outputs as in v1's layout).

    A checkpoint that would not play in this model directory is refused (a 1024-d one beside a debug
    ImageBind, 768-d tokens beside a 24-d GPT-2): it was imported without a word, listed as present, and
    failed only when a soundscape was rendered. ``force`` imports it anyway, and replaces an existing
    aligner of that name; a checkpoint for the full-size encoder's embeddings is then recorded under the
    full-size encoder's name (it was recorded under the debug one's, and ``models list`` contradicted itself).

    Raises ``FileExistsError`` when that aligner exists and ``force`` is off, ``FileNotFoundError`` and
    ``ValueError`` (:class:`~art2mus.models.aligner.AlignerMismatchError` included) for a missing,
    unreadable or unfitting checkpoint.
    """
    from art2mus.models.aligner import (
        AlignerMismatchError,
        import_v1_aligner,
        read_v1_checkpoint,
        v1_token_width,
    )
    from art2mus.models.profiles import get_profile

    kind, spec = v1_encoder(mdir, encoder)
    target = mdir.aligners_dir / name
    if target.exists() and not force:
        raise FileExistsError(f"{target} already exists; choose another --name or pass --force")
    state = read_v1_checkpoint(checkpoint)  # before any complaint about its dimensions
    tokens = lm_dim if lm_dim is not None else v1_token_width(state)
    base = get_profile("art2mus-v1").base_model
    installed = mdir.language_model_dim(base)
    if not force and installed is not None and tokens is not None and installed != tokens:
        said = (
            f"--lm-dim {lm_dim}"
            if lm_dim is not None
            else f"{checkpoint} makes {tokens}-d tokens (read from projection1)"
        )
        raise AlignerMismatchError(
            f"{said}: the GPT-2 of {base} in {mdir.describe()} takes {installed}-d tokens, so the "
            f"aligner could not play here (set --lm-dim {installed} if the checkpoint was made for it; --force "
            "imports it anyway)"
        )
    here = mdir.encoder_spec(kind)
    if not force and here is not None and here != spec:
        raise AlignerMismatchError(
            f"--encoder {encoder}: the {kind} encoder in {mdir.describe()} is {here.name!r} ({here.dim}-d), so "
            f"an aligner for {spec.name!r} could not play here (--force imports it anyway)"
        )
    embeddings = int(state["projection1.weight"].shape[1])
    if force and embeddings != spec.dim and FULL_SIZE_ENCODERS[kind].dim == embeddings:
        spec = FULL_SIZE_ENCODERS[kind]  # made for the full-size encoder, not this directory's debug build
    try:
        return import_v1_aligner(
            checkpoint,
            target,
            encoder_name=spec.name,
            lm_dim=tokens,
            embedding_dim=None if force else spec.dim,
            metadata={"licence": V1_LICENCE},
            lm_dim_name="--lm-dim",
        )
    except AlignerMismatchError as exc:
        raise AlignerMismatchError(f"{exc} (--force imports it anyway)") from exc


def export_onnx(
    mdir: ModelDir,
    encoder: str,
    encoder_path: Path | None,
    aligner: str | None,
    out_dir: Path | None,
    report: Report,
) -> Path:
    """Export the model directory's ``encoder`` (and ``aligner``, when named) to ONNX, checked in onnxruntime
    against torch; returns the output folder (default ``MODEL_DIR/onnx/<encoder>[-<aligner>]``).

    Raises ``FileNotFoundError``, ``ValueError`` (an :class:`~art2mus.models.encoders.EncoderLoadError`
    included) for weights that cannot be loaded, and ``RuntimeError`` when the export does not match.
    """
    from art2mus.models.aligner import ImageAligner
    from art2mus.models.encoders import load_image_encoder
    from art2mus.models.encoders.onnx import export_onnx_encoder

    weights = encoder_path if encoder_path is not None else mdir.encoder_path(encoder)
    torch_encoder = load_image_encoder(encoder, weights, device="cpu")
    aligner_module = aligner_dir = None
    if aligner is not None:
        aligner_dir = mdir.resolve_aligner(aligner)
        aligner_module = ImageAligner.load(aligner_dir, encoder_spec=torch_encoder.spec)
    if out_dir is None:
        name = torch_encoder.spec.name + (f"-{aligner_dir.name}" if aligner_dir is not None else "")
        out_dir = mdir.root / "onnx" / name
    report(
        f"exporting {torch_encoder.spec.name} (dim {torch_encoder.spec.dim})"
        + (f" with aligner {aligner_dir.name}" if aligner_dir is not None else "")
        + f" to {out_dir} ..."
    )
    export_onnx_encoder(torch_encoder, out_dir, aligner=aligner_module)
    return out_dir
