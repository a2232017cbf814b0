"""A generator backend for the Ray pre-render tests, importable by Ray's worker processes (PYTHONPATH).

``DyingOnceGenerator`` is the procedural sonifier whose first ``generate`` anywhere kills its own process
(``os._exit``), as a worker lost mid-job would be; the marker file named by ``ART2MUS_TEST_DIE_ONCE``
remembers across processes that it already died.
"""

from __future__ import annotations

import os
from pathlib import Path

from art2mus.models.procedural import ProceduralGenerator


class DyingOnceGenerator(ProceduralGenerator):
    def generate(self, image, request):
        marker = Path(os.environ["ART2MUS_TEST_DIE_ONCE"])
        try:
            with open(marker, "x") as handle:  # exclusive: only the first caller anywhere dies
                handle.write(str(os.getpid()))
        except FileExistsError:
            return super().generate(image, request)
        os._exit(1)


class CountedGenerator(ProceduralGenerator):
    """The procedural sonifier that records each build (``pid OMP_NUM_THREADS``, one line) in the file
    named by ``ART2MUS_TEST_BUILDS``: how many times, and with how many threads, the actors built it."""

    def __init__(self, **settings):
        super().__init__(**settings)
        with open(os.environ["ART2MUS_TEST_BUILDS"], "a") as handle:
            handle.write(f"{os.getpid()} {os.environ.get('OMP_NUM_THREADS')}\n")
