"""Training options on the debug build: gradient accumulation, min-SNR, the guided loss, v1's audio
normalisation, the modality-gap shift, pairing by ImageBind scores, curator rules, folder scans and v1's
pair list."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from art2mus.training import features
from art2mus.training.aligner_step import aligner_training_step, diffusion_loss
from art2mus.training.collection import CollectionError, scan_images, scan_music
from art2mus.training.dataset import PairsError
from art2mus.training.modality_gap import apply_shift, fit_shift
from art2mus.training.pairing import CuratorRules, assign_pairs, read_v1_pairs


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    from art2mus.models.aligner import ImageAligner
    from art2mus.models.debug import build_debug_model_dir
    from art2mus.models.pipeline import Art2MusPipeline

    torch.set_num_threads(1)
    models = build_debug_model_dir(tmp_path_factory.mktemp("models") / "models", encoders=("imagebind",))
    pipe = Art2MusPipeline.from_model_dir(models, encoder="imagebind")
    torch.manual_seed(0)
    pipe.set_aligner(
        ImageAligner(pipe.encoder.spec.name, pipe.encoder.spec.dim, lm_dim=pipe.lm_dim, n_tokens=2)
    )
    return pipe


def _batch(pipe, n=4):
    g = torch.Generator().manual_seed(3)
    emb = torch.nn.functional.normalize(torch.randn(n, pipe.encoder.spec.dim, generator=g), dim=-1)
    return emb, torch.randn(n, 8, 4, 16, generator=g)


def test_gradient_accumulation_sums_the_micro_batches_gradients(pipeline):
    emb, lat = _batch(pipeline)
    start = {k: v.clone() for k, v in pipeline.aligner.state_dict().items()}
    sgd = torch.optim.SGD(pipeline.aligner.parameters(), lr=1.0)
    step = aligner_training_step(
        pipeline,
        sgd,
        emb,
        lat,
        generator=torch.Generator().manual_seed(5),
        max_grad_norm=None,
        accumulation=2,
    )
    moved = {k: start[k] - v for k, v in pipeline.aligner.state_dict().items()}  # = the gradient (SGD, lr 1)
    pipeline.aligner.load_state_dict(start)
    pipeline.aligner.zero_grad()
    g = torch.Generator().manual_seed(5)
    first, _ = diffusion_loss(pipeline, emb[:2], lat[:2], generator=g)
    second, _ = diffusion_loss(pipeline, emb[2:], lat[2:], generator=g)
    ((first + second) / 2).backward()
    expected = dict(pipeline.aligner.named_parameters())
    assert step.loss == pytest.approx(float((first + second).detach() / 2), rel=1e-5)
    for name, grad in moved.items():
        assert torch.allclose(grad, expected[name].grad, atol=1e-6), name
    pipeline.aligner.load_state_dict(start)


def test_min_snr_weighting_lowers_low_noise_samples_and_is_plain_mse_for_a_huge_gamma(pipeline):
    emb, lat = _batch(pipeline, 16)  # 16 timesteps: some with SNR > 1 (early, low-noise steps)

    def loss(**options):
        with torch.no_grad():
            return float(
                diffusion_loss(pipeline, emb, lat, generator=torch.Generator().manual_seed(1), **options)[0]
            )

    plain = loss()
    assert loss(snr_gamma=1e12) == pytest.approx(plain, rel=1e-6)  # min(snr, gamma) / snr = 1
    weighted = loss(snr_gamma=1.0)
    assert weighted < plain  # every weight is <= 1 and the timesteps drawn have SNR > 1 somewhere


def test_the_guided_loss_uses_the_negative_branch(pipeline):
    emb, lat = _batch(pipeline)
    with torch.no_grad():
        plain = diffusion_loss(pipeline, emb, lat, generator=torch.Generator().manual_seed(1))[0]
        guided = diffusion_loss(
            pipeline, emb, lat, generator=torch.Generator().manual_seed(1), guidance_scale=3.5
        )[0]
        again = diffusion_loss(
            pipeline,
            emb,
            lat,
            generator=torch.Generator().manual_seed(1),
            guidance_scale=3.5,
            negative_prompt="x",
        )[0]
    assert torch.isfinite(guided) and float(guided) != float(plain) and float(again) != float(guided)


def test_v1_audio_normalisation_removes_the_mean_and_peaks_at_half():
    wave = (0.3 + 0.1 * np.sin(np.linspace(0, 50, 4000))).astype(np.float32)
    out = features.normalize_audio(wave, "v1")
    assert abs(float(out.mean())) < 1e-6 and float(np.abs(out).max()) == pytest.approx(0.5, abs=1e-6)
    assert features.normalize_audio(wave, "none") is wave
    with pytest.raises(ValueError, match="one of"):
        features.normalize_audio(wave, "loud")


def test_the_modality_gap_shift_moves_images_into_the_audio_cone_and_travels_with_the_aligner(tmp_path):
    from art2mus.models.aligner import ImageAligner

    rng = np.random.default_rng(0)
    image_axis, audio_axis = np.eye(16)[0], np.eye(16)[1]
    images = image_axis + 0.3 * rng.normal(size=(40, 16))
    audio = audio_axis + 0.3 * rng.normal(size=(60, 16))
    gap = fit_shift(images, audio)
    assert gap.centroid_distance_after < 0.25 * gap.centroid_distance_before
    assert gap.mean_cosine_after > gap.mean_cosine_before
    torch.manual_seed(0)
    aligner = ImageAligner("imagebind_debug", 16, lm_dim=8, n_tokens=2, input_shift=gap.shift)
    x = torch.tensor(images[:3], dtype=torch.float32)
    shifted = torch.tensor(apply_shift(images[:3], np.array(gap.shift)), dtype=torch.float32)
    with torch.no_grad():
        assert torch.allclose(aligner(x), aligner(shifted, shift=False), atol=1e-5)
        back = ImageAligner.load(aligner.save(tmp_path / "a"))
        assert back.input_shift == aligner.input_shift and torch.equal(back(x), aligner(x))
    plain = ImageAligner("imagebind_debug", 16, lm_dim=8, n_tokens=2)
    assert "input_shift" not in json.loads((plain.save(tmp_path / "b") / "config.json").read_text())["config"]
    with pytest.raises(ValueError, match="16 values"):
        ImageAligner("imagebind_debug", 16, lm_dim=8, input_shift=[0.0] * 3)


def test_pairing_spreads_tracks_and_follows_the_rules(tmp_path):
    scores = np.array([[0.9, 0.5, 0.1], [0.8, 0.6, 0.2], [0.7, 0.1, 0.65]])
    greedy = assign_pairs(scores, max_per_track=3)
    assert [a.track for a in greedy] == [0, 0, 0]  # without a cap track 0 takes every painting
    capped = assign_pairs(scores)  # default cap: ceil(3 / 3) = 1 per track
    assert [(a.image, a.track) for a in capped] == [(0, 0), (1, 1), (2, 2)]
    two = assign_pairs(scores, per_image=2, max_per_track=3)
    assert [sum(a.image == i for a in two) for i in range(3)] == [2, 2, 2]
    assert len({(a.image, a.track) for a in two}) == 6  # two different tracks each
    blocked = np.ones_like(scores, dtype=bool)
    blocked[0, 0] = False
    assert assign_pairs(scores, allowed=blocked)[0].track != 0

    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "images:\n  'portrait-*': {tags: [calm]}\n  '*-1600.png': {era: baroque}\n"
        "music:\n  'lullaby*': {tags: [calm]}\n  'march*': {tags: [loud]}\n  'bach*': {era: baroque}\n  'mozart*': {era: classical}\n"
        "never:\n  - {image: 'war-*', music: 'lullaby*'}\n"
    )
    curator = CuratorRules.load(rules)
    assert curator.allowed(Path("portrait-a.png"), Path("lullaby.wav"))
    assert not curator.allowed(Path("portrait-a.png"), Path("march.wav"))  # tags not shared
    assert curator.allowed(Path("landscape.png"), Path("march.wav"))  # unlabelled: unrestricted
    assert not curator.allowed(Path("war-1.png"), Path("lullaby.wav"))
    assert curator.allowed(Path("still-1600.png"), Path("bach-1720.wav"))
    assert not curator.allowed(Path("still-1600.png"), Path("mozart.wav"))  # another era
    bad = tmp_path / "bad.yaml"
    bad.write_text("images:\n  'a*': {tags: [x]}\nnever:\n  - {image: 'a*', song: 'b*'}\n")
    with pytest.raises(PairsError, match=rf"{bad}:4: never.0"):
        CuratorRules.load(bad)


def test_scans_skip_corrupt_images_and_refuse_a_music_folder_without_audio(tmp_path, repo_root):
    images = tmp_path / "images"
    images.mkdir()
    (images / "good.png").write_bytes((repo_root / "exhibits/demo/artworks/amber-fields.png").read_bytes())
    (images / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    scan = scan_images(images)
    assert scan.files == [images / "good.png"]
    assert scan.skipped[0][0] == images / "broken.jpg" and "corrupt" in scan.skipped[0][1]
    music = tmp_path / "music"
    music.mkdir()
    (music / "noise.wav").write_bytes(b"RIFF....WAVEjunk")
    (music / "notes.txt").write_text("not music")
    with pytest.raises(CollectionError, match=rf"{music}: no readable music \(1 audio file\(s\) found, none"):
        scan_music(music)
    soundfile.write(music / "tone.wav", np.zeros(1600, np.float32), 16000)
    found = scan_music(music)
    assert found.files == [music / "tone.wav"] and found.skipped[0][0] == music / "noise.wav"


def test_v1_pair_list_is_read_against_local_artgraph_and_fma_folders(tmp_path):
    images, music = tmp_path / "imagesf2", tmp_path / "fma_large"
    (music / "010").mkdir(parents=True)
    images.mkdir()
    (images / "a_one.jpg").write_bytes(b"x")
    (music / "010" / "010425.mp3").write_bytes(b"x")
    listing = tmp_path / "image_audio_subset_df.json"
    listing.write_text(
        json.dumps(
            {
                "Image": {"0": "a_one.jpg", "1": "b_two.jpg"},
                "Audio": {
                    "0": "fma-dataset-100k-music-wav-files/fma_large/010/010425.mp3",
                    "1": "fma-dataset-100k-music-wav-files/fma_large/036/036460.mp3",
                },
            }
        )
    )
    pairs, problems = read_v1_pairs(listing, images, music)
    assert [(p.id, p.image, p.audio) for p in pairs] == [
        ("v1-0", images / "a_one.jpg", music / "010" / "010425.mp3")
    ]
    assert problems == [
        f'{listing}: Image["1"]: b_two.jpg not found under {images}',
        f'{listing}: Audio["1"]: fma-dataset-100k-music-wav-files/fma_large/036/036460.mp3 not found under {music}',
    ]
    other = tmp_path / "other.json"
    other.write_text('{"images": []}')
    with pytest.raises(PairsError, match="not Art2Mus v1's pair list"):
        read_v1_pairs(other, images, music)
