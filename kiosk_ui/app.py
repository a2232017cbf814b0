"""The control panel's web app: ``create_app(control)`` -> a FastAPI app over the running gallery.

Routes (JSON unless noted):

| route | what |
| --- | --- |
| ``GET /`` | the control panel page (static HTML + JS that polls the status) |
| ``GET /api/status`` | what plays and why; camera, presence and audio health; the latest changes (with
  wall-clock times), the reasons for attention, and whether anything reaches the speakers |
| ``GET /api/health`` | 200 while audio plays and the camera streams, 503 otherwise (for monitoring); both
  name the process (``daemon``: pid, start, uptime, version; the health also its ``exhibit`` file) |
| ``GET /api/artworks`` | the collection: id, title, artist, year, generator, soundscape length, keypoints, problems (why it is left out) |
| ``GET /api/artworks/{id}/thumbnail.jpg`` | the artwork's first reference photo, small |
| ``GET /api/unseen`` | the remembered unseen artworks (not in the exhibit, given a soundscape of their own) |
| ``GET /api/unseen/{id}/crop.jpg`` | an unseen artwork's rectified crop (the only image of it that is stored), small |
| ``GET /api/soundscapes/{id}.flac`` | what the room plays for an artwork (or ``idle``), for listening in
  the browser; HTTP ranges supported |
| ``GET /api/live.jpg`` | the camera's newest frame with the recognised outline, score and presence (re-encoded
  at most twice a second, whoever asks) |
| ``GET /api/logs?level=INFO&limit=300`` | the daemon's latest log records |
| ``GET /metrics`` | Prometheus metrics (``HEAD`` too) |
| ``GET /api/docs``, ``GET /redoc``, ``GET /api/openapi.json`` | the API, documented (Swagger UI and ReDoc
  served from the ``fastapi-offline`` package: no CDN) |
| ``POST /api/play`` ``{"artwork": ID}`` | play that artwork whatever the camera sees (409 with its problems
  when it has no soundscape) |
| ``POST /api/idle`` | play the idle ambience whatever the camera sees |
| ``POST /api/follow`` | let the camera decide again |
| ``POST /api/volume`` ``{"volume": 0..1, "ramp_seconds": 0..60}`` | ramp the room's level (times the period's volume) |
| ``POST /api/presence`` ``{"sensor": NAME, "present": true}`` | an external presence sensor (e.g. a PIR) |
| ``POST /api/reload`` | re-read the exhibit file (the status's ``reload`` says how it went) |

``control`` is anything with the :class:`GalleryControl` methods (the daemon's
:class:`~art2mus.installation.gallery.Gallery`); the live view, thumbnails, soundscapes, logs and metrics
also read its ``telemetry``, ``exhibit``, ``library`` and ``vision`` (:mod:`art2mus.kiosk_ui.insight`). With
a ``token`` every ``/api`` route, the docs and ``/metrics`` need ``Authorization: Bearer TOKEN`` (or
``?token=TOKEN``, which the page passes on); a blank token is refused. Command bodies are strict (no
``true`` for a number, no ``"yes"`` for a boolean, finite numbers only); a refused one is a 422 naming
the field, whatever its value. Every request first passes
:class:`~art2mus.kiosk_ui.security.PanelGuard` (Host allow-list, cross-site checks, body-size limit).
"""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations, and the ``Control``
# dependency alias is local to create_app, so they must be evaluated where the endpoints are defined.
import hmac
import logging
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field

from art2mus.kiosk_ui.insight import (
    ArtworkMedia,
    DaemonProcess,
    GalleryCollector,
    attention,
    audible,
    byte_range,
    keypoints_per_artwork,
)
from art2mus.kiosk_ui.security import DEFAULT_MAX_BODY, HostPolicy, PanelGuard

STATIC = Path(__file__).with_name("static")
ARTWORK_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"
#: width of the unseen artworks' crops as the panel gets them, pixels (the artworks' thumbnails are 240)
CROP_THUMBNAIL_WIDTH = 240
#: characters of a request's value an error answer repeats at most (a 5,000-character id came back whole)
ECHO_CHARS = 120


class GalleryControl(Protocol):
    """What the control panel needs from the running installation."""

    def status(self) -> dict[str, Any]: ...
    def artworks(self) -> list[dict[str, Any]]: ...
    def play_artwork(self, artwork_id: str) -> None: ...
    def play_idle(self) -> None: ...
    def follow_camera(self) -> None: ...
    def set_master_volume(self, volume: float, ramp_s: float = 2.0) -> None: ...
    def report_sensor(self, sensor_id: str, present: bool = True) -> None: ...
    def request_reload(self) -> None: ...


