"""The soundscape cache: rendered soundscapes on disk, so a restart (or a power cut) costs no rendering.

An entry is two files in the cache folder, named by the entry's key:

* ``<key>.flac`` (or ``.wav``): the audio, 24-bit FLAC or 32-bit float WAV;
* ``<key>.json``: what made it (generator, settings, request, image hash), its shape and the SHA-256 of
  the audio file; and, once a gallery has played it, its integrated loudness as played
  (``played_loudness``: per mix format, see :func:`~art2mus.installation.audio.clip.played_as`), so a
  start reads the loudness instead of measuring every soundscape again.

The key is the SHA-256 of everything that decides the music: the generator's ``type``, the settings
that decide its audio (the weights' hash, not the folder they are in) and its render version
(:attr:`~art2mus.models.generator.Generator.render_version`: a new Art2Mus model makes its soundscapes
again and leaves the procedural ones found), the request (duration, seed, loop, options) and the
image's bytes. So a curator who changes a seed, a duration or a reference photo gets a new rendering;
nothing else does. The request's loudness target is not in the key: it decides only the level (a
generator renders at the target, then the room plays every clip levelled from its measured ``played_loudness`` to the exhibit's target), so a
curator who moves ``audio.loudness_lufs`` re-levels what is cached instead of rendering it all again
(minutes per artwork with a model). An entry keeps the level it was rendered at. An entry stored under
the keys of before (:func:`legacy_cache_key`, the target in the key; or the model folder's path in it,
see :meth:`~art2mus.installation.soundscapes.SoundscapeSource.key_candidates`) is renamed to its key
when first looked up (:meth:`SoundscapeCache.resolve`), so an upgrade renders nothing again.

Both files are written to a temporary name and renamed into place (the sidecar last), so a crash leaves
either a whole entry or none. A read checks the audio file's hash and shape against the sidecar: a
truncated, corrupt or mismatched entry is logged, removed and reported as a miss, and the caller renders
it again. Disk problems (a read-only or full disk) are logged and never stop the gallery: the cache is
an optimisation. Above ``max_size_gb`` the least recently used entries are removed.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from art2mus.common.digests import file_sha256
from art2mus.common.whole_files import write_whole
from art2mus.models.generator import GenerationRequest, Soundscape

logger = logging.getLogger(__name__)

#: the version in the key of a generator that declares no ``render_version``, and the one number every
#: generator's entries were keyed with before each declared its own (bumping it for the Art2Mus model,
#: e45650f, made every procedural soundscape again, byte-identical): do not bump it, bump the generator's
CACHE_VERSION = 2
_SUBTYPES = {"flac": "PCM_24", "wav": "FLOAT"}
#: a temporary file of an unfinished write is removed once it is this old (seconds): a write takes moments
STALE_TEMPORARY_S = 3600.0
#: a stored loudness outside this range (LUFS) is not believed: digital silence is reported as -120
#: LUFS, and audio files are refused beyond +24 dBFS (``clip.MAX_SAMPLE_MAGNITUDE``)
_PLAUSIBLE_LUFS = (-120.0, 30.0)


def image_digest(path: Path) -> str:
    """SHA-256 of an image file's bytes (hex), read once per process while the file is unchanged."""
    return file_sha256(path)


def pixels_digest(image: np.ndarray) -> str:
    """SHA-256 of an image's shape and pixels (hex): how a rendering made from pixels, not a file, is keyed."""
    digest = hashlib.sha256(str(image.shape).encode())
    digest.update(np.ascontiguousarray(image).tobytes())
    return digest.hexdigest()


def _key_of(
    backend: str,
    settings: dict[str, Any],
    request: GenerationRequest,
    image: str | np.ndarray,
    *,
    version: int,
    with_loudness: bool,
) -> str:
    request_fields: dict[str, Any] = {
        "duration_s": request.duration_s,
        "seed": request.seed,
        "loop": request.loop,
        "options": request.options,
    }
    if with_loudness:
        request_fields["loudness_lufs"] = request.loudness_lufs
    recipe = {
        "version": version,
        "backend": backend,
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in sorted(settings.items())},
        "request": request_fields,
        "image": image if isinstance(image, str) else pixels_digest(image),
    }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True, default=str).encode()).hexdigest()[:32]


