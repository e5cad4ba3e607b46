"""The model card's figures were produced by the models in the repository, and the bundled models load."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from models.catalog import BUNDLED_DIR, DEFAULT_CLASSIFIER, DEFAULT_GENERATOR, list_models

ROOT = Path(__file__).resolve().parent.parent
CARD = ROOT / "docs" / "model-card.json"
CARD_3D = ROOT / "docs" / "model-card-3d.json"
REALISM_T = ROOT / "docs" / "realism" / "T" / "card.json"
ENSEMBLE_REPORT = ROOT / "docs" / "explain" / "ensemble" / "report.json"
VOLUME_MODEL = "adrenal3d"
QC_CLASSIFIER = "nih-cxr14-64-classifier"  # the default generator's QC index was built with it


def hashes(*names: str) -> dict[str, str]:
    return {str(p.relative_to(ROOT)): hashlib.sha256(p.read_bytes()).hexdigest()
            for name in names for p in sorted((BUNDLED_DIR / name).rglob("*.safetensors"))}


def test_card_was_measured_on_the_bundled_weights():
    card = json.loads(CARD.read_text())
    present = hashes(QC_CLASSIFIER)
    measured = {k: v for k, v in card["weights_sha256"].items() if f"/{QC_CLASSIFIER}/" in k}
    assert present, "no bundled classifier weights"
    assert measured == present, "docs/model-card.json was measured on another classifier: run scripts/model_card.py"
    assert not card["quick"], "the committed card comes from a --quick smoke run"


def test_explain_ensemble_card_was_measured_on_the_default_classifier():
    report = json.loads(ENSEMBLE_REPORT.read_text())
    assert report["weights_sha256"] == hashes(DEFAULT_CLASSIFIER) != {}, "docs/explain/ensemble was measured on " \
        "other weights: run scripts/train_explain_ensemble.py"
    text = (ROOT / "docs" / "explain" / "ensemble.md").read_text()
    for figure in ("roc_test.png", "reliability.png", "within_source.png"):
        assert (ENSEMBLE_REPORT.parent / figure).exists() and f"ensemble/{figure}" in text
    assert f"{report['calibration']['temperature']:.2f}" in text


def test_realism_card_was_measured_on_the_bundled_generator_and_shows_its_figures():
    card = json.loads(REALISM_T.read_text())
    assert card["split"] == "T"
    assert card["weights_sha256"] == hashes(DEFAULT_GENERATOR) != {}, "docs/realism/T/card.json was measured on " \
        "other weights: run scripts/realism_card.py --split T"
    text = (ROOT / "docs" / "realism-card.md").read_text()
    for figure in ("side_by_side_64.png", "side_by_side_256.png", "memorisation_pairs.png"):
        assert (REALISM_T.parent / figure).exists() and f"realism/T/{figure}" in text
    assert f"{card['64']['n_generated']} generated images" in text
    check = json.loads((REALISM_T.parent / "superres" / "superres_check.json").read_text())
    assert check["split"] == "T"  # the diffusion stage on real images (history: the detail network replaced it)
    assert "realism/T/superres/superres_check.png" in text and f"The {check['n']} real T images" in text


def test_the_served_base_and_guidance_are_the_ones_chosen_on_v():
    """The default generator's classifier-free guidance is the row the V comparison of bases chose by the card's
    rule (scripts/compare_bases.py, with V sweeps joined by scripts/add_base_rows.py); its base weights are the
    row the later comparison of training steps at that guidance chose by the same rule; the T card was measured
    at that guidance."""
    from models.evaluation.realism_measures import choose_setting
    from models.evaluation.weights import folder_digest

    v_runs = REALISM_T.parent.parent / "V"
    by_cfg, by_steps = (json.loads((v_runs / name / "choice.json").read_text()) for name in ("base_choice",
                                                                                             "base_steps"))
    for choice in (by_cfg, by_steps):
        assert choice["split"] == "V" and choose_setting(choice["settings"]) == choice["chosen"]
    served_unet = folder_digest(BUNDLED_DIR / DEFAULT_GENERATOR / "unet")
    assert by_steps["chosen"]["unet_sha256"] == served_unet, "docs/realism/V/base_steps chose other base weights: " \
        "run scripts/compare_bases.py"
    served = json.loads((BUNDLED_DIR / DEFAULT_GENERATOR / "radsynth.json").read_text())
    assert served["default_guidance"] == by_cfg["chosen"]["cfg"] == by_steps["chosen"]["cfg"] == json.loads(
        REALISM_T.read_text())["chosen"]["cfg"]
    # and a request that names none gets it (GET /models shows it, the API fills it in)
    from app.routes.models import generate_defaults
    from core.settings import get_settings
    from models.catalog import describe

    assert generate_defaults(describe(BUNDLED_DIR / DEFAULT_GENERATOR), get_settings())["guidance"] == served[
        "default_guidance"]


def test_the_served_guidance_interval_is_the_one_chosen_on_v_and_the_t_card_measured_it():
    """Where in the schedule the guidance applies comes from the V comparisons of intervals (every V run at the
    served scale, pooled, by the card's rule); the T card's setting is the served one."""
    from models.evaluation.cards.realism import runs_on_base
    from models.evaluation.realism_measures import choose_setting

    v_runs = REALISM_T.parent.parent / "V"
    every = [(p.parent.name, json.loads(p.read_text())) for p in sorted(v_runs.glob("guidance_interval*/choice.json"))]
    # the runs on the served base, which are at 64 px (earlier bases had their own)
    runs = [r for _, r in runs_on_base(every, hashes(DEFAULT_GENERATOR))]
    assert runs, "no guidance-interval run on the served base weights: run scripts/realism_card.py --cfg-intervals"
    assert all(r["split"] == "V" for r in runs)
    served = json.loads((BUNDLED_DIR / DEFAULT_GENERATOR / "radsynth.json").read_text())
    rows = [s for r in runs for s in r["settings"] if s["cfg"] == served["default_guidance"]]
    chosen = choose_setting(rows).get("cfg_interval")
    assert served.get("default_guidance_interval") == chosen
    assert json.loads(REALISM_T.read_text())["chosen"].get("cfg_interval") == chosen, "the T card measured another"


def test_the_served_second_stage_is_the_one_chosen_on_v_and_the_t_card_measured_it():
    """The second stage (the one-pass detail network, or the diffusion stage with its start, steps and kept
    coarse content) is the V choice of scripts/superres_choice.py on the served base, within the job budget."""
    from models.diffusion.detail_net import WEIGHTS
    from models.diffusion.superres import keep_low_of
    from models.evaluation.superres_choice import choose, job_seconds

    chosen_in = json.loads((BUNDLED_DIR / DEFAULT_GENERATOR / "radsynth.json").read_text())["superres"]["chosen_in"]
    choice = json.loads((ROOT / chosen_in / "choice.json").read_text())
    bench = json.loads((ROOT / "bench" / "results" / "default_job.json").read_text())
    assert choose(choice["candidates"], job_seconds(bench), choice["budget_s"])[0]["name"] == choice["chosen"]["name"]
    chosen, stage = choice["chosen"], BUNDLED_DIR / DEFAULT_GENERATOR / "superres"
    card = json.loads(REALISM_T.read_text())["256"]
    from app.routes.models import generate_defaults
    from core.settings import get_settings
    from models.catalog import describe

    shown = generate_defaults(describe(BUNDLED_DIR / DEFAULT_GENERATOR), get_settings())
    if chosen.get("stage") == "detail":
        from models.diffusion.detail_net import DetailStage

        served = (stage / WEIGHTS).read_bytes()
        assert served == (ROOT / chosen["detail"] / WEIGHTS).read_bytes(), "another detail network is served"
        assert DetailStage.load(stage).keep_low == int(chosen.get("keep_low") or 0)
        assert card.get("detail_stage") and int(card.get("superres_keep_low") or 0) == int(chosen.get("keep_low")
                                                                                          or 0), \
            "the T card measured another second stage"
        assert shown.get("superres_steps") is None
        return
    served = json.loads((stage / "radsynth.json").read_text())
    assert served["default_start"] == chosen["start"]
    assert round(served["default_steps"] * chosen["start"]) == chosen["steps"]
    assert served["keep_low"] == keep_low_of({"scale": served["scale"]} | chosen)
    card_keep = keep_low_of({"scale": served["scale"], "keep_low": card["superres_keep_low"],
                             "keep_low_factor": card.get("superres_keep_low_factor")})
    assert (card["superres_start"], card["superres_steps"], card_keep) == (
        served["default_start"], chosen["steps"], served["keep_low"]), "the T card measured another setting"
    assert (shown["superres_start"], shown["superres_steps"]) == (chosen["start"], chosen["steps"])


def test_the_3d_section_was_measured_on_the_bundled_volume_model():
    card = json.loads(CARD_3D.read_text())
    assert card["weights_sha256"] == hashes(VOLUME_MODEL) != {}, "docs/model-card-3d.json was measured on other " \
        "weights: run scripts/volume_card.py"
    assert not card["quick"], "the committed 3D section comes from a --quick smoke run"
    text = (ROOT / "docs" / "model-card.md").read_text()
    assert "## 3D volumes" in text and f"{card['label_agreement']['n_per_finding']} + " in text
    for figure in card["figures"]:
        assert (ROOT / "docs" / figure).exists() and figure in text or figure.endswith("_slices.png")


def test_card_figures_exist():
    card = json.loads(CARD.read_text())
    text = (ROOT / "docs" / "model-card.md").read_text()
    gif = "denoising_consolidation.gif"
    assert (ROOT / "docs" / "figures" / gif).exists() and gif in text
    for ex in card["explanation_examples"]:
        assert (ROOT / "docs" / ex["figure"]).exists()


def test_bundled_models_are_found_without_configuration_and_fit_the_budget():
    names = {m["name"]: m for m in list_models()}
    assert names[DEFAULT_GENERATOR]["kind"] == "generator" and names[DEFAULT_CLASSIFIER]["kind"] == "classifier"
    assert names[VOLUME_MODEL]["kind"] == "generator3d"
    sizes = [p.stat().st_size for p in BUNDLED_DIR.rglob("*") if p.is_file()]
    assert sum(sizes) <= 40 * 2**20
    assert all(p.stat().st_size <= 16 * 2**20 for p in BUNDLED_DIR.rglob("*.safetensors"))
    assert (BUNDLED_DIR / DEFAULT_GENERATOR / "qc_index.npz").exists()


@pytest.mark.slow
def test_bundled_generator_and_classifier_run():
    from models.classifier.ensemble import ClassifierEnsemble
    from models.diffusion.pipeline import RadSynthPipeline

    pipe = RadSynthPipeline.load(BUNDLED_DIR / DEFAULT_GENERATOR)
    out = pipe("consolidation", 1, seeds=[0], num_inference_steps=2, superres_steps=2)
    assert out.images.shape == (1, 256, 256)
    ens = ClassifierEnsemble.load(BUNDLED_DIR / DEFAULT_CLASSIFIER)
    assert ens.predict(out.images).mean.shape == (1, len(ens.findings))


def test_augmentation_card_shows_the_committed_study():
    folder = ROOT / "docs" / "augmentation"
    study = json.loads((folder / "study.json").read_text())
    setup = json.loads((folder / "setup.json").read_text())
    text = (ROOT / "docs" / "augmentation.md").read_text()
    assert setup["real"] == {"train": "G+J", "val": "V", "test": "T", "images": setup["real"]["images"]}
    assert (folder / "study.png").exists() and "augmentation/study.png" in text
    for finding, entry in study["per_finding"].items():
        row = next(line for line in text.splitlines() if line.startswith(f"| {finding} ("))
        assert f"{entry['arms']['real only']['auroc']:.3f}" in row and row.endswith(f"| {entry['verdict']} |")
