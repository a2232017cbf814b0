"""schemathesis against the control panel's own OpenAPI spec, over the daemon's real uvicorn server on a
gallery running in real time: whatever it sends, the answer is never a server error (5xx)."""

from __future__ import annotations

import threading

import pytest
from hypothesis import HealthCheck, given, settings
from test_control_panel_api import GIVE_UP, wait_for, write_small_exhibit

from art2mus.installation.config import load_exhibit
from art2mus.installation.gallery import Gallery

schemathesis = pytest.importorskip("schemathesis")

TOKEN = "fuzz-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def fuzzed_panel(tmp_path_factory, repo_root):
    tmp_path = tmp_path_factory.mktemp("fuzz")
    exhibit = write_small_exhibit(tmp_path, repo_root, control_panel={"token": TOKEN})
    gallery = Gallery(load_exhibit(exhibit)).build(control_panel_port=0)
    stop, ready = threading.Event(), threading.Event()
    thread = threading.Thread(
        target=gallery.run, args=(stop,), kwargs={"on_ready": lambda g: ready.set()}, daemon=True
    )
    thread.start()
    assert ready.wait(GIVE_UP)
    yield gallery
    stop.set()
    thread.join(10)
    assert not thread.is_alive()


def test_no_input_makes_a_server_error(fuzzed_panel):
    url = fuzzed_panel.control_panel.url
    schema = schemathesis.openapi.from_url(url + "api/openapi.json", headers=AUTH)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 14  # every route is in the spec
    calls = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def call(case):
            response = case.call(headers=AUTH)
            calls.append(response.status_code)
            assert response.status_code < 500, (
                case.method,
                case.formatted_path,
                response.status_code,
                response.text[:300],
            )

        call()
    assert len(calls) > 100 and all(code < 500 for code in calls)
    # the room plays on whatever the panel was sent
    assert wait_for(lambda: fuzzed_panel.engine.status()["state"] == "playing")
