"""Building blocks shared by the daemon (``art2mus.installation``) and the model code (``art2mus.models``),
which must not import the daemon: :mod:`.schema` (the strict pydantic base and path kinds every config
section and every backend's ``*Config`` is built from) and :mod:`.plugins` (the one ``Registry`` of every
``type:`` family: cameras, audio outputs, generators, encoders). Imports neither torch nor OpenCV."""
