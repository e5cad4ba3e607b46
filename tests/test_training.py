"""A short generator run lowers the loss, and resuming from its checkpoint reaches the same state."""

from __future__ import annotations

import json

import numpy as np
import torch

from models.data.nih import NIHChestXray
from models.diffusion.pipeline import RadSynthPipeline
from models.diffusion.train import GeneratorConfig, GeneratorTrainer, real_images
from tests.conftest import NIH

TINY = {"resolution": 16, "block_out_channels": (8, 16), "layers_per_block": 1, "norm_num_groups": 4,
        "attention_head_dim": 4, "batch_size": 8, "warmup_steps": 5, "sample_every": 0, "augment": True}


def dataset():
    return NIHChestXray(NIH, "train", 16)


def test_short_run_lowers_the_loss_and_exports_a_model(tmp_path):
    cfg = GeneratorConfig(steps=60, lr=2e-3, checkpoint_every=30, **TINY)
    trainer = GeneratorTrainer(dataset(), tmp_path, cfg)
    final = trainer.run()
    first, last = np.mean(trainer.losses[:10]), np.mean(trainer.losses[-10:])
    assert last < 0.7 * first, (first, last)
    meta = json.loads((final / "training.json").read_text())
    assert meta["steps"] == 60 and meta["images_per_finding"]["No Finding"] > 0
    assert (tmp_path / "loss.png").exists()
    pipe = RadSynthPipeline.load(final)
    assert pipe("consolidation", 1, seeds=[0], num_inference_steps=2).images.shape == (1, 16, 16)
    # it serves with a noise check whose limit a real training image exceeds 1 time in 100
    train = real_images(trainer.train_ds, len(trainer.train_ds))
    assert pipe.noise_check.images == len(train) and pipe.noise_check.size == 16
    assert pipe.noise_check.too_rough(train).sum() == 1  # of 38: only the roughest is above the 0.99 quantile


def test_resume_reaches_the_same_state_as_an_uninterrupted_run(tmp_path):
    cfg = GeneratorConfig(steps=6, checkpoint_every=3, **TINY)
    straight = GeneratorTrainer(dataset(), tmp_path / "a", cfg)
    straight.run()

    stop_after = iter([False, False, False, True])
    interrupted = GeneratorTrainer(dataset(), tmp_path / "b", cfg, should_stop=lambda: next(stop_after))
    try:
        interrupted.run()
    except InterruptedError:
        pass
    assert interrupted.step == 3
    resumed = GeneratorTrainer(dataset(), tmp_path / "b", cfg)
    resumed.run()
    assert resumed.step == 6
    for (name, a), (_, b) in zip(straight.unet.state_dict().items(), resumed.unet.state_dict().items(), strict=True):
        assert torch.allclose(a, b, atol=1e-6), name
    np.testing.assert_allclose(straight.losses, resumed.losses, rtol=1e-5)


def test_dataloader_workers_feed_the_same_batches_and_resume_mid_stream(tmp_path):
    """Two decoding processes give the run the single-process loader gives, also across a stop and resume."""
    cfg = GeneratorConfig(steps=6, checkpoint_every=3, **TINY)
    inline = GeneratorTrainer(dataset(), tmp_path / "inline", cfg)
    inline.run()
    streamed_cfg = GeneratorConfig(steps=6, checkpoint_every=3, num_workers=2, **TINY)
    stop_after = iter([False, False, False, True])
    streamed = GeneratorTrainer(dataset(), tmp_path / "streamed", streamed_cfg, should_stop=lambda: next(stop_after))
    try:
        streamed.run()
    except InterruptedError:
        pass
    resumed = GeneratorTrainer(dataset(), tmp_path / "streamed", streamed_cfg)
    resumed.run()
    np.testing.assert_allclose(resumed.losses, inline.losses, rtol=1e-5)


def test_prepare_writes_what_the_trainers_would_compute(tmp_path):
    from models.data.prepare import prepare

    done: list[int] = []
    summary = prepare(NIH, tmp_path / "nih16", 16, workers=2, progress=lambda d, n: done.append(d))
    original, copy = NIHChestXray(NIH, "train", 16), NIHChestXray(tmp_path / "nih16", "train", 16)
    assert summary["images"] == summary["written"] > 0 and done[-1] == summary["images"]
    assert [r.key for r in copy.records] == [r.key for r in original.records]  # same patients, labels, split
    for i in range(0, len(original), 7):
        assert copy[i]["image"].shape == (1, 16, 16)
        assert torch.equal(copy[i]["labels"], original[i]["labels"])
        assert float((copy[i]["image"] - original[i]["image"]).abs().max()) <= 2 / 255 + 1e-6  # 8-bit rounding
    again = prepare(NIH, tmp_path / "nih16", 16, workers=1)
    assert again["written"] == 0 and again["kept"] == summary["images"]


def test_group_norm_count_fits_any_block_widths():
    from models.diffusion.train import GeneratorConfig, norm_groups

    assert norm_groups((32, 64, 128, 128)) == 32 and norm_groups((16, 32)) == 16
    assert norm_groups((24, 48)) == 24 and norm_groups((12, 20)) == 4
    assert GeneratorConfig(block_out_channels=(16, 32)).unet_kwargs()["norm_num_groups"] == 16


