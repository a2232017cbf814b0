"""The ``art2mus`` generator backend: :class:`Art2MusPipeline` behind the shared :class:`Generator` interface.

Output is mono float32 at the model's 16 kHz. A looping soundscape is generated one short seam longer
than asked, and that extra tail is crossfaded (equal power) into the head, so the last sample flows into
the first. Loudness is normalised to the request's LUFS target, then turned down if its true peak would
pass the ceiling.
"""

from __future__ import annotations

import logging
import math
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import Field

from art2mus.common.schema import DirPath, StrictModel, unit
from art2mus.models.encoders import ENCODER_BACKENDS
from art2mus.models.generator import GenerationRequest, Generator, Soundscape
from art2mus.models.long_clip import TRAINING_CLIP_S, render_stitched, stitched_length_plan
from art2mus.models.loudness import SILENCE_LUFS, gain_to_loudness, integrated_loudness, true_peak_dbtp

if TYPE_CHECKING:
    from art2mus.models.model_dir import ModelDirChoice

logger = logging.getLogger(__name__)

#: bumped whenever the same image, seed and settings would give different audio: in each rendering's
#: metadata, and as :attr:`Art2MusGenerator.render_version` in the cache key of its renderings only
VERSION = "2"
#: the image encoders, as ``art2mus.models.encoders`` lists them (the ``encoder:`` choices)
ENCODERS = tuple(ENCODER_BACKENDS)
DTYPES = ("float32", "float16", "bfloat16")
#: the devices the model runs on: the exhibit's ``device:`` and the commands' ``--device`` take these
DEVICE_PATTERN = r"^(auto|cpu|cuda(:\d+)?)$"
DEVICE_CHOICES = "auto, cpu, cuda or cuda:N"
#: ``GenerationRequest.options`` this backend understands (``steps`` is an alias of ``num_inference_steps``).
OPTION_KEYS = (
    "prompt",
    "steps",
    "num_inference_steps",
    "guidance_scale",
    "scheduler",
    "num_waveforms",
    "support_prompt",
    "negative_prompt",
)
#: generation settings a conditioning profile supplies when the exhibit leaves them unset.
PROFILE_DEFAULTS = (
    "steps",
    "guidance_scale",
    "scheduler",
    "num_waveforms",
    "support_prompt",
    "negative_prompt",
)


def crossfade_loop(waveform: np.ndarray, seam: int) -> np.ndarray:
    """Fold the last ``seam`` samples of ``waveform`` ``(frames,)`` into its head; returns ``frames - seam`` samples.

    The head becomes ``tail * cos + head * sin`` (equal-power ramps), so the looped output continues from
    its last sample into its first exactly as the original signal continued past the loop point.
    """
    if seam <= 0:
        return waveform.copy()
    if 2 * seam > waveform.shape[0]:
        raise ValueError(f"seam of {seam} samples needs at least {2 * seam} samples, got {waveform.shape[0]}")
    keep = waveform.shape[0] - seam
    phase = (np.arange(seam, dtype=np.float64) + 0.5) / seam * (math.pi / 2)
    out = waveform[:keep].astype(np.float64, copy=True)
    out[:seam] = waveform[keep:] * np.cos(phase) + waveform[:seam] * np.sin(phase)
    return out.astype(np.float32)


