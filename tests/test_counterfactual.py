"""Counterfactual explanations (SDEdit with a paired reconstruction) on a tiny untrained generator."""

from __future__ import annotations

import json

import numpy as np
import pydicom
import pytest

from models.classifier.ensemble import ClassifierEnsemble
from models.data.preprocess import load_image_file
from models.explain.attribution import explain
from models.explain.counterfactual import counterfactuals, regenerate
from models.explain.report import write_explanation
from models.vocabulary.findings import NIH_FINDINGS, NIH_LABELS
from tests.conftest import NIH_UPLOAD, SIIM, tiny_pipeline


@pytest.fixture(scope="module")
def ens(tiny_classifier_dir) -> ClassifierEnsemble:
    return ClassifierEnsemble.load(tiny_classifier_dir)


@pytest.fixture(scope="module")
def pipe():
    return tiny_pipeline(NIH_LABELS)


@pytest.fixture(scope="module")
def chest() -> np.ndarray:
    return load_image_file(NIH_UPLOAD).pixels


def square16(pixels: np.ndarray) -> np.ndarray:
    from models.explain.counterfactual import generator_input

    return generator_input(pixels, 16)[0]


def test_regeneration_is_reproducible_and_paired(pipe, chest):
    x = square16(chest)
    a = regenerate(pipe, x, ["Effusion", "No Finding"], strength=0.5, steps=10, seed=3)
    b = regenerate(pipe, x, ["Effusion", "No Finding"], strength=0.5, steps=10, seed=3)
    c = regenerate(pipe, x, ["Effusion", "No Finding"], strength=0.5, steps=10, seed=4)
    assert a.shape == (2, 16, 16) and np.array_equal(a, b) and not np.allclose(a, c)
    same = regenerate(pipe, x, ["Effusion", "Effusion"], strength=0.5, steps=10, seed=3)
    assert np.array_equal(same[0], same[1])  # one noise draw: the only difference is the condition
    assert not np.allclose(a[0], a[1])


def test_strength_sets_how_far_the_upload_moves(pipe, chest):
    x = square16(chest)
    near = regenerate(pipe, x, ["Effusion"], strength=0.02, steps=50, seed=0)[0]
    far = regenerate(pipe, x, ["Effusion"], strength=1.0, steps=50, seed=0)[0]
    assert np.abs(near - x).mean() < 0.5 * np.abs(far - x).mean()
    with pytest.raises(ValueError, match="strength"):
        regenerate(pipe, x, ["Effusion"], strength=0.0)


def test_difference_map_lies_on_the_uploads_own_grid(pipe, ens):
    rng = np.random.default_rng(0)
    wide = rng.uniform(0.2, 0.8, (40, 60)).astype(np.float32)  # the generator sees the centre 40 x 40
    cf = counterfactuals(pipe, ens, wide, ["Effusion", "No Finding"], strength=0.6, steps=10)
    assert [c.finding for c in cf] == ["Effusion"]  # "No Finding" has no counterfactual of its own
    diff = cf[0].difference
    assert diff.shape == (40, 60) and (diff >= 0).all()
    assert not diff[:, :10].any() and not diff[:, 50:].any() and diff[:, 10:50].any()
    table = cf[0].probabilities
    assert set(table) == set(ens.findings)
    assert all(set(v) == {"original", "reconstruction", "counterfactual"} for v in table.values())
    size = pipe.unet.config.sample_size
    assert f"the {size}-px square" in cf[0].settings["probabilities_read_on"]  # says what "original" read
    summary = cf[0].summary()
    assert summary["probability_drop"] == pytest.approx(
        table["Effusion"]["reconstruction"] - table["Effusion"]["counterfactual"])


def test_a_generator_without_no_finding_cannot_make_counterfactuals(ens, chest):
    with pytest.raises(ValueError, match="No Finding"):
        counterfactuals(tiny_pipeline(NIH_FINDINGS), ens, chest, ["Effusion"], steps=4)


def test_counterfactual_files_belong_to_the_upload(pipe, ens, tmp_path):
    from models.io.deidentify import deidentify

    source = deidentify(pydicom.dcmread(SIIM))
    image = load_image_file(SIIM)
    expl = explain(ens, image.pixels, ["Effusion"], with_maps=False)
    assert expl.attributions == {} and expl.settings["method"] == "counterfactual"
    assert "n_steps" not in expl.settings and "baseline" not in expl.settings  # no integrated-gradients settings
    cfs = counterfactuals(pipe, ens, image.pixels, expl.findings, strength=0.5, steps=8)
    names = write_explanation(expl, image.pixels, tmp_path, source_format="dicom", model_name="tiny-clf",
                              source_dicom=source, counterfactuals=cfs, generator_name="tiny-gen")
    assert {"counterfactual_effusion.png", "difference_effusion.png", "difference_effusion.npy",
            "difference_effusion.dcm", "explanation.json"} <= set(names)
    assert "overlay_effusion.png" not in names  # no attribution was asked for
    ds = pydicom.dcmread(tmp_path / "difference_effusion.dcm")
    assert (ds.Rows, ds.Columns) == image.pixels.shape
    assert ds.StudyInstanceUID == source.StudyInstanceUID and ds.PatientID == source.PatientID
    assert ds.SeriesDescription.startswith("Counterfactual: Effusion")
    assert "synthetic" not in str(ds).lower()
    assert np.load(tmp_path / "difference_effusion.npy").shape == image.pixels.shape
    pm = pydicom.dcmread(tmp_path / "difference_map_effusion.dcm")  # the same map as a float Parametric Map
    assert (pm.Rows, pm.Columns, pm.StudyInstanceUID) == (*image.pixels.shape, source.StudyInstanceUID)
    assert np.array_equal(pm.pixel_array, np.load(tmp_path / "difference_effusion.npy"))
    saved = json.loads((tmp_path / "explanation.json").read_text())
    assert saved["counterfactuals"][0]["finding"] == "Effusion" and saved["counterfactuals"][0]["generator"] == \
        "tiny-gen"