def test_a_bundle_serves_and_resumes_on_a_fresh_run_folder(tmp_path):
    cfg = GeneratorConfig(steps=4, checkpoint_every=2, **TINY)
    first = GeneratorTrainer(dataset(), tmp_path / "a", cfg)
    first.on_checkpoint = lambda: first.bundle(tmp_path / "bundle")
    first.run()
    served = RadSynthPipeline.load(tmp_path / "bundle")
    assert served.scheduler.config.prediction_type == "v_prediction"
    assert served("No Finding", 1, seeds=[0], num_inference_steps=2, guidance_scale=1.0).images.shape == (1, 16, 16)

    fresh = GeneratorTrainer(dataset(), tmp_path / "elsewhere", GeneratorConfig(steps=6, checkpoint_every=2, **TINY))
    fresh.resume_from_bundle(tmp_path / "bundle")
    assert fresh.step == 4 and fresh.losses == first.losses
    ema_now = fresh.ema_pipeline().unet.state_dict()
    for name, value in served.unet.state_dict().items():
        assert torch.allclose(ema_now[name], value), name
    fresh.run(resume=False)
    assert fresh.step == 6 and len(fresh.losses) == 6

    # a bundle committed with its EMA weights only resumes from them
    import shutil

    shutil.rmtree(tmp_path / "bundle" / "online")
    lean = GeneratorTrainer(dataset(), tmp_path / "lean", GeneratorConfig(steps=6, checkpoint_every=2, **TINY))
    lean.resume_from_bundle(tmp_path / "bundle")
    assert lean.step == 4
    for name, value in lean.unet.state_dict().items():
        assert torch.allclose(value, served.unet.state_dict()[name]), name


def test_min_snr_weight_caps_the_easy_timesteps():
    from models.diffusion.train import min_snr_weight

    alpha_bar = torch.tensor([0.5, 5 / 6, 0.99])  # SNR 1, 5, 99
    v = min_snr_weight(alpha_bar, 5.0, v_prediction=True)
    np.testing.assert_allclose(v.numpy(), [1 / 2, 5 / 6, 5 / 100], rtol=1e-5)
    eps = min_snr_weight(alpha_bar, 5.0, v_prediction=False)
    np.testing.assert_allclose(eps.numpy(), [1.0, 1.0, 5 / 99], rtol=1e-5)


def test_classifier_guidance_moves_v_and_epsilon_generators_alike():
    """The guide's shift is made on the noise estimate: a v-prediction generator converts to it and back."""
    from models.diffusion.guide import eps_from_v, v_from_eps
    from models.diffusion.pipeline import new_scheduler

    alphas = new_scheduler().alphas_cumprod
    x_t, v = torch.randn(2, 1, 8, 8), torch.randn(2, 1, 8, 8)
    for t in (torch.tensor(10), torch.tensor(500), torch.tensor(950)):
        eps = eps_from_v(v, x_t, t, alphas)
        torch.testing.assert_close(v_from_eps(eps, x_t, t, alphas), v, atol=2e-3, rtol=1e-3)
        a = alphas[int(t)]
        x0_from_v = a.sqrt() * x_t - (1 - a).sqrt() * v
        x0_from_eps = (x_t - (1 - a).sqrt() * eps) / a.sqrt()
        torch.testing.assert_close(x0_from_v, x0_from_eps, atol=2e-3, rtol=1e-3)


def test_the_learning_rate_decays_on_a_cosine_from_the_given_step_and_then_stays():
    from models.diffusion.train import lr_decay

    assert lr_decay(5000, None, 2000, 0.1) == 1.0  # no decay asked
    assert lr_decay(2999, 3000, 2000, 0.1) == 1.0
    assert abs(lr_decay(4000, 3000, 2000, 0.1) - 0.55) < 1e-9  # halfway: the mean of 1 and 0.1
    assert abs(lr_decay(5000, 3000, 2000, 0.1) - 0.1) < 1e-9
    assert lr_decay(9000, 3000, 2000, 0.1) == lr_decay(5000, 3000, 2000, 0.1)
    values = [lr_decay(s, 3000, 2000, 0.1) for s in range(3000, 5001, 100)]
    assert all(a >= b for a, b in zip(values, values[1:], strict=False))


def test_the_preview_grid_is_sampled_once_labelled_and_reported_with_a_time_estimate(tmp_path):
    from PIL import Image

    messages: list[str] = []
    calls: list[str] = []
    cfg = GeneratorConfig(steps=4, checkpoint_every=4, **TINY | {"sample_every": 4, "samples_per_finding": 1})
    trainer = GeneratorTrainer(dataset(), tmp_path, cfg, progress=lambda s, t, m, _: messages.append(m))
    original = RadSynthPipeline.__call__

    def counted(self, finding, *args, **kwargs):
        calls.append(finding)
        return original(self, finding, *args, **kwargs)

    RadSynthPipeline.__call__ = counted
    try:
        final = trainer.run()
    finally:
        RadSynthPipeline.__call__ = original
    present = [n for n in trainer.labels if trainer.label_counts.get(n, 0) > 0]
    assert calls == present  # one grid at the last step, reused on export (it was sampled twice, then redrawn)
    rows = [m for m in messages if m.startswith("sampling preview grid")]
    assert rows[0] == f"sampling preview grid: finding 1 of {len(present)}" and "s left" in rows[-1]
    sheet = Image.open(final / "samples.png")
    assert sheet.width > 16 + 100 and sheet.text["step"] == "4"  # a label column left of the images
