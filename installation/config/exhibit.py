"""The curator's exhibit file: one pydantic model per YAML section, composed in :class:`ExhibitConfig`."""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
import re
import zoneinfo
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Field,
    PlainSerializer,
    PrivateAttr,
    SecretStr,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from art2mus.installation.config.audio import AudioConfig
from art2mus.installation.config.base import (
    AudioPath,
    ImagePath,
    OutputPath,
    SecretFilePath,
    StrictModel,
    UsablePath,
    did_you_mean,
    seconds,
    unit,
)
from art2mus.installation.config.unseen import UnseenConfig
from art2mus.installation.config.vision import (
    CameraConfig,
    DeviceCameraConfig,
    PresenceConfig,
    RecognitionConfig,
)
from art2mus.models.procedural.generator import ProceduralGeneratorConfig
from art2mus.models.registry import GeneratorConfig

ARTWORK_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class CollectionConfig(StrictModel):
    """Who shows what, and where (the timezone drives opening hours)."""

    name: str = Field("Untitled collection", min_length=1, max_length=200, description="Name shown on the control panel.")
    institution: str = Field("", max_length=200, description="Museum or gallery.")
    timezone: str = Field("UTC", description="IANA timezone of the gallery, e.g. Europe/Rome.")
    description: str = Field("", max_length=5000, description="Free text for the control panel.")

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        # Membership, not ZoneInfo(value): "Europe" is a folder of the database, "../x" a path.
        if value not in _timezones():
            raise ValueError(f"unknown timezone {value!r}; expected an IANA name such as Europe/Rome or UTC")
        return value


@functools.cache
def _timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _one_or_more(value: object) -> object:
    """A single path written where a list of paths goes (``images: photos/a.png``) is a list of one."""
    return [value] if isinstance(value, str) else value


class SoundscapeConfig(StrictModel):
    """How an artwork's soundscape is made."""

    generator: str = Field("procedural", min_length=1, description="Which generator makes it (a key of `generators`).")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="Seed: the same image, seed and settings give the same music.")
    duration: float = seconds(30.0, "Length of the soundscape.", gt=0, le=600)
    loop: bool = Field(True, description="Loop seamlessly while the visitor stays.")
    gain_db: float = Field(
        0.0, ge=-30, le=12, description="Gain on top of loudness normalisation.", json_schema_extra=unit("dB")
    )
    prompt: str | None = Field(None, max_length=500, description="Optional text mixed with the image (art2mus only).")


class ArtworkConfig(StrictModel):
    """One artwork on the wall. ``id`` and ``images`` are required."""

    id: str = Field(..., pattern=ARTWORK_ID_PATTERN, description="Required. Unique id: lowercase letters, digits, '-' or '_'.")
    title: str = Field("", max_length=300, description="Title (defaults to the id).")
    artist: str = Field("Unknown", max_length=300, description="Artist.")
    year: int | None = Field(None, ge=-40000, le=2200, description="Year made (negative for BCE).")
    description: str = Field("", max_length=5000, description="Free text for the control panel.")
    images: Annotated[
        list[ImagePath],
        BeforeValidator(_one_or_more),
        WithJsonSchema(
            {
                "anyOf": [
                    {"type": "string", "format": "path"},
                    {"type": "array", "items": {"type": "string", "format": "path"}, "minItems": 1, "maxItems": 50},
                ]
            }
        ),
        Field(min_length=1, max_length=50),  # last: its limit is what `art2mus init` reads as the most photos
    ] = Field(
        ..., description="Required. Reference photos, a path or a list of paths (several "
        "angles/lightings help recognition); the first is the one its soundscape is made from, the control panel's "
        "thumbnail and the picture on `art2mus walk`'s wall."
    )
    audio: AudioPath | None = Field(None, description="A fixed audio file to play instead of a generated soundscape.")
    soundscape: SoundscapeConfig = Field(default_factory=SoundscapeConfig, description="How the soundscape is made.")

    @property
    def display_title(self) -> str:
        return self.title or self.id


