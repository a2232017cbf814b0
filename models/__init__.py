"""The model side: generators and the networks behind them.

- :mod:`.generator` (the interface) and :mod:`.registry` (``GENERATORS``): each generator declares its exhibit
  ``*Config`` beside its class (:mod:`.procedural` the procedural sonifier, :mod:`.art2mus_generator`).
- :mod:`.encoders`: image encoders (ImageBind, CLIP, their ONNX exports) on the same plugin pattern
  (``ENCODERS``; each backend's config imports no torch).
- :mod:`.aligner`: encoder embeddings -> GPT-2 tokens; :mod:`.profiles`: how tokens and prompts condition
  AudioLDM2.
- :mod:`.pipeline`: the Art2Mus pipeline on diffusers' AudioLDM2 parts, with :mod:`.conditioning` (the
  conditioning streams, the ``art2mus-v1`` profile's encodings), :mod:`.pipeline_checks` (input checks) and
  :mod:`.pipeline_loading` (loading); :mod:`.long_clip` (stitched long soundscapes), :mod:`.loudness`.
- :mod:`.model_dir` (the local model directory) and :mod:`.manage` (``art2mus models``: list, pull, import
  v1 aligners, export ONNX); :mod:`.debug`: tiny random-weight builds of every network.

Nothing here imports the installation or training code (shared building blocks are in
:mod:`art2mus.common`)."""
