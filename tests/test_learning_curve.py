"""The ensemble's learning curve: patient shares keep whole patients and each folder's mix; the trend is a fit."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from models.data.base import Record
from models.evaluation.cards.ensemble import TARGET_MEAN
from models.evaluation.learning_curve import fit_trend, patient_share

ROOT = Path(__file__).resolve().parents[1]
CURVE = ROOT / "docs" / "explain" / "ensemble" / "learning_curve.json"


def records() -> list[Record]:
    """Two folders: 40 patients with 2 images each in one, 20 patients with 1 image in the other."""
    out = [Record(key=f"a{p}_{i}", labels=[], group=f"a{p}", meta={"source": "a"}) for p in range(40) for i in (0, 1)]
    return out + [Record(key=f"b{p}", labels=[], group=f"b{p}", meta={"source": "b"}) for p in range(20)]


def test_a_share_keeps_whole_patients_and_each_folders_mix():
    recs = records()
    half = patient_share(recs, 0.5, seed=0)
    by_source = {s: {r.group for r in half if r.meta["source"] == s} for s in ("a", "b")}
    assert (len(by_source["a"]), len(by_source["b"])) == (20, 10)
    assert len(half) == 20 * 2 + 10  # every image of a chosen patient comes along
    assert {r.key for r in patient_share(recs, 0.5, seed=1)} != {r.key for r in half}  # seeds draw differently
    assert {r.key for r in patient_share(recs, 0.5, seed=0)} == {r.key for r in half}  # and stably
    assert patient_share(recs, 1.0, seed=3) == recs


def test_the_trend_is_a_line_in_log2_images_and_says_where_it_reaches_the_bar():
    rows = [{"images": n, "test": {"pooled": 0.5 + 0.05 * np.log2(n / 100)}} for n in (100, 200, 400)]
    trend = fit_trend(rows, "pooled")
    assert trend["per_doubling"] == pytest.approx(0.05)
    assert trend["images_for_bar"] == pytest.approx(100 * 2 ** ((TARGET_MEAN - 0.5) / 0.05))
    flat = [{"images": n, "test": {"pooled": 0.6}} for n in (100, 200, 400)]
    assert fit_trend(flat, "pooled")["images_for_bar"] is None


def test_the_committed_curve_matches_its_runs_and_the_card_shows_it():
    curve = json.loads(CURVE.read_text()) if CURVE.exists() else {}
    if "trends" not in curve:
        pytest.skip("no finished learning curve yet")
    for key in ("pooled", "within_source"):
        assert fit_trend(curve["rows"], key) == pytest.approx(curve["trends"][key])
    assert fit_trend(curve["rows"], "within_source", "val") == pytest.approx(curve["trends"]["val_within_source"])
    text = (ROOT / "docs" / "explain" / "ensemble.md").read_text()
    assert "ensemble/learning_curve.png" in text and (CURVE.parent / "learning_curve.png").exists()
    assert f"{curve['trends']['within_source']['per_doubling']:+.3f}" in text
