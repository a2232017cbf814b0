"""/metrics as an alert rule writer reads it, parsed by prometheus_client's own text parser: a silent room's
peak is a number an alert can compare, a procedural-only exhibit has no generator process to be down, the
process's start time and version are there (restart loops show), the room's effective level is 0 while
closed, and ``HEAD /metrics`` answers like GET."""

from __future__ import annotations

import math
import time

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from test_control_panel_api import panel_client, running  # noqa: F401 -- the running gallery fixture

from art2mus.kiosk_ui.insight import SILENCE_DBFS, DaemonProcess, GalleryCollector

WELL = {
    "camera": {"state": "streaming", "last_frame_age_s": 0.1},
    "audio": {"healthy": True, "master_volume": 0.8, "peak_dbfs": -12.5, "duck_db": 0.0},
    "schedule": {"open": True, "volume": 1.0, "period": "always", "until": None},
}
PROCESS = DaemonProcess(pid=4242, started_at=1_700_000_000.0, version="9.9.9")


class _Reporting:
    def __init__(self, status: dict):
        self._status = status

    def status(self) -> dict:
        return self._status


def _scrape(text: str) -> dict[str, tuple[dict[str, str], float]]:
    """Sample name -> (labels, value) of the exposition ``text``."""
    return {
        sample.name: (sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _exposition(status: dict) -> dict[str, tuple[dict[str, str], float]]:
    return _scrape(generate_latest(_registry(status)).decode())


def test_a_silent_room_reads_a_finite_floor_an_alert_can_compare():
    """`art2mus_audio_peak_dbfs NaN` when silent: `peak < -60` is false for NaN, so the alert never fired."""
    silent = _exposition({**WELL, "audio": {**WELL["audio"], "peak_dbfs": None}})
    assert silent["art2mus_audio_peak_dbfs"][1] == SILENCE_DBFS == -120.0
    assert _exposition(WELL)["art2mus_audio_peak_dbfs"][1] == -12.5
    text = generate_latest(_registry(WELL)).decode()
    assert "# HELP art2mus_audio_peak_dbfs Recent output peak, dBFS (-120 for digital silence" in text


def _registry(status: dict) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(GalleryCollector(_Reporting(status), PROCESS))
    return registry


def test_no_generator_process_series_where_the_exhibit_has_none():
    """A procedural-only exhibit said `art2mus_generation_process_up 0.0`: a 'process down' alert forever."""
    assert "art2mus_generation_process_up" not in _exposition({**WELL, "generation": None})
    down = _exposition({**WELL, "generation": {"alive": False, "queued": 0}})
    assert down["art2mus_generation_process_up"][1] == 0.0
    up = _exposition({**WELL, "generation": {"alive": True, "queued": 0}})
    assert up["art2mus_generation_process_up"][1] == 1.0


def test_start_time_and_build_info_follow_prometheus_conventions():
    samples = _exposition(WELL)
    assert samples["art2mus_start_time_seconds"][1] == 1_700_000_000.0
    assert samples["art2mus_build_info"] == ({"version": "9.9.9"}, 1.0)


def test_the_effective_level_is_what_the_room_gets():
    """`art2mus_audio_master_volume 0.8` while closed, and no metric said the room was silent."""
    open_room = _exposition(WELL)
    assert open_room["art2mus_audio_effective_volume"][1] == 0.8
    ducked = _exposition({**WELL, "audio": {**WELL["audio"], "duck_db": 6.0206}})
    assert math.isclose(ducked["art2mus_audio_effective_volume"][1], 0.4, rel_tol=1e-4)
    closed = {
        **WELL,
        "schedule": {"open": False, "volume": 0.0},
        "audio": {**WELL["audio"], "peak_dbfs": None},
    }
    samples = _exposition(closed)
    assert samples["art2mus_audio_master_volume"][1] == 0.8  # the setting stays for the morning
    assert samples["art2mus_audio_effective_volume"][1] == 0.0
    down = _exposition({**WELL, "audio": {**WELL["audio"], "healthy": False}})
    assert down["art2mus_audio_effective_volume"][1] == 0.0


def test_the_running_panel_answers_head_and_names_its_process(running):  # noqa: F811
    client = panel_client(running)
    get = client.get("/metrics")
    head = client.head("/metrics")
    assert head.status_code == 200, head.text  # it was 405
    assert head.content == b"" and head.headers["content-type"] == get.headers["content-type"]
    samples = _scrape(get.text)
    started = samples["art2mus_start_time_seconds"][1]
    assert time.time() - 3600 < started <= time.time()
    assert samples["art2mus_build_info"][0]["version"]
    assert "art2mus_generation_process_up" not in samples  # the small exhibit is procedural
    # the daemon's own memory, fds and CPU (an alert on months of slow growth had nothing to read)
    assert samples["process_resident_memory_bytes"][1] > 50e6 and samples["process_open_fds"][1] >= 3
    assert samples["process_cpu_seconds_total"][1] > 0 and "python_info" in samples
    assert not any(name.startswith("art2mus_generator_process_") for name in samples)  # it has none
    assert samples["art2mus_audio_effective_volume"][1] > 0  # open, playing
    health = client.get("/api/health").json()["daemon"]
    assert health["started_at"] == round(started, 3) and health["uptime_s"] >= 0
    assert client.get("/api/status").json()["daemon"]["pid"] == health["pid"]


def test_the_generator_process_has_its_memory_in_the_metrics(tmp_path):
    """Where the model's memory lives (gigabytes on a GPU workstation): its resident memory, as the daemon's."""
    import subprocess
    import sys

    from fastapi.testclient import TestClient

    from art2mus.kiosk_ui.app import create_app

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        status = {**WELL, "generation": {"alive": True, "pid": child.pid, "queued": 0}}
        app = create_app(_Reporting(status), process=PROCESS)  # PROCESS: a pid that is not running
        samples = _scrape(TestClient(app.app).get("/metrics").text)
        assert samples["art2mus_generator_process_resident_memory_bytes"][1] > 1e6
    finally:
        child.kill()
        child.wait()
