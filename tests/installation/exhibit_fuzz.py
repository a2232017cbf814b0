"""A seeded mutator over the demo exhibit, and a driver that runs ``validate_exhibit`` on each mutant.

Run as a script it prints one JSON object: cases run, valid/invalid counts, the slowest case, the
peak resident memory above the warmed-up process, and every failure (an exception that escaped, a
problem without a position, an internal error). ``tests/installation/test_config_fuzz.py`` runs it
in a fresh process so the memory figure is this run's own; ``--cases`` and ``--seed`` reproduce a run.

    python tests/installation/exhibit_fuzz.py --cases 2000 --seed 0
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "exhibits" / "demo"

# Values a curator, an editor or an attacker might put after a key.
HOSTILE_VALUES = [
    "2026-13-45", "2026-02-30", "Europe", "Europe/Rome", "../../etc/passwd", "9:00", "09:00", "24:00", "18:30:99",
    "tue-sun", "fri-mon", "mon-funday", ".nan", ".inf", "-.inf", "-1", "0", "1e999", "-0", "0x10", "0o17",
    "1_000", "99999999999999999999", "9" * 5000, "x" * 300, '"' + "y" * 300 + '.png"', '"a\\0b"',
    '"\\x07"', "[]", "{}", "[[]]", "null", "~", "", "yes", "no", "on", "true", "True", "*nowhere", "&a x", "*a",
    "!!binary aGk=", "!!python/object:os.system x", "!!str 3", "!!int x", "!!float 1", "!foo bar", "'unclosed",
    '"unclosed', "[unclosed", "{a: 1", "[" * 1000 + "]" * 1000, "{a: " * 200 + "1" + "}" * 200, "/dev/zero",
    "fifo", "/dev/null", "/proc/self/mem", "..", "~nobody/x", "~/x.png", "\t", "- a", "? x", "| block",
    "> folded", "%YAML 1.1", "---", "...", "@x", "`x`", "é", "\u202e", "\ufeff", "\U0001f3b5",
]

# Lines inserted whole, at some indentation.
HOSTILE_LINES = [
    "<<: *defaults", "<<: {dwell_seconds: 1}", "<<: [*a, *b]", "<<: 3", "defaults: &defaults {x: 1}",
    "include: /dev/zero", "include: fifo", "include: missing.yaml", "include: exhibit.yaml", "include: [1, 2]",
    "include: small.yaml", "token: ''", "token: '   '", "token_file: empty-token.txt",
    "token_file: latin1-token.txt", "audio: nan.wav", "audio: /dev/zero", "timezone: Europe",
    "closed_dates: [2026-13-45]", "closed_dates: 2026-12-25", "open: 9:00", "days: tue-sun", "days: [mon-sun]",
    "dir: \"\\0\"", "path: \"" + "p" * 300 + "\"", "- id: x", "- {id: y, images: []}", "? [a]\n: b", "&x a: b",
    "a: &x", "version: 2", "camera: {type: webcam}", "generators: {}", "artworks: []", "artworks: ~",
]


def _alias_bomb(depth: int = 12) -> str:
    lines = ['b0: &b0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for i in range(1, depth):
        lines.append(f"b{i}: &b{i} [" + ", ".join([f"*b{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def _deep_block(depth: int = 1000) -> str:
    return "".join(" " * i + f"k{i}:\n" for i in range(depth))


class Mutator:
    """Seeded mutations of an exhibit text: bytes, lines, values and whole hostile structures."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.operators: list[Callable[[bytes], bytes]] = [
            self.flip_byte, self.insert_byte, self.delete_span, self.duplicate_span,
            self.delete_line, self.duplicate_line, self.swap_lines, self.reindent_line,
            self.replace_value, self.replace_value, self.replace_value, self.insert_line, self.insert_line,
            self.structure,
        ]

    def mutate(self, text: bytes) -> bytes:
        for _ in range(self.rng.randint(1, 3)):
            text = self.rng.choice(self.operators)(text)
        return text

    def _lines(self, text: bytes) -> list[bytes]:
        return text.split(b"\n")

    def flip_byte(self, text: bytes) -> bytes:
        if not text:
            return text
        i = self.rng.randrange(len(text))
        return text[:i] + bytes([text[i] ^ (1 << self.rng.randrange(8))]) + text[i + 1 :]

    def insert_byte(self, text: bytes) -> bytes:
        i = self.rng.randrange(len(text) + 1)
        byte = self.rng.choice([0, 7, 8, 11, 12, 27, 127, 0x85, 0xC3, 0xFF, 0xFE, ord(":"), ord("-"), ord("&"), ord("*")])
        return text[:i] + bytes([byte]) + text[i:]

    def delete_span(self, text: bytes) -> bytes:
        if not text:
            return text
        i = self.rng.randrange(len(text))
        return text[:i] + text[i + self.rng.randint(1, 200) :]

    def duplicate_span(self, text: bytes) -> bytes:
        if not text:
            return text
        i = self.rng.randrange(len(text))
        span = text[i : i + self.rng.randint(1, 400)]
        return text[:i] + span * self.rng.randint(2, 20) + text[i:]

    def delete_line(self, text: bytes) -> bytes:
        lines = self._lines(text)
        del lines[self.rng.randrange(len(lines))]
        return b"\n".join(lines)

    def duplicate_line(self, text: bytes) -> bytes:
        lines = self._lines(text)
        i = self.rng.randrange(len(lines))
        lines.insert(i, lines[i])
        return b"\n".join(lines)

    def swap_lines(self, text: bytes) -> bytes:
        lines = self._lines(text)
        i, j = self.rng.randrange(len(lines)), self.rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
        return b"\n".join(lines)

    def reindent_line(self, text: bytes) -> bytes:
        lines = self._lines(text)
        i = self.rng.randrange(len(lines))
        lines[i] = b" " * self.rng.choice([0, 1, 2, 3, 4, 6, 8]) + lines[i].lstrip(b" ")
        return b"\n".join(lines)

    def replace_value(self, text: bytes) -> bytes:
        lines = self._lines(text)
        keyed = [i for i, line in enumerate(lines) if b": " in line and not line.lstrip().startswith(b"#")]
        if not keyed:
            return text
        i = self.rng.choice(keyed)
        head = lines[i].split(b": ", 1)[0]
        lines[i] = head + b": " + self.rng.choice(HOSTILE_VALUES).encode("utf-8", "surrogatepass")
        return b"\n".join(lines)

    def insert_line(self, text: bytes) -> bytes:
        lines = self._lines(text)
        i = self.rng.randrange(len(lines) + 1)
        indent = b" " * self.rng.choice([0, 2, 4, 6])
        lines.insert(i, indent + self.rng.choice(HOSTILE_LINES).encode())
        return b"\n".join(lines)

    def structure(self, text: bytes) -> bytes:
        choice = self.rng.randrange(7)
        if choice == 0:
            return _alias_bomb().encode() + text
        if choice == 1:
            return text + b"\nx: " + _deep_block().encode()
        if choice == 2:
            return b"%YAML 1.1\n---\n" + text
        if choice == 3:
            return text + b"\n---\nversion: 1\n"
        if choice == 4:
            return b"defaults: &defaults {dwell_seconds: 2.0, hold_seconds: 5.0}\n" + text.replace(
                b"presence:\n", b"presence:\n  <<: *defaults\n", 1
            )
        if choice == 5:
            return b""
        return text * self.rng.randint(2, 5)


