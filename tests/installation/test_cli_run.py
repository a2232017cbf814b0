"""``art2mus demo``, ``run`` and ``simulate`` as a user runs them.

The demo runs as a real process through real PortAudio: ALSA's file plugin stands in for the sound card
(see ``audio/alsa_scenario.py``), and SIGTERM stops it as systemd would. A machine without a sound card
gets the mix in a WAV file.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import soundfile
import yaml
from click.testing import CliRunner

from art2mus.installation.cli import main

pytest.importorskip("pyaudio")

ALSA_SCENARIO = Path(__file__).parent / "audio" / "alsa_scenario.py"
ART2MUS = [sys.executable, "-m", "art2mus.installation.cli"]


def _small_exhibit(tmp_path: Path, repo_root: Path, artworks: int = 2) -> Path:
    """The first ``artworks`` of the demo walk with short soundscapes, and the walk as the camera."""
    demo = yaml.safe_load((repo_root / "exhibits/demo/exhibit.yaml").read_text())
    base = repo_root / "exhibits/demo"
    artworks = demo["artworks"][:artworks]
    for artwork in artworks:
        artwork["images"] = [str(base / p) for p in artwork["images"]]
        artwork["soundscape"]["duration"] = 6
    demo.update(artworks=artworks, idle={**demo["idle"], "duration": 6})
    demo["camera"]["path"] = str(base / demo["camera"]["path"])
    demo["recognition"]["index_dir"] = str(tmp_path / "index")
    path = tmp_path / "exhibit.yaml"
    path.write_text(yaml.safe_dump(demo, sort_keys=False))
    return path


def test_simulate_writes_the_mix_and_says_what_played(tmp_path, repo_root, monkeypatch):
    exhibit = _small_exhibit(tmp_path, repo_root)
    assert yaml.safe_load(exhibit.read_text())["control_panel"].get("enabled", True)
    out = tmp_path / "mix.wav"

    def no_panel(*_args, **_kwargs):  # nothing serves one in a simulation: building it cost ~0.3 CPU s
        raise AssertionError("simulate built a control panel")

    monkeypatch.setattr("art2mus.kiosk_ui.server.control_panel_for", no_panel)
    result = CliRunner().invoke(
        main, ["simulate", str(exhibit), "-o", str(out), "--duration", "16.01", "--json"]
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert lines[0] == {"t": 0.0, "play": "idle"}
    assert [line["play"] for line in lines[1:-1]] == ["amber-fields", "composition-with-signals"]
    summary = lines[-1]["summary"]
    info = soundfile.info(str(out))
    assert info.samplerate == 48000 and info.channels == 2
    # exactly --duration: 16.01 s is not a whole number of mixing blocks (it was 10.7 ms short)
    assert info.frames == round(16.01 * 48000) and summary["seconds"] == 16.01


def test_simulate_decodes_only_the_soundscapes_the_walk_plays(tmp_path, repo_root, monkeypatch):
    from art2mus.installation.cache import SoundscapeCache

    exhibit = _small_exhibit(tmp_path, repo_root, artworks=3)  # the walk reaches the third at 21 s
    args = ["simulate", str(exhibit), "-o", str(tmp_path / "mix.wav"), "--duration", "16", "--json"]
    first = CliRunner().invoke(main, args)  # renders all three and the idle ambience into the cache
    assert first.exit_code == 0, first.output
    read: list[str] = []
    entry = SoundscapeCache._read  # decoded whole (get) or opened to be decoded as the mix plays it (open_entry)

    def reading(cache, key, *, decode):
        found = entry(cache, key, decode=decode)
        read.append(json.loads(cache._paths(key)[1].read_text())["recipe"]["what"])
        return found

    monkeypatch.setattr(SoundscapeCache, "_read", reading)
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0, again.output
    plays = [json.loads(line)["play"] for line in again.output.splitlines()[:-1]]
    assert plays == [json.loads(line)["play"] for line in first.output.splitlines()[:-1]]
    assert plays == ["idle", "amber-fields", "composition-with-signals"]
    # each decoded once, when chosen; hills-of-orvale, which this walk never reaches, not at all
    assert sorted(read) == sorted(plays)
    # without -o: the same walk, printed, and no mix written anywhere
    wavs = sorted(tmp_path.rglob("*.wav"))
    unwritten = CliRunner().invoke(main, [a for a in args if a not in ("-o", str(tmp_path / "mix.wav"))])
    assert unwritten.exit_code == 0, unwritten.output
    assert [json.loads(line)["play"] for line in unwritten.output.splitlines()[:-1]] == plays
    summary = json.loads(unwritten.output.splitlines()[-1])["summary"]
    assert summary["output"] is None and summary["seconds"] == 16.0
    told = CliRunner().invoke(main, ["simulate", str(exhibit), "--duration", "16"])
    assert "simulated 16.0 s (3 changes); the mix was not written (-o FILE writes it)" in told.stdout
    assert sorted(tmp_path.rglob("*.wav")) == wavs


def test_a_ctrl_c_lost_inside_a_soundscape_write_still_stops_the_start(tmp_path, repo_root, monkeypatch):
    from art2mus.installation.audio.outputs import NullOutput
    from art2mus.installation.cache import SoundscapeCache
    from art2mus.installation.cli.shared import build_gallery
    from art2mus.installation.config import load_exhibit

    config = load_exhibit(_small_exhibit(tmp_path, repo_root))
    config = config.model_copy(update={"control_panel": config.control_panel.model_copy(update={"enabled": False})})
    stored: list[str] = []
    put = SoundscapeCache.put

    def put_hit_by_ctrl_c(cache, key, soundscape, recipe=None):
        stored.append(key)
        if len(stored) > 1:
            return put(cache, key, soundscape, recipe)
        # Ctrl-C while soundfile writes through cffi: cffi prints the KeyboardInterrupt raised in its
        # callback ("Exception ignored from cffi callback") and the write fails
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.1)  # the handler runs (and Python's raises) here at once
        except KeyboardInterrupt:
            pass
        raise AssertionError("the write failed")

    monkeypatch.setattr(SoundscapeCache, "put", put_hit_by_ctrl_c)
    # as a command starts: Python's own handler (an earlier test's server may have left another)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            build_gallery(config, quiet=True, output=NullOutput())
        assert len(stored) == 1  # the start stopped before the next soundscape, as at any other moment
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # and gave Ctrl-C back
        # under another Python handler that does not raise (uvicorn's sets a flag), the start still stops
        calls: list[int] = []
        signal.signal(signal.SIGINT, lambda signum, _frame: calls.append(signum))
        stored.clear()
        with pytest.raises(KeyboardInterrupt):
            build_gallery(config, quiet=True, output=NullOutput())
        assert len(stored) == 1 and calls == [signal.SIGINT]
    finally:
        signal.signal(signal.SIGINT, previous)


def test_what_plays_is_printed_under_the_title_the_reloaded_exhibit_gives_it(tmp_path, repo_root, capsys):
    from art2mus.installation.audio.outputs import NullOutput
    from art2mus.installation.cli.shared import build_gallery, event_printer
    from art2mus.installation.config import load_exhibit

    path = _small_exhibit(tmp_path, repo_root)
    spec = yaml.safe_load(path.read_text())
    spec["control_panel"] = {**spec.get("control_panel", {}), "enabled": False}
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    config = load_exhibit(path)
    gallery = build_gallery(config, quiet=True, output=NullOutput(), on_event=event_printer(config, False))
    gallery.director.set_override("amber-fields", now=1.0)
    assert "now playing: Amber Fields at Dusk (" in capsys.readouterr().out
    spec["artworks"][0]["title"] = "Amber Fields, Retitled"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    assert gallery.reload()
    gallery.director.set_override("composition-with-signals", now=2.0)
    gallery.director.set_override("amber-fields", now=3.0)
    printed = capsys.readouterr().out  # the terminal, and the journal under systemd
    assert "now playing: Amber Fields, Retitled (" in printed and "Amber Fields at Dusk" not in printed


def test_simulate_of_a_video_that_does_not_say_its_length_falls_back_and_says_so(
    tmp_path, repo_root, monkeypatch
):
    exhibit = _small_exhibit(tmp_path, repo_root)
    monkeypatch.setattr("art2mus.installation.vision.sources.video_seconds", lambda path: None)
    monkeypatch.setattr("art2mus.installation.cli.simulate.FALLBACK_SECONDS", 2.0)
    out = tmp_path / "mix.wav"
    result = CliRunner().invoke(main, ["simulate", str(exhibit), "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert "does not say how long it is: simulating 2 s (give --duration)" in result.stderr
    assert soundfile.info(str(out)).duration == pytest.approx(2.0, abs=0.03)


def test_simulate_plays_as_if_open_and_says_opening_hours_are_not_simulated(tmp_path, repo_root):
    """A curator who set opening hours hears the walk whatever the hour (run would be silent when closed),
    and is told so: the hours were ignored without a word."""
    exhibit = _small_exhibit(tmp_path, repo_root)
    config = yaml.safe_load(exhibit.read_text())
    config["schedule"] = {"periods": [{"days": "mon-sun", "open": "0:00", "close": "0:01", "volume": 0.2}]}
    exhibit.write_text(yaml.safe_dump(config, sort_keys=False))
    out = tmp_path / "mix.wav"
    result = CliRunner().invoke(main, ["simulate", str(exhibit), "-o", str(out), "--duration", "3", "--json"])
    assert result.exit_code == 0, result.output
    assert "opening hours are not simulated: the walk plays as the room does while open" in result.stderr
    mix, _ = soundfile.read(str(out))
    assert float(np.sqrt(np.mean(mix[48000:] ** 2))) > 1e-3  # the idle ambience plays


def test_simulate_refuses_a_video_it_cannot_read_before_making_anything(tmp_path, repo_root):
    exhibit = _small_exhibit(tmp_path, repo_root)
    notes = tmp_path / "visit.mp4"
    notes.write_text("not a video: the curator's notes, saved under the wrong name\n")
    result = CliRunner().invoke(
        main, ["simulate", str(exhibit), "--video", str(notes), "-o", str(tmp_path / "m.wav")]
    )
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)  # a sentence, not a traceback
    assert f"--video: not a readable video: {notes}" in result.output
    assert "soundscapes ready" not in result.output and not (tmp_path / "m.wav").exists()


def test_simulate_refuses_an_output_it_cannot_write_before_making_anything(tmp_path, repo_root):
    exhibit = _small_exhibit(tmp_path, repo_root)
    (tmp_path / "previews").write_text("a file where the curator meant a folder")
    result = CliRunner().invoke(main, ["simulate", str(exhibit), "-o", str(tmp_path / "previews" / "m.wav")])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)  # a sentence, not a traceback
    assert f"-o/--output: cannot write {tmp_path}/previews/m.wav: {tmp_path}/previews is a file" in result.output
    assert "soundscapes ready" not in result.output


@pytest.mark.parametrize("command", ["init", "walk", "record", "render"])
def test_each_command_that_writes_a_file_refuses_one_it_cannot_write_at_once(tmp_path, repo_root, command):
    exhibit = _small_exhibit(tmp_path, repo_root)
    (tmp_path / "out").write_text("a file where the curator meant a folder")
    target = tmp_path / "out" / "result"
    source = {"init": str(repo_root / "exhibits/demo/artworks"), "render": str(exhibit)}.get(command, str(exhibit))
    extra = ["--artwork", "amber-fields"] if command == "render" else []
    result = CliRunner().invoke(main, [command, source, *extra, "-o", str(target)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)  # a sentence, not a traceback
    assert f"-o/--output: cannot write {target}: {tmp_path / 'out'} is a file, not a folder" in result.output


def test_unseen_list_says_when_nothing_is_remembered(tmp_path, repo_root):
    exhibit = _small_exhibit(tmp_path, repo_root)
    result = CliRunner().invoke(main, ["unseen", "list", str(exhibit)])
    assert result.exit_code == 0 and result.stdout == ""
    assert f"no unseen artwork remembered in {tmp_path / '.art2mus' / 'unseen'}" in result.stderr
    assert CliRunner().invoke(main, ["unseen", "list", str(exhibit), "--json"]).output == ""  # JSON lines: none
    assert "unseen.enabled is false" not in result.stderr
    spec = yaml.safe_load(exhibit.read_text())
    exhibit.write_text(yaml.safe_dump({**spec, "unseen": {**spec.get("unseen", {}), "enabled": False}}))
    off = CliRunner().invoke(main, ["unseen", "list", str(exhibit)])
    assert "(unseen.enabled is false: the room does not look for any)" in off.stderr


def test_the_demo_plays_when_its_panel_port_is_taken_and_says_where_the_panel_went(tmp_path):
    """`art2mus demo` is the first command on a new machine, where another program may hold 8080: the
    demo takes a free port for its panel and says so, rather than stopping with an error."""
    import socket  # noqa: PLC0415

    holder = socket.socket()
    try:
        holder.bind(("127.0.0.1", 8080))
        holder.listen()
    except OSError:  # something on this machine holds it already: the same situation
        pass
    try:
        result = CliRunner().invoke(
            main, ["demo", "--duration", "1", "--json", "--wav", str(tmp_path / "demo.wav")]
        )
    finally:
        holder.close()
    assert result.exit_code == 0, result.output
    assert "port 8080 is in use: the control panel takes a free port instead" in result.stderr
    url = next(line.split(": ", 1)[1] for line in result.stderr.splitlines() if line.startswith("control panel: "))
    assert url.startswith("http://127.0.0.1:") and ":8080/" not in url
    assert json.loads(result.stdout.splitlines()[0]) == {"t": 0.0, "play": "idle"}


def test_run_refuses_a_bad_exhibit_naming_the_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("collection:\n  name: x\naudio:\n  master_volume: 3\n")
    result = CliRunner().invoke(main, ["run", str(bad), "--duration", "1"])
    assert result.exit_code == 1
    assert f"{bad}:4:" in result.output and "audio.master_volume" in result.output


GIVE_UP = 600.0  # seconds: only a hang takes this long, however busy the machine


def _wait_until(condition, process: subprocess.Popen) -> None:
    """Until ``condition()`` holds; not past the end of ``process`` (nor GIVE_UP)."""
    deadline = time.monotonic() + GIVE_UP
    while not condition() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)


def _reader(stream, lines: list[str]) -> threading.Thread:
    thread = threading.Thread(target=lambda: lines.extend(iter(stream.readline, "")), daemon=True)
    thread.start()
    return thread


def test_demo_plays_through_portaudio_and_stops_on_sigterm(tmp_path):
    xdg = tmp_path / "xdg" / "alsa"
    xdg.mkdir(parents=True)
    raw, stop_file = tmp_path / "card.raw", tmp_path / "card.stop"
    pacer = f"{sys.executable} {ALSA_SCENARIO} pace {raw} {stop_file}"
    (xdg / "asoundrc").write_text(
        'pcm.!default { type plug slave { pcm "tofile" format S16_LE } }\n'
        f'pcm.tofile {{ type file slave.pcm "null" file "| exec {pacer}" format "raw" }}\n'
        "ctl.!default { type null }\n"
    )
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "xdg"), "HOME": str(tmp_path)}
    # a second demo on a machine with no sound card at all: it writes a WAV file instead
    nocard = tmp_path / "nocard"
    (nocard / "xdg" / "alsa").mkdir(parents=True)
    (nocard / "xdg" / "alsa" / "asoundrc").write_text(
        "pcm.!default { type hw card 9 }\nctl.!default { type null }\n"
    )
    nocard_env = {**os.environ, "XDG_CONFIG_HOME": str(nocard / "xdg"), "HOME": str(nocard)}
    card = subprocess.Popen(
        [*ART2MUS, "demo", "--json", "--panel-port", "0"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    silent = subprocess.Popen(
        [*ART2MUS, "demo", "--duration", "4", "--panel-port", "0"],
        env=nocard_env,
        cwd=nocard,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out: list[str] = []
    err: list[str] = []
    readers = [_reader(card.stdout, out), _reader(card.stderr, err)]
    try:
        # conditions, not wall time: a busy machine may take minutes to start two demos (GIVE_UP is a hang)
        _wait_until(lambda: any('"amber-fields"' in line for line in out), card)
        assert any('"amber-fields"' in line for line in out), ("".join(out) + "".join(err))[-3000:]
        started_playing = json.loads(out[0])
        # the control panel of the running demo: its status, and a technician's command
        url = next(line.split(": ", 1)[1].strip() for line in err if line.startswith("control panel: "))
        status = json.loads(urllib.request.urlopen(url + "api/status", timeout=10).read())
        assert status["exhibit"] == "Eight Rooms of Colour (demo)" and status["audio"]["state"] == "playing"
        assert status["camera"]["state"] == "streaming" and status["camera"]["frames"] > 0
        request = urllib.request.Request(
            url + "api/play",
            data=json.dumps({"artwork": "still-life-with-flowers"}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        assert json.loads(urllib.request.urlopen(request, timeout=10).read()) == {
            "override": "still-life-with-flowers"
        }
        _wait_until(lambda: any("still-life" in line for line in out), card)
        # what the engine has handed to PortAudio so far, to compare with what reached the card; the
        # director announces a change before the mixer's next block starts it: wait for the engine too
        audio_status: dict = {}

        def engine_plays_still_life() -> bool:
            audio_status.update(json.loads(urllib.request.urlopen(url + "api/status", timeout=GIVE_UP).read())["audio"])
            return audio_status["playing"] == "still-life-with-flowers"

        _wait_until(engine_plays_still_life, card)
        before_stop = dict(audio_status)
        card.send_signal(signal.SIGTERM)
        card.wait(timeout=GIVE_UP)  # stops (cleanly: the exit status is checked below)
    finally:
        if card.poll() is None:
            card.kill()
        stop_file.touch()
    for thread in readers:
        thread.join(5)
    assert card.returncode == 0, "".join(err)[-3000:]
    assert started_playing == {"t": 0.0, "play": "idle"}
    played = [json.loads(line)["play"] for line in out]
    assert played[:2] == ["idle", "amber-fields"] and played[-1] == "still-life-with-flowers"
    audio = np.fromfile(raw, dtype="<i2").reshape(-1, 2) / 32768.0
    # Everything the engine's callbacks handed to PortAudio before the last status reached the card
    # (up to what ALSA and the pipe still held at the stop). Not compared with the wall clock: on a
    # starved machine the card (the pacer, a Python process) and the callbacks fall behind real time.
    output = before_stop["output"]
    handed = output["callbacks"] * output["frames_per_buffer"]
    assert before_stop["losses"] == 0 and before_stop["playing"] == "still-life-with-flowers"
    assert audio.shape[0] >= handed - int(0.25 * 48000), (audio.shape[0], handed)
    # and the card did not just get silence: the ring's underruns (silence the engine reports) are few
    assert output["callbacks"] > 0 and before_stop["frames_missing"] < 0.2 * handed, before_stop
    sounding = np.abs(audio).max(axis=1) > 1e-3
    assert sounding.mean() > 0.8  # hardly a moment of silence

    silent_out, silent_err = silent.communicate(timeout=GIVE_UP)
    assert silent.returncode == 0, silent_err[-3000:]
    wav = nocard / "art2mus-demo.wav"
    assert "no sound card found" in silent_err and str(wav) in silent_err
    info = soundfile.info(str(wav))
    assert info.samplerate == 48000 and info.channels == 2 and info.duration == pytest.approx(4.0, abs=0.5)
    assert "now playing: idle ambience" in silent_out
