"""The realism card's measures: the setting rule, the agreement gap, fakes read beside real, real agreement."""

from __future__ import annotations

import numpy as np
import pytest

from models.evaluation.realism_measures import (
    agreement_gap,
    choose_setting,
    distances,
    pixel_health,
    real_label_agreement,
)
from models.metrics.realism import random_cnn_features


def test_the_rule_refuses_settings_that_exaggerate_prefers_the_target_band_then_takes_the_best_fid():
    rows = [{"cfg": 1.0, "fid_judge": 9.0, "agreement_gap": -0.10},
            {"cfg": 2.0, "fid_judge": 7.0, "agreement_gap": 0.02},
            {"cfg": 4.0, "fid_judge": 5.0, "agreement_gap": 0.20}]
    assert choose_setting(rows)["cfg"] == 2.0
    with pytest.raises(ValueError, match="exaggerates"):
        choose_setting(rows[2:])
    # a setting inside the +/- 0.05 band beats a better-FID one that falls short of real agreement
    short = [{"cfg": 2.0, "fid_judge": 5.0, "agreement_gap": -0.07},
             {"cfg": 4.0, "fid_judge": 8.0, "agreement_gap": -0.03},
             {"cfg": 6.0, "fid_judge": 6.0, "agreement_gap": 0.09}]
    assert choose_setting(short)["cfg"] == 4.0
    assert choose_setting(short[:1] + short[2:])["cfg"] == 2.0  # none in the band: the best allowed FID


def test_agreement_gap_is_over_findings_both_score():
    gen = {"per_finding": {"Mass": {"auroc": 0.8}, "Effusion": {"auroc": 0.6}}}
    real = {"per_finding": {"Mass": {"auroc": 0.7}, "Effusion": {"auroc": float("nan")}}}
    assert agreement_gap(gen, real) == pytest.approx(0.1)


def smooth_images(n: int, seed: int, sigma: float = 3) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    return np.stack([gaussian_filter(rng.random((64, 64)), sigma) * 2 - 0.25 for _ in range(n)]).clip(0, 1)


def test_noise_is_noise_dominated_and_smooth_images_are_not():
    real = smooth_images(20, 0)
    noise = np.random.default_rng(1).random((10, 64, 64))
    assert pixel_health(noise, real)["noise_dominated"] == 1.0
    assert pixel_health(smooth_images(10, 2, sigma=5), real)["noise_dominated"] == 0.0


def test_distances_put_images_of_the_same_kind_closer_than_noise():
    real, floor = smooth_images(40, 0), smooth_images(40, 1)
    noise = np.random.default_rng(3).random((40, 64, 64))
    same = distances(random_cnn_features(), real, smooth_images(40, 2), floor)
    far = distances(random_cnn_features(), real, noise, floor)
    assert same["generated"]["fid"] < far["generated"]["fid"]
    assert set(same) >= {"real floor", "blurred real", "real + noise", "mean image + noise", "beats_blur"}
    assert same["real floor"]["ratio_to_floor"] == pytest.approx(1.0)


def test_real_agreement_skips_findings_with_too_few_positives():
    from models.classifier.ensemble import ClassifierEnsemble

    judge = ClassifierEnsemble(["Mass", "Effusion", "No Finding"], 1, input_size=64, width=8).eval()
    images = smooth_images(14, 4)
    labels = [["Mass"]] * 6 + [["Effusion"]] * 2 + [["No Finding"]] * 6
    out = real_label_agreement(judge, images, labels, ["Mass", "Effusion"])
    assert out["per_finding"]["Mass"]["n_finding"] == 6 and 0 <= out["per_finding"]["Mass"]["auroc"] <= 1
    assert np.isnan(out["per_finding"]["Effusion"]["auroc"]) and out["findings_scored"] == 1


