"""Image encoders, the aligner, the Art2Mus pipeline on diffusers' AudioLDM2 parts (:mod:`.pipeline`, loaded by
:mod:`.pipeline_loading`), the procedural sonifier, ONNX export and tiny debug models. Each generator declares
its exhibit ``*Config`` beside its class; :mod:`.registry` lists them. Nothing here imports the installation
or training code (shared building blocks are in :mod:`art2mus.common`)."""