class IdleConfig(StrictModel):
    """What plays while no artwork is chosen during opening hours (the gallery never goes silent)."""

    source: Literal["collection", "image", "file", "silence"] = Field(
        "collection",
        description="collection: a soundscape of all the artworks together; image: one made from `path`; "
        "file: the audio file at `path`; silence.",
    )
    path: UsablePath | None = Field(None, description="Image (source: image) or audio file (source: file).")
    generator: str = Field("procedural", min_length=1, description="Generator for source collection/image.")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="Seed for the idle soundscape.")
    duration: float = seconds(60.0, "Length of the idle loop.", gt=0, le=600)
    gain_db: float = Field(-9.0, ge=-60, le=0, description="Idle level relative to artworks.", json_schema_extra=unit("dB"))
    after_seconds: float = seconds(
        10.0,
        "Time without a chosen artwork before the idle ambience returns. It counts from when the artwork is "
        "dropped, presence.hold_seconds after it was last seen, not from when the visitor left: with the "
        "defaults the ambience returns 6 + 10 = 16 s after the visitor walks away (in the demo, hold 4 s and "
        "after 3 s, a visitor left at 83.0 s and the idle ambience began at 89.9 s).",
        ge=0,
        le=3600,
    )

    @model_validator(mode="after")
    def _path_when_needed(self) -> IdleConfig:
        if self.source in ("image", "file") and self.path is None:
            raise ValueError(f"source {self.source!r} needs a `path`")
        return self


WEEKDAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _day(text: str) -> str | None:
    """``mon``, ``Mon``, ``monday`` -> ``mon``; anything else None."""
    word = text.strip().lower()
    for short, full in zip(WEEKDAYS, WEEKDAY_NAMES, strict=True):
        if word in (short, full):
            return short
    return None