# strict: a sensor or script sending true, "yes", 1 or "0.5" gets a 422, not a guess ({"volume": true} was
# full level); JSON integers still count as numbers. Non-finite numbers (Python's json reads NaN and
# Infinity) are refused too.
class PlayRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    artwork: str = Field(..., min_length=1, description="Id of the artwork to play.")


class VolumeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    volume: float = Field(
        ...,
        ge=0,
        le=1,
        allow_inf_nan=False,
        description="The room's level (audio.master_volume), a number 0..1 (linear); a schedule period's "
        "volume multiplies it.",
    )
    ramp_seconds: float = Field(
        2.0, ge=0, le=60, allow_inf_nan=False, description="Seconds to ramp to it, a number 0..60."
    )


class PresenceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    sensor: str = Field(..., min_length=1, max_length=100, description="Name of the sensor.")
    present: bool = Field(True, description="Someone is there (false: the sensor saw no one).")


def shorten(text: str, limit: int = ECHO_CHARS) -> str:
    """``text`` as an answer may repeat it: at most ``limit`` characters, and says how long it was."""
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def _echoable(value: Any) -> Any:
    """A rejected request value made fit for a JSON answer: a non-finite number as its text (JSON has no
    NaN: the default answer raised, giving a 500), a long text shortened."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, str):
        return shorten(value)
    if isinstance(value, dict):
        return {k: _echoable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_echoable(v) for v in value]
    return value


async def validation_failed(request: Request, exc: Exception) -> JSONResponse:
    """422 naming each field and what it expects (FastAPI's shape: ``detail`` is a list of ``loc``,
    ``msg``, ``type``, ``input``), whatever the input was."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    return JSONResponse({"detail": _echoable(jsonable_encoder(errors))}, status_code=422)


def _docs_assets() -> Path | None:
    """Swagger UI 5 and ReDoc, as shipped by the ``fastapi-offline`` package (its static folder)."""
    try:
        import fastapi_offline
    except ImportError:
        return None
    folder = Path(fastapi_offline.__file__).with_name("static")
    return folder if (folder / "swagger-ui-bundle.js").is_file() else None


#: the API documentation pages: never cached, and only this server may be reached from them (ReDoc's
#: sidebar shows a logo from cdn.redoc.ly, Swagger UI may fetch a validator badge: a kiosk on a closed
#: network must not try; the browser blocks them before any request leaves)
DOCS_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "worker-src 'self' blob:; connect-src 'self'",
}


def _generator_pid(control: GalleryControl) -> int | str:
    """The generator process's pid from ``control``'s status, or ``"none"`` (a path /proc has not)."""
    pid = (control.status().get("generation") or {}).get("pid")
    return pid if isinstance(pid, int) and pid > 0 else "none"