def cache_key(
    backend: str,
    settings: dict[str, Any],
    request: GenerationRequest,
    image: str | np.ndarray,
    version: int = CACHE_VERSION,
) -> str:
    """The entry key for rendering ``image`` (a digest from :func:`image_digest` or :func:`pixels_digest`,
    or the pixels) with backend ``backend`` at render ``version`` and ``settings`` for ``request``,
    whatever its ``loudness_lufs`` (see the module docstring)."""
    return _key_of(backend, settings, request, image, version=version, with_loudness=False)


def legacy_cache_key(
    backend: str,
    settings: dict[str, Any],
    request: GenerationRequest,
    image: str | np.ndarray,
    version: int = CACHE_VERSION,
) -> str:
    """The key :func:`cache_key` gave the same rendering while the loudness target was part of it
    (``request.loudness_lufs`` in the recipe): entries stored then are found under it."""
    return _key_of(backend, settings, request, image, version=version, with_loudness=True)


class SidecarError(ValueError):
    """An entry's sidecar cannot be used; the message names the file and says why."""


def _read_sidecar(meta_path: Path) -> dict[str, Any]:
    """The sidecar at ``meta_path`` as a dict; SidecarError when it is not JSON or not of the expected
    shape (the audio beside it may be fine: the log says which file is at fault), OSError when unreadable."""
    try:
        meta = json.loads(meta_path.read_text())
    except ValueError as exc:  # JSONDecodeError, or UnicodeDecodeError for bytes that are not text
        raise SidecarError(f"its sidecar {meta_path.name} is not valid JSON ({exc})") from exc
    if not isinstance(meta, dict) or not isinstance(meta.get("metadata", {}), dict):
        raise SidecarError(f"its sidecar {meta_path.name} is not a JSON object of the expected shape")
    return meta


def _write_sidecar(meta_path: Path, meta: dict[str, Any]) -> None:
    """Write a sidecar whole or not at all (see :func:`~art2mus.common.whole_files.write_whole`: a cache
    that ``art2mus prerender`` filled as root stays readable to the daemon's user); raises OSError."""
    write_whole(meta_path, json.dumps(meta, indent=1, default=str).encode())