def _expand_days(value: object) -> object:
    """Accept ``mon-fri``, ``tue-sun``, ``"mon, wed"`` or ``[mon, wed, sat-sun]`` as well as a list of days."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list):
        return value
    days: list[object] = []
    for item in items:
        if isinstance(item, str) and "-" in item:
            first, _, last = (_day(part) for part in item.partition("-"))
            if first is not None and last is not None:
                i, j = WEEKDAYS.index(first), WEEKDAYS.index(last)
                days += list(WEEKDAYS[i : j + 1]) if i <= j else list(WEEKDAYS[i:] + WEEKDAYS[: j + 1])
                continue
        days.append((_day(item) or item) if isinstance(item, str) else item)
    return days


def _any_case(word: str) -> str:
    return "".join(f"[{c.upper()}{c}]" for c in word)


# The JSON Schema says what _expand_days accepts, so an editor does not flag `days: tue-sun`.
_DAY_PATTERN = "(" + "|".join(f"{_any_case(s)}(?:{_any_case(f[3:])})?" for s, f in zip(WEEKDAYS, WEEKDAY_NAMES, strict=True)) + ")"
_DAY_ITEM_PATTERN = rf"\s*{_DAY_PATTERN}(\s*-\s*{_DAY_PATTERN})?\s*"
_DAYS_JSON_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "string", "pattern": f"^{_DAY_ITEM_PATTERN}(,{_DAY_ITEM_PATTERN})*$"},
        {"type": "array", "minItems": 1, "items": {"type": "string", "pattern": f"^{_DAY_ITEM_PATTERN}$"}},
    ],
    "description": "Weekdays: a list such as [mon, tue], a range such as tue-sun (wrapping: fri-mon), or both.",
}

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

_TIME = re.compile(r"^\s*(\d{1,2}):(\d{2})(?::(\d{2}))?\s*$")


def _time_of_day(value: object, limits: str = "hours go to 23, minutes to 59") -> object:
    """``"9:00"``, ``09:00`` or ``"18:30:00"`` -> a time; a YAML 1.1 reader's 540 for ``9:00`` is explained.

    ``limits`` ends the message for a time out of range (a close may also be ``"24:00"``)."""
    if isinstance(value, dt.datetime):
        raise ValueError(f"must be a time of day like \"9:00\" or \"18:30\", got a date and time ({value})")
    if isinstance(value, dt.time):
        return value
    if isinstance(value, bool) or isinstance(value, int | float):
        hint = ""
        if isinstance(value, int) and 60 <= value < 24 * 60:
            hint = f" (a YAML 1.1 reader turns an unquoted {value // 60}:{value % 60:02d} into {value}: quote it)"
        raise ValueError(f"must be a time of day like \"9:00\" or \"18:30\", got {value!r}{hint}")
    if isinstance(value, str):
        match = _TIME.match(value)
        if match is None:
            raise ValueError(f"must be a time of day like \"9:00\" or \"18:30\" (24 h), got {value!r}")
        hour, minute, second = (int(part or 0) for part in match.groups())
        if hour > 23 or minute > 59 or second > 59:
            raise ValueError(f"{value.strip()!r} is not a time of day: {limits}")
        return dt.time(hour, minute, second)
    return value


def written_time(value: dt.time) -> str:
    """A time as the docs write it: ``3:00``, ``18:30`` (``18:30:15`` with seconds), for the JSON Schema's
    defaults and what ``art2mus init`` writes (pydantic's own is ``03:00:00``)."""
    return f"{value.hour}:{value.minute:02d}" + (f":{value.second:02d}" if value.second else "")


def _written_closing_time(value: dt.time) -> str:
    """A close as the docs write it: its 00:00 is the end of the day, ``24:00``."""
    return "24:00" if value == dt.time(0, 0) else written_time(value)


#: ends the description of every time field: exhibits/README.md sends the curator to the schema for it
_YAML_1_1_TIMES = (
    " Quoted or not: art2mus reads YAML 1.2; a tool that reads YAML 1.1 turns an unquoted 9:00 into the number "
    '540 (base 60: 9 × 60 + 0), so quote times ("9:00") for such a tool.'
)

_TIME_JSON_SCHEMA: dict[str, Any] = {
    "type": "string",
    "pattern": r"^\s*([01]?[0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?\s*$",
    "examples": ["9:00", "18:30"],
}
#: a time of day, 24 h: ``9:00``, ``"09:00"`` or ``"18:30:00"``.
TimeOfDay = Annotated[
    dt.time,
    BeforeValidator(_time_of_day),
    PlainSerializer(written_time, return_type=str, when_used="json"),
    WithJsonSchema(_TIME_JSON_SCHEMA),
]

_END_OF_DAY = re.compile(r"^\s*24:00(?::00)?\s*$")


def _closing_time(value: object) -> object:
    """A time of day, or ``"24:00"``: the end of the day, kept as the next day's 00:00 (see
    :class:`OpeningPeriodConfig`: a close at or before the open is on the next day)."""
    if isinstance(value, str) and _END_OF_DAY.match(value):
        return dt.time(0, 0)
    return _time_of_day(value, 'hours go to 23, minutes to 59, or "24:00" for the end of the day')


#: a period's close: a time of day or ``"24:00"`` (stored as 00:00, which the period reads as the next day's).
ClosingTime = Annotated[
    dt.time,
    BeforeValidator(_closing_time),
    PlainSerializer(_written_closing_time, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^\s*(([01]?[0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?|24:00(:00)?)\s*$",
            "examples": ["18:00", "24:00", "02:00"],
        }
    ),
]

_DATE = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})\s*$")


def _calendar_date(value: object) -> object:
    """``2026-12-25`` as text (YAML 1.2) or a date (a YAML 1.1 reader); a bad date says what is wrong."""
    if isinstance(value, dt.datetime):
        raise ValueError(f"must be a whole day like 2026-12-25, got a date and time ({value})")
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        match = _DATE.match(value)
        if match is None:
            raise ValueError(f"must be a date like 2026-12-25 (year-month-day), got {value!r}")
        try:
            return dt.date(*(int(part) for part in match.groups()))
        except ValueError as err:
            raise ValueError(f"{value.strip()!r} is not a date: {err}") from None
    raise ValueError(f"must be a date like 2026-12-25 (year-month-day), got {value!r}")


