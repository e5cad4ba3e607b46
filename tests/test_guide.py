"""Classifier guidance: the guide's gradient moves samples toward the asked finding; saving, loading, training."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from models.diffusion.guide import NoisyFindingClassifier
from models.diffusion.pipeline import RadSynthPipeline
from models.vocabulary.findings import NIH_LABELS
from tests.conftest import NIH, tiny_pipeline


def tiny_guide(seed: int = 0) -> NoisyFindingClassifier:
    torch.manual_seed(seed)
    return NoisyFindingClassifier(findings=list(NIH_LABELS), sample_size=16, widths=(8, 16), groups=4).eval()


def guide_logit(guide: NoisyFindingClassifier, images: np.ndarray, finding: str) -> np.ndarray:
    """The guide's logit for `finding` on finished images ([0, 1]) at t = 0."""
    x = torch.from_numpy(images * 2 - 1)[:, None].float()
    with torch.inference_mode():
        return guide(x, torch.zeros(len(x)))[:, guide.findings.index(finding)].numpy()


def test_classifier_guidance_raises_the_guides_score_for_the_asked_finding():
    pipe = tiny_pipeline(NIH_LABELS)
    pipe.attach_guide(tiny_guide())
    seeds = list(range(8))
    plain = pipe("Mass", 8, seeds=seeds, num_inference_steps=6, classifier_scale=0)
    guided = pipe("Mass", 8, seeds=seeds, num_inference_steps=6, classifier_scale=30)
    assert guided.classifier_scale == 30 and plain.classifier_scale == 0
    # An untrained guide still has a gradient: following it must raise its own score, image by image.
    gain = guide_logit(pipe.guide, guided.images, "Mass") - guide_logit(pipe.guide, plain.images, "Mass")
    assert (gain > 0).mean() >= 0.75, gain


def test_guidance_needs_a_guide_and_says_so():
    pipe = tiny_pipeline(NIH_LABELS)
    with pytest.raises(ValueError, match="no guide classifier"):
        pipe("Mass", 1, seeds=[0], num_inference_steps=2, classifier_scale=1.0)
    assert pipe("Mass", 1, seeds=[0], num_inference_steps=2).classifier_scale == 0.0


def test_a_guide_whose_findings_differ_is_refused():
    pipe = tiny_pipeline(NIH_LABELS)
    other = NoisyFindingClassifier(findings=["normal", "pneumonia"], sample_size=16, widths=(8, 16), groups=4)
    with pytest.raises(ValueError, match="differ"):
        pipe.attach_guide(other)


def test_the_guide_and_its_default_scale_travel_with_the_saved_model(tmp_path):
    pipe = tiny_pipeline(NIH_LABELS)
    pipe.attach_guide(tiny_guide(), default_scale=4.0)
    pipe.save(tmp_path / "gen")
    info = json.loads((tmp_path / "gen" / "radsynth.json").read_text())
    assert info["guide"] is True and info["default_classifier_scale"] == 4.0
    loaded = RadSynthPipeline.load(tmp_path / "gen")
    assert loaded.guide is not None and loaded.default_classifier_scale == 4.0
    a = loaded("Effusion", 2, seeds=[3, 4], num_inference_steps=4)  # the default applies
    b = loaded("Effusion", 2, seeds=[3, 4], num_inference_steps=4, classifier_scale=4.0)
    c = loaded("Effusion", 2, seeds=[3, 4], num_inference_steps=4, classifier_scale=0.0)
    np.testing.assert_array_equal(a.images, b.images)
    assert a.classifier_scale == 4.0 and not np.array_equal(a.images, c.images)


def test_training_a_guide_on_real_radiographs_writes_a_loadable_model(tmp_path):
    from models.data.nih import NIHChestXray
    from models.diffusion.guide import load_guide
    from models.diffusion.guide_train import train_guide

    train = NIHChestXray(NIH, "all", 16)
    folder = train_guide(train, tmp_path / "guide", val_ds=NIHChestXray(NIH, "val", 16), steps=12, batch_size=8,
                         widths=(8, 16), groups=4, precision="fp32")
    meta = json.loads((folder / "training.json").read_text())
    assert meta["steps"] == 12 and np.isfinite(meta["final_loss"]) and set(meta["val_auroc_at_t"]) == {
        "0", "200", "400", "600", "800"}
    guide = load_guide(folder)
    assert guide.findings == train.label_names and guide(torch.zeros(2, 1, 16, 16), torch.zeros(2)).shape == (
        2, len(train.label_names))


def test_cli_trains_a_guide_into_the_generators_folder(tmp_path, tiny_generator_dir):
    import shutil

    from models.cli import build_parser

    gen = tmp_path / "gen"
    shutil.copytree(tiny_generator_dir, gen)
    args = build_parser().parse_args(["train-guide", str(NIH), "--generator", str(gen), "--steps", "3",
                                      "--batch-size", "4", "--scale", "2.5", "--precision", "fp32"])
    assert args.func(args) == 0
    pipe = RadSynthPipeline.load(gen)
    assert pipe.guide is not None and pipe.default_classifier_scale == 2.5
    assert pipe("Mass", 1, seeds=[0], num_inference_steps=2).classifier_scale == 2.5
