"""Shared fixtures: paths to real data fixtures and tiny seeded models (CPU only, no downloads)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
pytest_plugins = ["tests.skip_groups"]
FIXTURES = Path(__file__).parent / "fixtures"
NIH = FIXTURES / "nih"
NIH256 = FIXTURES / "nih256"
UPLOADS = FIXTURES / "uploads"
PNEUMONIA_NPZ = FIXTURES / "pneumoniamnist_small.npz"
SIIM = UPLOADS / "siim_chest_cr.dcm"
SIIM_MONO1 = UPLOADS / "siim_chest_cr_monochrome1.dcm"
NIH_UPLOAD = UPLOADS / "00000001_000.png"
VOLUMES = FIXTURES / "volumes"
ADRENAL = VOLUMES / "adrenalmnist3d_small.npz"

TINY_UNET = {
    "sample_size": 16, "block_out_channels": (8, 16), "layers_per_block": 1,
    "down_block_types": ("DownBlock2D", "AttnDownBlock2D"), "up_block_types": ("AttnUpBlock2D", "UpBlock2D"),
    "norm_num_groups": 4, "attention_head_dim": 4,
}


def tiny_pipeline(findings, seed: int = 0):
    """A seeded, untrained tiny RadSynthPipeline (like diffusers' own fast pipeline tests)."""
    import torch

    from models.diffusion.pipeline import RadSynthPipeline, new_scheduler
    from models.diffusion.unet import FindingUNet

    torch.manual_seed(seed)
    return RadSynthPipeline(FindingUNet(findings=list(findings), **TINY_UNET).eval(), new_scheduler())


@pytest.fixture(scope="session")
def tiny_generator_dir(tmp_path_factory) -> Path:
    """A tiny NIH-vocabulary generator saved as a model folder."""
    from models.vocabulary.findings import NIH_LABELS

    path = tmp_path_factory.mktemp("models") / "tiny-gen"
    tiny_pipeline(NIH_LABELS).save(path, metadata={"dataset": "tiny test"})
    return path


@pytest.fixture(scope="session")
def tiny_classifier_dir(tmp_path_factory) -> Path:
    """A 3-member ensemble trained briefly (CPU, seconds) on the NIH fixture images at 32 px."""
    from models.classifier.train import ClassifierConfig, train_classifier
    from models.data.nih import NIHChestXray

    out = tmp_path_factory.mktemp("models") / "tiny-clf-run"
    cfg = ClassifierConfig(resolution=32, members=3, width=8, epochs=4, batch_size=16, bootstrap=50)
    folder, _ = train_classifier(NIHChestXray(NIH, "all", 32), NIHChestXray(NIH, "val", 32), out, cfg)
    target = folder.parent.parent / "tiny-clf"
    folder.rename(target)
    return target


@pytest.fixture(scope="session")
def tiny_volume_generator_dir(tmp_path_factory) -> Path:
    """A seeded, untrained tiny 3D generator (16^3, AdrenalMNIST3D's classes) with 1.5 mm voxels."""
    from models.volumes.diffusion3d import VolumePipeline

    path = tmp_path_factory.mktemp("models") / "tiny-3d"
    VolumePipeline.new(["normal", "hyperplasia"], size=16, channels=(8, 16)).save(
        path, metadata={"dataset": "tiny test", "voxel_mm": [1.5, 1.5, 1.5]})
    return path
