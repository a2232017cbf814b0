"""``art2mus status [EXHIBIT]``: ask the running daemon how the room is, through its control panel.

The panel's address and token are the exhibit's (``control_panel``); the daemon answers ``/api/health``
(which process it is: pid, start, version) and ``/api/status`` (what plays, camera, audio, generator
process, the reasons for attention). :func:`ask_health` is also how ``doctor`` tells a daemon on the panel's
port from another program.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import click

#: exit codes (said in --help)
EXIT_WELL, EXIT_ATTENTION, EXIT_UNREADABLE, EXIT_UNREACHABLE, EXIT_OTHER_EXHIBIT = 0, 1, 2, 3, 4
#: the keys of ``status --json``, each always there (null when unknown: the daemon's facts when it cannot be
#: asked; ``error`` also says why the exhibit cannot be read when the daemon is asked all the same)
JSON_KEYS = (
    "exhibit", "chosen", "url", "reachable", "error", "elsewhere", "daemon", "open", "period", "until",
    "playing", "playing_title", "override", "camera", "audio", "generation", "attention", "reload", "cache",
)  # fmt: skip
#: seconds to wait for each answer of the daemon (it answers in milliseconds; a frozen one never)
ANSWER_TIMEOUT_S = 5.0
#: bytes of an answer read at most (the status of a large collection is tens of KB)
MAX_ANSWER_BYTES = 16 * 2**20


class DaemonUnreachable(Exception):
    """No art2mus daemon answers at the panel's address; the message says what happened instead."""


class NothingAnswers(DaemonUnreachable):
    """Nothing listens at the panel's address (connection refused, timeout)."""


class AnotherToken(DaemonUnreachable):
    """An art2mus daemon answers at the panel's address, but refuses the exhibit's token (or its lack)."""


@dataclasses.dataclass(frozen=True)
class PanelAddress:
    """Where the exhibit's control panel answers: ``url`` (``http://HOST:PORT``) and its ``token``, with
    where the token came from (``token_from``: control_panel.token, .token_file, or none)."""

    url: str
    token: str | None
    token_from: str = "no token: the exhibit sets none"

    @classmethod
    def of(cls, config: Any, port: int | None = None, url: str | None = None) -> PanelAddress:
        """The panel of ``config`` (an ``ExhibitConfig``) as a client reaches it: a wildcard bind address
        through loopback, on ``port`` or at ``url`` when given (a daemon run with ``--panel-port``).
        DaemonUnreachable when the panel is off (and no ``url`` given) or its token cannot be read."""
        from art2mus.kiosk_ui.server import ControlPanelError, read_token

        panel = config.control_panel
        if not panel.enabled and url is None:
            raise DaemonUnreachable(
                "the exhibit's control panel is off (control_panel.enabled: false): nothing to ask the daemon through"
            )
        host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(panel.host, panel.host)
        try:
            token = read_token(panel)
        except ControlPanelError as exc:  # an unreadable token file: the daemon's user can read it
            raise DaemonUnreachable(f"cannot read the panel's token: {exc}") from None
        if panel.token is not None:
            token_from = "control_panel.token"
        elif panel.token_file is not None:
            token_from = f"control_panel.token_file {panel.token_file}"
        else:
            token_from = "no token: the exhibit sets none"
        port = panel.port if port is None else port
        url = url.rstrip("/") if url else f"http://{f'[{host}]' if ':' in host else host}:{port}"
        return cls(url, token, token_from)

    def on_port(self, port: int) -> PanelAddress:
        """The same panel on another port of the same host."""
        host = self.url.rpartition(":")[0]
        return dataclasses.replace(self, url=f"{host}:{port}")


def panel_config(path: Path) -> tuple[Any, list[Any]]:
    """``(config, problems)`` of the exhibit at ``path`` with its ``control_panel`` and ``cache`` as the
    daemon reads them; a file with problems elsewhere (the edit a reload just refused, exactly when a
    technician asks) is read with those sections left at their defaults. ``config`` is None when the
    file cannot be read or its ``control_panel`` section has a problem."""
    from art2mus.installation.config import validate_exhibit
    from art2mus.installation.health import parsed_sections

    config, problems = validate_exhibit(path, check_files=False)
    if config is None:
        config, bad = parsed_sections(path, problems)
        if "control_panel" in bad:
            config = None
    return config, problems


