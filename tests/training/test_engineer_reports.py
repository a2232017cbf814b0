"""What an ML engineer training an aligner met: bad manifest rows, a full disk, bad files, run folders."""

from __future__ import annotations

import pytest

from art2mus.training.dataset import PairsError, read_pairs


def test_a_row_with_missing_extra_or_bad_fields_is_named_with_its_line(manifest, tmp_path):
    base = manifest.parent
    rows = (manifest.read_text().splitlines())[1:]
    image, audio = rows[0].split(",")[1:3]
    bad = base / "bad-rows.csv"
    bad.write_text(
        "id,image,audio,score\n"
        f"a,{image},{audio},0.5\n"
        f"b,{image}\n"
        f"c,{image},,0.1\n"
        f"d,{image},{audio},abc\n"
        f"e,{image},{audio},0.2,extra\n"
    )
    with pytest.raises(PairsError) as caught:
        read_pairs(bad)
    message = str(caught.value)
    assert f"{bad}:3: row has 2 fields, expected 4" in message
    assert f"{bad}:4: the audio field is empty" in message
    assert f"{bad}:5: score 'abc' is not a number" in message
    assert f"{bad}:6: row has 5 fields, the header names 4" in message
    assert ":2:" not in message


def test_a_json_line_with_an_empty_audio_is_named(manifest):
    bad = manifest.parent / "bad.jsonl"
    bad.write_text('{"image": "x.png", "audio": ""}\n')
    with pytest.raises(PairsError, match=r"bad.jsonl:1: the audio field is empty"):
        read_pairs(bad)