class SoundscapeCache:
    """Rendered soundscapes in a folder (see the module docstring).

    Args:
        directory: the cache folder (created when first written).
        audio_format: ``flac`` (24-bit, about half the size) or ``wav`` (32-bit float, exact).
        max_size_bytes: above this total the least recently used entries are removed.
    """

    def __init__(
        self, directory: Path | str, *, audio_format: str = "flac", max_size_bytes: int = 20 * 10**9
    ):
        if audio_format not in _SUBTYPES:
            raise ValueError(f"cache format must be one of {sorted(_SUBTYPES)}, got {audio_format!r}")
        self.directory = Path(directory)
        self.audio_format = audio_format
        self.max_size_bytes = int(max_size_bytes)
        self.hits = 0
        self.misses = 0
        self.corrupt = 0
        #: renderings the disk refused to store (each is rendered again at the next start)
        self.write_failures = 0
        #: why the last one was refused; None once a rendering is stored again
        self.write_error: str | None = None

    @classmethod
    def from_config(cls, config: Any) -> SoundscapeCache:
        """From the exhibit's ``cache`` section (``CacheConfig``)."""
        return cls(config.dir, audio_format=config.format, max_size_bytes=int(config.max_size_gb * 10**9))

    def _paths(self, key: str) -> tuple[Path, Path]:
        return self.directory / f"{key}.{self.audio_format}", self.directory / f"{key}.json"

    # ------------------------------------------------------------------ reading
    def get(self, key: str) -> Soundscape | None:
        """The cached soundscape for ``key``, or None (missing, or corrupt and now removed)."""
        found = self._read(key, decode=True)
        if found is None:
            return None
        waveform, rate, meta = found
        if waveform.shape[1] == 1:
            waveform = waveform[:, 0]
        return Soundscape(np.ascontiguousarray(waveform), int(rate), dict(meta.get("metadata", {})))

    def open_entry(self, key: str) -> tuple[Any, dict[str, Any]] | None:
        """Entry ``key``'s audio as an open ``soundfile.SoundFile`` over its checked bytes, not decoded
        yet, and its sidecar's ``metadata``; None as for :meth:`get`. For a reader that decodes only what
        it plays (:class:`~art2mus.installation.audio.clip.StreamedClip`)."""
        found = self._read(key, decode=False)
        return None if found is None else (found[0], dict(found[2].get("metadata", {})))

    def _read(self, key: str, *, decode: bool) -> tuple[Any, int, dict[str, Any]] | None:
        """``(samples (frames, channels) float32, or the open file without ``decode``, rate, sidecar)``
        of entry ``key`` whose bytes match their checksum and whose shape its sidecar's, or None."""
        import soundfile

        audio_path, meta_path = self._paths(key)
        if not meta_path.is_file():
            self.misses += 1
            return None
        try:
            meta = _read_sidecar(meta_path)
            data = audio_path.read_bytes()
            problem = None
            if hashlib.sha256(data).hexdigest() != meta["sha256"]:
                problem = "its audio does not match the checksum in its sidecar"
            else:
                # decode the bytes already read (and checked), not the file a second time
                if decode:
                    waveform, rate = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
                    shape = waveform.shape
                else:
                    waveform = soundfile.SoundFile(io.BytesIO(data))
                    rate, shape = waveform.samplerate, (waveform.frames, waveform.channels)
                if rate != meta["sample_rate"] or shape != (meta["frames"], meta["channels"]):
                    problem = f"it holds {shape} at {rate} Hz, its sidecar says otherwise"
        # RuntimeError: libsndfile; TypeError: a sidecar field of the wrong type (``"frames": "x"``)
        except PermissionError as exc:
            problem = (
                f"this user may not read it ({exc}): written by another user with a umask that shuts others "
                "out? (`art2mus prerender` for the daemon is best run as the daemon's user)"
            )
        except FileNotFoundError:  # deleted by hand: nothing wrong with what is there, so not "corrupt"
            logger.warning(
                "cache entry %s is missing (its sidecar %s is there); the soundscape is rendered again",
                audio_path,
                meta_path.name,
            )
            self.misses += 1
            self._remove(key)
            return None
        except SidecarError as exc:
            problem = str(exc)
        except KeyError as exc:  # every key read is the sidecar's
            problem = f"its sidecar {meta_path.name} lacks the field {exc}"
        except (OSError, ValueError, TypeError, RuntimeError) as exc:
            problem = f"it cannot be read ({exc})"
        if problem is not None:
            logger.warning(
                "cache entry %s is corrupt: %s; removing it, the soundscape is rendered again",
                audio_path,
                problem,
            )
            self.corrupt += 1
            self.misses += 1
            self._remove(key)
            return None
        try:
            os.utime(audio_path)  # least-recently-used order for eviction
        except OSError:
            pass
        self.hits += 1
        return waveform, int(rate), meta

    def peek(self, key: str, played_as: str) -> tuple[int, int, float] | None:
        """``(frames, sample_rate, loudness as played)`` of entry ``key`` from its sidecar alone, without
        reading the audio: for a library that reads the entry when it is first chosen (:meth:`get` then
        checks it, and a corrupt one is rendered again). None when the sidecar is missing or incomplete,
        the audio file is missing or empty, or no usable loudness for ``played_as`` is stored. Counts as
        a use for the least-recently-used order."""
        audio_path, meta_path = self._paths(key)
        try:
            meta = json.loads(meta_path.read_text())
            frames, rate = int(meta["frames"]), int(meta["sample_rate"])
            if audio_path.stat().st_size == 0 or frames <= 0 or rate <= 0:
                return None
        except (OSError, ValueError, KeyError, TypeError):
            return None
        lufs = self.played_loudness(key, played_as)
        if lufs is None:
            return None
        try:
            os.utime(audio_path)
        except OSError:
            pass
        return frames, rate, lufs

    def resolve(self, key: str, legacy_keys: str | Iterable[str]) -> str:
        """The key to look the rendering up under: ``key``, once an entry stored under the first of
        ``legacy_keys`` (the keys earlier versions gave the same rendering, such as its
        :func:`legacy_cache_key`) the cache holds is renamed to it, audio first, then the sidecar (which
        names that key as ``adopted_from``). Costs one ``stat`` when ``key``'s entry is there, one per key
        when none is. The earlier key itself when the rename is refused (a read-only cache): the entry is
        used where it is rather than rendered again. A rename cut short (a power cut) is finished at the
        next call."""
        if self._paths(key)[1].is_file():
            return key
        for legacy_key in [legacy_keys] if isinstance(legacy_keys, str) else legacy_keys:
            if legacy_key != key and self._paths(legacy_key)[1].is_file():
                return self._adopt(key, legacy_key)
        return key

    def _adopt(self, key: str, legacy_key: str) -> str:
        """:meth:`resolve` for the entry stored under ``legacy_key``."""
        audio_path, meta_path = self._paths(key)
        old_audio, old_meta = self._paths(legacy_key)
        try:
            meta = _read_sidecar(old_meta)
            meta["key"], meta["adopted_from"] = key, legacy_key
            if old_audio.exists():
                os.replace(old_audio, audio_path)
            elif not audio_path.is_file():
                return key  # its audio is gone: nothing to adopt, the rendering is made again
            _write_sidecar(meta_path, meta)
            old_meta.unlink(missing_ok=True)
        except SidecarError as exc:
            logger.warning(
                "cache entry %s cannot be kept: %s; the soundscape is rendered again", old_meta, exc
            )
            return key
        except OSError as exc:
            if meta_path.is_file():  # another process (prerender beside the daemon) renamed it meanwhile
                return key
            logger.info(
                "cache %s: entry %s stays under its earlier key (%s); it is used from there",
                self.directory,
                legacy_key,
                exc,
            )
            return legacy_key if old_meta.is_file() and old_audio.is_file() else key
        logger.debug(
            "cache %s: entry %s now under %s (stored under the key of an earlier version)",
            self.directory,
            legacy_key,
            key,
        )
        return key

    def adopted_from(self, key: str) -> str | None:
        """The earlier key entry ``key`` was stored under (renamed by :meth:`resolve`), or None."""
        try:
            meta = json.loads(self._paths(key)[1].read_text())
        except (OSError, ValueError):
            return None
        earlier = meta.get("adopted_from") if isinstance(meta, dict) else None
        return earlier if isinstance(earlier, str) else None

    def played_loudness(self, key: str, played_as: str) -> float | None:
        """The integrated loudness (LUFS) stored for entry ``key`` played as ``played_as``, or None: not
        stored yet, or a record that cannot be trusted (not a finite number in a plausible range, or
        measured on other audio than the entry holds now); the caller then measures it and calls
        :meth:`store_played_loudness`."""
        _, meta_path = self._paths(key)
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            return None
        records = meta.get("played_loudness") if isinstance(meta, dict) else None
        if not isinstance(records, dict) or played_as not in records:
            return None
        record = records[played_as]
        lufs = record.get("lufs") if isinstance(record, dict) else None
        low, high = _PLAUSIBLE_LUFS
        if (
            isinstance(lufs, (int, float))
            and not isinstance(lufs, bool)
            and low <= lufs <= high  # also False for NaN
            and record.get("sha256") == meta.get("sha256")
        ):
            return float(lufs)
        logger.warning(
            "cache entry %s: its stored loudness for %s (%r) is not usable; measuring it again",
            meta_path,
            played_as,
            record,
        )
        return None

    def store_played_loudness(self, key: str, played_as: str, lufs: float) -> bool:
        """Keep ``lufs``, the loudness of entry ``key``'s audio played as ``played_as``, in its sidecar
        (beside those of other mix formats); False (logged) when the entry is gone or the disk refuses."""
        _, meta_path = self._paths(key)
        try:
            meta = json.loads(meta_path.read_text())
            if not isinstance(meta, dict) or not isinstance(meta.get("sha256"), str):
                return False
            records = meta.get("played_loudness")
            records = dict(records) if isinstance(records, dict) else {}
            # tied to the audio it was measured on: a replaced rendering is measured again
            records[played_as] = {"lufs": float(lufs), "sha256": meta["sha256"]}
            meta["played_loudness"] = records
            _write_sidecar(meta_path, meta)
        except (OSError, ValueError) as exc:
            logger.warning(
                "cannot store the loudness of %s in its sidecar %s: %s (it is measured again next start)",
                key,
                meta_path,
                exc,
            )
            return False
        return True

    # ------------------------------------------------------------------ writing
    def put(self, key: str, soundscape: Soundscape, recipe: dict[str, Any] | None = None) -> bool:
        """Store ``soundscape`` under ``key``; False (logged) when the disk refuses."""
        import soundfile

        audio_path, meta_path = self._paths(key)
        waveform = np.asarray(soundscape.waveform, dtype=np.float32)
        frames, channels = waveform.shape[0], 1 if waveform.ndim == 1 else waveform.shape[1]
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            # encode in memory: hash and write the same bytes, no read-back
            encoded = io.BytesIO()
            soundfile.write(
                encoded,
                waveform,
                soundscape.sample_rate,
                subtype=_SUBTYPES[self.audio_format],
                format=self.audio_format.upper(),
            )
            data = encoded.getvalue()
            digest = hashlib.sha256(data).hexdigest()
            write_whole(audio_path, data)
            meta = {
                "key": key,
                "sha256": digest,
                "sample_rate": int(soundscape.sample_rate),
                "frames": int(frames),
                "channels": int(channels),
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "recipe": recipe or {},
                "metadata": soundscape.metadata,
            }
            _write_sidecar(meta_path, meta)
        except (OSError, RuntimeError) as exc:
            logger.warning(
                "cannot store soundscape %s in the cache %s: %s (it will be rendered again next time)",
                key,
                self.directory,
                exc,
            )
            self.write_failures += 1
            self.write_error = str(exc) or type(exc).__name__
            return False
        self.write_error = None
        self.evict()
        return True

    def status(self) -> dict[str, Any]:
        """What the control panel shows of the cache (JSON-friendly): its folder, the entries found,
        missing and found corrupt since start, and the renderings it could not store (``write_failures``;
        ``write_error`` says why the last one failed, None once a rendering is stored again)."""
        return {
            "dir": str(self.directory),
            "hits": self.hits,
            "misses": self.misses,
            "corrupt": self.corrupt,
            "write_failures": self.write_failures,
            "write_error": self.write_error,
        }

    def remove(self, key: str) -> None:
        """Remove the entry ``key`` (audio and sidecar) if it is there: a soundscape no longer played (an
        unseen artwork forgotten). A file that cannot be removed is logged."""
        self._remove(key)

    def _remove(self, key: str) -> None:
        for path in self._paths(key):
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:
                logger.warning("cannot remove %s: %s", path, exc)

    def _sweep_temporaries(self) -> None:
        try:
            leftovers = list(self.directory.glob(".*.tmp"))
        except OSError:
            return
        now = time.time()
        for path in leftovers:
            try:
                if now - path.stat().st_mtime > STALE_TEMPORARY_S:
                    path.unlink()
                    logger.info(
                        "cache %s: removed %s, left by a write that never finished", self.directory, path.name
                    )
            except OSError:
                continue

    def entries(self) -> list[tuple[str, int, float]]:
        """``(key, bytes, last used)`` of every whole entry."""
        out = []
        if not self.directory.is_dir():
            return out
        for meta_path in self.directory.glob("*.json"):
            audio_path = meta_path.with_suffix(f".{self.audio_format}")
            try:
                stat = audio_path.stat()
                out.append((meta_path.stem, stat.st_size + meta_path.stat().st_size, stat.st_mtime))
            except OSError:
                continue
        return out

    def size_bytes(self) -> int:
        return sum(size for _, size, _ in self.entries())

    def evict(self) -> int:
        """Remove least recently used entries until the cache fits ``max_size_bytes``; returns how many.
        Temporary files a writer left behind (a crash or a power cut during a write) go too, once they
        are :data:`STALE_TEMPORARY_S` old."""
        self._sweep_temporaries()
        entries = sorted(self.entries(), key=lambda e: e[2])
        total = sum(size for _, size, _ in entries)
        removed = 0
        while entries and total > self.max_size_bytes:
            key, size, _ = entries.pop(0)
            self._remove(key)
            total -= size
            removed += 1
        if removed:
            logger.info(
                "cache %s: removed %d least recently used entries (now %.1f MB)",
                self.directory,
                removed,
                total / 1e6,
            )
        return removed


