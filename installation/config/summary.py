"""Short human descriptions of an exhibit, for ``art2mus validate`` and ``art2mus demo``."""

from __future__ import annotations

import datetime as dt
import json
import os
from typing import Any

from pydantic.json_schema import GenerateJsonSchema

from art2mus.installation.config.exhibit import WEEKDAYS, ExhibitConfig, written_time


def _shown(path: os.PathLike[str] | str) -> str:
    relative = os.path.relpath(path)
    return str(path) if relative.startswith("..") else relative


def _days(days: list[str]) -> str:
    """``[mon, tue, wed]`` -> ``mon-wed``; runs of 3+ consecutive days are folded."""
    index = sorted(WEEKDAYS.index(d) for d in days)
    runs: list[list[int]] = []
    for i in index:
        if runs and i == runs[-1][-1] + 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    parts = [
        f"{WEEKDAYS[r[0]]}-{WEEKDAYS[r[-1]]}" if len(r) > 2 else ",".join(WEEKDAYS[i] for i in r) for r in runs
    ]
    return ",".join(parts)


def describe_camera(config: ExhibitConfig) -> str:
    cam = config.camera
    size = f"{cam.width}x{cam.height}" if cam.width and cam.height else "native size"
    if cam.type == "video":  # a file plays at its own size and rate: width, height and fps ask a camera
        flags = ", ".join(f for f, on in (("loop", cam.loop), ("real time", cam.realtime)) if on)
        return f"video {_shown(cam.path)}" + (f" ({flags})" if flags else "") + ", its own size and rate"
    if cam.type == "device":
        where = f"device #{cam.index}"
    elif cam.type == "path":
        where = f"device {cam.path}"
    else:
        where = f"stream {cam.url}"
    return f"{where}, {size} @ {cam.fps:g} fps"


def describe_audio(config: ExhibitConfig) -> str:
    audio = config.audio
    out = audio.output
    where = {
        "pyaudio": lambda: f"sound card {out.device!r}",
        "wav": lambda: f"WAV file {_shown(out.path)}",
        "null": lambda: "discarded (null output)",
    }[out.type]()
    channels = "stereo" if audio.channels == 2 else "mono"
    return (
        f"{where}, {audio.sample_rate} Hz {channels}, {audio.loudness_lufs:g} LUFS, "
        f"crossfade {audio.crossfade_seconds:g} s, volume {audio.master_volume:g}"
    )


def describe_schedule(config: ExhibitConfig) -> str:
    schedule = config.schedule
    if not schedule.periods:
        text = "always open"
    else:
        text = "; ".join(
            f"{_days(p.days)} {p.open:%H:%M}-{p.close:%H:%M} volume {p.volume:g}" for p in schedule.periods
        )
    if schedule.closed_dates:
        text += f"; closed on {len(schedule.closed_dates)} date(s)"
    text += f"; pre-render at {written_time(schedule.prerender_at)}" if schedule.prerender_at else "; no nightly pre-render"
    return f"{text} ({config.collection.timezone})"


def summary_rows(config: ExhibitConfig) -> list[tuple[str, str]]:
    """``(label, text)`` rows describing the exhibit in a few lines."""
    collection = config.collection
    who = f" ({collection.institution})" if collection.institution else ""
    artworks = ", ".join(a.id for a in config.artworks[:12])
    if len(config.artworks) > 12:
        artworks += f", ... ({len(config.artworks) - 12} more)"
    used = sorted({a.soundscape.generator for a in config.artworks if a.audio is None})
    generators = ", ".join(
        f"{name} ({gen.type}{', used' if name in used else ''})" for name, gen in config.generators.items()
    )
    panel = config.control_panel
    return [
        ("collection", f"{collection.name}{who}"),
        ("artworks", f"{len(config.artworks)}: {artworks}" if config.artworks else "none"),
        ("camera", describe_camera(config)),
        ("audio", describe_audio(config)),
        ("idle", f"{config.idle.source} ambience at {config.idle.gain_db:g} dB after {config.idle.after_seconds:g} s"),
        ("schedule", describe_schedule(config)),
        ("generators", generators),
        ("cache", _shown(config.cache.dir)),
        ("control panel", f"http://{panel.host}:{panel.port}" if panel.enabled else "off"),
    ]


class _CuratorJsonSchema(GenerateJsonSchema):
    """Defaults written as the docs write them: a time is ``3:00``, not pydantic's ``03:00:00`` (a field's own
    serializer is applied to its default only in a serialization schema)."""

    def encode_default(self, dft: Any) -> Any:
        return written_time(dft) if isinstance(dft, dt.time) else super().encode_default(dft)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the exhibit file, for editor completion (yaml-language-server and others)."""
    schema = ExhibitConfig.model_json_schema(mode="validation", schema_generator=_CuratorJsonSchema)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "art2mus exhibit"
    # x-... keys hold anchors (installation.config.source.EXTENSION_PREFIX), whatever their content
    schema["patternProperties"] = {"^x-": {}}
    return schema


def json_schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=False) + "\n"
