"""Fuzzing the loader: 2,000 seeded mutants of the demo exhibit, none may crash, hang or blow up.

Each mutant must end in a valid exhibit or in problems that all have a file:line:col; no case may
take 2 s or raise the process's resident memory by 200 MB. The run happens in a fresh process so
its peak memory is the loader's own (see exhibit_fuzz.py, which also reproduces a failing seed).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

FUZZER = Path(__file__).with_name("exhibit_fuzz.py")


@pytest.mark.timeout(300)
def test_two_thousand_mutated_exhibits_end_in_an_exhibit_or_positioned_problems(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(FUZZER), "--cases", "2000", "--seed", "20261202", "--case-limit", "2.0"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert report["failures"] == [], report
    assert report["cases"] == 2000
    # the mutants are a mix: some stay valid, most are not (a fuzzer that only made one kind would be useless)
    assert 50 < report["valid"] < 1950, report
    assert report["slowest_case_s"] < 2.0, report
    assert report["peak_rss_above_baseline_mb"] < 200, report