#: a line that starts a top-level section (``cache:``) of an exhibit file
_SECTION = re.compile(r"([A-Za-z_][\w-]*)\s*:(\s|$)")
#: the sections status reads from a file that cannot be read as a whole
_LENIENT_SECTIONS = ("control_panel", "cache")


def lenient_panel_config(path: Path) -> tuple[Any, set[str]]:
    """``(config, sections read)`` of an exhibit that :func:`panel_config` cannot read (a YAML syntax error,
    a bad ``control_panel``): its ``control_panel`` and ``cache`` sections each read on their own from the
    top file's text (an error elsewhere leaves them readable), those that cannot be left at their defaults
    (the panel's default port, the cache folder beside the file), paths made absolute as the loader does.
    Never None: status still finds the running daemon through them, or its cache folder's lock file."""
    from art2mus.installation.config import ExhibitConfig
    from art2mus.installation.config.loader import resolve_config_paths
    from art2mus.installation.config.source import Node, SourceMap, parse_document

    top = Path(os.path.normpath(Path(path).expanduser().absolute()))
    try:
        text = top.read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    blocks: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        start = _SECTION.match(line)
        if start:
            current = blocks[start.group(1)] = [line] if start.group(1) in _LENIENT_SECTIONS else None
        elif line.startswith(("---", "...")):
            current = None
        elif current is not None:
            current.append(line)
    sections: dict[str, Any] = {}
    for name, block in blocks.items():
        if block is None:
            continue
        node, _ = parse_document("\n".join(block) + "\n", top)
        if node is None or not isinstance(node.value, dict) or name not in node.value:
            continue
        try:
            ExhibitConfig.model_validate({name: node.value[name].to_data()})
        except ValueError:  # pydantic's ValidationError: left at its default
            continue
        sections[name] = node.value[name]
    root = Node(sections, top, 1, 1)
    config = ExhibitConfig.model_validate(root.to_data())
    resolve_config_paths(config, SourceMap(root), top.parent)
    config._source_file = top
    return config, set(sections)


