"""Our own image and audio preprocessing for ImageBind and CLIP, replacing the upstream loaders.

Upstream ImageBind preprocesses with torchvision (images) and torchaudio + pytorchvideo (audio),
none of which can be installed beside our torch. This module reproduces their semantics:

* Images (ImageBind ``load_and_transform_vision_data`` and transformers' ``CLIPImageProcessor``):
  resize the shortest side to 224 with PIL bicubic, centre-crop 224x224, scale to [0, 1] and
  normalise with the OpenAI CLIP mean/std. The only difference between the two upstreams is how an
  odd crop margin is split: torchvision rounds the offset, transformers floors it
  (``crop_rounding``). Image preprocessing needs only NumPy and Pillow, so the ONNX encoder can use it.
* Audio (ImageBind ``load_and_transform_audio_data``): resample to 16 kHz, cut three 2 s clips spread
  evenly over the waveform (pytorchvideo's ``ConstantClipsPerVideoSampler``), a 128-bin Kaldi log-mel
  filterbank per clip (``torchaudio.compliance.kaldi.fbank`` with ImageBind's settings,
  reimplemented in :func:`kaldi_fbank`), padded/cut to 204 frames and normalised with ImageBind's
  mean -4.268 / std 9.138. Audio preprocessing uses torch (imported when called).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

# The OpenAI CLIP statistics; ImageBind's vision tower was trained with the same ones.
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

# ImageBind's audio normalisation (``load_and_transform_audio_data`` defaults).
IMAGEBIND_AUDIO_MEAN = -4.268
IMAGEBIND_AUDIO_STD = 9.138

# ``torch.finfo(torch.float32).eps``: Kaldi's floor before taking logs.
_KALDI_EPSILON = 1.1920928955078125e-07

_RESAMPLE_NAMES = {"bicubic": 3, "bilinear": 2}  # PIL's Image.Resampling codes


def check_rgb_images(images: Sequence[np.ndarray]) -> None:
    """Raise ``ValueError`` unless ``images`` is a non-empty sequence of ``(H, W, 3)`` uint8 arrays."""
    if isinstance(images, np.ndarray):
        raise ValueError(
            f"images: expected a list of (height, width, 3) uint8 arrays, got one array of shape {images.shape}; "
            "wrap a single image in a list"
        )
    if len(images) == 0:
        raise ValueError("images: expected at least one image, got an empty list")
    for index, image in enumerate(images):
        if not isinstance(image, np.ndarray):
            raise ValueError(f"images[{index}]: expected a NumPy uint8 array, got {type(image).__name__}")
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(
                f"images[{index}]: expected an RGB uint8 array of shape (height, width, 3), "
                f"got dtype {image.dtype} and shape {image.shape}"
            )
        if image.shape[0] < 1 or image.shape[1] < 1:
            raise ValueError(f"images[{index}]: image has no pixels (shape {image.shape})")


@dataclass(frozen=True)
class ImagePreprocessor:
    """RGB uint8 images -> normalised pixel values ``(batch, 3, crop_height, crop_width)`` float32.

    Attributes:
        shortest_edge: the shorter image side is resized to this many pixels (aspect ratio kept,
            the longer side truncated to an integer as torchvision and transformers do).
        crop_size: ``(height, width)`` of the centre crop, at most ``shortest_edge`` each.
        mean, std: per-channel normalisation applied after scaling to [0, 1].
        resample: PIL filter for the resize, ``"bicubic"`` or ``"bilinear"``.
        crop_rounding: how an odd crop margin is split: ``"round"`` (torchvision's ``CenterCrop``,
            used by upstream ImageBind) or ``"floor"`` (transformers' ``center_crop``).
    """

    shortest_edge: int = 224
    crop_size: tuple[int, int] = (224, 224)
    mean: tuple[float, float, float] = CLIP_MEAN
    std: tuple[float, float, float] = CLIP_STD
    resample: Literal["bicubic", "bilinear"] = "bicubic"
    crop_rounding: Literal["round", "floor"] = "round"

    def __post_init__(self) -> None:
        if self.shortest_edge < 1:
            raise ValueError(f"shortest_edge: expected a positive number of pixels, got {self.shortest_edge}")
        height, width = self.crop_size
        if not (1 <= height <= self.shortest_edge and 1 <= width <= self.shortest_edge):
            raise ValueError(
                f"crop_size: expected (height, width) between 1 and shortest_edge={self.shortest_edge}, "
                f"got {self.crop_size}"
            )
        if self.resample not in _RESAMPLE_NAMES:
            raise ValueError(f"resample: expected one of {sorted(_RESAMPLE_NAMES)}, got {self.resample!r}")
        if self.crop_rounding not in ("round", "floor"):
            raise ValueError(f"crop_rounding: expected 'round' or 'floor', got {self.crop_rounding!r}")
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ValueError(
                f"mean/std: expected three values each and std > 0, got mean={self.mean} std={self.std}"
            )

    def resized_size(self, height: int, width: int) -> tuple[int, int]:
        """The ``(height, width)`` after resizing the shortest side to :attr:`shortest_edge`."""
        short, long = (width, height) if width <= height else (height, width)
        new_short, new_long = self.shortest_edge, int(self.shortest_edge * long / short)
        return (new_long, new_short) if width <= height else (new_short, new_long)

    def crop_offsets(self, height: int, width: int) -> tuple[int, int]:
        """``(top, left)`` of the centre crop in an image of ``height`` x ``width`` pixels."""
        crop_height, crop_width = self.crop_size
        if self.crop_rounding == "round":
            # torchvision: int(round((h - ch) / 2.0)), Python's round-half-to-even included.
            return int(round((height - crop_height) / 2.0)), int(round((width - crop_width) / 2.0))
        return (height - crop_height) // 2, (width - crop_width) // 2

    def __call__(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Preprocess ``images`` (RGB uint8, ``(H, W, 3)`` each); returns ``(batch, 3, h, w)`` float32."""
        from PIL import Image

        check_rgb_images(images)
        crop_height, crop_width = self.crop_size
        mean = np.asarray(self.mean, dtype=np.float32).reshape(1, 1, 3)
        std = np.asarray(self.std, dtype=np.float32).reshape(1, 1, 3)
        out = np.empty((len(images), 3, crop_height, crop_width), dtype=np.float32)
        for index, image in enumerate(images):
            pil = Image.fromarray(np.ascontiguousarray(image))
            new_height, new_width = self.resized_size(*image.shape[:2])
            if (new_height, new_width) != image.shape[:2]:
                pil = pil.resize((new_width, new_height), resample=_RESAMPLE_NAMES[self.resample])
            top, left = self.crop_offsets(new_height, new_width)
            pixels = np.asarray(pil)[top : top + crop_height, left : left + crop_width]
            scaled = pixels.astype(np.float32) / np.float32(255.0)
            out[index] = ((scaled - mean) / std).transpose(2, 0, 1)
        return out

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (saved beside ONNX exports so they preprocess identically)."""
        data = asdict(self)
        data["crop_size"] = list(self.crop_size)
        data["mean"], data["std"] = list(self.mean), list(self.std)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImagePreprocessor:
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError``."""
        allowed = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise ValueError(
                f"image preprocessing: unknown keys {unknown}; expected some of {sorted(allowed)}"
            )
        values = dict(data)
        for key in ("crop_size", "mean", "std"):
            if key in values:
                values[key] = tuple(values[key])
        return cls(**values)

    @classmethod
    def from_clip_processor_config(
        cls, config: dict[str, Any], source: str = "preprocessor_config.json"
    ) -> ImagePreprocessor:
        """Read a transformers ``CLIPImageProcessor`` ``preprocessor_config.json`` (already parsed).

        Only the CLIP recipe is supported (shortest-edge resize, centre crop, rescale by 1/255,
        normalise); anything else raises ``ValueError`` naming ``source`` and the field.
        """
        for flag in ("do_resize", "do_center_crop", "do_rescale", "do_normalize"):
            if not config.get(flag, True):
                raise ValueError(
                    f"{source}: {flag}=false is not supported; expected the CLIP recipe with {flag}=true"
                )
        rescale = float(config.get("rescale_factor", 1 / 255))
        if not math.isclose(rescale, 1 / 255, rel_tol=1e-6):
            raise ValueError(f"{source}: rescale_factor={rescale} is not supported; expected 1/255")
        size = config.get("size", {"shortest_edge": 224})
        if isinstance(size, int):
            shortest = size
        elif isinstance(size, dict) and "shortest_edge" in size:
            shortest = int(size["shortest_edge"])
        else:
            raise ValueError(
                f"{source}: size={size!r} is not supported; expected {{'shortest_edge': N}} or an integer"
            )
        crop = config.get("crop_size", {"height": 224, "width": 224})
        if isinstance(crop, int):
            crop_size = (crop, crop)
        elif isinstance(crop, dict) and {"height", "width"} <= set(crop):
            crop_size = (int(crop["height"]), int(crop["width"]))
        else:
            raise ValueError(
                f"{source}: crop_size={crop!r} is not supported; expected {{'height': H, 'width': W}}"
            )
        resample_code = int(config.get("resample", 3))
        names = {code: name for name, code in _RESAMPLE_NAMES.items()}
        if resample_code not in names:
            raise ValueError(
                f"{source}: resample={resample_code} is not supported; expected 3 (bicubic) or 2 (bilinear)"
            )
        return cls(
            shortest_edge=shortest,
            crop_size=crop_size,
            mean=tuple(float(v) for v in config.get("image_mean", CLIP_MEAN)),
            std=tuple(float(v) for v in config.get("image_std", CLIP_STD)),
            resample=names[resample_code],
            crop_rounding="floor",
        )


def _mel_scale(freq: np.ndarray | float) -> np.ndarray:
    return 1127.0 * np.log(1.0 + np.asarray(freq, dtype=np.float64) / 700.0)


def kaldi_mel_banks(
    num_bins: int, padded_window_size: int, sample_rate: float, low_freq: float, high_freq: float
) -> np.ndarray:
    """Kaldi's triangular mel filters, ``(num_bins, padded_window_size // 2 + 1)`` float64.

    Same as ``torchaudio.compliance.kaldi.get_mel_banks`` without VTLN, with the zero column for the
    Nyquist bin appended as ``fbank`` does. ``high_freq <= 0`` is an offset from Nyquist.
    """
    if num_bins <= 3:
        raise ValueError(f"num_bins: Kaldi needs more than 3 mel bins, got {num_bins}")
    nyquist = 0.5 * sample_rate
    if high_freq <= 0.0:
        high_freq += nyquist
    if not (0.0 <= low_freq < nyquist and 0.0 < high_freq <= nyquist and low_freq < high_freq):
        raise ValueError(
            f"mel range: low_freq={low_freq} and high_freq={high_freq} must lie in [0, {nyquist}] Hz"
        )
    num_fft_bins = padded_window_size // 2
    fft_bin_width = sample_rate / padded_window_size
    mel_low, mel_high = float(_mel_scale(low_freq)), float(_mel_scale(high_freq))
    delta = (mel_high - mel_low) / (num_bins + 1)
    index = np.arange(num_bins, dtype=np.float64)[:, None]
    left, center, right = (
        mel_low + index * delta,
        mel_low + (index + 1.0) * delta,
        mel_low + (index + 2.0) * delta,
    )
    mel = _mel_scale(fft_bin_width * np.arange(num_fft_bins, dtype=np.float64))[None, :]
    up = (mel - left) / (center - left)
    down = (right - mel) / (right - center)
    banks = np.maximum(0.0, np.minimum(up, down))
    return np.pad(banks, ((0, 0), (0, 1)))


def kaldi_fbank(
    waveform: torch.Tensor,
    sample_rate: float,
    num_mel_bins: int = 128,
    frame_length_ms: float = 25.0,
    frame_shift_ms: float = 10.0,
    low_freq: float = 20.0,
    high_freq: float = 0.0,
    preemphasis: float = 0.97,
    window: Literal["hanning", "povey", "hamming"] = "hanning",
) -> torch.Tensor:
    """Kaldi log-mel filterbank of a mono ``waveform`` ``(samples,)``; returns ``(frames, num_mel_bins)``.

    Follows ``torchaudio.compliance.kaldi.fbank`` with ``dither=0``, ``snip_edges=True``,
    ``remove_dc_offset=True``, ``round_to_power_of_two=True``, ``use_power=True``,
    ``use_log_fbank=True``, ``use_energy=False``, no VTLN: frames of ``frame_length_ms`` every
    ``frame_shift_ms`` (``frames = 1 + (samples - window) // shift``), per-frame DC removal,
    pre-emphasis, window, zero-padding to a power of two, power spectrum, mel filters, log with a
    float32-epsilon floor. ``sample_rate`` in Hz; frequencies in Hz.
    """
    import torch

    if waveform.ndim != 1:
        raise ValueError(f"waveform: expected a mono (samples,) tensor, got shape {tuple(waveform.shape)}")
    window_shift = int(sample_rate * frame_shift_ms * 0.001)
    window_size = int(sample_rate * frame_length_ms * 0.001)
    if window_size < 2 or window_shift < 1:
        raise ValueError(
            f"frame length {frame_length_ms} ms / shift {frame_shift_ms} ms is too short at {sample_rate} Hz"
        )
    if waveform.numel() < window_size:
        raise ValueError(
            f"waveform: {waveform.numel()} samples is shorter than one {frame_length_ms} ms frame "
            f"({window_size} samples at {sample_rate} Hz)"
        )
    padded_size = 1 << (window_size - 1).bit_length()
    dtype = waveform.dtype if waveform.is_floating_point() else torch.float32
    frames = waveform.to(dtype).unfold(0, window_size, window_shift)  # (frames, window_size)
    frames = frames - frames.mean(dim=1, keepdim=True)
    if preemphasis != 0.0:
        # Kaldi: x[j] -= c * x[j - 1], and x[0] -= c * x[0].
        previous = torch.cat([frames[:, :1], frames[:, :-1]], dim=1)
        frames = frames - preemphasis * previous
    if window == "hanning":
        window_fn = torch.hann_window(window_size, periodic=False, dtype=dtype, device=frames.device)
    elif window == "povey":
        window_fn = torch.hann_window(window_size, periodic=False, dtype=dtype, device=frames.device).pow(
            0.85
        )
    elif window == "hamming":
        window_fn = torch.hamming_window(
            window_size, periodic=False, alpha=0.54, beta=0.46, dtype=dtype, device=frames.device
        )
    else:
        raise ValueError(f"window: expected 'hanning', 'povey' or 'hamming', got {window!r}")
    frames = torch.nn.functional.pad(frames * window_fn, (0, padded_size - window_size))
    power = torch.fft.rfft(frames).abs().pow(2.0)  # (frames, padded_size // 2 + 1)
    banks = torch.from_numpy(kaldi_mel_banks(num_mel_bins, padded_size, sample_rate, low_freq, high_freq))
    mel_energies = power @ banks.to(dtype=dtype, device=frames.device).T
    return mel_energies.clamp_min(_KALDI_EPSILON).log()


def evenly_spaced_clips(
    duration_s: float, clip_duration_s: float, clips: int
) -> list[tuple[Fraction, Fraction]]:
    """``(start, end)`` seconds of ``clips`` clips spread evenly over ``duration_s`` seconds.

    pytorchvideo's ``ConstantClipsPerVideoSampler``: clip ``i`` starts at
    ``i * max(duration - clip_duration, 0) / max(clips - 1, 1)``; a waveform shorter than one clip
    gives ``clips`` copies of the clip at 0 (shorter than ``clip_duration_s``; padded later).
    """
    max_start = Fraction(max(duration_s - clip_duration_s, 0))
    step = Fraction(max_start, max(clips - 1, 1))
    return [(step * i, step * i + Fraction(clip_duration_s)) for i in range(clips)]


@dataclass(frozen=True)
class ImageBindAudioPreprocessor:
    """A waveform at any sample rate -> ImageBind audio input ``(clips, 1, num_mel_bins, target_length)``.

    Attributes:
        sample_rate: the rate ImageBind expects (Hz); inputs at other rates are resampled with soxr.
        num_mel_bins: mel filters per frame.
        target_length: frames per clip (10 ms each); shorter clips are zero-padded, longer cut.
        clip_duration_s: seconds per clip.
        clips_per_waveform: clips spread evenly over the waveform (their embeddings are averaged).
        mean, std: normalisation of the log-mel values.
    """

    sample_rate: int = 16000
    num_mel_bins: int = 128
    target_length: int = 204
    clip_duration_s: float = 2.0
    clips_per_waveform: int = 3
    mean: float = IMAGEBIND_AUDIO_MEAN
    std: float = IMAGEBIND_AUDIO_STD

    def resample(self, waveform: np.ndarray, sample_rate: int) -> np.ndarray:
        """Mono float waveform ``(samples,)`` at ``sample_rate`` Hz -> float32 at :attr:`sample_rate` Hz."""
        if sample_rate == self.sample_rate:
            return np.asarray(waveform, dtype=np.float32)
        import soxr

        return soxr.resample(
            np.asarray(waveform, dtype=np.float32), sample_rate, self.sample_rate, quality="HQ"
        )

    def to_mono(self, waveform: np.ndarray, name: str = "waveform") -> np.ndarray:
        """``(samples,)`` or ``(channels, samples)`` float -> ``(samples,)``.

        Multichannel audio keeps the first channel, as upstream does (torchaudio's Kaldi fbank with
        ``channel=-1`` reads channel 0).
        """
        array = np.asarray(waveform)
        if not np.issubdtype(array.dtype, np.floating):
            raise ValueError(f"{name}: expected a float waveform in [-1, 1], got dtype {array.dtype}")
        if array.ndim == 2:
            array = array[0]
        if array.ndim != 1:
            raise ValueError(f"{name}: expected shape (samples,) or (channels, samples), got {array.shape}")
        if not np.all(np.isfinite(array)):
            raise ValueError(f"{name}: contains NaN or infinite samples")
        return array

    def __call__(self, waveform: np.ndarray, sample_rate: int, name: str = "waveform") -> torch.Tensor:
        """Preprocess one waveform (float, ``(samples,)`` or ``(channels, samples)``, ``sample_rate`` Hz).

        Returns a float32 tensor ``(clips_per_waveform, 1, num_mel_bins, target_length)``.
        """
        import torch

        if sample_rate <= 0:
            raise ValueError(f"sample_rate: expected a positive rate in Hz, got {sample_rate}")
        mono = self.resample(self.to_mono(waveform, name), int(sample_rate))
        min_samples = int(self.sample_rate * 0.025)
        if mono.shape[0] < min_samples:
            raise ValueError(
                f"{name}: {mono.shape[0] / self.sample_rate * 1000:.1f} ms of audio is shorter than one 25 ms frame"
            )
        signal = torch.from_numpy(np.ascontiguousarray(mono, dtype=np.float32))
        duration_s = signal.numel() / self.sample_rate
        clips = []
        for start, end in evenly_spaced_clips(duration_s, self.clip_duration_s, self.clips_per_waveform):
            clip = signal[int(start * self.sample_rate) : int(end * self.sample_rate)]
            clip = clip - clip.mean()
            fbank = kaldi_fbank(clip, self.sample_rate, num_mel_bins=self.num_mel_bins).T  # (mel, frames)
            missing = self.target_length - fbank.shape[1]
            if missing > 0:
                fbank = torch.nn.functional.pad(fbank, (0, missing))
            else:
                fbank = fbank[:, : self.target_length]
            clips.append(((fbank - self.mean) / self.std).unsqueeze(0))
        return torch.stack(clips, dim=0)
