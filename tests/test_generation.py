"""Pipeline sampling with tiny seeded models: reproducibility, guidance, samplers, finding names."""

from __future__ import annotations

import numpy as np
import pytest

from models.diffusion.pipeline import RadSynthPipeline
from models.vocabulary.findings import NIH_LABELS, UnknownFindingError, resolve
from tests.conftest import tiny_pipeline


@pytest.fixture(scope="module")
def pipe() -> RadSynthPipeline:
    return tiny_pipeline(NIH_LABELS)


def test_same_seed_gives_identical_images(pipe):
    a = pipe("consolidation", 2, seeds=[7, 8], num_inference_steps=3)
    b = pipe("Consolidation", 2, seeds=[7, 8], num_inference_steps=3)
    np.testing.assert_array_equal(a.images, b.images)
    assert a.seeds == [7, 8]


def test_bf16_sampling_is_reproducible_and_close_to_float32(pipe):
    fp32 = pipe("effusion", 2, seeds=[5, 6], num_inference_steps=4)
    bf16 = pipe("effusion", 2, seeds=[5, 6], num_inference_steps=4, precision="bf16")
    again = pipe("effusion", 2, seeds=[5, 6], num_inference_steps=4, precision="bf16")
    np.testing.assert_array_equal(bf16.images, again.images)
    assert bf16.images.dtype == fp32.images.dtype and not np.array_equal(bf16.images, fp32.images)
    assert np.abs(bf16.images - fp32.images).mean() < 0.02  # the same images, up to bf16 rounding


def test_an_image_depends_on_its_seed_alone_not_its_batch(pipe):
    batch = pipe("mass", 3, seeds=[1, 2, 3], sampler="ddpm", num_inference_steps=4)
    alone = pipe("mass", 1, seeds=[2], sampler="ddpm", num_inference_steps=4)
    np.testing.assert_allclose(batch.images[1], alone.images[0], atol=1e-5)
    assert not np.allclose(batch.images[0], batch.images[1])


@pytest.mark.parametrize("sampler", ["dpmsolver++", "ddpm"])
def test_requests_batched_together_match_each_request_alone(pipe, sampler):
    """What the worker's cross-job batching relies on: several jobs' requests in one UNet batch give each job
    the images it would have got alone (its own findings, its own seeds)."""
    requests = [("mass", [5, 6]), ("effusion+cardiomegaly", [9]), ("no finding", [5])]
    together = pipe.sample_requests(requests, sampler=sampler, num_inference_steps=4, guidance_scale=2.5)
    assert [o.seeds for o in together] == [[5, 6], [9], [5]]
    assert together[1].findings == ["Effusion", "Cardiomegaly"]
    for (findings, seeds), out in zip(requests, together, strict=True):
        alone = pipe(findings, len(seeds), seeds=seeds, sampler=sampler, num_inference_steps=4, guidance_scale=2.5)
        np.testing.assert_allclose(out.images, alone.images, atol=1e-5)
    assert not np.allclose(together[0].images[0], together[2].images[0])  # same seed, other finding


def test_guidance_changes_the_output(pipe):
    g1 = pipe("effusion", 1, seeds=[3], guidance_scale=1.0, num_inference_steps=3).images
    g3 = pipe("effusion", 1, seeds=[3], guidance_scale=3.0, num_inference_steps=3).images
    assert np.abs(g1 - g3).max() > 1e-3


def test_findings_condition_the_output(pipe):
    a = pipe("effusion", 1, seeds=[3], num_inference_steps=3).images
    b = pipe("no finding", 1, seeds=[3], num_inference_steps=3).images
    assert np.abs(a - b).max() > 1e-4


@pytest.mark.parametrize("sampler", ["ddpm", "ddim", "dpmsolver++", "unipc", "euler"])
def test_samplers_swap_and_give_valid_images(pipe, sampler):
    out = pipe("mass", 2, seeds=[1, 2], sampler=sampler, num_inference_steps=3, return_frames=True, num_frames=3)
    assert out.images.shape == (2, 16, 16) and out.sampler == sampler
    assert 0.0 <= out.images.min() and out.images.max() <= 1.0
    assert out.frames.shape == (3, 2, 16, 16)


def test_several_findings_at_once(pipe):
    out = pipe("effusion+cardiomegaly", 1, seeds=[0], num_inference_steps=2)
    assert out.findings == ["Effusion", "Cardiomegaly"]


def test_unknown_finding_lists_the_valid_names(pipe):
    with pytest.raises(UnknownFindingError) as err:
        pipe("pneumonitis", 1, num_inference_steps=2)
    assert "pneumonitis" in str(err.value)
    for name in NIH_LABELS:
        assert name in str(err.value)
    with pytest.raises(ValueError, match="valid samplers"):
        pipe("mass", 1, sampler="heun2000", num_inference_steps=2)


