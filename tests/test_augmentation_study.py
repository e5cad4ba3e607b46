"""The augmentation study: verdicts follow the paired patient-bootstrap CI of the difference to real only, and a
small end-to-end study runs on real fixture patients with a synthetic set."""

from __future__ import annotations

import json

import numpy as np

from models.data.nih import NIHChestXray
from models.workflows.augmentation_study import StudyConfig, run_study, summarise
from models.workflows.synthesize import plan, synthesize, write_labels
from tests.conftest import NIH, tiny_pipeline


def test_verdicts_follow_the_paired_bootstrap():
    rng = np.random.default_rng(0)
    y = np.zeros((120, 1))
    y[::3] = 1
    groups = [f"p{i // 2}" for i in range(120)]  # two images per patient
    noise = rng.random((120, 1))
    good = y + 0.3 * rng.random((120, 1))  # separates the classes
    scores = {"real only": [noise], "real + 1x synthetic": [good]}
    helps = summarise(scores, y, groups, ["Mass"], ["Mass"], 200)["per_finding"]["Mass"]
    assert helps["verdict"] == "helps" and helps["arms"]["real + 1x synthetic"]["difference_ci95"][0] > 0
    hurts = summarise({"real only": [good], "real + 1x synthetic": [noise]}, y, groups, ["Mass"], ["Mass"], 200)
    assert hurts["per_finding"]["Mass"]["verdict"] == "hurts"
    same = summarise({"real only": [noise], "real + 1x synthetic": [noise + 1e-9]}, y, groups, ["Mass"], ["Mass"], 200)
    assert same["per_finding"]["Mass"]["verdict"] == "no measurable effect"
    few = np.zeros((120, 1))
    few[:2] = 1
    assert "too few" in summarise(scores, few, groups, ["Mass"], ["Mass"], 50)["per_finding"]["Mass"]["verdict"]


def test_a_small_study_runs_end_to_end_on_real_test_patients(tmp_path):
    from models.vocabulary.findings import NIH_LABELS

    syn = tmp_path / "syn"
    synthesize(tiny_pipeline(NIH_LABELS), syn, plan({"Effusion": 6, "No Finding": 6}, 3), model_name="tiny",
               sampling={"num_inference_steps": 2})
    write_labels(syn, model_name="tiny")
    real = {s: NIHChestXray(NIH, s, 16) for s in ("train", "val", "test")}
    cfg = StudyConfig(ratios=(0.5,), seeds=(0, 1), resolution=16, epochs=1, width=8, bootstrap=50)
    calls = []
    report = run_study(real, NIHChestXray(syn, "all", 16), tmp_path / "study", cfg,
                       progress=lambda d, t, m: calls.append((d, t)))
    assert calls[-1] == (6, 6)  # 3 arms x 2 seeds
    assert [a["name"] for a in report["arms"]] == ["real only", "real + 0.5x synthetic", "synthetic only"]
    assert report["test_images"] == len(real["test"]) and set(report["per_finding"]) == {"Effusion", "No Finding"}
    test_patients = {r.group for r in real["test"].records}
    assert report["test_patients"] == len(test_patients)
    assert not test_patients & {r.group for r in real["train"].records}
    saved = json.loads((tmp_path / "study" / "study.json").read_text())
    assert saved["per_finding"].keys() == report["per_finding"].keys()
    assert (tmp_path / "study" / "study.png").stat().st_size > 5000


def test_a_study_can_hold_out_more_patients_for_a_rare_finding():
    import pytest
    from pydantic import ValidationError

    from core.contracts import TrainParams
    from models.data.registry import open_dataset
    from tests.conftest import PNEUMONIA_NPZ

    default = {s: open_dataset(NIH, s, 16) for s in ("train", "val", "test")}
    wider = {s: open_dataset(NIH, s, 16, fractions=(0.6, 0.1, 0.3)) for s in ("train", "val", "test")}
    assert sum(map(len, default.values())) == sum(map(len, wider.values()))
    assert len(wider["test"]) > 2 * len(default["test"])
    patients = {s: {r.group for r in wider[s].records} for s in wider}
    assert not patients["train"] & patients["test"] and not patients["val"] & patients["test"]
    with pytest.raises(ValueError, match="official"):
        open_dataset(PNEUMONIA_NPZ, "test", 16, fractions=(0.6, 0.1, 0.3))
    base = {"kind": "augmentation_study", "dataset": "d", "synthetic": "s", "name": "study"}
    assert TrainParams(**base, test_share=0.3).test_share == 0.3
    for bad in ({**base, "test_share": 0.9}, {**base, "kind": "classifier", "synthetic": None, "test_share": 0.3}):
        with pytest.raises(ValidationError):
            TrainParams(**bad)
