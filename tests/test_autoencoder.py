"""The radiograph autoencoder trains on crops, checkpoints and resumes (from its folder or from a bundle on a fresh
machine), and is judged against 64 px + bicubic on held-out images."""

from __future__ import annotations

import numpy as np
import torch

from models.data.nih import NIHChestXray
from models.diffusion.autoencoder_train import AutoencoderConfig, AutoencoderTrainer, ImageCrops, fourier_loss
from models.metrics.autoencoder_eval import bicubic_from, evaluate, high_frequency_power
from tests.conftest import NIH

TINY = dict(resolution=64, crop=32, block_out_channels=(8, 16), latent_channels=2, batch_size=2, steps=4,
            disc_start=2, checkpoint_every=2, warmup_steps=1)


def test_training_checkpoints_resumes_and_bundles(tmp_path):
    images = ImageCrops(NIHChestXray(NIH, "all", 64), 64)
    cfg = AutoencoderConfig(**TINY)
    first = AutoencoderTrainer(images, tmp_path / "run", cfg)
    cfg_short = AutoencoderConfig(**TINY | {"steps": 2})
    AutoencoderTrainer(images, tmp_path / "run", cfg_short).run(bundle_to=tmp_path / "bundle")
    assert (tmp_path / "run" / "checkpoint.pt").exists() and (tmp_path / "bundle" / "vae").is_dir()
    resumed = AutoencoderTrainer(images, tmp_path / "run", cfg)
    model = resumed.run()
    assert resumed.step == 4 and len(resumed.losses) == 4 and resumed.losses[-1]["disc"] > 0  # the critic joined
    assert (model / "config.json").exists() and first.step == 0
    fresh = AutoencoderTrainer(images, tmp_path / "elsewhere", cfg)
    fresh.resume_from_bundle(tmp_path / "bundle")
    assert fresh.step == 2
    x = torch.rand(1, 1, 64, 64) * 2 - 1
    with torch.no_grad():
        latent = fresh.ema_autoencoder().encode(x).latent_dist.mode()
    assert latent.shape == (1, 2, 32, 32)  # two blocks: one halving


def test_the_measures_read_right_on_known_cases():
    rng = np.random.default_rng(0)
    real = np.clip(rng.normal(0.5, 0.1, (4, 128, 128)), 0, 1).astype(np.float32)
    assert abs(high_frequency_power(real, real)) < 1e-9
    assert high_frequency_power(bicubic_from(real, 32), real) < -0.5  # blur lacks the fine detail
    assert float(fourier_loss(torch.from_numpy(real), torch.from_numpy(real))) == 0.0

    class Identity(torch.nn.Module):
        def encode(self, x):
            return type("E", (), {"latent_dist": type("D", (), {"mode": lambda self_: x})()})()

        def decode(self, z):
            return type("O", (), {"sample": z})()

    rows = evaluate(Identity(), real)
    assert rows["autoencoder"]["psnr_db"] > 60 and rows["real 64 px + bicubic"]["psnr_db"] < 40