def test_names_match_case_and_underscores():
    assert resolve("pleural thickening", NIH_LABELS) == ["Pleural_Thickening"]
    assert resolve("NO_FINDING", NIH_LABELS) == ["No Finding"]


def test_saved_folder_round_trips(tmp_path, pipe):
    folder = pipe.save(tmp_path / "m", half=False)
    loaded = RadSynthPipeline.load(folder)
    a = pipe("mass", 1, seeds=[5], num_inference_steps=3).images
    b = loaded("mass", 1, seeds=[5], num_inference_steps=3).images
    np.testing.assert_allclose(a, b, atol=1e-5)
    assert (folder / "unet" / "diffusion_pytorch_model.safetensors").exists()


def test_a_call_without_guidance_takes_the_models_chosen_scale(tmp_path, pipe):
    folder = pipe.save(tmp_path / "m", half=False, metadata={"default_guidance": 4.0})
    loaded = RadSynthPipeline.load(folder)
    assert loaded.default_guidance == 4.0
    chosen = loaded("mass", 1, seeds=[5], num_inference_steps=3)
    assert chosen.guidance_scale == 4.0
    np.testing.assert_allclose(chosen.images, pipe("mass", 1, seeds=[5], num_inference_steps=3,
                                                   guidance_scale=4.0).images, atol=1e-5)
    assert np.abs(chosen.images - pipe("mass", 1, seeds=[5], num_inference_steps=3).images).max() > 1e-3


def test_default_steps_per_sampler_and_model_kind(pipe):
    from models.vocabulary.sampler_defaults import request_steps

    assert pipe("effusion", 1, seeds=[1]).steps == 15  # DPM-Solver++ for images
    assert request_steps("dpmsolver++", None, None, volume=True) == 25  # volumes keep their measured default
    assert request_steps("ddpm", None, 20, volume=False) == 1000  # an operator setting never shortens DDPM
    assert request_steps("unipc", None, 40, volume=False) == 40 and request_steps("ddim", 7, 40, volume=True) == 7


def test_a_models_guidance_interval_is_its_default_and_a_call_can_guide_every_step(tmp_path):
    model = tiny_pipeline(NIH_LABELS)
    model.default_guidance_interval = (0.0, 0.5)
    loaded = RadSynthPipeline.load(model.save(tmp_path / "gen"))
    assert loaded.default_guidance_interval == (0.0, 0.5)
    kw = {"seeds": [4], "num_inference_steps": 4, "guidance_scale": 3.0}
    default = loaded("mass", 1, **kw)
    assert default.extra["guidance_interval"] == [0.0, 0.5]
    np.testing.assert_allclose(default.images, loaded("mass", 1, guidance_interval=(0, 0.5), **kw).images, atol=1e-5)
    every = loaded("mass", 1, guidance_interval=(0, 1), **kw)
    assert "guidance_interval" not in every.extra and np.abs(every.images - default.images).max() > 1e-3
    with pytest.raises(ValueError, match="guidance_interval"):
        loaded("mass", 1, guidance_interval=(0.6, 0.2), **kw)
    with pytest.raises(ValueError, match="hi <= 1"):  # the bound the API holds requests to
        loaded("mass", 1, guidance_interval=(0.0, 1.5), **kw)


def test_guidance_rescale_pulls_the_guided_spread_back_to_the_conditional_one():
    import torch

    from models.diffusion.pipeline import rescaled_guidance

    cond = torch.randn(3, 1, 8, 8)
    guided = 5 * cond + torch.randn(3, 1, 8, 8)  # a large scale inflates the prediction's spread
    assert torch.equal(rescaled_guidance(guided, cond, 0.0), guided)
    full = rescaled_guidance(guided, cond, 1.0)
    torch.testing.assert_close(full.std(dim=(1, 2, 3)), cond.std(dim=(1, 2, 3)))
    half = rescaled_guidance(guided, cond, 0.5)
    torch.testing.assert_close(half, (full + guided) / 2)


def test_a_models_guidance_rescale_is_its_default_and_a_call_can_turn_it_off(tmp_path):
    model = tiny_pipeline(NIH_LABELS)
    model.default_guidance_rescale = 0.7
    loaded = RadSynthPipeline.load(model.save(tmp_path / "gen"))
    assert loaded.default_guidance_rescale == 0.7
    kw = {"seeds": [4], "num_inference_steps": 4, "guidance_scale": 6.0}
    default = loaded("mass", 1, **kw)
    assert default.extra["guidance_rescale"] == 0.7
    np.testing.assert_allclose(default.images, loaded("mass", 1, guidance_rescale=0.7, **kw).images, atol=1e-6)
    plain = loaded("mass", 1, guidance_rescale=0.0, **kw)
    assert "guidance_rescale" not in plain.extra and np.abs(plain.images - default.images).max() > 1e-3
    with pytest.raises(ValueError, match="guidance_rescale is a share"):
        loaded("mass", 1, guidance_rescale=1.5, **kw)
