"""The tiny seeded models the drills deploy (the same as the test suite's): an untrained generator and a briefly
trained classifier."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import NIH, TINY_UNET


def tiny_models(root: Path) -> tuple[Path, Path]:
    """The same tiny seeded models as the test suite (untrained generator, briefly trained classifier)."""
    import torch

    from models.classifier.train import ClassifierConfig, train_classifier
    from models.data.nih import NIHChestXray
    from models.diffusion.pipeline import RadSynthPipeline, new_scheduler
    from models.diffusion.unet import FindingUNet
    from models.vocabulary.findings import NIH_LABELS

    torch.manual_seed(0)
    gen = root / "tiny-gen"
    RadSynthPipeline(FindingUNet(findings=list(NIH_LABELS), **TINY_UNET).eval(), new_scheduler()).save(gen)
    cfg = ClassifierConfig(resolution=32, members=3, width=8, epochs=2, batch_size=16, bootstrap=20)
    clf, _ = train_classifier(NIHChestXray(NIH, "all", 32), NIHChestXray(NIH, "val", 32), root / "clf-run", cfg)
    return gen, clf
