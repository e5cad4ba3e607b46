"""The noise check: its limit from real images, and the pipeline redrawing base images rougher than it."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from models.diffusion.noise_check import NoiseCheck, fit_noise_check
from models.diffusion.pipeline import NOISE_REDRAW_SEED_STRIDE, RadSynthPipeline
from models.metrics.realism import roughness
from models.vocabulary.findings import NIH_LABELS
from tests.conftest import FIXTURES, tiny_pipeline

SAMPLING = {"num_inference_steps": 3, "guidance_scale": 1.0}


def real_fixture_images() -> np.ndarray:
    from PIL import Image

    paths = sorted((FIXTURES / "nih" / "images").glob("*.png"))
    return np.stack([np.asarray(Image.open(p).convert("L"), dtype=np.float32) / 255 for p in paths])


def test_the_limit_is_the_quantile_of_the_real_images_roughness():
    real = real_fixture_images()
    check = fit_noise_check(real, quantile=0.9, dataset="fixture")
    assert check.roughness_limit == pytest.approx(np.quantile(roughness(real), 0.9))
    assert check.too_rough(real).mean() == pytest.approx(0.1, abs=1.5 / len(real))
    noise = np.random.default_rng(0).random((4, 64, 64)).astype(np.float32)
    assert check.too_rough(noise).all()
    assert NoiseCheck.from_json(check.to_json()) == check


@pytest.mark.parametrize("quantile, n, message", [(0.3, 40, "quantile"), (0.99, 5, "at least 20")])
def test_a_limit_from_bad_arguments_is_refused(quantile, n, message):
    with pytest.raises(ValueError, match=message):
        fit_noise_check(np.zeros((n, 64, 64), np.float32), quantile=quantile)


@pytest.fixture()
def pipe() -> RadSynthPipeline:
    return tiny_pipeline(NIH_LABELS)


def test_images_rougher_than_the_limit_are_redrawn_on_new_seeds_that_reproduce_them(pipe):
    seeds = [11, 12, 13, 14, 15, 16]
    raw = pipe("mass", len(seeds), seeds=seeds, **SAMPLING)
    r = roughness(raw.images, pipe.unet.config.sample_size)
    limit = float(np.median(r))
    pipe.noise_check = NoiseCheck(roughness_limit=limit, size=pipe.unet.config.sample_size, max_attempts=2)
    checked = pipe("mass", len(seeds), seeds=seeds, **SAMPLING)

    rough = r > limit
    assert rough.any() and not rough.all()
    redraws = np.array(checked.extra["noise_redraws"])
    assert (redraws[rough] >= 1).all() and (redraws[~rough] == 0).all()
    np.testing.assert_array_equal(checked.images[~rough], raw.images[~rough])
    for i in np.flatnonzero(rough):
        drawn = [seeds[i] + k * NOISE_REDRAW_SEED_STRIDE for k in range(1, redraws[i] + 1)]
        assert checked.seeds[i] in [seeds[i], *drawn]  # the raw image stays if every redraw is rougher still
        again = pipe("mass", 1, seeds=[checked.seeds[i]], redraw_noise=False, **SAMPLING)
        np.testing.assert_allclose(again.images[0], checked.images[i], atol=1e-5)
        if roughness(checked.images[i:i + 1], pipe.unet.config.sample_size)[0] > limit:
            assert redraws[i] == 2  # still rough only after the last attempt
            # ... and then the least rough of its candidates (the raw image and each redraw) is delivered
            candidates = [seeds[i], *drawn]
            tried = pipe("mass", len(candidates), seeds=candidates, redraw_noise=False, **SAMPLING).images
            r_tried = roughness(tried, pipe.unet.config.sample_size)
            assert checked.seeds[i] == candidates[int(np.argmin(r_tried))]

    off = pipe("mass", len(seeds), seeds=seeds, redraw_noise=False, **SAMPLING)
    np.testing.assert_array_equal(off.images, raw.images)
    assert "noise_redraws" not in off.extra


def test_frames_of_a_redrawn_image_are_its_own(pipe):
    pipe.noise_check = NoiseCheck(roughness_limit=-1.0, size=pipe.unet.config.sample_size, max_attempts=1)
    out = pipe("effusion", 2, seeds=[3, 4], return_frames=True, num_frames=3, **SAMPLING)
    assert out.extra["noise_redraws"] == [1, 1]
    alone = pipe("effusion", 2, seeds=out.seeds, return_frames=True, num_frames=3, redraw_noise=False, **SAMPLING)
    np.testing.assert_allclose(out.frames, alone.frames, atol=1e-5)


def test_the_check_travels_with_the_saved_model(pipe, tmp_path):
    check = fit_noise_check(real_fixture_images(), dataset="fixture")
    pipe.noise_check = replace(check, max_attempts=3)
    loaded = RadSynthPipeline.load(pipe.save(tmp_path / "gen"))
    assert loaded.noise_check == pipe.noise_check
    from models.catalog import describe

    assert describe(tmp_path / "gen")["noise_check"] == pipe.noise_check.to_json()  # GET /models shows it


def test_files_and_synthetic_rows_name_the_seed_a_redrawn_image_came_from(pipe, tmp_path):
    from PIL import Image

    from models.workflows.generate import write_outputs
    from models.workflows.synthesize import ROWS, plan, synthesize

    pipe.noise_check = NoiseCheck(roughness_limit=-1.0, size=pipe.unet.config.sample_size, max_attempts=1)
    out = pipe("mass", 2, seeds=[21, 22], **SAMPLING)
    written = write_outputs(out, tmp_path / "gen", model_name="tiny")
    assert written["noise_redraws"] == 2
    for item, seed in zip(written["images"], [21, 22], strict=True):  # every image fails: the less rough is kept
        assert item["seed"] in (seed, seed + NOISE_REDRAW_SEED_STRIDE) and item["noise_redraws"] == 1
        text = Image.open(item["files"][0]).text
        assert text["seed"] == str(item["seed"]) and text["noise_redraws"] == "1"

    made = synthesize(pipe, tmp_path / "syn", plan({"Mass": 2}, seed=300), model_name="tiny", sampling=SAMPLING)
    assert made["made"] == 2
    rows = [json.loads(line) for line in (tmp_path / "syn" / ROWS).read_text().splitlines()]
    assert sorted(r["seed"] % NOISE_REDRAW_SEED_STRIDE for r in rows) == [300, 301]
    assert all(r["seed"] // NOISE_REDRAW_SEED_STRIDE in (0, 1) for r in rows)  # the raw seed or its one redraw
    assert {r["noise_redraws"] for r in rows} == {1}


def test_featureless_grey_fields_fail_the_check_and_real_radiographs_rarely_do():
    """QC passed a featureless grey square as the best 'agreeing' image: a structure floor (the 1st percentile of
    the training images' band-pass energy) refuses it, while noise is left to the roughness limit."""
    from models.metrics.realism import structure

    real = real_fixture_images()
    check = fit_noise_check(real, quantile=0.95)
    assert check.structure_limit == pytest.approx(np.quantile(structure(real), 0.05))
    assert check.featureless(real).mean() <= 0.05 + 1.5 / len(real)
    rng = np.random.default_rng(1)
    grey = np.clip(0.55 + 0.01 * rng.standard_normal((3, 64, 64)), 0, 1).astype(np.float32)
    hazy = np.clip(0.6 + 0.15 * (real[:3] - real[:3].mean()), 0, 1)
    from scipy.ndimage import gaussian_filter

    washed = gaussian_filter(hazy, sigma=(0, 5, 5)).astype(np.float32)  # faint blurred lungs on a grey field
    assert check.featureless(grey).all() and check.featureless(washed).all()
    assert check.fails(grey).all() and not check.too_rough(grey).any()
    old = NoiseCheck.from_json({"roughness_limit": 0.05, "size": 64})  # a radsynth.json from before: no floor
    assert old.structure_limit is None and not old.featureless(grey).any()


def test_featureless_base_images_are_redrawn(pipe):
    seeds = [21, 22, 23, 24]
    raw = pipe("mass", len(seeds), seeds=seeds, **SAMPLING)
    from models.metrics.realism import structure

    s = structure(raw.images, pipe.unet.config.sample_size)
    floor = float(np.median(s))
    pipe.noise_check = NoiseCheck(roughness_limit=1.0, structure_limit=floor, size=pipe.unet.config.sample_size)
    checked = pipe("mass", len(seeds), seeds=seeds, **SAMPLING)
    redraws = np.array(checked.extra["noise_redraws"])
    assert (s < floor).any() and (redraws[s < floor] >= 1).all() and (redraws[s >= floor] == 0).all()


def test_the_pipeline_redraws_base_images_below_the_contrast_floor(pipe):
    """The tiny test model's images span the whole grey range (contrast 1), so a floor above that fails every
    image (each is drawn again up to the allowed attempts) and one below it fails none."""
    from models.metrics.realism import lung_contrast

    seeds = [31, 32, 33]
    size = pipe.unet.config.sample_size
    raw = pipe("mass", len(seeds), seeds=seeds, **SAMPLING)
    top = float(lung_contrast(raw.images, size).max())
    pipe.noise_check = NoiseCheck(roughness_limit=1.0, contrast_limit=top + 0.5, size=size, max_attempts=2)
    assert pipe("mass", len(seeds), seeds=seeds, **SAMPLING).extra["noise_redraws"] == [2, 2, 2]
    pipe.noise_check = NoiseCheck(roughness_limit=1.0, contrast_limit=top / 2, size=size, max_attempts=2)
    assert pipe("mass", len(seeds), seeds=seeds, **SAMPLING).extra["noise_redraws"] == [0, 0, 0]


def test_washed_out_hazes_fail_the_check_on_contrast_alone_and_real_radiographs_rarely_do():
    """A hazy grey field with faint lungs can keep enough band-pass structure to pass the structure floor: the
    contrast floor (the 1 - quantile of the training images' chest contrast) refuses it."""
    from models.metrics.realism import lung_contrast

    real = real_fixture_images()
    check = fit_noise_check(real, quantile=0.95)
    assert check.contrast_limit == pytest.approx(np.quantile(lung_contrast(real), 0.05))
    assert check.washed_out(real).mean() <= 0.05 + 1.5 / len(real)
    # the same radiographs with their grey levels squeezed towards mid-grey: edges kept, contrast gone
    haze = np.clip(0.6 + 0.2 * (real[:4] - real[:4].mean(axis=(1, 2), keepdims=True)), 0, 1).astype(np.float32)
    assert check.washed_out(haze).all() and not check.too_rough(haze).any()
    assert check.fails(haze).all()
    # of two failing candidates the less washed-out one has the smaller violation
    fainter = np.clip(0.6 + 0.1 * (real[:1] - real[:1].mean()), 0, 1).astype(np.float32)
    assert check.violation(fainter)[0] > check.violation(haze[:1])[0] > 0
    without = NoiseCheck.from_json({k: v for k, v in check.to_json().items() if k != "contrast_limit"})
    assert without.contrast_limit is None and not without.washed_out(haze).any()  # a model fitted before
