"""QC: memorisation flags a copied training image and passes a held-out one; label agreement fields."""

from __future__ import annotations

import numpy as np
import pytest

from models.classifier.ensemble import ClassifierEnsemble
from models.data.nih import NIHChestXray
from models.qc.checks import qc_images, summarise
from models.qc.memorisation import MemorisationIndex, build_index, image_features
from tests.conftest import NIH


def images_of(ds) -> np.ndarray:
    return np.stack([((ds[i]["image"][0] + 1) / 2).numpy() for i in range(len(ds))])


@pytest.fixture(scope="module")
def setup(tiny_classifier_dir):
    ens = ClassifierEnsemble.load(tiny_classifier_dir)
    train, held = NIHChestXray(NIH, "train", 32), NIHChestXray(NIH, "val", 32)
    train_x, held_x = images_of(train), images_of(held)
    index = build_index(image_features(ens, train_x), [r.key for r in train.records], image_features(ens, held_x))
    return ens, index, train_x, held_x, train


def test_exact_copy_is_flagged_and_heldout_real_passes(setup, tmp_path):
    ens, index, train_x, held_x, train = setup
    index = MemorisationIndex.load(index.save(tmp_path / "idx.npz"))
    copy_report = index.check(image_features(ens, train_x[3:4]))[0]
    assert copy_report["flagged"] and copy_report["nearest_train_id"] == train.records[3].key
    held_report = index.check(image_features(ens, held_x))
    flagged = sum(r["flagged"] for r in held_report)
    assert flagged <= max(1, len(held_report) // 50)  # threshold: half the 1st percentile of held-out distances
    assert all(r["distance"] > copy_report["distance"] for r in held_report)


def test_slightly_perturbed_copy_is_still_flagged(setup):
    ens, index, train_x, _, _ = setup
    noisy = np.clip(train_x[5:6] + np.random.default_rng(0).normal(0, 0.005, train_x[5:6].shape), 0, 1)
    assert index.check(image_features(ens, noisy.astype(np.float32)))[0]["flagged"]


def test_qc_fields_and_summary(setup):
    ens, index, train_x, held_x, _ = setup
    qc = qc_images(np.concatenate([train_x[:1], held_x[:2]]), ["Effusion"], ens, index)
    assert set(qc[0]) == {"label_agreement", "agrees", "memorisation"}
    assert 0 <= qc[0]["label_agreement"]["Effusion"]["probability"] <= 1
    s = summarise(qc)
    assert s["images"] == 3 and s["flagged"] >= 1 and 0 <= s["agreement_rate"] <= 1


def test_qc_command_scores_each_generated_image_once_from_its_provenance(tiny_generator_dir, tiny_classifier_dir,
                                                                         tmp_path, capsys):
    import json

    from models.cli import main
    from models.vocabulary.sampling import Sampling
    from models.workflows.generate import GenerationRequest, generate_to_folder

    out = tmp_path / "out"
    generate_to_folder(GenerationRequest(model=str(tiny_generator_dir), finding="consolidation", n=2,
                                         sampling=Sampling(steps=2, frames=24), seed=7, formats="both"), out)
    names = sorted(p.name for p in out.iterdir())
    assert "grid.png" in names and "denoising.gif" in names and sum(n.endswith(".dcm") for n in names) == 2
    args = ["qc", str(out), "--generator", str(tiny_generator_dir), "--classifier", str(tiny_classifier_dir)]
    assert main(args) == 0
    report = json.loads((out / "qc.json").read_text())
    assert [row["finding"] for row in report["images"]] == ["Consolidation", "Consolidation"]
    assert all(row["file"].endswith(".png") for row in report["images"]) and report["summary"]["images"] == 2
    err = capsys.readouterr().err
    assert "grid.png (a preview" in err and err.count("(the same image as") == 2

    for png in out.glob("*.png"):
        if png.name != "grid.png":
            png.unlink()
    assert main(args) == 0  # DICOM alone: the finding comes from its ImageComments
    report = json.loads((out / "qc.json").read_text())
    assert [row["file"][-4:] for row in report["images"]] == [".dcm", ".dcm"]

    plain = tmp_path / "plain"
    plain.mkdir()
    from PIL import Image

    Image.fromarray(np.full((32, 32), 128, np.uint8)).save(plain / "a.png")
    assert main(["qc", str(plain), "--generator", str(tiny_generator_dir)]) == 2
    assert "pass --finding" in capsys.readouterr().err