def ask(address: PanelAddress, path: str, timeout: float = ANSWER_TIMEOUT_S) -> tuple[int, Any]:
    """``(HTTP status, JSON body)`` of ``GET path`` at the panel; DaemonUnreachable when nothing answers,
    the token is refused, or the answer is not the panel's JSON."""
    request = urllib.request.Request(address.url + path, headers={"Accept": "application/json"})
    if address.token is not None:
        request.add_header("Authorization", f"Bearer {address.token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            code, data = response.status, response.read(MAX_ANSWER_BYTES)
    except urllib.error.HTTPError as exc:  # 503 from /api/health is an answer; 401, 404 are not
        code, data = exc.code, exc.read(MAX_ANSWER_BYTES)
        if code in (401, 403):
            raise _refused(address, code, data) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        why = reason.strerror if isinstance(reason, OSError) and reason.strerror else str(reason)
        raise NothingAnswers(f"nothing answers at {address.url} ({why}): is the daemon running?") from None
    try:
        return code, json.loads(data)
    except ValueError:
        raise DaemonUnreachable(f"{address.url}{path} answered HTTP {code} but not as art2mus does") from None


def _refused(address: PanelAddress, code: int, data: bytes) -> DaemonUnreachable:
    """What a 401 or 403 at the panel says: an art2mus panel refuses with its own sentence (its /api/health
    is behind the token too), so that a daemon of another exhibit is told from another program."""
    try:
        detail = json.loads(data).get("detail")
    except (ValueError, AttributeError):
        detail = None
    if isinstance(detail, str) and "control panel needs its access token" in detail:
        return AnotherToken(
            f"an art2mus daemon answers at {address.url}, but with another token than this exhibit's "
            f"({address.token_from}): is it running another exhibit?"
        )
    return DaemonUnreachable(f"{address.url} refused the token (HTTP {code}; {address.token_from})")


def ask_health(address: PanelAddress) -> dict[str, Any]:
    """The daemon's ``/api/health`` (``daemon``: pid, started_at, uptime_s, version; ``audio``, ``camera``);
    DaemonUnreachable when what answers is not an art2mus daemon."""
    code, body = ask(address, "/api/health")
    if code not in (200, 503) or not isinstance(body, dict) or not isinstance(body.get("daemon"), dict):
        raise DaemonUnreachable(f"{address.url} answers (HTTP {code}), but not as an art2mus daemon does")
    return body


def same_exhibit(theirs: str | None, ours: Path) -> bool:
    """Whether the exhibit file a daemon names (its health's ``daemon.exhibit``, its lock file's) is
    ``ours``; True when it names none (a daemon from before the health said it)."""
    if not theirs:
        return True
    try:
        return os.path.samefile(theirs, ours)
    except OSError:
        return Path(theirs).resolve() == ours.resolve()


def daemon_elsewhere(config: Any, path: Path, port: int) -> tuple[int, int] | None:
    """``(pid, port)`` of this exhibit's running daemon (its cache folder's lock file names them) when its
    panel is not on ``port`` (run with ``--panel-port``); None when no daemon of it runs, or it names no
    other port."""
    from art2mus.installation.instance_lock import lock_holder

    holder = lock_holder(config.cache.dir)
    if holder is None or holder[2] in (None, port) or not same_exhibit(holder[1], path):
        return None
    return holder[0], holder[2]


def elsewhere_sentence(pid: int, port: int) -> str:
    """The sentence for :func:`daemon_elsewhere`'s answer."""
    if port == 0:
        return f"the daemon (pid {pid}) runs with its panel on a port it chose (--panel-port 0)"
    return f"the daemon (pid {pid}) runs with its panel on port {port}"


def duration(seconds: float) -> str:
    """``3 d 4 h``, ``2 h 05 min``, ``4 min 10 s``, ``12 s``."""
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def folder_bytes(directory: Path) -> int:
    """Bytes of the files directly in ``directory`` (the soundscape cache keeps its entries flat)."""
    total = 0
    with os.scandir(directory) as entries:
        for entry in entries:
            if entry.is_file(follow_symlinks=False):
                total += entry.stat(follow_symlinks=False).st_size
    return total


def cache_use(config: Any) -> dict[str, Any]:
    """The soundscape cache's use against ``cache.max_size_gb``: ``dir``, ``bytes`` (None when it cannot
    be read, ``error`` says why), ``limit_bytes``."""
    directory, limit = Path(config.cache.dir), int(config.cache.max_size_gb * 10**9)
    use: dict[str, Any] = {"dir": str(directory), "bytes": None, "limit_bytes": limit}
    try:
        use["bytes"] = folder_bytes(directory)
    except OSError as exc:
        use["error"] = exc.strerror or str(exc)
    return use


def summary(
    status: dict[str, Any], health: dict[str, Any], titles: dict[str, str], cache: dict[str, Any]
) -> dict:
    """What a technician reads first, from the daemon's status and health (JSON-friendly)."""
    from art2mus.kiosk_ui.insight import effective_volume

    schedule = status.get("schedule") or {}
    audio = status.get("audio") or {}
    output = audio.get("output") or {}
    playing = status.get("playing")
    names = {**titles, **(status.get("titles") or {}), "idle": "the idle ambience"}
    generation = status.get("generation")
    return {
        "daemon": health["daemon"],
        "open": schedule.get("open", True),
        "period": schedule.get("period"),
        "until": schedule.get("until"),
        "playing": playing,
        "playing_title": names.get(playing, playing) if playing else None,
        "override": status.get("override"),
        "camera": status.get("camera"),
        "audio": {
            "state": audio.get("state"),
            "healthy": audio.get("healthy", False),
            "output": output.get("type"),
            "device": output.get("device_name") or output.get("device") or output.get("path"),
            "master_volume": audio.get("master_volume"),
            "effective_volume": round(effective_volume(status), 4),
            "peak_dbfs": audio.get("peak_dbfs"),
            "underruns": audio.get("underruns", 0),
        },
        "generation": generation,
        "attention": status.get("attention") or [],
        "reload": status.get("reload"),
        "cache": cache,
    }


def _size(n: float) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e9 else f"{n / 1e6:.1f} MB"


def lines(facts: dict[str, Any]) -> list[str]:
    """The summary as ``name  detail`` lines."""
    daemon = facts["daemon"]
    out = [
        (
            "daemon",
            f"running, pid {daemon['pid']}, up {duration(daemon['uptime_s'])}, art2mus {daemon['version']}",
        )
    ]
    period = f" (period {facts['period']!r})" if facts.get("period") not in (None, "always") else ""
    until = f" until {facts['until'][11:16]}" if facts.get("until") else ""
    out.append(("room", ("open" + period if facts["open"] else "closed by the opening hours") + until))
    if facts["playing"]:
        how = "chosen on the panel" if facts.get("override") else "following the camera"
        out.append(("playing", f"{facts['playing_title']} ({how})"))
    else:
        out.append(("playing", "nothing"))
    camera = facts.get("camera")
    if camera is None:
        out.append(("camera", "not started"))
    else:
        age = camera.get("last_frame_age_s")
        frame = f", last frame {age:.1f} s ago" if age is not None else ", no frame yet"
        picture = camera.get("picture")
        seen = f", picture {picture} for {camera.get('picture_s') or 0:.0f} s" if picture in ("frozen", "black") else ""
        out.append(
            (
                "camera",
                f"{camera.get('state')}{seen}, {camera.get('fps', 0):.1f} fps{frame}, "
                f"{camera.get('reconnects', 0)} reconnects",
            )
        )
    audio = facts["audio"]
    device = f" {audio['device']!r}" if audio.get("device") not in (None, "") else ""
    level = f"volume {round(100 * (audio['master_volume'] or 0))} %, the room gets {round(100 * audio['effective_volume'])} %"
    peak = f", peak {audio['peak_dbfs']:.1f} dBFS" if audio.get("peak_dbfs") is not None else ", silent"
    out.append(
        (
            "audio",
            f"{audio['state']} on {audio['output']}{device}, {level}{peak}, {audio['underruns']} underruns",
        )
    )
    generation = facts.get("generation")
    if generation is None:
        out.append(("generator", "no generator process (procedural generators only)"))
    else:
        state = f"running (pid {generation.get('pid')})" if generation.get("alive") else "DOWN"
        counts = f"{generation.get('queued', 0)} queued, {generation.get('done', 0)} done, {generation.get('failed', 0)} failed"
        out.append(("generator", f"{state}, {counts}, {generation.get('restarts', 0)} restarts"))
    cache = facts["cache"]
    if cache["bytes"] is None:
        out.append(
            (
                "cache",
                f"cannot read {cache['dir']}: {cache.get('error')} (limit {_size(cache['limit_bytes'])})",
            )
        )
    else:
        share = 100 * cache["bytes"] / cache["limit_bytes"]
        out.append(
            (
                "cache",
                f"{_size(cache['bytes'])} of {_size(cache['limit_bytes'])} ({share:.1f} %) in {cache['dir']}",
            )
        )
    text = [f"{name:10s} {detail}" for name, detail in out]
    attention = facts["attention"]
    text.append(f"{'attention':10s} " + ("none" if not attention else f"{len(attention)}:"))
    text.extend(f"{'':10s} - {reason}" for reason in attention)
    return text


@click.command("status")
@click.argument("exhibit", type=click.Path(dir_okay=False, path_type=Path), required=False)
@click.option("--json", "as_json", is_flag=True, help="One JSON object (for scripts) instead of lines.")
@click.option(
    "--panel-port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Ask the panel on this port instead of control_panel.port (a daemon run with --panel-port).",
)
@click.option("--url", default=None, help="Ask the panel at this address (http://HOST:PORT) instead.")
def command(exhibit: Path | None, as_json: bool, panel_port: int | None, url: str | None) -> None:
    """Ask the running daemon of EXHIBIT how the room is, through its control panel (the exhibit's
    control_panel host, port and token): open or closed, what plays, the camera, the audio device and
    level, the generator process, what needs attention (a refused reload included), uptime and the
    soundscape cache's use against cache.max_size_gb. When nothing answers at the port, the lock file in
    the cache folder says where a daemon of EXHIBIT run with --panel-port has its panel, and it is asked
    there. When EXHIBIT cannot be read (an edit a reload refused), its problem is a warning and the
    daemon is still asked: at --url or --panel-port, else where the lock file in the cache folder says
    (cache.dir and control_panel as far as the file's own sections read, else their defaults).

    EXHIBIT defaults to $ART2MUS_EXHIBIT, else the installed /etc/art2mus/exhibit.yaml (the one the
    systemd unit runs) when it exists, else the demo; the first line says which. With --json every key is
    always there (null when unknown), also on exit codes 2 to 4.

    \b
    Exit codes:
      0  the daemon answers and nothing needs attention (a room closed by its opening hours is well)
      1  the daemon answers and something needs attention (listed), or EXHIBIT cannot be read
      2  a usage error, or EXHIBIT cannot be read and no daemon of it answers
      3  no art2mus daemon answers at the panel's address (not running, another program, token refused)
      4  the daemon that answers runs another exhibit file
    """
    from art2mus.installation.cli.shared import chosen_exhibit

    path, why = chosen_exhibit(exhibit)
    config, problems = panel_config(path)
    facts: dict[str, Any] = dict.fromkeys(JSON_KEYS) | {"exhibit": str(path), "chosen": why}
    # a file that cannot be read (the edit a reload just refused) does not keep the daemon from being asked
    broken = [str(problem) for problem in problems[:5]] if config is None else []
    read: set[str] = set(_LENIENT_SECTIONS)
    if broken:
        config, read = lenient_panel_config(path)

    def header(panel: str = "", reached: bool = False) -> None:
        click.echo(f"exhibit    {path} ({why}){panel}")
        for problem in broken:
            click.echo(f"{'warning':10s} the file cannot be read: {problem}")
        defaults = sorted(set(_LENIENT_SECTIONS) - read)
        if broken and defaults:
            click.echo(f"{'':10s} ({' and '.join(defaults)} taken at the defaults: unreadable too)")
        if broken and reached:
            click.echo(f"{'':10s} (the daemon plays on with what it read before; a reload or a start refuses the file)")

    configured = config.control_panel.port
    given = panel_port is not None or url is not None
    try:
        address = PanelAddress.of(config, port=panel_port, url=url)
        if broken and not given and "control_panel" not in read:  # the lock file knows better than a default
            elsewhere = daemon_elsewhere(config, path, configured)
            if elsewhere is not None and elsewhere[1]:
                facts["elsewhere"] = elsewhere_sentence(*elsewhere)
                address = address.on_port(elsewhere[1])
        facts["url"] = address.url
        try:
            health = ask_health(address)
        except NothingAnswers as exc:  # a daemon of this exhibit run with --panel-port?
            elsewhere = None if given or facts["elsewhere"] else daemon_elsewhere(config, path, configured)
            if elsewhere is None:
                raise
            if not elsewhere[1]:  # a port it chose: the lock file cannot say which
                raise NothingAnswers(f"{exc}; {elsewhere_sentence(*elsewhere)}") from None
            facts["elsewhere"] = elsewhere_sentence(*elsewhere)
            address = address.on_port(elsewhere[1])
            facts["url"] = address.url
            health = ask_health(address)
        theirs = health["daemon"].get("exhibit")
        if not same_exhibit(theirs, path):
            facts.update(reachable=True, daemon=health["daemon"])
            where = address.url.removeprefix("http://")
            facts["error"] = "; ".join([*broken, f"the daemon on {where} runs {theirs}, not this one"])
            if as_json:
                click.echo(json.dumps(facts))
            else:
                header()
                click.echo(f"daemon     ANOTHER EXHIBIT: the daemon on {where} runs {theirs}, not this one")
            raise click.exceptions.Exit(EXIT_OTHER_EXHIBIT)
        _, status = ask(address, "/api/status")
        _, artworks = ask(address, "/api/artworks")
    except DaemonUnreachable as exc:
        facts.update(reachable=False, error="; ".join([*broken, str(exc)]))
        if as_json:
            click.echo(json.dumps(facts))
        else:
            header()
            click.echo(f"daemon     UNREACHABLE: {exc}")
        raise click.exceptions.Exit(EXIT_UNREADABLE if broken else EXIT_UNREACHABLE) from None
    titles = {a["id"]: a.get("title") or a["id"] for a in artworks if isinstance(a, dict) and "id" in a}
    facts.update(reachable=True, **summary(status, health, titles, cache_use(config)))
    if broken:
        facts["error"] = "; ".join(broken)
    if as_json:
        click.echo(json.dumps(facts))
    else:
        header(f", panel {facts['url']}", reached=True)
        if facts["elsewhere"]:
            default = "" if "control_panel" in read else " (its default: the section cannot be read)"
            click.echo(f"{'panel':10s} not on control_panel.port {configured}{default}: {facts['elsewhere']}")
        for line in lines(facts):
            click.echo(line)
    raise click.exceptions.Exit(EXIT_ATTENTION if facts["attention"] or broken else EXIT_WELL)