def create_app(
    control: GalleryControl,
    *,
    token: str | None = None,
    title: str = "art2mus",
    host: str = "127.0.0.1",
    allowed_hosts: Iterable[str] = (),
    max_body_bytes: int = DEFAULT_MAX_BODY,
    process: DaemonProcess | None = None,
) -> Any:
    """The control panel app over ``control``; ``token`` (if any) guards every ``/api`` route, the docs and
    ``/metrics``; ``host`` (the bind address) and ``allowed_hosts`` make the Host allow-list. Returns the
    FastAPI app wrapped in :class:`PanelGuard` (the FastAPI app is its ``app`` attribute). ``process``
    (default: this one) is the daemon the status, the health and the metrics name."""
    if token is not None and not token.strip():
        raise ValueError("the control panel token is empty; set a real token or none (loopback only)")
    media = ArtworkMedia(control)
    process = process if process is not None else DaemonProcess.current()

    def get_control() -> GalleryControl:
        return control

    def check_token(request: Request) -> None:
        if token is None:
            return
        given = request.query_params.get("token", "")
        header = request.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            given = header[7:].strip()
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise HTTPException(401, "This control panel needs its access token (Authorization: Bearer ...).")

    Control = Annotated[GalleryControl, Depends(get_control)]
    api = APIRouter(prefix="/api", dependencies=[Depends(check_token)])

    @api.get("/status")
    def status(gallery: Control) -> dict[str, Any]:
        state = gallery.status()
        telemetry = getattr(gallery, "telemetry", None)
        state["attention"] = attention(state)
        state["audible"] = audible(state)
        state["timeline"] = list(telemetry.events)[-20:] if telemetry is not None else []
        exhibit = getattr(gallery, "exhibit", None)  # times are shown on the gallery's clock, not the browser's
        state["timezone"] = exhibit.collection.timezone if exhibit is not None else "UTC"
        state["daemon"] = process.to_json()
        return state

    @api.get("/health")
    def health(gallery: Control) -> JSONResponse:
        state = gallery.status()
        audio = (state.get("audio") or {}).get("healthy", False)
        camera = (state.get("camera") or {}).get("state") == "streaming"
        # the exhibit file it runs: `art2mus status` tells another exhibit's daemon on the same port
        source = getattr(getattr(gallery, "exhibit", None), "source_file", None)
        daemon = {**process.to_json(), "exhibit": str(source) if source is not None else None}
        body = {"audio": audio, "camera": camera, "playing": state.get("playing"), "daemon": daemon}
        return JSONResponse(body, status_code=200 if audio and camera else 503)

    @api.get("/artworks")
    def artworks(gallery: Control) -> list[dict[str, Any]]:
        keypoints = keypoints_per_artwork(gallery)
        return [{**a, "keypoints": keypoints.get(a["id"])} for a in gallery.artworks()]

    def unknown(what: str, gallery: GalleryControl, cannot: str) -> HTTPException:
        """404 for an id no artwork has; 409 naming the problems of a known artwork that has nothing to
        play (left out: its audio cannot be read). Both were a KeyError, and the 404 listed the artwork."""
        listed = gallery.artworks()
        for artwork in listed:
            if artwork["id"] == what:
                problems = "; ".join(artwork.get("problems") or []) or "no soundscape yet"
                return HTTPException(409, f"{what} {cannot}: {problems}.")
        known = ", ".join(a["id"] for a in listed) or "none"
        return HTTPException(404, f"There is no artwork {shorten(what)!r}; the artworks are: {known}.")

    @api.get("/artworks/{artwork_id}/thumbnail.jpg", response_class=Response)
    def thumbnail(artwork_id: str, gallery: Control) -> Response:
        try:
            data = media.thumbnail(artwork_id)
        except KeyError:
            raise unknown(artwork_id, gallery, "has no reference photo") from None
        except FileNotFoundError as exc:
            raise HTTPException(404, str(exc)) from None
        # asked again at each listing (after a reload): a deleted or replaced photo shows as it is
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-cache"})

    def unseen_store(gallery: GalleryControl) -> Any:
        watcher = getattr(getattr(gallery, "vision", None), "unseen", None)
        return getattr(watcher, "store", None)

    @api.get("/unseen")
    def unseen(gallery: Control) -> list[dict[str, Any]]:
        store = unseen_store(gallery)
        if store is None:
            return []
        return [{k: v for k, v in a.items() if k not in ("crop", "descriptor")} for a in store.listing()]

    @api.get("/unseen/{artwork_id}/crop.jpg", response_class=Response)
    def unseen_crop(artwork_id: str, gallery: Control) -> Response:
        """The id is looked up among the remembered ones; no file path is built from what was asked."""
        import cv2

        store = unseen_store(gallery)
        if store is None or artwork_id not in store.artworks:
            raise HTTPException(404, f"There is no unseen artwork {artwork_id!r}.")
        image = cv2.imread(str(store.crop_path(store.artworks[artwork_id].id)))
        if image is None:
            raise HTTPException(404, f"The crop of the unseen artwork {artwork_id!r} is gone.")
        # as small as the artworks' thumbnails: the stored crop is up to 1024 px (what promote keeps)
        scale = min(1.0, CROP_THUMBNAIL_WIDTH / image.shape[1])
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        _, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
        return Response(data.tobytes(), media_type="image/jpeg", headers={"Cache-Control": "max-age=300"})

    @api.get("/soundscapes/{what}.flac", response_class=Response)
    def soundscape(what: str, request: Request, gallery: Control) -> Response:
        """The soundscape the room plays for an artwork (or ``idle``), as FLAC, with HTTP range support.
        The id is looked up in the running library; no file path is built from it."""
        if getattr(gallery, "library", None) is None:
            raise HTTPException(503, "The soundscapes are still being made.")
        try:
            data = media.soundscape(what)
        except KeyError:
            if what == "idle":  # left out too (its audio file cannot be read): say why
                problems = "; ".join((gallery.status().get("problems") or {}).get("idle") or ["none yet"])
                raise HTTPException(409, f"The idle ambience has nothing to listen to: {problems}.") from None
            raise unknown(what, gallery, "has nothing to listen to") from None
        headers = {"Accept-Ranges": "bytes", "Cache-Control": "no-cache"}
        try:
            span = byte_range(request.headers.get("range"), len(data))
        except ValueError:
            return Response(status_code=416, headers={**headers, "Content-Range": f"bytes */{len(data)}"})
        if span is None:
            return Response(data, media_type="audio/flac", headers=headers)
        start, end = span
        headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
        return Response(data[start : end + 1], status_code=206, media_type="audio/flac", headers=headers)

    @api.get("/live.jpg", response_class=Response)
    def live(gallery: Control) -> Response:
        """The camera's newest frame with the recognised artwork's outline, its score and presence."""
        telemetry = getattr(gallery, "telemetry", None)
        snapshot = telemetry.snapshot_jpeg() if telemetry is not None else None
        if snapshot is None:
            raise HTTPException(503, "No camera frame yet.")
        data, index = snapshot
        return Response(
            data, media_type="image/jpeg", headers={"Cache-Control": "no-store", "X-Frame-Index": str(index)}
        )

    @api.get("/logs")
    def logs(
        gallery: Control,
        level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO",
        limit: Annotated[int, Query(ge=1, le=500)] = 300,
    ) -> list[dict[str, Any]]:
        """The daemon's latest log records at ``level`` or above, oldest first."""
        telemetry = getattr(gallery, "telemetry", None)
        if telemetry is None:
            return []
        return telemetry.log.records(logging.getLevelName(level), limit)

    @api.post("/play")
    def play(body: PlayRequest, gallery: Control) -> dict[str, Any]:
        try:
            gallery.play_artwork(body.artwork)
        except KeyError:  # the room plays on as before
            raise unknown(body.artwork, gallery, "cannot play") from None
        return {"override": body.artwork}

    @api.post("/idle")
    def idle(gallery: Control) -> dict[str, Any]:
        gallery.play_idle()
        return {"override": "idle"}

    @api.post("/follow")
    def follow(gallery: Control) -> dict[str, Any]:
        gallery.follow_camera()
        return {"override": None}

    @api.post("/volume")
    def volume(body: VolumeRequest, gallery: Control) -> dict[str, Any]:
        gallery.set_master_volume(body.volume, body.ramp_seconds)
        return {"volume": body.volume, "ramp_seconds": body.ramp_seconds}

    @api.post("/reload", status_code=202)
    def reload(gallery: Control) -> dict[str, Any]:
        gallery.request_reload()
        return {"requested": True, "last_reload": gallery.status().get("reload")}

    @api.post("/presence")
    def presence(body: PresenceRequest, gallery: Control) -> dict[str, Any]:
        gallery.report_sensor(body.sensor, body.present)
        return {"sensor": body.sensor, "present": body.present}

    app = FastAPI(title=f"{title} control panel", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_exception_handler(RequestValidationError, validation_failed)
    app.include_router(api)
    guarded = APIRouter(dependencies=[Depends(check_token)], include_in_schema=False)

    @guarded.get("/api/openapi.json")
    def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @guarded.get("/api/docs")
    def docs() -> FileResponse:
        return FileResponse(STATIC / "docs.html", headers=DOCS_HEADERS)

    @guarded.get("/redoc")
    def redoc() -> FileResponse:
        return FileResponse(STATIC / "redoc.html", headers=DOCS_HEADERS)

    # HEAD too: a monitor's reachability probe got 405 (the server leaves the body out of a HEAD answer)
    @app.head("/metrics", dependencies=[Depends(check_token)], response_class=Response, include_in_schema=False)
    @app.get("/metrics", dependencies=[Depends(check_token)], response_class=Response)
    def metrics() -> Response:
        """Prometheus metrics (text exposition format): the process, camera, vision, director, audio,
        generation, reloads; and prometheus_client's own ``process_*`` series of the daemon (resident
        memory, open fds, CPU seconds: a slow growth over months is what an alert rule watches) and
        ``art2mus_generator_process_*`` of the generator process (where it holds the model's memory)."""
        from prometheus_client import (
            CONTENT_TYPE_LATEST,
            CollectorRegistry,
            PlatformCollector,
            ProcessCollector,
            generate_latest,
        )

        registry = CollectorRegistry(auto_describe=False)
        registry.register(GalleryCollector(control, process))
        # these read /proc (Linux; elsewhere they add nothing); a pid that is gone adds nothing either
        registry.register(ProcessCollector(pid=lambda: process.pid, registry=None))
        registry.register(ProcessCollector("art2mus_generator", pid=lambda: _generator_pid(control), registry=None))
        registry.register(PlatformCollector(registry=None))
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    app.include_router(guarded)
    assets = _docs_assets()
    if assets is not None:
        app.mount("/static/docs", StaticFiles(directory=assets), name="docs-assets")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return PanelGuard(app, hosts=HostPolicy(host, allowed_hosts), max_body_bytes=max_body_bytes)
