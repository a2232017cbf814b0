"""The control panel's web app: ``create_app(control)`` -> a FastAPI app over the running gallery.

Routes (JSON unless noted):

| route | what |
| --- | --- |
| ``GET /`` | the control panel page (static HTML + JS that polls the status) |
| ``GET /api/status`` | what plays and why; camera, presence and audio health; the latest changes |
| ``GET /api/health`` | 200 while audio plays and the camera streams, 503 otherwise (for monitoring) |
| ``GET /api/artworks`` | the collection: id, title, artist, year, generator, soundscape length |
| ``POST /api/play`` ``{"artwork": ID}`` | play that artwork whatever the camera sees |
| ``POST /api/idle`` | play the idle ambience whatever the camera sees |
| ``POST /api/follow`` | let the camera decide again |
| ``POST /api/volume`` ``{"volume": 0..1, "ramp_seconds": 0..60}`` | ramp the master volume |
| ``POST /api/presence`` ``{"sensor": NAME, "present": true}`` | an external presence sensor (e.g. a PIR) |
| ``POST /api/reload`` | re-read the exhibit file (the status's ``reload`` says how it went) |

``control`` is anything with the :class:`GalleryControl` methods (the daemon's
:class:`~art2mus.installation.gallery.Gallery`; tests may hand in another). With a ``token`` every ``/api``
route needs ``Authorization: Bearer TOKEN`` (or ``?token=TOKEN``, which the page passes on).
"""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations, and the ``Control``
# dependency alias is local to create_app, so they must be evaluated where the endpoints are defined.
import hmac
from pathlib import Path
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field

STATIC = Path(__file__).with_name("static")


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


class PlayRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    artwork: str = Field(..., min_length=1, description="Id of the artwork to play.")


class VolumeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    volume: float = Field(..., ge=0, le=1, description="Master volume, linear 0..1.")
    ramp_seconds: float = Field(2.0, ge=0, le=60, description="Seconds to ramp to it.")


class PresenceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sensor: str = Field(..., min_length=1, max_length=100, description="Name of the sensor.")
    present: bool = Field(True, description="Someone is there (false: the sensor saw no one).")


def create_app(control: GalleryControl, *, token: str | None = None, title: str = "art2mus") -> FastAPI:
    """The control panel app over ``control``; ``token`` (if any) guards every ``/api`` route."""

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
        return gallery.status()

    @api.get("/health")
    def health(gallery: Control) -> JSONResponse:
        state = gallery.status()
        audio = (state.get("audio") or {}).get("healthy", False)
        camera = (state.get("camera") or {}).get("state") == "streaming"
        body = {"audio": audio, "camera": camera, "playing": state.get("playing")}
        return JSONResponse(body, status_code=200 if audio and camera else 503)

    @api.get("/artworks")
    def artworks(gallery: Control) -> list[dict[str, Any]]:
        return gallery.artworks()

    @api.post("/play")
    def play(body: PlayRequest, gallery: Control) -> dict[str, Any]:
        try:
            gallery.play_artwork(body.artwork)
        except KeyError:
            known = ", ".join(a["id"] for a in gallery.artworks()) or "none"
            raise HTTPException(
                404, f"There is no artwork {body.artwork!r}; the artworks are: {known}."
            ) from None
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

    app = FastAPI(title=f"{title} control panel", docs_url="/api/docs", openapi_url="/api/openapi.json")
    app.include_router(api)

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