@dataclass(frozen=True)
class EntryUse:
    """One cache entry as ``art2mus cache list`` shows it: ``key``; ``size_bytes`` (audio and sidecar);
    ``last_used`` (seconds since the epoch: the audio file's time, set at each read); ``made_for`` what
    its sidecar says it was rendered for (``amber-fields with procedural``; None when it does not say);
    ``used_by`` what of the exhibits plays it (empty: no soundscape of theirs uses it)."""

    key: str
    size_bytes: int
    last_used: float
    made_for: str | None
    used_by: tuple[str, ...]


def entry_uses(cache: SoundscapeCache, uses: Mapping[str, Iterable[str]]) -> list[EntryUse]:
    """Every whole entry of ``cache``, least recently used first, with what uses it: ``uses`` maps a key
    to what plays it (:meth:`~art2mus.installation.soundscapes.SoundscapeSource.keys_in_use`); an entry
    renamed from a key in ``uses`` (``adopted_from``) is used by that too."""
    found = []
    for key, size, last_used in sorted(cache.entries(), key=lambda e: e[2]):
        try:
            meta = _read_sidecar(cache._paths(key)[1])
        except (OSError, SidecarError):
            meta = {}
        recipe = meta.get("recipe") if isinstance(meta.get("recipe"), dict) else {}
        what, generator = recipe.get("what"), recipe.get("generator")
        made_for = None if what is None else f"{what} with {generator}" if generator else str(what)
        earlier = meta.get("adopted_from")
        used_by = [*uses.get(key, ()), *(uses.get(earlier, ()) if isinstance(earlier, str) else ())]
        found.append(EntryUse(key, size, last_used, made_for, tuple(dict.fromkeys(used_by))))
    return found