class Art2MusGeneratorConfig(StrictModel):
    """The Art2Mus model: image encoder -> aligner -> GPT-2 language of audio -> AudioLDM2."""

    type: Literal["art2mus"] = Field("art2mus", description="The Art2Mus model.")
    model_dir: DirPath | None = Field(
        None,
        description="Local model directory (see `art2mus models list`); nothing is downloaded at run time. "
        "Default: $ART2MUS_MODEL_DIR, else ~/.local/share/art2mus/models.",
    )
    aligner: DirPath | None = Field(
        None,
        description="The name of an installed aligner (a folder under the model directory's aligners/, as "
        "`art2mus models list` shows it), or an aligner folder's path (config.json + model.safetensors); a "
        "relative path is relative to this YAML file (a folder there wins over an installed aligner's name). "
        "Default: the model directory's aligner for `encoder`: aligners/default (a link: `ln -sfn NAME "
        "aligners/default`; `art2mus models pull` links art2mus-v1-4tok), else the only one there; with several "
        "and no default, set this (validate lists them). With `encoder: onnx` and an export that carries an "
        "aligner, that one (its tokens play; another aligner is an error).",
    )
    encoder: Literal[ENCODERS] = Field(  # type: ignore[valid-type] - the encoders' table, at run time
        "imagebind", description="Image encoder the aligner was trained for."
    )
    encoder_path: Path | None = Field(
        None, description="Encoder weights (default: its folder in the model directory)."
    )
    device: str = Field("auto", pattern=DEVICE_PATTERN, description=f"{DEVICE_CHOICES}.")
    dtype: Literal["float32", "float16", "bfloat16"] = Field(
        "float16", description="Precision on the GPU (the CPU uses float32)."
    )
    profile: Literal["art2mus-music", "art2mus-v1"] | None = Field(
        None,
        description="Conditioning profile (how tokens and prompts condition AudioLDM2); default: the one the aligner's config.json names.",
    )
    steps: int | None = Field(
        None, ge=1, le=1000, description="Denoising steps (default: the profile's, 100 or v1's 200)."
    )
    guidance_scale: float | None = Field(
        None,
        ge=0,
        le=30,
        description="Classifier-free guidance scale (1 or less: off; default: the profile's, 3.5).",
    )
    scheduler: Literal["ddim", "dpmsolver++"] | None = Field(
        None, description="Diffusion scheduler (default: the profile's, ddim)."
    )
    num_waveforms: int | None = Field(
        None,
        ge=1,
        le=16,
        description="Candidates generated; the best by ImageBind image-audio similarity is kept (default: the profile's, 1 or v1's 3).",
    )
    support_prompt: str | None = Field(
        None,
        description="Fixed text for AudioLDM2's FLAN-T5 stream (default: the profile's, 'high quality music').",
    )
    negative_prompt: str | None = Field(
        None, description="What guidance steers away from (default: the profile's, 'low quality, noise')."
    )
    segment_s: float = Field(
        10.24,
        ge=0,
        le=60,
        description="Longer soundscapes are stitched from segments of at most this length (AudioLDM2's training "
        "clip length); 0: one pass.",
        json_schema_extra=unit("s"),
    )
    join_s: float = Field(
        1.0,
        ge=0,
        le=10,
        description="Crossfade at each join of a stitched soundscape.",
        json_schema_extra=unit("s"),
    )
    fallback: str = Field(
        "procedural",
        description="Generator (a key of `generators`) that plays while this one works or if it fails.",
    )

    def settings(self) -> dict[str, Any]:
        """Constructor keywords for the backend (see ``art2mus.models.registry``).

        An unset ``model_dir`` stays ``None`` here (the generator applies the rule where it runs); a set
        one is its absolute path. Neither is in a rendering's cache key
        (:meth:`Art2MusGenerator.cache_settings`)."""
        return self.model_dump(exclude={"type", "fallback"})

    def model_dir_choice(self, environ: Mapping[str, str] | None = None) -> ModelDirChoice:
        """The model directory these settings load from, and where that came from: ``model_dir``, else
        ``$ART2MUS_MODEL_DIR``, else ``~/.local/share/art2mus/models``."""
        from art2mus.models.model_dir import choose_model_dir

        return choose_model_dir(self.model_dir, environ)


