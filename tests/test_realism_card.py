"""The realism card's measures: the setting rule, the agreement gap, fakes read beside real, real agreement."""

from __future__ import annotations

import json

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


def test_with_every_space_measured_no_one_space_decides_and_washed_out_settings_drop_out():
    def row(cfg, judge, texture, second, washed=0.05):
        return {"cfg": cfg, "agreement_gap": 0.0, "fid_judge": judge, "fid_random_cnn": texture,
                "fid_second_cnn": second, "washed_out": washed, "real_washed_out": 0.05}

    # the best judge FID loses to a setting that is close in the judge's space and far better in both others
    rows = [row(1, 100.0, 20.0, 4.0), row(2, 110.0, 10.0, 2.0), row(3, 1000.0, 9.0, 1.9)]
    assert choose_setting(rows)["cfg"] == 2
    # a setting washed out 10 points more often than real drops out, unless every one is
    rows[1]["washed_out"] = 0.15
    assert choose_setting(rows)["cfg"] == 1
    assert choose_setting([rows[1]])["cfg"] == 2


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


def test_the_detail_network_is_a_candidate_timed_by_its_own_benchmark_variant():
    from models.evaluation.superres_choice import choose, job_seconds

    rows = [{"aug_step": 250, "start": 0.5, "steps": 15, "name": "half", "fid_judge": 100.0, "noise_dominated": 0.0},
            {"aug_step": None, "stage": "detail", "start": 1.0, "steps": 1, "name": "detail net",
             "fid_judge": 110.0, "noise_dominated": 0.0}]
    bench = {"median_s": 17.0, "result": {"superres_start": 0.5, "superres_steps": 15},
             "variants": {"model=detail": {"median_s": 5.0, "result": {"detail_stage": "one-pass detail network",
                                                                       "superres_start": None}}}}
    seconds = job_seconds(bench)
    assert choose(rows, seconds, 8.0)[0]["name"] == "detail net"  # the only one in budget
    assert choose(rows, seconds, 20.0)[0]["name"] == "half"  # both in budget: the lower FID
    assert [c["job_seconds"] for c in choose(rows, seconds, 8.0)[1]] == [17.0, 5.0]


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

    def block(ratio: float, texture_fid: float, gap: float, *, hf: float = 0.0, featureless: float = 0.0,
              washed: float = 0.05) -> dict:
        return {"distances_judge": {"generated": {"ratio_to_floor": ratio}},
                "distances_random_cnn": {"generated": {"fid": texture_fid}, "blurred real": {"fid": 7.5}},
                "distances_second_cnn": {"generated": {"fid": 1.0}, "blurred real": {"fid": 0.5}},
                "high_frequency_power_log10": {"generated": hf, "real floor": 0.05},
                "pixel_health": {"featureless": featureless, "washed_out": washed, "real_washed_out": 0.05},
                "n_generated": 100,
                "label_agreement_gap": gap, "label_agreement_gap_interval": {"low": gap - 0.1, "high": gap + 0.1},
                "label_agreement": {"per_finding": {"Mass": {"n_finding": 12}}}}

    card = {"64": block(3.0, 16.5, 0.02, featureless=0.01, washed=0.2),
            "256": block(3.0, 9.0, 0.08, hf=-0.25), "eligible_findings": ["Mass"],
            "base_seconds_per_image_batched": 1.6}
    lines = [line for line in missed_section(card, tmp_path / "no-curve.json", None) if line.startswith("- ")]
    assert len(lines) == 6, lines
    assert "FID / real floor (judge), 64 px: 3.00 against 2.5, 1.2x over" in lines[0]
    assert "(random CNN), 64 px: 2.20 against 2 (16.50 vs 7.50), 1.1x over" in lines[1]
    assert "featureless images delivered, 64 px: 1 of 100" in lines[2]
    assert "washed-out share, 64 px: 20.0% against real 5.0%" in lines[3]
    assert "high-frequency power, 256 px: -0.25 log10 against +/- 0.1, 0.15 outside" in lines[4]
    assert "gap, 256 px: +0.080" in lines[5] and "0.030 outside" in lines[5]
    met = {"64": block(2.5, 15.0, 0.02, hf=0.1), "eligible_findings": ["Mass"], "base_seconds_per_image_batched": 1.6}
    assert missed_section(met, tmp_path / "no-curve.json", None) == []


def test_a_v_sweep_of_one_base_joins_the_base_comparison_and_the_rule_chooses_over_all_rows(tmp_path):
    from models.evaluation.weights import folder_digest
    from scripts.add_base_rows import merged

    unet = tmp_path / "unet"
    unet.mkdir()
    (unet / "diffusion_pytorch_model.safetensors").write_bytes(b"weights")

    def row(base, cfg, judge, gap):
        return {"base": base, "cfg": cfg, "agreement_gap": gap, "fid_judge": judge, "fid_random_cnn": 10.0,
                "fid_second_cnn": 1.0, "washed_out": 0.1, "real_washed_out": 0.1, "fid_intervals": {}}

    comparison = {"n_real": 144, "n_per_finding": 12,
                  "settings": [row("old", 20, 85.0, 0.03), row("new", 20, 48.0, 0.08)]}
    sweep = {"split": "V", "n_per_finding": 12, "settings": [
        {k: v for k, v in row("x", cfg, judge, gap).items() if k != "base"}
        for cfg, judge, gap in ((14, 55.0, 0.04), (20, 48.0, 0.08))]}
    out = merged(comparison, sweep, "new", str(unet))
    # the row already compared is not added twice; the new base at a scale inside the band wins
    assert [(r["base"], r["cfg"]) for r in out["settings"]] == [("old", 20), ("new", 20), ("new", 14)]
    assert (out["chosen"]["base"], out["chosen"]["cfg"], out["chosen"]["unet"]) == ("new", 14, str(unet))
    assert out["chosen"]["unet_sha256"] == folder_digest(unet)  # the weights it measured, wherever they move
    with pytest.raises(SystemExit, match="same --n"):
        merged(comparison, sweep | {"n_per_finding": 16}, "new", str(unet))
    with pytest.raises(SystemExit, match="only V rows"):
        merged(comparison, sweep | {"split": "T"}, "new", str(unet))
    with pytest.raises(SystemExit, match="--sweep-n"):
        merged(comparison, {k: v for k, v in sweep.items() if k != "n_per_finding"}, "new", str(unet))
    with pytest.raises(SystemExit, match="FID intervals"):
        merged(comparison, sweep | {"settings": [{k: v for k, v in sweep["settings"][0].items()
                                                  if k != "fid_intervals"}]}, "new", str(unet))


