"""The exhibit's output folders (cache, recognition index, unseen crops, the WAV output) as a service user
sees them: a state folder it owns under a parent it may not write (``/var/lib/art2mus`` under
``/var/lib``), checked as another user than root, since root may write anywhere."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from art2mus.installation.config import load_exhibit
from art2mus.installation.config.files import check_file, output_problem, unwritable_folders

#: the user a root test run drops to (``nobody``)
OTHER_UID = OTHER_GID = 65534


@pytest.fixture
def var_lib() -> Iterator[Path]:
    """``BASE/lib`` (not writable by the user the check runs as) holding ``art2mus`` (writable by it): the
    unit's ``/var/lib`` and ``StateDirectory=``. Outside pytest's own 0700 folder so that a dropped user
    can reach it."""
    base = Path(tempfile.mkdtemp(prefix="art2mus-var-"))
    base.chmod(0o755)
    state = base / "lib" / "art2mus"
    state.mkdir(parents=True)
    lib = state.parent
    if os.geteuid() == 0:
        os.chown(state, OTHER_UID, OTHER_GID)
        lib.chmod(0o755)
    else:
        lib.chmod(0o555)
    try:
        yield lib
    finally:
        lib.chmod(0o755)
        shutil.rmtree(base)


def as_service_user(work: Callable[[], Any], cwd: Path) -> Any:
    """``work()`` (its answer as JSON) from ``cwd``, as a user that is not root: ``nobody`` in a forked child
    when the tests run as root (as in CI), else this user."""
    if os.geteuid() != 0:
        here = os.getcwd()
        os.chdir(cwd)
        try:
            return json.loads(json.dumps(work()))
        finally:
            os.chdir(here)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop to nobody, work, send the answer, and leave without pytest's cleanup
        status = 1
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(OTHER_GID)
            os.setuid(OTHER_UID)
            os.chdir(cwd)
            os.write(write_end, json.dumps(work()).encode())
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return json.loads(data)


def check_as_service_user(paths: list[Path], cwd: Path) -> list[str | None]:
    """``check_file(path, "output")`` for each path, as :func:`as_service_user`."""
    return as_service_user(lambda: [check_file(path, "output") for path in paths], cwd)


def test_the_state_folder_itself_is_usable_though_its_parent_is_not_writable(var_lib: Path) -> None:
    """`recognition: {index_dir: /var/lib/art2mus}` (the README's own line) kept the service from ever
    starting: the parent `/var/lib` was tested, not the folder the unit owns, and the message read
    "cannot create .: /var/lib is not writable" from the unit's working folder. The folder itself, or what
    is still to be made inside it, is fine; a folder still to be made under `/var/lib` is refused, with
    absolute paths whatever the working folder."""
    state = var_lib / "art2mus"
    answers = check_as_service_user(
        [state, state / "index", state / "cache" / "deep", state / "room.wav", var_lib / "elsewhere"],
        cwd=state,
    )
    assert answers[:4] == [None, None, None, None]
    assert answers[4] is not None
    assert answers[4].startswith(f"cannot create {var_lib / 'elsewhere'}: {var_lib} is not writable by ")


def test_an_existing_output_folder_is_not_refused_and_a_missing_one_names_the_folder_in_the_way(
    tmp_path: Path,
) -> None:
    """With a stand-in for another user's rights: an existing folder is never "cannot create" (whether this
    user may write it is :func:`unwritable_folders`' warning); a missing one is checked at the nearest
    folder that exists, shown absolute."""
    lib = tmp_path / "lib"
    (lib / "art2mus").mkdir(parents=True)

    def only_the_state_folder(path: Path, _mode: int) -> bool:
        return Path(path) == lib / "art2mus"

    assert output_problem(lib / "art2mus", only_the_state_folder) is None
    assert output_problem(lib / "art2mus" / "a" / "b", only_the_state_folder) is None
    message = output_problem(lib / "other" / "cache", only_the_state_folder)
    assert message is not None and message.startswith(
        f"cannot create {lib / 'other' / 'cache'}: {lib} is not"
    )


def test_a_cache_prerendered_by_another_user_names_its_owner_and_the_chown_that_fixes_it(
    var_lib: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`prerender` run as root leaves /var/lib/art2mus/cache root's: the service's warning said "put the
    folder there", though it was there already. It names the folder (absolute), its owner and the user
    running, the `chown -R` that fixes it, and the lost single-instance lock; a folder outside the state
    folder still says where the service may write."""
    state = var_lib / "art2mus"
    cache, index = state / "cache", var_lib / "index"
    cache.mkdir()
    index.mkdir()
    (state / "exhibit.yaml").write_text(
        f"artworks: [{{id: a1, images: [a.png]}}]\ncache: {{dir: {cache}}}\nrecognition: {{index_dir: {index}}}\nunseen: {{dir: {state}}}\n",
        encoding="utf-8",
    )
    if os.geteuid() != 0:
        cache.chmod(0o555)  # as another user could not write it
        index.chmod(0o555)
    monkeypatch.setenv("STATE_DIRECTORY", str(state))
    config = load_exhibit(state / "exhibit.yaml", check_files=False)
    user, owner = as_service_user(
        lambda: (pwd.getpwuid(os.geteuid()).pw_name, pwd.getpwuid(cache.stat().st_uid).pw_name), state
    )
    warnings = {
        text.split(":")[0]: text for text in as_service_user(lambda: unwritable_folders(config), state)
    }
    assert set(warnings) == {"cache.dir", "recognition.index_dir"}
    cache_warning, index_warning = warnings["cache.dir"], warnings["recognition.index_dir"]
    assert cache_warning.startswith(
        f"cache.dir: this user ({user}) may not write {cache} (owned by {owner}): "
    )
    assert "a second daemon is not refused" in cache_warning
    fix = (  # a run as another user than root can only take away its own right to write
        f"(give it to this user: chown -R {user}: {cache}, or run prerender as {user})"
        if owner != user
        else f"(let its owner write it: chmod -R u+rwX {cache})"
    )
    assert cache_warning.endswith(fix)
    assert "put the folder there" not in cache_warning
    assert index_warning.startswith(f"recognition.index_dir: this user ({user}) may not write {index} ")
    assert index_warning.endswith(f"(this service may write only under {state}: put the folder there)")


def test_prerender_checks_only_the_cache_it_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A curator prerendering as their own user was refused over the service's index, unseen crops and WAV
    output, which prerender never writes; the cache it writes is still checked."""
    from art2mus.installation.cli.shared import load_or_exit  # noqa: PLC0415

    service = tmp_path / "service"  # the service's folders, not the curator's
    service.mkdir()
    real_access = os.access

    def curator(path, mode, *args, **kwargs):
        if mode & os.W_OK and Path(path).is_relative_to(service):
            return False
        return real_access(path, mode, *args, **kwargs)

    monkeypatch.setattr("art2mus.installation.config.files.os.access", curator)
    exhibit = tmp_path / "exhibit.yaml"
    outputs = (
        f"recognition: {{index_dir: {service}/index}}\nunseen: {{dir: {service}/unseen}}\n"
        f"audio: {{output: {{type: wav, path: {service}/room.wav}}}}\n"
    )
    painting = Path(__file__).resolve().parents[2] / "exhibits/demo/artworks/amber-fields.png"
    artworks = f"artworks: [{{id: a1, images: [{painting}]}}]\n"
    exhibit.write_text(f"{artworks}cache: {{dir: {tmp_path}/cache}}\n{outputs}")
    assert load_or_exit(exhibit, writes=("cache",)).cache.dir == tmp_path / "cache"
    with pytest.raises(SystemExit):  # run writes them all
        load_or_exit(exhibit)
    exhibit.write_text(f"{artworks}cache: {{dir: {service}/cache}}\n{outputs}")
    with pytest.raises(SystemExit):
        load_or_exit(exhibit, writes=("cache",))