class Art2MusGenerator(Generator):
    """Image -> soundscape with the Art2Mus model (the exhibit's settings: :class:`Art2MusGeneratorConfig`).

    Args:
        model_dir: local model directory (``art2mus models list``); ``None``: ``$ART2MUS_MODEL_DIR``, else
            ``~/.local/share/art2mus/models`` (:func:`~art2mus.models.model_dir.choose_model_dir`).
        aligner: aligner folder or name under ``MODEL_DIR/aligners``; ``None`` picks the installed aligner
            trained for the chosen encoder (one named ``default``, or the only match), or, for an ONNX export
            that carries an aligner, that one, whose tokens the graph gives (another one is a ``ValueError``).
        encoder: ``imagebind``, ``clip`` or ``onnx``; encoder_path: its weights (default: its model folder).
        device: ``auto`` (CUDA when present), ``cpu``, ``cuda`` or ``cuda:N``.
        dtype: precision on the GPU (``float32``, ``float16``, ``bfloat16``); the CPU always uses float32.
        profile: conditioning profile (``art2mus-music``, ``art2mus-v1``); ``None`` takes the one the
            aligner's ``config.json`` names.
        steps, guidance_scale, scheduler, num_waveforms, support_prompt, negative_prompt: generation
            defaults, overridable per request through ``GenerationRequest.options``; ``None`` takes the
            profile's (``art2mus-v1``: 200 DDIM steps, 3 candidates re-ranked by ImageBind, v1's prompts).
        loop_seam_s: crossfade length of looping soundscapes, seconds (at most a quarter of the clip).
        segment_s: soundscapes longer than this are stitched from segments of at most this length (AudioLDM2's
            10.24 s training clips by default), joined by ``join_s`` equal-power crossfades; 0 generates any
            length in one pass (``benchmarks/bench_long_clip.py`` measures both).
        join_s: crossfade at each join of a stitched soundscape, seconds.
        ceiling_dbtp: true-peak ceiling, dBTP.
        max_duration_s: longest soundscape, seconds (stitched or in one pass).
        pipeline: an already loaded pipeline (tests, or sharing one model between generators); when given,
            the model settings above are not used to load anything.
    """

    name = "art2mus"
    config_class = Art2MusGeneratorConfig
    render_version = int(VERSION)
    licence = (
        "code MIT; AudioLDM2-music weights CC BY-NC-SA 4.0 (non-commercial); "
        "ImageBind weights CC BY-NC-SA 4.0 (non-commercial); CLIP weights MIT"
    )
    extras = ("model",)
    description = "Image encoder -> trained aligner -> GPT-2 language of audio -> AudioLDM2 latent diffusion."

    def __init__(
        self,
        model_dir: str | Path | None = None,
        aligner: str | Path | None = None,
        encoder: str = "imagebind",
        encoder_path: str | Path | None = None,
        device: str = "auto",
        dtype: str = "float16",
        profile: str | None = None,
        steps: int | None = None,
        guidance_scale: float | None = None,
        scheduler: str | None = None,
        num_waveforms: int | None = None,
        support_prompt: str | None = None,
        negative_prompt: str | None = None,
        loop_seam_s: float = 1.0,
        segment_s: float = TRAINING_CLIP_S,
        join_s: float = 1.0,
        ceiling_dbtp: float = -1.0,
        max_duration_s: float = 120.0,
        pipeline: Any = None,
    ) -> None:
        if encoder not in ENCODERS:
            raise ValueError(f"art2mus generator: encoder must be one of {ENCODERS}, got {encoder!r}")
        if dtype not in DTYPES:
            raise ValueError(f"art2mus generator: dtype must be one of {DTYPES}, got {dtype!r}")
        if not (isinstance(loop_seam_s, (int, float)) and 0.0 <= loop_seam_s <= 10.0):
            raise ValueError(
                f"art2mus generator: loop_seam_s must be between 0 and 10 seconds, got {loop_seam_s!r}"
            )
        if not (isinstance(join_s, (int, float)) and 0.0 <= join_s <= 10.0):
            raise ValueError(f"art2mus generator: join_s must be between 0 and 10 seconds, got {join_s!r}")
        if not (isinstance(segment_s, (int, float)) and (segment_s == 0 or segment_s > 2 * join_s)):
            raise ValueError(
                f"art2mus generator: segment_s must be 0 (one pass) or longer than twice join_s ({2 * join_s:g} s), "
                f"got {segment_s!r}"
            )
        if not (
            isinstance(ceiling_dbtp, (int, float)) and math.isfinite(ceiling_dbtp) and ceiling_dbtp <= 0.0
        ):
            raise ValueError(
                f"art2mus generator: ceiling_dbtp must be a number <= 0 dBTP, got {ceiling_dbtp!r}"
            )
        from art2mus.models.profiles import get_profile

        if profile is not None:
            get_profile(profile)  # an unknown name fails here, naming the known ones
        from art2mus.models.model_dir import choose_model_dir

        chosen_dir = choose_model_dir(model_dir)
        self.model_dir = chosen_dir.path
        self.model_dir_origin = chosen_dir.origin
        self.encoder_kind = encoder
        self.loop_seam_s = float(loop_seam_s)
        self.segment_s = float(segment_s)
        self.join_s = float(join_s)
        self.ceiling_dbtp = float(ceiling_dbtp)
        self.aligner_path: Path | None = None
        if pipeline is None:
            pipeline = self._load(aligner, encoder, encoder_path, device, dtype, max_duration_s, profile)
        self.pipeline = pipeline
        chosen = getattr(pipeline, "profile", None) or get_profile(profile)
        given = {
            "steps": steps,
            "guidance_scale": guidance_scale,
            "scheduler": scheduler,
            "num_waveforms": num_waveforms,
            "support_prompt": support_prompt,
            "negative_prompt": negative_prompt,
        }
        merged = {k: getattr(chosen, k) if given[k] is None else given[k] for k in PROFILE_DEFAULTS}
        merged["num_inference_steps"] = merged.pop("steps")
        self.defaults: dict[str, Any] = merged
        self.profile_name = chosen.name
        # check the defaults once, against the loaded model, so a bad setting fails at start-up
        self._check(self.defaults, duration_s=max(self.pipeline.min_duration_s, 1.0))

    def _load(self, aligner, encoder, encoder_path, device, dtype, max_duration_s, profile=None):
        import torch

        from art2mus.models.aligner import ImageAligner
        from art2mus.models.encoders import load_image_encoder
        from art2mus.models.model_dir import ModelDir
        from art2mus.models.pipeline import Art2MusPipeline
        from art2mus.models.pipeline_loading import torch_device

        # a CUDA device torch lacks fails here in one sentence, not deep in the first .to() (the generation
        # worker then plays the fallback, as for any generator that cannot start)
        target = torch_device(device, "art2mus generator: device:", "set it to cpu or auto")
        torch_dtype = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[dtype]
        if target.type != "cuda" and torch_dtype != torch.float32:
            logger.info("art2mus: %s asked for but running on %s; using float32", dtype, target)
            torch_dtype = torch.float32
        mdir = ModelDir(self.model_dir, origin=self.model_dir_origin)
        path = Path(encoder_path) if encoder_path is not None else mdir.encoder_path(encoder)
        aligner_path = None if aligner is None else mdir.resolve_aligner(aligner)
        # an ONNX graph that carries an aligner plays its tokens: unset, the aligner is the graph's (its
        # folder gives the config and the cache key); another one is refused
        graph = mdir.graph_aligner(encoder, path)
        if graph is not None and aligner_path is None:
            aligner_path = graph[1]
        elif graph is not None:
            mismatch = mdir.graph_aligner_mismatch(encoder, path, aligner_path)
            if mismatch:
                raise ValueError(f"art2mus generator: {mismatch}")
        # a profile may keep the encoder in float32 (v1 ran ImageBind so): known before loading it unless the
        # aligner is the default one, which depends on the encoder's spec
        known_profile = profile
        if known_profile is None and aligner_path is not None:
            known_profile = ImageAligner.read_config(aligner_path).get("conditioning_profile")
        encoder_dtype = encoder_load_dtype(known_profile, torch_dtype)
        image_encoder = load_image_encoder(encoder, path, device=str(target), dtype=encoder_dtype)
        if aligner_path is None:
            aligner_path = default_aligner(mdir, image_encoder.spec)
        self.aligner_path = aligner_path
        # a clear error for a wrong folder before the big load
        config = ImageAligner.read_config(aligner_path)
        if (
            profile is None
            and encoder_load_dtype(config.get("conditioning_profile"), torch_dtype) != encoder_dtype
        ):
            # the default aligner's profile keeps the encoder in float32
            encoder_dtype = torch.float32
            image_encoder = load_image_encoder(encoder, path, device=str(target), dtype=encoder_dtype)
        logger.info(
            "art2mus: loading %s with aligner %s on %s (%s)",
            mdir.describe(),
            aligner_path,
            target,
            torch_dtype,
        )
        pipe = Art2MusPipeline.from_model_dir(
            mdir,
            aligner=aligner_path,
            encoder=image_encoder,
            device=target,
            dtype=torch_dtype,
            max_duration_s=max_duration_s + self.loop_seam_s,
            profile=profile,
        )
        pipe.graph_tokens = graph is not None
        if pipe.ranker is None and mdir.is_present("imagebind"):
            # CLIP cannot embed audio: candidates are ranked in ImageBind's space when it is installed
            pipe.ranker = load_image_encoder("imagebind", mdir.path("imagebind"), device=str(target))
            logger.info(
                "art2mus: candidates re-ranked by ImageBind (the %s encoder cannot embed audio)", encoder
            )
        elif pipe.ranker is None:
            logger.warning(
                "art2mus: re-ranking of candidates is off: the %s encoder cannot embed audio and ImageBind is "
                "not installed in %s",
                encoder,
                mdir.describe(),
            )
        return pipe

    @classmethod
    def cache_settings(cls, settings: dict[str, Any]) -> dict[str, Any]:
        """The settings without where the weights live: ``model_dir`` leaves the key (the aligners' weights
        are keyed by their hash, :meth:`cache_identity`; the base model by the profile that names it), and
        an ``aligner`` or ``encoder_path`` given as a path is keyed by its last part, the name the model
        directory gives it. So moving the model folder, or leaving ``model_dir`` unset for
        ``$ART2MUS_MODEL_DIR``, finds every rendering again."""
        keyed = {k: v for k, v in settings.items() if k != "model_dir"}
        for field in ("aligner", "encoder_path"):
            if keyed.get(field) is not None:
                keyed[field] = Path(keyed[field]).name
        return keyed

    @classmethod
    def earlier_cache_settings(cls, settings: dict[str, Any], base_dir: Path) -> list[dict[str, Any]]:
        """Up to e77d595 (5 Dec) an unset ``model_dir`` was ``models`` beside the exhibit, keyed as that
        absolute path: the settings as they were keyed then."""
        if settings.get("model_dir") is not None:
            return []
        return [{**settings, "model_dir": Path(os.path.normpath((Path(base_dir) / "models").absolute()))}]

    @classmethod
    def cache_identity(cls, settings: dict[str, Any]) -> dict[str, Any]:
        """The aligner's weights hash and conditioning profile (not its path), read without loading a model.

        With ``aligner`` unset, the identities of every installed aligner count (the one chosen among them
        depends on the encoder, which is not loaded here): any change re-renders; with an ONNX graph that
        carries an aligner, that aligner's alone (:meth:`~art2mus.models.model_dir.ModelDir.graph_aligner`).
        """
        from art2mus.models.model_dir import ModelDir, aligner_identity  # no torch: the daemon keys with it

        mdir = ModelDir.chosen(settings.get("model_dir"))
        try:
            graph = mdir.graph_aligner(
                str(settings.get("encoder")),
                None if settings.get("encoder_path") is None else Path(settings["encoder_path"]),
            )
            if settings.get("aligner") is not None:
                folders = [mdir.resolve_aligner(settings["aligner"])]
            elif graph is not None:  # the ONNX graph's aligner plays: keyed as that folder would be
                folders = [graph[1]]
            else:
                folders = mdir.list_aligner_dirs()
            identities = [{"name": f.name, **aligner_identity(f)} for f in folders]
        except (OSError, ValueError) as exc:
            return {"aligner_identity": f"unavailable: {exc}"}
        if settings.get("profile") is not None:
            for identity in identities:
                identity["conditioning_profile"] = str(settings["profile"])
        return {"aligner_identity": identities}

    def _settings(self, request: GenerationRequest) -> dict[str, Any]:
        unknown = sorted(set(request.options) - set(OPTION_KEYS))
        if unknown:
            raise ValueError(
                f"art2mus generator: unknown option(s) {unknown}; expected some of {list(OPTION_KEYS)}"
            )
        settings = dict(self.defaults)
        for key, value in request.options.items():
            settings["num_inference_steps" if key == "steps" else key] = value
        return settings

    def _check(self, settings: dict[str, Any], duration_s: float) -> None:
        self.pipeline.check_settings(
            duration_s,
            settings["num_inference_steps"],
            settings["guidance_scale"],
            settings["num_waveforms"],
            settings["scheduler"],
            prompt=settings.get("prompt"),
            support_prompt=settings["support_prompt"],
            negative_prompt=settings["negative_prompt"],
        )

    def generate(self, image: np.ndarray, request: GenerationRequest) -> Soundscape:
        """Make a soundscape from ``image`` (RGB uint8 ``(H, W, 3)``).

        Returns mono float32 ``(frames,)`` at 16 kHz with exactly ``round(duration_s * 16000)`` frames,
        normalised to ``request.loudness_lufs`` under the true-peak ceiling (or left silent if silent).
        """
        if not math.isfinite(request.loudness_lufs) or not -70.0 <= request.loudness_lufs <= 0.0:
            raise ValueError(f"loudness_lufs must be between -70 and 0 LUFS, got {request.loudness_lufs}")
        settings = self._settings(request)
        sample_rate = self.pipeline.sample_rate
        frames = int(round(request.duration_s * sample_rate))
        seam = int(round(min(self.loop_seam_s, request.duration_s / 4) * sample_rate)) if request.loop else 0
        duration = (frames + seam) / sample_rate
        stitched = self.segment_s > 0 and duration > self.segment_s
        self._check(settings, duration)  # max_duration_s bounds the whole soundscape, stitched or not
        sampling = {
            key: settings[key]
            for key in ("num_inference_steps", "guidance_scale", "scheduler", "num_waveforms")
        }
        first: dict[str, Any] = {}
        segments = (
            len(
                stitched_length_plan(
                    frames + seam, round(self.segment_s * sample_rate), round(self.join_s * sample_rate)
                )
            )
            if stitched
            else 1
        )
        bar = denoising_bar(segments * int(sampling["num_inference_steps"]))

        def render(index: int, seconds: float) -> np.ndarray:
            steps = int(sampling["num_inference_steps"])
            progress = None if bar is None else (lambda i, _n: bar.update_to(index * steps + i))
            # the image is encoded once; later segments reuse its conditioning with the next seeds
            if index == 0:
                first["output"] = self.pipeline(
                    [np.asarray(image)],
                    duration_s=seconds,
                    seed=int(request.seed),
                    prompt=settings.get("prompt"),
                    support_prompt=settings["support_prompt"],
                    negative_prompt=settings["negative_prompt"],
                    progress=progress,
                    **sampling,
                )
                return first["output"].audios[0, 0]
            out = self.pipeline(
                conditioning=first["output"].conditioning,
                duration_s=seconds,
                seed=int(request.seed) + index,
                progress=progress,
                **sampling,
            )
            return out.audios[0, 0]

        try:
            if stitched:
                raw, joins = render_stitched(render, frames + seam, sample_rate, self.segment_s, self.join_s)
            else:
                raw, joins = render(0, duration).astype(np.float32), []
        finally:
            if bar is not None:
                bar.close()
        output = first["output"]
        waveform = crossfade_loop(raw, seam)[:frames] if seam else raw[:frames]
        waveform, loudness, peak = self._master(waveform, sample_rate, request.loudness_lufs)
        metadata = {
            "generator": self.name,
            "version": VERSION,
            "seed": int(request.seed),
            "duration_s": waveform.shape[0] / sample_rate,
            "sample_rate": sample_rate,
            "loop": bool(request.loop),
            "loop_seam_s": seam / sample_rate,
            "segments": len(joins) + 1,
            "join_s": self.join_s if joins else 0.0,
            "loudness_lufs": round(loudness, 2),
            "true_peak_dbtp": round(peak, 2) if math.isfinite(peak) else None,
            "encoder": self.pipeline.encoder.spec.name if self.pipeline.encoder is not None else None,
            "aligner": None if self.aligner_path is None else str(self.aligner_path),
            "profile": self.profile_name,
            "prompt": settings.get("prompt"),
            "support_prompt": settings["support_prompt"],
            "negative_prompt": settings["negative_prompt"],
            "steps": settings["num_inference_steps"],
            "guidance_scale": settings["guidance_scale"],
            "scheduler": settings["scheduler"],
            "num_waveforms": settings["num_waveforms"],
            "score": None if output.scores is None else float(output.scores[0, 0]),
            "device": str(self.pipeline.device),
            "dtype": str(self.pipeline.dtype).removeprefix("torch."),
        }
        return Soundscape(waveform=waveform, sample_rate=sample_rate, metadata=metadata)

    def _master(
        self, waveform: np.ndarray, sample_rate: int, target_lufs: float
    ) -> tuple[np.ndarray, float, float]:
        """Gain to ``target_lufs``, then turn down until the true peak is under the ceiling."""
        out = waveform * np.float32(gain_to_loudness(waveform, sample_rate, target_lufs))
        peak = true_peak_dbtp(out, sample_rate)
        if math.isfinite(peak) and peak > self.ceiling_dbtp:
            out = out * np.float32(10.0 ** ((self.ceiling_dbtp - 0.01 - peak) / 20.0))
            peak = true_peak_dbtp(out, sample_rate)
        loudness = integrated_loudness(out, sample_rate)
        return (
            np.clip(out, -1.0, 1.0).astype(np.float32),
            loudness if loudness > SILENCE_LUFS else SILENCE_LUFS,
            peak,
        )

    def close(self) -> None:
        """Drop the model and give GPU memory back."""
        pipeline, self.pipeline = self.pipeline, None
        if pipeline is not None and str(pipeline.device).startswith("cuda"):
            import torch

            del pipeline
            torch.cuda.empty_cache()


