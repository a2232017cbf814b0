"""``art2mus render``: turn an image, one artwork of an exhibit, or a whole exhibit into WAV files.

    art2mus render IMAGE -o out.wav [--generator procedural|art2mus] [--duration S] [--seed N] [--loudness LUFS]
    art2mus render EXHIBIT.yaml --artwork ID -o out.wav
    art2mus render EXHIBIT.yaml --all --out-dir DIR [--spectrogram]

With an exhibit, each artwork's first reference image and its ``soundscape`` settings (generator,
seed, duration, loop, prompt) are used, with the generator's settings from the exhibit's
``generators`` section and the loudness target from its ``audio`` section; options given on the
command line win. ``gain_db`` is applied by the player, not written into the file.

Generators are looked up in :data:`art2mus.models.registry.GENERATOR_BACKENDS`, or in a table a
caller puts in the click context object under ``"generator_backends"`` (tests do).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import numpy as np

logger = logging.getLogger(__name__)

EXHIBIT_SUFFIXES = (".yaml", ".yml")
SUBTYPES = {"pcm24": "PCM_24", "float": "FLOAT"}


@dataclass
class RenderJob:
    """One soundscape to make: an image, a generator backend and its settings, and the request fields."""

    name: str
    image_path: Path
    backend: str
    settings: dict[str, Any]
    duration_s: float
    seed: int
    loop: bool
    loudness_lufs: float
    options: dict[str, Any] = field(default_factory=dict)
    title: str = ""
    fixed_audio: Path | None = None


def _read_image(path: Path) -> np.ndarray:
    """RGB uint8 ``(H, W, 3)`` from an image file; ``ClickException`` naming the file if it cannot be read."""
    import cv2

    if not path.is_file():
        raise click.ClickException(f"image {path} does not exist")
    data = np.fromfile(str(path), dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise click.ClickException(
            f"cannot read image {path}: not an image format OpenCV can decode (PNG, JPEG, ...)"
        )
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _art2mus_overrides(**given: Any) -> dict[str, Any]:
    """The ``--model-dir`` ... ``--scheduler`` options that were given, as generator settings."""
    return {
        key: (str(value) if isinstance(value, Path) else value)
        for key, value in given.items()
        if value is not None
    }


def _jobs_from_exhibit(
    exhibit_path: Path,
    artwork_id: str | None,
    generator: str | None,
    duration: float | None,
    seed: int | None,
    loudness: float | None,
    overrides: dict[str, Any],
) -> list[RenderJob]:
    from art2mus.installation.config import ExhibitError, load_exhibit

    try:
        exhibit = load_exhibit(exhibit_path, check_files=False)
    except ExhibitError as error:
        raise click.ClickException(f"{exhibit_path} is not a valid exhibit:\n{error}") from error
    artworks = exhibit.artworks
    if artwork_id is not None:
        artworks = [a for a in exhibit.artworks if a.id == artwork_id]
        if not artworks:
            known = ", ".join(a.id for a in exhibit.artworks) or "none"
            raise click.ClickException(
                f"no artwork {artwork_id!r} in {exhibit_path}; its artworks are: {known}"
            )
    jobs = []
    for artwork in artworks:
        sound = artwork.soundscape
        name = generator or sound.generator
        if name in exhibit.generators:
            backend_config = exhibit.generators[name]
            backend, settings = backend_config.type, backend_config.settings()
        else:
            # Not a name from the exhibit's `generators` section: a backend with its default settings.
            backend, settings = name, {}
        jobs.append(
            RenderJob(
                name=artwork.id,
                image_path=Path(artwork.images[0]),
                backend=backend,
                settings={**settings, **overrides},
                duration_s=float(duration if duration is not None else sound.duration),
                seed=int(seed if seed is not None else sound.seed),
                loop=sound.loop,
                loudness_lufs=float(loudness if loudness is not None else exhibit.audio.loudness_lufs),
                options={"prompt": sound.prompt} if sound.prompt else {},
                title=artwork.display_title,
                fixed_audio=Path(artwork.audio) if artwork.audio else None,
            )
        )
    return jobs


def _render(job: RenderJob, backends: Mapping[str, Any] | None, generators: dict) -> Any:
    """Make the soundscape of ``job`` (generators are built once per backend and settings)."""
    from art2mus.models.generator import GenerationRequest
    from art2mus.models.registry import create_generator

    image = _read_image(job.image_path)
    key = (job.backend, repr(sorted(job.settings.items())))
    if key not in generators:
        try:
            generators[key] = create_generator(job.backend, job.settings, backends=backends)
        except (ValueError, TypeError, ImportError, OSError) as error:
            raise click.ClickException(f"cannot create generator {job.backend!r}: {error}") from error
    try:
        request = GenerationRequest(
            duration_s=job.duration_s,
            seed=job.seed,
            loop=job.loop,
            loudness_lufs=job.loudness_lufs,
            options=job.options,
        )
        return generators[key].generate(image, request)
    except (ValueError, RuntimeError, OSError) as error:
        raise click.ClickException(f"{job.name}: generation with {job.backend!r} failed: {error}") from error


def _write(soundscape: Any, path: Path, subtype: str) -> str:
    """Write the WAV and return the one-line summary (measured on what was written)."""
    import soundfile

    from art2mus.models.loudness import integrated_loudness, true_peak_dbtp

    path.parent.mkdir(parents=True, exist_ok=True)
    waveform = np.asarray(soundscape.waveform, dtype=np.float32)
    soundfile.write(str(path), waveform, soundscape.sample_rate, subtype=SUBTYPES[subtype], format="WAV")
    lufs = integrated_loudness(waveform, soundscape.sample_rate)
    peak = true_peak_dbtp(waveform, soundscape.sample_rate)
    peak_text = f"{peak:.1f} dBTP" if math.isfinite(peak) else "silent"
    return (
        f"{path}: {soundscape.duration_s:.2f} s, {soundscape.sample_rate} Hz, {soundscape.channels} ch, "
        f"{lufs:.1f} LUFS, {peak_text}"
    )


def _describe(soundscape: Any) -> str:
    music = soundscape.metadata.get("music") if isinstance(soundscape.metadata, dict) else None
    if not music:
        return ""
    return f" [{music.get('key')}, {music.get('tempo_bpm')} bpm, {music.get('metre')}]"


def write_spectrogram(soundscape: Any, path: Path, title: str) -> None:
    """A log-frequency spectrogram of the soundscape (channel mean) as a PNG (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.signal import stft

    waveform = np.asarray(soundscape.waveform, dtype=np.float64)
    mono = waveform.mean(axis=1) if waveform.ndim == 2 else waveform
    rate = soundscape.sample_rate
    freqs, times, z = stft(mono, rate, nperseg=4096, noverlap=3072)
    level = 20.0 * np.log10(np.abs(z) + 1e-10)
    top = float(level.max())
    figure, axis = plt.subplots(figsize=(12, 4.5), dpi=100)
    mesh = axis.pcolormesh(times, freqs, level, vmin=top - 80.0, vmax=top, cmap="magma", shading="auto")
    axis.set_yscale("log")
    axis.set_ylim(30.0, min(16000.0, rate / 2.0))
    axis.set_xlabel("time (s)")
    axis.set_ylabel("frequency (Hz)")
    axis.set_title(title + _describe(soundscape))
    figure.colorbar(mesh, ax=axis, label="dB")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(str(path))
    plt.close(figure)


@click.command("render")
@click.argument("source", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="WAV file to write.")
@click.option("--artwork", "artwork_id", metavar="ID", help="With an EXHIBIT: the artwork to render.")
@click.option(
    "--all", "render_all", is_flag=True, help="With an EXHIBIT: render every artwork into --out-dir."
)
@click.option(
    "--out-dir", type=click.Path(file_okay=False, path_type=Path), help="Folder for --all (DIR/<id>.wav)."
)
@click.option(
    "--spectrogram", is_flag=True, help="With --all: also write DIR/<id>.png, a spectrogram of each."
)
@click.option(
    "--generator",
    "generator_name",
    metavar="NAME",
    help="Backend (procedural, art2mus) -- or, with an EXHIBIT, a name from its generators section. "
    "Default: procedural for an IMAGE, each artwork's own for an EXHIBIT.",
)
@click.option(
    "--duration",
    type=click.FloatRange(min=0, min_open=True),
    help="Length in seconds (default: 30 for an IMAGE, each artwork's own for an EXHIBIT).",
)
@click.option(
    "--seed",
    type=int,
    help="Seed (default: 0, or each artwork's own); the same image, seed and settings give the same audio.",
)
@click.option(
    "--loudness",
    type=click.FloatRange(-70, 0),
    help="Integrated loudness target, LUFS (default: -23, or the exhibit's audio.loudness_lufs).",
)
@click.option(
    "--loop/--no-loop", default=None, help="Seamless loop (default) or a one-shot with fades (IMAGE only)."
)
@click.option(
    "--format",
    "subtype",
    type=click.Choice(sorted(SUBTYPES)),
    default="pcm24",
    show_default=True,
    help="WAV sample format: 24-bit PCM or 32-bit float.",
)
@click.option(
    "--model-dir", type=click.Path(file_okay=False, path_type=Path), help="art2mus: local model directory."
)
@click.option(
    "--aligner", type=click.Path(file_okay=False, path_type=Path), help="art2mus: aligner checkpoint folder."
)
@click.option("--encoder", type=click.Choice(["imagebind", "clip", "onnx"]), help="art2mus: image encoder.")
@click.option("--device", help="art2mus: auto, cpu, cuda or cuda:N.")
@click.option(
    "--dtype", type=click.Choice(["float32", "float16", "bfloat16"]), help="art2mus: precision on the GPU."
)
@click.option("--steps", type=click.IntRange(1, 1000), help="art2mus: denoising steps.")
@click.option(
    "--guidance-scale", type=click.FloatRange(0, 30), help="art2mus: classifier-free guidance scale."
)
@click.option("--scheduler", type=click.Choice(["ddim", "dpmsolver++"]), help="art2mus: diffusion scheduler.")
@click.pass_context
def command(
    ctx: click.Context,
    source: Path,
    output: Path | None,
    artwork_id: str | None,
    render_all: bool,
    out_dir: Path | None,
    spectrogram: bool,
    generator_name: str | None,
    duration: float | None,
    seed: int | None,
    loudness: float | None,
    loop: bool | None,
    subtype: str,
    model_dir: Path | None,
    aligner: Path | None,
    encoder: str | None,
    device: str | None,
    dtype: str | None,
    steps: int | None,
    guidance_scale: float | None,
    scheduler: str | None,
) -> None:
    """Render SOURCE -- an image, or an exhibit YAML file with --artwork ID or --all -- to WAV.

    Prints one line per file: duration, sample rate, channels, integrated loudness (LUFS) and true
    peak (dBTP), measured on the written audio. Exits non-zero with a sentence saying what went wrong
    when an image cannot be read, an artwork or generator is unknown, or generation fails.
    """
    backends = ctx.obj.get("generator_backends") if isinstance(ctx.obj, dict) else None
    overrides = _art2mus_overrides(
        model_dir=model_dir,
        aligner=aligner,
        encoder=encoder,
        device=device,
        dtype=dtype,
        steps=steps,
        guidance_scale=guidance_scale,
        scheduler=scheduler,
    )
    is_exhibit = source.suffix.lower() in EXHIBIT_SUFFIXES
    if not source.exists():
        raise click.ClickException(f"{source} does not exist")
    if is_exhibit:
        if render_all == (artwork_id is not None):
            raise click.UsageError(
                "with an EXHIBIT give either --artwork ID (with -o) or --all (with --out-dir)"
            )
        if render_all and out_dir is None:
            raise click.UsageError("--all needs --out-dir DIR")
        if artwork_id is not None and output is None:
            raise click.UsageError("--artwork needs -o FILE.wav")
        if loop is not None:
            raise click.UsageError("--loop/--no-loop apply to an IMAGE; an exhibit sets `loop` per artwork")
        jobs = _jobs_from_exhibit(source, artwork_id, generator_name, duration, seed, loudness, overrides)
    else:
        if artwork_id is not None or render_all:
            raise click.UsageError(
                f"--artwork and --all need an exhibit file ({'/'.join(EXHIBIT_SUFFIXES)}), not {source}"
            )
        if output is None:
            raise click.UsageError("give -o FILE.wav")
        jobs = [
            RenderJob(
                name=source.stem,
                image_path=source,
                backend=generator_name or "procedural",
                settings=overrides,
                duration_s=30.0 if duration is None else duration,
                seed=0 if seed is None else seed,
                loop=True if loop is None else loop,
                loudness_lufs=-23.0 if loudness is None else loudness,
                title=source.stem,
            )
        ]
    if spectrogram and not render_all:
        raise click.UsageError("--spectrogram goes with --all")
    if overrides:
        others = sorted({job.backend for job in jobs} - {"art2mus"})
        if others:
            flags = ", ".join("--" + key.replace("_", "-") for key in overrides)
            raise click.UsageError(f"{flags} apply to the art2mus generator, not {others[0]!r}")

    generators: dict = {}
    try:
        if not render_all:
            soundscape = _render(jobs[0], backends, generators)
            click.echo(_write(soundscape, output, subtype) + _describe(soundscape))
            return
        from tqdm import tqdm

        for job in tqdm(jobs, desc="rendering", unit="artwork", disable=None):
            if job.fixed_audio is not None:
                tqdm.write(f"{job.name}: plays its fixed audio file {job.fixed_audio}; not rendered")
                continue
            soundscape = _render(job, backends, generators)
            line = _write(soundscape, out_dir / f"{job.name}.wav", subtype) + _describe(soundscape)
            if spectrogram:
                png = out_dir / f"{job.name}.png"
                write_spectrogram(soundscape, png, f"{job.title} ({job.name})")
                line += f", spectrogram {png}"
            tqdm.write(line)
    finally:
        for generator in generators.values():
            generator.close()
