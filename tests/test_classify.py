"""`radsynth classify`: many files at once, probabilities with thresholds and verdicts, bad files reported."""

from __future__ import annotations

import json

from models.cli import main
from tests.conftest import UPLOADS


def test_classify_a_folder_and_a_bad_file_as_json_lines(tiny_classifier_dir, tmp_path, capsys):
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    assert main(["classify", str(UPLOADS), str(bad), "--model", str(tiny_classifier_dir), "--json",
                 "--batch-size", "2"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["file"].rsplit("/", 1)[-1] for r in rows] == sorted(p.name for p in UPLOADS.iterdir()) + ["notes.png"]
    assert "error" in rows[-1] and "PNG" in rows[-1]["error"]
    for row in rows[:-1]:
        probs = row["probabilities"]
        assert all({"probability", "std", "positive", "threshold_rule"} <= set(v) for v in probs.values())
        findings_positive = any(v["positive"] for k, v in probs.items() if k != "No Finding")
        assert probs["No Finding"]["positive"] is not findings_positive


def test_classify_refuses_paths_that_do_not_exist(tmp_path, capsys):
    assert main(["classify", str(tmp_path / "missing")]) == 2
    assert "no such file or folder" in capsys.readouterr().err
