"""The one-pass detail network starts as bicubic, trains on (shrunk crop, crop) pairs with a patch critic joining
later, checkpoints, resumes (from its folder or a bundle on a fresh machine) and exports a loadable network."""

from __future__ import annotations

import numpy as np
import torch

from models.data.nih import NIHChestXray
from models.diffusion.autoencoder_train import ImageCrops
from models.diffusion.detail_net import DetailNet, load_detail_net, upscale
from models.diffusion.detail_train import DetailConfig, DetailTrainer
from models.metrics.autoencoder_eval import bicubic_from, measures
from tests.conftest import NIH

TINY = dict(resolution=64, crop=32, width=8, blocks=2, batch_size=2, steps=4, disc_start=2, checkpoint_every=2,
            warmup_steps=1)


def test_an_untrained_network_is_bicubic_upsampling():
    rng = np.random.default_rng(0)
    low = rng.random((2, 16, 16)).astype(np.float32)
    made = upscale(DetailNet(scale=4, width=8, blocks=1), low)
    up = torch.nn.functional.interpolate(torch.from_numpy(low)[:, None] * 2 - 1, scale_factor=4, mode="bicubic",
                                         align_corners=False).clamp(-1, 1)
    assert made.shape == (2, 64, 64)
    assert np.allclose(made, ((up[:, 0] + 1) / 2).numpy(), atol=1e-6)


def test_training_checkpoints_resumes_bundles_and_exports(tmp_path):
    images = ImageCrops(NIHChestXray(NIH, "all", 64), 64)
    cfg = DetailConfig(**TINY)
    DetailTrainer(images, tmp_path / "run", DetailConfig(**TINY | {"steps": 2})).run(bundle_to=tmp_path / "bundle")
    assert (tmp_path / "run" / "checkpoint.pt").exists() and (tmp_path / "bundle" / "net").is_dir()
    resumed = DetailTrainer(images, tmp_path / "run", cfg)
    folder = resumed.run()
    assert resumed.step == 4 and len(resumed.losses) == 4 and resumed.losses[-1]["disc"] > 0  # the critic joined
    assert resumed.losses[0]["disc"] == 0
    net = load_detail_net(folder)
    low, high = resumed.batch()
    assert low.shape == (2, 1, 8, 8) and high.shape == (2, 1, 32, 32)
    with torch.no_grad():
        assert net(low).shape == high.shape
    fresh = DetailTrainer(images, tmp_path / "elsewhere", cfg)
    fresh.resume_from_bundle(tmp_path / "bundle")
    assert fresh.step == 2
    for a, b in zip(fresh.net.parameters(), load_detail_net(tmp_path / "bundle" / "net").parameters(), strict=True):
        assert torch.equal(a, b)


def test_the_pairs_line_up_and_the_measures_read_right(tmp_path):
    """A crop of an image and the same crop of its shrunk copy show the same place; a perfect upscaler scores
    far above bicubic."""
    images = ImageCrops(NIHChestXray(NIH, "all", 64), 64)
    trainer = DetailTrainer(images, tmp_path, DetailConfig(**TINY))
    low, high = trainer.batch()
    shrunk = torch.nn.functional.avg_pool2d(high, 4)
    assert float((shrunk - low).abs().mean()) < 0.05
    real = ((high[:, 0] + 1) / 2).numpy()
    rows = measures({"perfect": real, "bicubic": bicubic_from(real, 8)}, real)
    assert rows["perfect"]["psnr_db"] > 60 > rows["bicubic"]["psnr_db"]
    assert rows["perfect"]["high_frequency_power_log10"] == 0.0 > rows["bicubic"]["high_frequency_power_log10"]