@dataclass(frozen=True)
class Pruned:
    """What :func:`prune_unused` did: ``removed`` the entries no exhibit uses that were removed (or would
    be, for a dry run); ``recent`` those no exhibit named uses but read or written within the last
    ``unused_days``, kept (another exhibit sharing the folder may play them)."""

    removed: list[EntryUse]
    recent: list[EntryUse]

    @property
    def removed_bytes(self) -> int:
        return sum(entry.size_bytes for entry in self.removed)

    @property
    def recent_bytes(self) -> int:
        return sum(entry.size_bytes for entry in self.recent)


def prune_unused(
    cache: SoundscapeCache,
    uses: Mapping[str, Iterable[str]],
    *,
    unused_days: float,
    dry_run: bool = False,
    now: float | None = None,
) -> Pruned:
    """Remove the entries of ``cache`` that nothing in ``uses`` plays and that were not read or written
    for ``unused_days`` days (an entry in use is never removed: a daemon reads it again when it let it
    go from memory). With ``dry_run`` nothing is removed."""
    now = time.time() if now is None else now
    removed, recent = [], []
    for entry in entry_uses(cache, uses):
        if entry.used_by:
            continue
        if now - entry.last_used < unused_days * 86400:
            recent.append(entry)
            continue
        if not dry_run:
            cache.remove(entry.key)
        removed.append(entry)
    if removed and not dry_run:
        logger.info(
            "cache %s: removed %d entries no exhibit uses (%.1f MB)",
            cache.directory,
            len(removed),
            sum(e.size_bytes for e in removed) / 1e6,
        )
    return Pruned(removed, recent)
