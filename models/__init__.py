"""Image encoders, the aligner, the Art2Mus pipeline on diffusers' AudioLDM2 parts, the procedural
sonifier, ONNX export and tiny debug models. Nothing here imports the installation or training code."""
