"""Synthetic data sets: the NIH layout with provenance, resumable without duplicates or gaps, QC rejections redrawn
on reported seeds, and readable by the project's own NIH loader."""

from __future__ import annotations

import csv

from models.data.nih import NIHChestXray
from models.qc.context import load_qc
from models.workflows.synthesize import ROWS, plan, synthesize, write_labels
from tests.conftest import tiny_pipeline

SAMPLING = {"num_inference_steps": 2}


def test_a_stopped_run_resumes_with_no_image_twice_or_missing(tmp_path):
    from models.vocabulary.findings import NIH_LABELS

    pipe = tiny_pipeline(NIH_LABELS)
    items = plan({"Consolidation": 3, "Mass": 2}, seed=100)
    assert [it.seed for it in items] == [100, 101, 102, 103, 104]
    first = synthesize(pipe, tmp_path, items, model_name="tiny", batch_size=2, sampling=SAMPLING)
    assert first["made"] == 5 and first["dropped"] == 0
    reference = (tmp_path / "images" / "syn_000004.png").read_bytes()
    # a killed worker: two rows survive, the third was half written, the images of the rest are gone
    lines = (tmp_path / ROWS).read_text().splitlines()
    (tmp_path / ROWS).write_text("\n".join(lines[:2]) + "\n" + lines[2][:10])
    for i in (3, 4):
        (tmp_path / "images" / f"syn_00000{i}.png").unlink()
    calls = []
    again = synthesize(pipe, tmp_path, items, model_name="tiny", batch_size=2, sampling=SAMPLING,
                       progress=lambda done, total: calls.append((done, total)))
    assert again["made"] == 5 and calls[0] == (2, 5) and calls[-1] == (5, 5)
    assert (tmp_path / "images" / "syn_000004.png").read_bytes() == reference  # same seed, same image
    labels = write_labels(tmp_path, model_name="tiny")
    rows = list(csv.DictReader(labels.open()))
    assert [r["Image Index"] for r in rows] == [f"syn_{i:06d}.png" for i in range(5)]
    assert {r["Synthetic"] for r in rows} == {"YES"} and rows[3]["Finding Labels"] == "Mass"
    assert rows[0]["Seed"] == "100" and rows[0]["Model"] == "tiny" and len({r["Patient ID"] for r in rows}) == 5
    ds = NIHChestXray(tmp_path, "all", 16)
    assert len(ds) == 5 and ds[0]["image"].shape == (1, 16, 16)


def test_qc_rejections_are_redrawn_on_new_seeds_and_counted(tmp_path, tiny_generator_dir, tiny_classifier_dir):
    from models.diffusion.pipeline import RadSynthPipeline

    pipe = RadSynthPipeline.load(tiny_generator_dir)
    qc = load_qc(tiny_generator_dir, classifier=str(tiny_classifier_dir))
    items = plan({"Mass": 3}, seed=7)
    impossible = synthesize(pipe, tmp_path / "a", items, model_name="tiny", qc=qc, min_agreement=1.01,
                            max_attempts=2, sampling=SAMPLING)
    assert impossible["made"] == 0 and impossible["dropped"] == 3
    assert impossible["rejected_draws"] == {"low_agreement": 9}  # 3 images x (1 draw + 2 redraws)
    easy = synthesize(pipe, tmp_path / "b", items, model_name="tiny", qc=qc, min_agreement=0.0,
                      sampling=SAMPLING)
    assert easy["made"] == 3 and easy["rejected_draws"] == {}
    rows = list(csv.DictReader(write_labels(tmp_path / "b", model_name="tiny").open()))
    assert all(0 <= float(r["QC Probability"]) <= 1 and r["Attempts"] == "1" for r in rows)


def test_the_cli_writes_a_data_set_and_resumes_its_own_plan(tmp_path, tiny_generator_dir, capsys):
    import json

    import pytest

    from models.cli import main

    out = tmp_path / "syn"
    args = ["synthesize", "consolidation=2,effusion=1", "--model", str(tiny_generator_dir), "--out", str(out),
            "--steps", "2", "--seed", "5"]
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["made"] == 3 and first["seed"] == 5
    assert main(args[:1] + ["mass=9"] + args[2:]) == 0  # a re-run keeps the first run's plan
    again = json.loads(capsys.readouterr().out)
    assert again["made"] == 3 and len(list((out / "images").iterdir())) == 3
    with pytest.raises(SystemExit):
        main(["synthesize", "consolidation=lots", "--out", str(out)])


def test_batches_stay_full_across_findings_and_carry_riders(tmp_path):
    import numpy as np

    from models.vocabulary.findings import NIH_LABELS

    pipe = tiny_pipeline(NIH_LABELS)
    calls = []
    sample = pipe.sample_requests

    def counting(requests, **kw):
        calls.append(sum(len(seeds) for _, seeds in requests))
        return sample(requests, **kw)

    pipe.sample_requests = counting

    class Rider:
        def __init__(self):
            self.delivered = []

        def claim(self, used):
            return [("Mass", [900])] if not self.delivered else []

        def progress(self, step, total):
            pass

        def deliver(self, outputs):
            self.delivered += outputs

    rider = Rider()
    items = plan({"Consolidation": 3, "Mass": 2}, seed=100)
    result = synthesize(pipe, tmp_path, items, model_name="tiny", batch_size=4, sampling=SAMPLING, ride_along=rider)
    assert result["made"] == 5
    assert calls == [5, 1]  # 3 Consolidation + 1 Mass + the rider, then the last Mass
    assert len(rider.delivered) == 1 and rider.delivered[0].seeds == [900]
    alone = sample([("Mass", [900])], **SAMPLING)[0]
    assert np.abs(rider.delivered[0].images - alone.images).max() < 1e-5
