"""``load_image_encoder``: the backend table, and a light import."""

from __future__ import annotations

import subprocess
import sys

import pytest

from art2mus.models.encoders import ENCODER_BACKENDS, load_image_encoder


def test_importing_the_package_does_not_import_torch():
    script = "import sys, art2mus.models.encoders as e; print(sorted(m for m in ('torch', 'transformers', 'onnxruntime') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"


def test_unknown_kind_lists_the_known_ones(tmp_path):
    with pytest.raises(ValueError, match=r"'dino'.*\['clip', 'imagebind', 'onnx'\]"):
        load_image_encoder("dino", tmp_path)


def test_backend_table_can_be_replaced(tmp_path):
    """The factory is a dict lookup, so a test or a plug-in can add a backend."""
    table = {**ENCODER_BACKENDS, "fake": f"{__name__}:FakeEncoder"}
    encoder = load_image_encoder(
        "fake", tmp_path, device="cuda", dtype="float16", backends=table, max_batch=3
    )
    assert isinstance(encoder, FakeEncoder)
    assert encoder.arguments == (tmp_path, "cuda", "float16", {"max_batch": 3})


class FakeEncoder:
    def __init__(self, arguments):
        self.arguments = arguments

    @classmethod
    def from_pretrained(cls, path, device, dtype, **options):
        return cls((path, device, dtype, options))


def test_each_kind_loads_its_debug_build(debug_imagebind_dir, debug_clip_dir, onnx_export_dirs):
    from art2mus.models.encoders.clip import CLIPEncoder
    from art2mus.models.encoders.imagebind import ImageBindEncoder
    from art2mus.models.encoders.onnx import OnnxImageEncoder

    assert isinstance(load_image_encoder("imagebind", debug_imagebind_dir), ImageBindEncoder)
    assert isinstance(load_image_encoder("clip", debug_clip_dir), CLIPEncoder)
    assert isinstance(load_image_encoder("onnx", onnx_export_dirs["imagebind"]), OnnxImageEncoder)
