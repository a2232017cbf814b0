"""The encoders on the shared plugin pattern: light configs, one registry, built ``from_config``."""

from __future__ import annotations

import pydantic
import pytest
from pydantic import TypeAdapter

from art2mus.models.encoders import (
    ENCODER_BACKENDS,
    ENCODERS,
    ImageEncoderConfig,
    create_encoder,
)
from art2mus.models.encoders.clip_config import CLIPEncoderConfig
from art2mus.models.encoders.imagebind_config import ImageBindEncoderConfig
from art2mus.models.encoders.onnx import OnnxEncoderConfig


def test_the_union_picks_the_config_by_type(tmp_path):
    adapter = TypeAdapter(ImageEncoderConfig)
    config = adapter.validate_python({"type": "onnx", "path": str(tmp_path), "threads": 2})
    assert isinstance(config, OnnxEncoderConfig) and config.threads == 2
    assert isinstance(adapter.validate_python({"type": "imagebind", "path": "x"}), ImageBindEncoderConfig)
    with pytest.raises(pydantic.ValidationError, match="threads"):
        adapter.validate_python({"type": "clip", "path": "x", "threads": 2})  # an ONNX setting
    with pytest.raises(pydantic.ValidationError, match="dino"):
        adapter.validate_python({"type": "dino", "path": "x"})


def test_the_lookup_table_is_derived_from_the_registry():
    assert sorted(ENCODER_BACKENDS) == ["clip", "imagebind", "onnx"]
    for name, entry in ENCODERS.types.items():
        backend = entry.load_class()
        assert f"{backend.__module__}:{backend.__qualname__}" == ENCODER_BACKENDS[name]
        assert backend.config_class is entry.config_class


def test_create_encoder_loads_what_the_config_says(debug_clip_dir, onnx_export_dirs):
    from art2mus.models.encoders.clip import CLIPEncoder
    from art2mus.models.encoders.onnx import OnnxImageEncoder

    clip = create_encoder(CLIPEncoderConfig(path=debug_clip_dir, max_batch=3))
    assert isinstance(clip, CLIPEncoder) and clip.max_batch == 3
    onnx = create_encoder(OnnxEncoderConfig(path=onnx_export_dirs["clip"], max_batch=5))
    assert isinstance(onnx, OnnxImageEncoder) and onnx.max_batch == 5
    with pytest.raises(ValueError, match="unknown image encoder type 'clip'"):
        create_encoder(CLIPEncoderConfig(path=debug_clip_dir), types={})