CalendarDate = Annotated[
    dt.date,
    BeforeValidator(_calendar_date),
    WithJsonSchema({"type": "string", "format": "date", "pattern": r"^\s*\d{4}-\d{2}-\d{2}\s*$"}),
]


class OpeningPeriodConfig(StrictModel):
    """Opening hours on some weekdays, with their own volume."""

    days: Annotated[list[Weekday], BeforeValidator(_expand_days), WithJsonSchema(_DAYS_JSON_SCHEMA)] = Field(
        default_factory=lambda: list(WEEKDAYS),
        min_length=1,
        description="Weekdays, e.g. [mon, tue], tue-sun or [mon, thu-sat] (full names work too).",
    )
    open: TimeOfDay = Field(dt.time(10, 0), description="Opening time, 24 h: 9:00, 10:00 or \"09:30\"." + _YAML_1_1_TIMES)
    close: ClosingTime = Field(
        dt.time(18, 0),
        description="Closing time, 24 h: 18:00; 24:00 is the end of the day, and a time before the opening is on "
        "the next day (open 20:00, close 02:00 plays until 02:00 the morning after: the period belongs to the day it "
        "opens, its weekday and its closed date)." + _YAML_1_1_TIMES,
    )
    volume: float = Field(
        1.0,
        ge=0,
        le=1,
        description="Multiplies audio.master_volume during this period, 0 to 1 (0.5 is -6 dB below the room's level).",
    )

    @model_validator(mode="after")
    def _close_differs_from_open(self) -> OpeningPeriodConfig:
        # a close before the open is the next day's; equal times would be no time or 24 hours: only
        # 00:00-24:00 (a whole day) is taken, which the two read the same
        if self.close == self.open and self.open != dt.time(0, 0):
            raise ValueError(
                f"close ({self.close:%H:%M}) is the same as open: a period needs a length (a whole day is "
                '"00:00" to "24:00")'
            )
        return self


class ScheduleConfig(StrictModel):
    """Opening hours (in the collection's timezone); outside them the installation is silent."""

    periods: list[OpeningPeriodConfig] = Field(
        default_factory=list, description="Opening periods; none means always open."
    )
    closed_dates: list[CalendarDate] = Field(
        default_factory=list,
        description="Days closed, e.g. 2026-12-25: no period opens on them (one over midnight from the day before "
        "plays to its close); without periods, closed midnight to midnight.",
    )
    ramp_seconds: float = seconds(
        20.0,
        "Fade at opening and closing, and volume ramp between periods. At opening the idle ambience (or what "
        "the control panel chose while closed) fades in over it; at closing the room fades to silence over it "
        "whatever plays, a control-panel choice included, and that choice ends with the day (the next opening "
        "follows the camera from the idle ambience).",
        ge=0,
        le=600,
    )
    prerender_at: TimeOfDay | None = Field(
        dt.time(3, 0), description="Nightly pre-render of missing soundscapes, e.g. 3:00 (null: never)." + _YAML_1_1_TIMES
    )


class CacheConfig(StrictModel):
    """Where rendered soundscapes are kept."""

    dir: OutputPath = Field(Path(".art2mus/cache"), description="Cache folder (relative to this YAML file).")
    max_size_gb: float = Field(20.0, gt=0, le=10000, description="Oldest unused entries are removed above this size.", json_schema_extra=unit("GB"))
    format: Literal["flac", "wav"] = Field("flac", description="File format of cached soundscapes.")