def prepare_folder(folder: Path) -> Path:
    """The demo exhibit in ``folder`` (media linked, not copied) with hostile neighbours to include."""
    for name in ("artworks", "camera"):
        if not (folder / name).exists():
            (folder / name).symlink_to(DEMO / name)
    if not (folder / "fifo").exists():
        os.mkfifo(folder / "fifo")
    (folder / "small.yaml").write_text("collection: {name: Included}\n", encoding="utf-8")
    (folder / "empty-token.txt").write_text("  \n", encoding="utf-8")
    (folder / "latin1-token.txt").write_bytes(b"s\xe9cret\n")
    import numpy as np
    import soundfile

    samples = np.zeros(4800, dtype=np.float32)
    samples[100] = np.nan
    soundfile.write(folder / "nan.wav", samples, 48000, subtype="FLOAT")
    return folder / "exhibit.yaml"


def run(cases: int, seed: int, folder: Path, case_limit_s: float) -> dict:
    from art2mus.installation.config import loader, validate_exhibit

    internal_error = getattr(loader, "INTERNAL_ERROR", "\0")  # absent before the loader was hardened

    path = prepare_folder(folder)
    demo = (DEMO / "exhibit.yaml").read_bytes()
    path.write_bytes(demo)
    config, problems = validate_exhibit(path)
    assert config is not None, [str(p) for p in problems]
    baseline_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    mutator = Mutator(seed)
    failures: list[dict] = []
    valid = slowest = 0.0
    slowest_case = -1
    started = time.perf_counter()
    for case in range(cases):
        text = mutator.mutate(demo)
        path.write_bytes(text)
        t0 = time.perf_counter()
        try:
            config, problems = validate_exhibit(path)
        except BaseException as err:  # noqa: BLE001 - what the fuzzer looks for
            failures.append({"case": case, "error": f"{type(err).__name__}: {err}"[:300]})
            continue
        elapsed = time.perf_counter() - t0
        if elapsed > slowest:
            slowest, slowest_case = elapsed, case
        if elapsed > case_limit_s:
            failures.append({"case": case, "error": f"took {elapsed:.2f} s"})
        valid += config is not None
        for problem in problems:
            if problem.line is None or problem.col is None or internal_error in problem.message:
                failures.append({"case": case, "error": f"unplaced or internal: {problem}"[:300]})
        if config is None and not problems:
            failures.append({"case": case, "error": "no config and no problem"})
    return {
        "cases": cases,
        "seed": seed,
        "valid": int(valid),
        "seconds": round(time.perf_counter() - started, 2),
        "slowest_case_s": round(slowest, 3),
        "slowest_case": slowest_case,
        "peak_rss_above_baseline_mb": round(
            (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - baseline_kb) / 1024, 1
        ),
        "failures": failures[:50],
        "failure_count": len(failures),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--case-limit", type=float, default=2.0, help="seconds one case may take")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="exhibit-fuzz-") as folder:
        report = run(args.cases, args.seed, Path(folder), args.case_limit)
    json.dump(report, sys.stdout)
    print()


if __name__ == "__main__":
    main()
