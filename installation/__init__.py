"""The gallery daemon, in the order of the data flow.

``config/`` (the exhibit YAML, one model per section) -> ``vision/`` (camera sources, the frame grabber,
recognition, presence, debounce) -> :mod:`.director` (what should sound now) -> :mod:`.soundscapes`
(where each sound comes from: :mod:`.cache`, a generator, a bridge, :mod:`.generation_worker`) ->
``audio/`` (the engine and its outputs). :mod:`.gallery` builds and runs all of it (:mod:`.daemon`: until a
signal, reloading on SIGHUP), :mod:`.control` is what the control panel asks of it; :mod:`.schedule` (opening hours, the nightly retry), :mod:`.health`
(``art2mus doctor``), :mod:`.rendering` (``art2mus render``) and ``cli/`` (the ``art2mus`` command
line) sit around it. The ``type:`` families follow :mod:`art2mus.common.plugins`. Training code is never
imported here.
"""