def base_model_key(settings: dict[str, Any]) -> str:
    """Model-directory key of the AudioLDM2 checkpoint these generator settings load (no torch).

    The exhibit's ``profile`` wins; else the profile the aligner's ``config.json`` names (with ``aligner``
    unset, the ONNX graph's aligner, if it carries one); an unset or unreadable aligner gives the default
    profile's.
    """
    from art2mus.models.aligner import ImageAligner
    from art2mus.models.model_dir import ModelDir
    from art2mus.models.profiles import get_profile

    profile = settings.get("profile")
    encoder_path = settings.get("encoder_path")
    if profile is None and (settings.get("aligner") is not None or encoder_path is not None):
        try:
            mdir = ModelDir.chosen(settings.get("model_dir"))
            if settings.get("aligner") is not None:
                folder = mdir.resolve_aligner(settings["aligner"])
            else:  # the ONNX graph's aligner, if it carries one
                graph = mdir.graph_aligner(str(settings.get("encoder")), Path(encoder_path))
                folder = None if graph is None else graph[1]
            profile = None if folder is None else ImageAligner.read_config(folder).get("conditioning_profile")
        except (OSError, ValueError):
            profile = None
    return get_profile(profile).base_model


def encoder_load_dtype(profile: Any, dtype: Any) -> Any:
    """The dtype to load the image encoder in: float32 when conditioning ``profile`` (a name, ``None`` for the
    default) keeps the encoder there, else ``dtype``."""
    import torch

    from art2mus.models.profiles import get_profile

    return torch.float32 if get_profile(profile).encoder_float32 else dtype


