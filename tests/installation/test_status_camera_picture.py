"""``art2mus status``'s camera line says a frozen or black picture, not only the stream's state."""

from art2mus.installation.cli.status import lines


def _facts(camera: dict) -> dict:
    return {
        "daemon": {"pid": 42, "uptime_s": 3600.0, "version": "0.1.0"},
        "open": True,
        "period": None,
        "until": None,
        "playing": "idle",
        "playing_title": "the idle ambience",
        "override": None,
        "camera": camera,
        "audio": {
            "state": "playing",
            "healthy": True,
            "output": "wav",
            "device": "room.wav",
            "master_volume": 0.8,
            "effective_volume": 0.8,
            "peak_dbfs": -20.0,
            "underruns": 0,
        },
        "generation": None,
        "attention": [],
        "reload": None,
        "cache": {"dir": "/var/cache/art2mus", "bytes": 10**9, "limit_bytes": 20 * 10**9},
    }


def _camera_line(camera: dict) -> str:
    return next(line for line in lines(_facts(camera)) if line.startswith("camera"))


def test_the_camera_line_names_a_frozen_or_black_picture():
    stream = {"state": "reconnecting", "fps": 10.0, "last_frame_age_s": 0.4, "reconnects": 5}
    frozen = _camera_line({**stream, "picture": "frozen", "picture_s": 39.2})
    assert "reconnecting, picture frozen for 39 s, 10.0 fps" in frozen
    black = _camera_line(
        {**stream, "state": "streaming", "reconnects": 0, "picture": "black", "picture_s": 44.0}
    )
    assert "streaming, picture black for 44 s, 10.0 fps" in black
    fine = _camera_line({**stream, "state": "streaming", "picture": "ok", "picture_s": None})
    assert "picture" not in fine and "streaming, 10.0 fps" in fine