def test_a_generator_serves_the_detail_network_as_its_one_pass_stage(tmp_path):
    """Attached, saved and loaded again, the stage makes the 4x image in one pass, says so in the provenance, and
    the API refuses the diffusion stage's knobs for it."""
    import json

    import pytest

    from core.contracts import GenerateParams
    from models.diffusion.detail_net import DetailStage
    from models.diffusion.pipeline import RadSynthPipeline
    from models.vocabulary.findings import NIH_LABELS
    from tests.conftest import tiny_pipeline

    pipe = tiny_pipeline(NIH_LABELS)
    pipe.attach_superres(DetailStage(DetailNet(scale=4, width=8, blocks=1), {"steps": 7, "config": {"width": 8}}))
    calls = []
    out = pipe("mass", 2, seeds=[1, 2], num_inference_steps=2, callback=lambda i, n: calls.append((i, n)))
    size = pipe.unet.config.sample_size
    assert out.images.shape == (2, 4 * size, 4 * size) and out.extra["detail_stage"] == "one-pass detail network"
    assert "superres_steps" not in out.extra and calls[-1] == (3, 3)  # 2 base steps + one pass
    from models.workflows.generate import write_outputs

    written = write_outputs(out, tmp_path / "out", model_name="g")
    assert written["detail_stage"] == "one-pass detail network" and "superres_steps" not in written
    pipe.save(tmp_path / "gen")
    info = json.loads((tmp_path / "gen" / "radsynth.json").read_text())
    assert info["superres"] == {"scale": 4, "kind": "detail_net", "one_pass": True, "steps": 7}
    loaded = RadSynthPipeline.load(tmp_path / "gen")
    assert isinstance(loaded.superres, DetailStage) and loaded.resolutions == [size, 4 * size]
    low = np.random.default_rng(0).random((2, size, size)).astype(np.float32)
    assert np.allclose(loaded.superres(low), pipe.superres(low), atol=1e-6)  # the base is saved in half precision
    model = {"name": "g", "kind": "generator", "resolutions": [size, 4 * size], "superres": info["superres"]}
    GenerateParams(finding="mass").fit_to_model(model)
    with pytest.raises(ValueError, match="one-pass detail network"):
        GenerateParams(finding="mass", superres_start=0.5).fit_to_model(model)


def test_the_detail_stage_can_put_the_base_image_back_at_its_own_size(tmp_path):
    """With keep_low the delivered image, seen at the base size, is the base image the noise check passed; the
    factor is saved with the stage and read back."""
    import json

    import torch.nn.functional as F

    from models.diffusion.detail_net import CONFIG, DetailStage

    net = DetailNet(scale=4, width=8, blocks=1)
    low = np.random.default_rng(1).random((2, 16, 16)).astype(np.float32) * 0.6 + 0.2
    coarse = lambda x: F.avg_pool2d(torch.from_numpy(x)[:, None], 4)[:, 0].numpy()  # noqa: E731
    plain, kept = DetailStage(net)(low), DetailStage(net, {"keep_low": 4})(low)
    gap = lambda x: np.abs(coarse(x) - low).mean()  # noqa: E731
    assert gap(kept) < 0.5 * gap(plain) and gap(kept) < 0.02
    DetailStage(net, {"keep_low": 4, "config": {"width": 8}}).save(tmp_path / "stage")
    assert json.loads((tmp_path / "stage" / CONFIG).read_text())["keep_low"] == 4
    loaded = DetailStage.load(tmp_path / "stage")
    assert loaded.keep_low == 4 and np.allclose(loaded(low), kept, atol=1e-5)


def test_the_second_stage_sweep_asks_for_a_diffusion_stage_only_for_its_diffusion_rows():
    """A generator serving the detail network can have its detail rows scored; asking for diffusion rows of it
    says what to pass instead of failing inside the sampler."""
    import pytest

    from models.diffusion.detail_net import DetailStage
    from models.vocabulary.findings import NIH_LABELS
    from scripts.superres_sweep import diffusion_stage
    from tests.conftest import tiny_pipeline

    pipe = tiny_pipeline(NIH_LABELS)
    with pytest.raises(SystemExit, match="no diffusion super-resolution stage"):
        diffusion_stage(pipe, "g")
    pipe.attach_superres(DetailStage(DetailNet(scale=4, width=8, blocks=1)))
    with pytest.raises(SystemExit, match="--aug-steps ''"):
        diffusion_stage(pipe, "g")
    from models.diffusion.pipeline import new_scheduler
    from models.diffusion.superres import SuperResPipeline, SuperResUNet

    stage = SuperResPipeline(SuperResUNet(sample_size=64, block_out_channels=(8, 16), norm_num_groups=4).eval(),
                             new_scheduler(prediction_type="v_prediction"), default_steps=2)
    pipe.attach_superres(stage)
    assert diffusion_stage(pipe, "g") is stage