def test_the_super_resolution_choice_keeps_to_the_time_budget_then_takes_the_best_fid():
    from models.evaluation.superres_choice import choose, job_seconds

    rows = [{"aug_step": None, "name": "bicubic", "fid_judge": 1.0, "noise_dominated": 0.0},
            {"aug_step": 250, "start": 1.0, "steps": 30, "name": "full", "fid_judge": 90.0, "noise_dominated": 0.0},
            {"aug_step": 250, "start": 0.5, "steps": 15, "name": "half", "fid_judge": 100.0, "noise_dominated": 0.0},
            {"aug_step": 250, "start": 0.5, "steps": 15, "name": "half kept", "fid_judge": 95.0,
             "noise_dominated": 0.0},
            {"aug_step": 250, "start": 0.3, "steps": 9, "name": "noisy", "fid_judge": 50.0, "noise_dominated": 0.1}]
    bench = {"median_s": 36.0, "result": {"superres_start": 1.0, "superres_steps": 30},
             "variants": {"superres_start=0.5": {"median_s": 21.0,
                                                 "result": {"superres_start": 0.5, "superres_steps": 15}}}}
    seconds = job_seconds(bench)
    chosen, candidates = choose(rows, seconds, 30.0)
    assert chosen["name"] == "half kept"  # bicubic is no stage; the noisy one is out; "full" is over budget
    assert [c["name"] for c in candidates] == ["full", "half", "half kept"]
    assert choose(rows, seconds, 40.0)[0]["name"] == "full"
    assert choose(rows, seconds, 10.0)[0]["name"] == "full"  # none in budget: the best FID of all


def test_the_agreement_gap_interval_surrounds_the_gap_over_the_findings_it_scores():
    from models.classifier.ensemble import ClassifierEnsemble
    from models.evaluation.realism_measures import agreement_gap_interval, label_agreement

    judge = ClassifierEnsemble(["Mass", "Effusion", "No Finding"], 1, input_size=64, width=8).eval()
    real = smooth_images(40, 4)
    labels = [["Mass"]] * 15 + [["Effusion"]] * 3 + [["No Finding"]] * 22
    generated = {"Mass": smooth_images(12, 5), "Effusion": smooth_images(12, 6)}
    normal = smooth_images(12, 7)
    gap = agreement_gap(label_agreement(judge, generated, normal),
                        real_label_agreement(judge, real, labels, ["Mass", "Effusion"]))
    out = agreement_gap_interval(judge, generated, normal, real, labels, draws=300)
    assert out["findings"] == ["Mass"] and out["draws"] == 300
    assert out["low"] <= gap <= out["high"] and out["high"] - out["low"] > 0.01
    same = agreement_gap_interval(judge, {"Mass": real[:15]}, real[18:30], real, labels, draws=300)
    assert same["low"] <= 0.0 <= same["high"]  # real images scored against themselves: no gap


def test_an_agreement_gap_interval_is_read_against_zero_and_the_band():
    """Above 0 means the default exaggerates, whatever the point estimate; holding 0 and +0.05 decides nothing."""
    from models.evaluation.cards.realism import interval_reading

    assert "above 0" in interval_reading({"low": 0.005, "high": 0.228})
    assert "more than the band" in interval_reading({"low": 0.06, "high": 0.2})
    assert "cannot tell" in interval_reading({"low": -0.06, "high": 0.142})
    assert "inside the band" in interval_reading({"low": -0.03, "high": 0.04})
    assert "fainter" in interval_reading({"low": -0.2, "high": -0.01})


def test_the_card_names_each_missed_target_with_its_distance_and_nothing_met(tmp_path):
    """A missed target is stated with how far it is and what would close it."""
    from models.evaluation.cards.realism import missed_section

    def block(ratio: float, beats_blur: bool, gap: float) -> dict:
        return {"distances_judge": {"generated": {"ratio_to_floor": ratio}},
                "distances_random_cnn": {"beats_blur": beats_blur, "generated": {"fid": 9.0},
                                         "blurred real": {"fid": 7.5}},
                "label_agreement_gap": gap, "label_agreement_gap_interval": {"low": gap - 0.1, "high": gap + 0.1},
                "label_agreement": {"per_finding": {"Mass": {"n_finding": 12}}}}

    card = {"64": block(1.5, False, 0.02), "256": block(3.0, True, 0.08), "eligible_findings": ["Mass"],
            "base_seconds_per_image_batched": 1.6}
    lines = [line for line in missed_section(card, tmp_path / "no-curve.json", None) if line.startswith("- ")]
    assert len(lines) == 3
    assert "random CNN), 64 px: 9.00 against 7.50, 20% above" in lines[0]
    assert "256 px: 3.00 against 2.0, 1.5x over" in lines[1]
    assert "gap, 256 px: +0.080" in lines[2] and "0.030 outside" in lines[2]
    met = {"64": block(1.5, True, 0.02), "eligible_findings": ["Mass"], "base_seconds_per_image_batched": 1.6}
    assert missed_section(met, tmp_path / "no-curve.json", None) == []