def test_a_folder_digest_follows_the_weights_not_the_path(tmp_path):
    from models.evaluation.weights import folder_digest

    a, b = tmp_path / "a", tmp_path / "elsewhere" / "b"
    for folder in (a, b):
        folder.mkdir(parents=True)
        (folder / "model.safetensors").write_bytes(b"same bytes")
    assert folder_digest(a) == folder_digest(b)
    (b / "model.safetensors").write_bytes(b"other bytes")
    assert folder_digest(a) != folder_digest(b)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no weights"):
        folder_digest(tmp_path / "empty")


def test_the_interval_table_pools_only_the_runs_on_the_base_the_t_card_measured(tmp_path):
    """Runs of earlier base weights are named beside the table, not pooled into its choice."""
    import json

    from models.evaluation.cards.realism import guidance_interval_section

    def row(hi: float, judge: float) -> dict:
        return {"cfg": 14.0, "cfg_interval": [0.0, hi], "agreement": 0.62, "agreement_gap": 0.02,
                "fid_judge": judge, "fid_random_cnn": 9.0, "fid_second_cnn": 1.0, "washed_out": 0.05,
                "real_washed_out": 0.05}

    def run(folder: str, unet: str, rows: list[dict]) -> None:
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "choice.json").write_text(json.dumps({
            "weights_sha256": {"m/unet/w.safetensors": unet, "m/superres/w.safetensors": "sr"},
            "settings": rows, "real_label_agreement": {"mean_auroc": 0.6}}))

    run("guidance_interval", "old", [row(0.7, 30.0), row(0.8, 35.0)])  # better FIDs, but another base
    run("guidance_interval_base9", "new", [row(0.7, 45.0), row(0.8, 42.0), row(0.8, 20.0) | {"cfg": 12.0}])
    t = {"chosen": {"cfg": 14.0, "cfg_interval": [0.0, 0.8]},
         "weights_sha256": {"m/unet/w.safetensors": "new", "m/superres/w.safetensors": "other sr"}}
    text = "\n".join(guidance_interval_section(tmp_path, t))
    assert "| **0-0.8** | 42.0 |" in text and "30.0" not in text
    assert "| 0-0.8 | 20.0 |" not in text and "- CFG 12 at t/T 0-0.8: judge FID 20.0" in text  # another scale
    assert "over these 2 settings" in text and "the T card above was read at it" in text
    assert "`guidance_interval` (other base weights): chosen there 0-0.7" in text
    t_other = t | {"weights_sha256": {"m/unet/w.safetensors": "unmeasured"}}  # no run on it: the latest run
    assert "| **0-0.8** | 42.0 |" in "\n".join(guidance_interval_section(tmp_path, t_other))


def test_each_later_base_snapshot_gets_its_second_stage_section_with_its_change_on_t(tmp_path):
    import shutil
    from pathlib import Path

    from models.evaluation.cards.realism import later_base_sections

    measured = Path(__file__).resolve().parent.parent / "docs" / "realism" / "V" / "superres_base5250"
    for step in (5250, 9000):
        shutil.copytree(measured, tmp_path / f"superres_base{step}")
    change = {"what": "256 px, the base trained on", "before": {"judge FID / floor": 3.66},
              "after": {"judge FID / floor": 3.10}}
    text = "\n".join(later_base_sections(tmp_path, {"9000": {"256": change}}))
    assert text.count("## Second stage on the base at step") == 1 and "at step 9,000 (V)" in text
    assert "trained on to step 9,000" in text and "realism/V/superres_base9000/sweep.png" in text
    assert "3.66" in text and "3.10" in text  # the change read on T


def test_the_training_gains_come_from_the_rows_and_skip_settings_outside_the_agreement_band(tmp_path):
    """Each step's best in-band judge FID, in step order, with the drop from the step before."""
    from models.evaluation.cards.base_gains import training_gains

    def row(base: str, fid: float, gap: float, hi: float = 0.8) -> dict:
        return {"base": base, "fid_judge": fid, "agreement_gap": gap, "cfg": 14.0, "cfg_interval": [0.0, hi]}

    first, second = tmp_path / "a.json", tmp_path / "b.json"
    first.write_text(json.dumps({"settings": [row("served (step 2,400, augmented)", 80.0, 0.0)]}))
    second.write_text(json.dumps({"settings": [row("no augmentation, step 5,000", 30.0, 0.09),
                                               row("no augmentation, step 5,000", 40.0, 0.01, hi=0.7),
                                               row("no augmentation, step 5,000", 60.0, -0.02)]}))
    text, last_lowered = training_gains([first, second], 0.05)
    assert last_lowered
    assert "80.0 (step 2,400, CFG 14, t/T 0-0.8, augmented) -> 40.0 (step 5,000, CFG 14, t/T 0-0.7)" in text
    assert text.endswith("50% lower from each step to the next")
    assert training_gains([first, tmp_path / "missing.json"], 0.05) is None