def default_aligner(model_dir: Any, spec: Any) -> Path:
    """The installed aligner for encoder ``spec``: :meth:`~art2mus.models.model_dir.ModelDir.default_aligner`
    (``aligners/default`` if it fits, else the only match), worded for both ways of setting one.

    Raises:
        FileNotFoundError: no installed aligner was trained for ``spec``, or several were and none is
            named ``default`` (the message lists them and says how to choose one).
    """
    return model_dir.default_aligner(spec, "`aligner:` in an exhibit or --aligner on the command line")


class _DenoisingBar:
    """tqdm's bar over the denoising steps of every segment (``update_to``: steps done so far)."""

    def __init__(self, total: int):
        from tqdm import tqdm

        self._bar = tqdm(total=total, desc="art2mus: denoising", unit="step", file=sys.stderr, leave=False)

    def update_to(self, done: int) -> None:
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        self._bar.close()


def denoising_bar(total: int) -> _DenoisingBar | None:
    """A progress bar for a generation of ``total`` denoising steps on a terminal (``art2mus render`` with
    the model: minutes on a CPU, and it printed nothing), None elsewhere: the generator process's log is
    the journal, where a redrawn bar is noise; ``HF_HUB_DISABLE_PROGRESS_BARS`` turns it off too, as it
    does Hugging Face's (:mod:`art2mus.installation.logs` sets it when the log is not a terminal)."""
    off = os.environ.get("HF_HUB_DISABLE_PROGRESS_BARS", "").lower() in ("1", "true", "yes", "on")
    if off or not sys.stderr.isatty():
        return None
    return _DenoisingBar(total)