class ControlPanelConfig(StrictModel):
    """The local web control panel."""

    enabled: bool = Field(True, description="Serve the control panel.")
    host: str = Field("127.0.0.1", min_length=1, description="Bind address; anything but loopback needs a token.")
    port: int = Field(8080, ge=1, le=65535, description="TCP port.")
    token: SecretStr | None = Field(None, description="Access token (prefer token_file, kept out of the YAML); not blank.")
    token_file: SecretFilePath | None = Field(None, description="File holding the access token (UTF-8 text, not blank).")
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Host names the panel answers to besides loopback and `host` (e.g. gallery-pc.local); "
        "any other name in a request's Host header is refused (DNS rebinding).",
    )
    required: bool = Field(
        True,
        description="Refuse to start when the panel's port cannot be bound (false: play on without a panel).",
    )

    @field_validator("token")
    @classmethod
    def _token_not_blank(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().strip():
            raise ValueError("is empty: an empty token would leave the control panel open; set a long random text")
        return value

    @model_validator(mode="after")
    def _token_off_loopback(self) -> ControlPanelConfig:
        if self.enabled and not _is_loopback(self.host) and self.token is None and self.token_file is None:
            raise ValueError(
                f"host {self.host!r} is reachable from the network: set `token` or `token_file`, "
                "or bind to 127.0.0.1"
            )
        return self


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _default_generators() -> dict[str, GeneratorConfig]:
    return {"procedural": ProceduralGeneratorConfig()}


class ExhibitConfig(StrictModel):
    """A whole installation: the collection, its artworks and how the room is run."""

    version: Literal[1] = Field(1, description="Format version of this file.")
    include: Annotated[
        list[str],
        BeforeValidator(_one_or_more),
        WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}),
    ] = Field(
        default_factory=list,
        description="Other YAML files (a path or a list) merged into this one, e.g. one per room: "
        "lists are appended, sections merged, and this file's own values win.",
    )
    collection: CollectionConfig = Field(default_factory=CollectionConfig, description="The collection.")
    artworks: list[ArtworkConfig] = Field(default_factory=list, max_length=100000, description="The artworks.")
    camera: CameraConfig = Field(default_factory=DeviceCameraConfig, description="The camera watching the artworks.")
    recognition: RecognitionConfig = Field(default_factory=RecognitionConfig, description="Artwork recognition.")
    presence: PresenceConfig = Field(default_factory=PresenceConfig, description="Visitor presence and debounce.")
    audio: AudioConfig = Field(default_factory=AudioConfig, description="Audio output and mix.")
    idle: IdleConfig = Field(default_factory=IdleConfig, description="The ambience when no artwork is chosen.")
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig, description="Opening hours and volumes.")
    generators: dict[str, GeneratorConfig] = Field(
        default_factory=_default_generators, description="Named generator backends, chosen by `type:`."
    )
    cache: CacheConfig = Field(default_factory=CacheConfig, description="The soundscape cache.")
    control_panel: ControlPanelConfig = Field(default_factory=ControlPanelConfig, description="The web control panel.")
    unseen: UnseenConfig = Field(default_factory=UnseenConfig, description="Pictures that are not in `artworks`.")

    # Filled by the loader: where this config came from.
    _source_file: Path | None = PrivateAttr(default=None)
    _files: tuple[Path, ...] = PrivateAttr(default=())

    @property
    def source_file(self) -> Path | None:
        """The top-level YAML file (absolute), or None for a config built in code."""
        return self._source_file

    @property
    def files(self) -> tuple[Path, ...]:
        """Every YAML file this config was read from (the top-level one first), for reload watching."""
        return self._files

    @property
    def base_dir(self) -> Path:
        """The folder of the top-level YAML file (the current directory for a config built in code)."""
        return self._source_file.parent if self._source_file else Path.cwd()

    def artwork(self, artwork_id: str) -> ArtworkConfig:
        """The artwork with ``artwork_id``; ``KeyError`` naming the known ids otherwise."""
        for artwork in self.artworks:
            if artwork.id == artwork_id:
                return artwork
        ids = [a.id for a in self.artworks]
        raise KeyError(
            f"no artwork {artwork_id!r} in this exhibit{did_you_mean(artwork_id, ids)}; known ids: {', '.join(ids) or 'none'}"
        )
