"""The fault soak measures the room open: its simulated day started at 00:00 and opens 08:00-20:00, so
``--hours 8`` ran closed throughout and reported 0 gaps; and it freezes a real generator process."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def test_a_short_fault_soak_is_measured_open():
    done = subprocess.run(
        [
            sys.executable,
            str(BENCHMARKS / "bench_soak.py"),
            "--faults",
            "--hours",
            "1",
            "--seconds-per-hour",
            "4",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["simulated_start"].startswith("2026-12-01T08:30")
    assert result["open_seconds_measured"] == pytest.approx(4.0, abs=0.2)
    assert "(08:30)" in done.stderr and "open=True" in done.stderr


def test_a_soak_that_measured_nothing_open_fails(monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import bench_soak

    closed = {"open_seconds_measured": 0.0, "gaps_longer_than_crossfade_while_open": 0}
    monkeypatch.setitem(sys.modules, "bench_soak_faults", types.SimpleNamespace(run=lambda *args: closed))
    monkeypatch.setattr(sys, "argv", ["bench_soak.py", "--faults", "--hours", "8", "--seconds-per-hour", "8"])
    with pytest.raises(SystemExit) as exited:
        bench_soak.main()
    assert exited.value.code == 1
    assert "no second of the soak was measured with the room open" in capsys.readouterr().err


def test_a_frozen_generator_process_is_restarted_and_its_job_rendered(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import bench_soak_faults

    frozen = bench_soak_faults.frozen_worker(tmp_path)
    assert frozen["recovered"] and frozen["restarts"] == 1 and frozen["attention_said_so"], frozen
