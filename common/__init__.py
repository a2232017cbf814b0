"""Building blocks shared by the daemon (``art2mus.installation``) and the model code (``art2mus.models``),
which must not import the daemon: :mod:`.schema` (the strict pydantic base and path kinds every config
section and every backend's ``*Config`` is built from), :mod:`.plugins` (the one ``Registry`` of every
``type:`` family: cameras, audio outputs, generators, encoders), :mod:`.digests` (a file's SHA-256, read
once per process while the file is unchanged) and :mod:`.whole_files` (files written whole, renamed into
place, with the umask's mode, safetensors included). Imports neither torch nor OpenCV."""
