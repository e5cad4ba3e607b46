"""Render docs/model-card.md from docs/model-card.json (written by scripts/model_card.py)."""

from __future__ import annotations

import json
import math
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def f(x, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{x:.{digits}f}" if isinstance(x, float) else str(x)


# Notes written by hand (no figures): which bundled model is which, and where each is measured; the default
# generator's row (generator_row) goes after the header.
MODELS_TABLE = [
    "| model | what | its card |",
    "|---|---|---|",
    "| `nih-cxr14-256-classifier` (default classifier: `/explain`, `/classify`) | 3 small CNNs trained from scratch at "
    "256 px on splits G and J, source-blind (the two NIH folders' finding rates balanced in the loss), calibrated and "
    "thresholded on V | [explain/ensemble.md](explain/ensemble.md), measured on split T |",
    "| `nih-cxr14-64-classifier` (the default generator's QC classifier: its copy index and label check) | 3 small "
    "CNNs trained from scratch at 64 px, one sigmoid output per finding | this page, below |",
    "| `adrenal3d` | 3D DDPM for 32^3 CT volumes | this page, last section |",
]


def generator_row(folder: Path = ROOT / "models" / "pretrained" / "nih-cxr14") -> str:
    """The default generator's row, with the training step and guidance its radsynth.json records."""
    meta = json.loads((folder / "radsynth.json").read_text())
    low, high = meta["default_guidance_interval"]
    return ("| `nih-cxr14` (default generator) | a 64-px finding-conditional base (v-prediction, min-SNR-5, no "
            f"augmentation, step {meta['steps']:,}, trained on split {meta['trained_on_splits']}; CFG "
            f"{meta['default_guidance']:g} at t/T {low:g}-{high:g}) and a one-pass 64->256 detail network (trained on "
            "the 256-px images of G only, no labels); the service delivers 256 x 256 by default, `resolution=64` the "
            "base image | [realism-card.md](realism-card.md), measured on split T with a judge trained on split J "
            "only |")


def render(c: dict) -> str:
    """The 2D part of the card: the models, the 64-px classifier's figures and how to remake them."""
    cl, data = c["classifier"], c["data"]
    lines = [
        "# Model card: the bundled RadSynth models",
        "",
        *MODELS_TABLE[:2],
        generator_row(),
        *MODELS_TABLE[2:],
        "",
        "The generator measured in earlier versions of this card (`nih-cxr14-64`: epsilon prediction, 900 steps, "
        "classifier guidance 40) is retired: on unseen patients half of its images were pixel noise and its guide "
        "exaggerated every finding. Its sections are gone from this page; the classifier sections below describe the "
        "64-px `nih-cxr14-64-classifier`, which served `/explain` until 2026-12-02 and now serves the default "
        "generator's QC only (the service's explanations come from `nih-cxr14-256-classifier`, "
        f"[its card](explain/ensemble.md)). They were measured on {c['generated_at'][:10]} by "
        "`python -m scripts.model_card` on the classifier weights in `models/pretrained` (their SHA-256 are in "
        "`docs/model-card.json`, and `tests/test_model_card.py` fails if they change).",
        "",
        "Denoising trajectory of the default generator (consolidation, 4 seeds; the base stage's 15 steps, then the "
        "256-px images of the detail network): ![denoising](figures/denoising_consolidation.gif)",
        "",
        "Explanations of real uploads (integrated gradients, 50 steps, averaged over the ensemble):",
        "",
        *(f"- `{ex['file']}`: {ex['finding']} p = {f(ex['probability'], 2)} +/- {f(ex['std'], 2)}"
          f"<br>![{ex['file']}]({ex['figure']})" for ex in c["explanation_examples"]),
        "",
        f"The classifier trained on {cl['images_real']} images of the `nih-cxr14-64` train split "
        f"({data['train']['patients']} patients); its val split ({data['val']['images']} images) chose epochs and "
        f"thresholds; its test split ({data['test']['images']} images, {data['test']['patients']} patients) gives "
        "the AUROCs below.",
        "",
        *auroc_section(c["classifier_auroc_test"]),
        *sanity_section(c),
        "## Limits, stated plainly",
        "",
        f"- The classifier works at 64 x 64 pixels on {cl['images_real']} training images: it is near chance on most "
        "findings (the 256-px ensemble is the stronger one). Findings with one or two positive test images have "
        "intervals that say little.",
        "- Research use only: not a medical device, not for diagnosis.",
        "",
        "## Reproduce",
        "",
        "```bash",
        "radsynth train-classifier datasets/nih-cxr14-64 --out runs/nih-classifier --name nih-cxr14-64 \\",
        f"    --members {cl['config']['members']} --epochs {cl['config']['epochs']} --seeds 0",
        "python -m scripts.model_card      # re-measures the classifier figures (it reads models/pretrained)",
        "```",
        "",
        "The generator's card: `scripts/realism_card.py` and `scripts/render_realism_card.py` (commands in "
        "[realism-card.md](realism-card.md)).",
        "",
    ]
    return "\n".join(lines)


def auroc_section(aurocs: dict) -> list[str]:
    """The 64-px classifier's AUROC per finding on its test split, with bootstrap intervals."""
    return [
        "## Classifier ensemble: AUROC on the patient-disjoint test split",
        "",
        "| finding | AUROC | 95% bootstrap CI | positives / negatives |",
        "|---|---|---|---|",
        *(f"| {name} | {f(v['auroc'])} | [{f(v['ci95'][0])}, {f(v['ci95'][1])}] | {v['positives']} / "
          f"{v['negatives']} |" for name, v in aurocs.items()),
        "",
        "Findings with one or two positive test images have intervals that say little; they are listed so nobody "
        "has to guess.",
        "",
    ]


def sanity_section(c: dict) -> list[str]:
    """The randomisation check and the localisation figures (NIH boxes, phantoms)."""
    rc, lp, lb = c["randomisation_check"], c["localisation_phantom"], c["localisation_nih_boxes"]
    lines = [
        "## Explanations: sanity and localisation",
        "",
        f"- Model-randomisation check (Adebayo et al. 2018) on {rc['images']} held-out images, finding "
        f"{rc['finding']}: Spearman rank correlation of |attribution| between the trained and a fully randomised "
        f"ensemble = **{f(rc['spearman_mean'])}** (near 0 means the explanation depends on what was learned).",
        f"- NIH boxes ({lb['images']} boxes on the images available here):",
    ]
    for name, v in lb["per_finding"].items():
        lines.append(f"  - {name}: pointing-game hits {f(v['pointing_hit_rate'], 2)}, attribution share inside "
                     f"{f(v['share_inside_mean'], 2)} (box area share {f(v['chance_share'], 2)}), {v['images']} boxes")
    lines.append(f"- Phantom benchmark ({lp['images']} held-out phantoms with drawn lesions; a classifier trained on "
                 "phantoms, `models/data/phantom.py`):")
    for name, v in lp["per_finding"].items():
        lines.append(f"  - {name}: pointing-game hits {f(v['pointing_hit_rate'], 2)}, share inside "
                     f"{f(v['share_inside_mean'], 2)} vs chance {f(v['chance_share'], 2)} ({v['images']} images)")
    return [*lines, ""]














def verdict_3d(c: dict) -> list[str]:
    """What the figures below say about the bundled 3D model, in one paragraph, from the numbers themselves."""
    la, fid, fid_slices = c["label_agreement"]["auroc"], c["fid_3d"]["ratio"], c["fid_slices"]["ratio"]
    told_apart = (f"the judge tells volumes generated for {c['label_agreement']['finding']} from "
                  f"{c['generator']['findings'][0]} ones with AUROC {f(la)} (0.5 = chance)")
    distance = f"their FID is {f(fid, 1)}x the real-vs-real floor in 3D features ({f(fid_slices, 1)}x on slices)"
    if la >= 0.75 and fid <= 3:
        return [f"**Verdict: good.** {told_apart[0].upper() + told_apart[1:]}, and {distance}.", ""]
    if la >= 0.65:
        return [f"**Verdict: usable shapes, not yet realistic.** {told_apart[0].upper() + told_apart[1:]}, but "
                f"{distance}: the volumes carry each finding's signal yet remain distinguishable from real ones. "
                "Use them for pre-training and augmentation experiments, not as stand-ins for real scans.", ""]
    return [f"**Verdict: not good enough yet.** {told_apart[0].upper() + told_apart[1:]}, and {distance}. "
            "The service path (NIfTI, DICOM series, geometry) is complete; the model is not.", ""]


PREDICTION_WORDS = {"epsilon": "the noise (epsilon)", "v_prediction": "v (v-prediction)"}


def bundled_widths(model: str) -> str:
    """The bundled 3D UNet's channel widths, as its unet3d.json records them."""
    path = ROOT / "models" / "pretrained" / model / "unet3d.json"
    return "/".join(str(w) for w in json.loads(path.read_text())["unet"]["channels"]) if path.exists() else "?"


def render_volumes(c: dict) -> str:
    """The 3D section, from docs/model-card-3d.json (written by scripts/volume_card.py)."""
    return "\n".join([*volumes_intro(c), *volumes_measures(c), *volumes_closing(c)])


def volumes_intro(c: dict) -> list[str]:
    """What the 3D generator is, its data and training, pictures and the verdict."""
    g, data = c["generator"], c["data"]
    tr, names = g.get("training") or {}, g["findings"]
    train_mix = ", ".join(f"{n} {data['train'][n]}" for n in names)
    return [
        "## 3D volumes: the bundled `adrenal3d` generator",
        "",
        f"Measured {c['generated_at']} by `python -m scripts.volume_card`"
        f"{' (QUICK smoke run: small samples)' if c.get('quick') else ''} from the weights in "
        f"`models/pretrained/{c['model']}` (SHA-256 in `docs/model-card-3d.json`, checked by "
        "`tests/test_model_card.py`).",
        "",
        f"- **What:** a class-conditional 3D DDPM (MONAI `DiffusionModelUNet`, spatial_dims=3, channels "
        f"{bundled_widths(c['model'])}, classifier-free guidance) generating "
        f"{g['resolution']}^3 volumes of {', '.join(names)}; sampled with DPM-Solver++ at 25 steps.",
        f"- **Data:** AdrenalMNIST3D (MedMNIST v2) official splits: train {data['train']['volumes']} "
        f"({train_mix}), val {data['val']['volumes']}, test "
        f"{data['test']['volumes']} (held out). Voxel size recorded in the model: {g['voxel_mm']} mm (MedMNIST "
        "keeps no spacing; nominal 1 mm at 64^3).",
        f"- **Training:** {g['steps']} steps, batch {tr.get('batch_size')}, predicting "
        f"{PREDICTION_WORDS[tr.get('prediction', 'epsilon')]}, EMA {tr.get('ema_decay')}, bf16 "
        f"autocast {tr.get('bf16')}, {f((g.get('wall_time_s') or 0) / 60, 1)} min on "
        f"{(g.get('hardware') or {}).get('device', 'cpu')} ({(g.get('hardware') or {}).get('threads', '?')} "
        "threads).",
        "",
        "![real and generated volumes](figures/adrenal3d_samples.png)",
        "",
        "A sweep through the axial slices of one generated hyperplasia volume: "
        "![sweep](figures/adrenal3d_hyperplasia_sweep.gif)",
        "",
        *verdict_3d(c),
    ]


def volumes_measures(c: dict) -> list[str]:
    """The 3D judge, label agreement, FID in two feature spaces and diversity."""
    clf, la, names = c["classifier3d"], c["label_agreement"], c["generator"]["findings"]
    fid_rows = []
    for key, what in (("fid_3d", "3D classifier features (volumes)"), ("fid_slices", "slice classifier features "
                                                                                     "(axial slices)")):
        fv, fl = c[key]["generated_vs_heldout"], c[key]["train_vs_heldout"]
        fid_rows.append(f"| {what} | {f(fv['fid'], 2)} | {f(fl['fid'], 2)} | **{f(c[key]['ratio'], 2)}** | "
                        f"{fv['n_fake']} generated, {fv['n_real']} held-out, {fl['n_fake']} train |")
    return [
        "### The judge: a small 3D classifier",
        "",
        f"A 3-block 3D CNN trained from scratch on the train split (epoch chosen on val): test AUROC "
        f"**{f(clf['test_auroc'])}** [95% CI {f(clf['test_ci'][0])}, {f(clf['test_ci'][1])}] on "
        f"{clf['test_positives']} {names[1]} / {clf['test_negatives']} {names[0]} held-out volumes.",
        "",
        "### Label agreement",
        "",
        f"AUROC with which the 3D classifier tells volumes generated for {la['finding']} from volumes generated for "
        f"{names[0]}: **{f(la['auroc'])}** [95% CI {f(la['ci'][0])}, {f(la['ci'][1])}], {la['n_per_finding']} + "
        f"{la['n_per_finding']} volumes (mean p({la['finding']}) {f(la['mean_p_finding'])} vs "
        f"{f(la['mean_p_normal'])}).",
        "",
        "### FID, in domain features",
        "",
        "| features | generated vs held-out | train vs held-out (floor) | ratio | samples |",
        "|---|---|---|---|---|",
        *fid_rows,
        "",
        f"3D MS-SSIM diversity ({c['ms_ssim_3d']['pairs']} random pairs, lower = more diverse): generated "
        f"{f(c['ms_ssim_3d']['generated'])}, held-out real {f(c['ms_ssim_3d']['heldout_real'])}.",
        "",
    ]


def volumes_closing(c: dict) -> list[str]:
    """Memorisation, cost, limits and how to remake the 3D model."""
    g, mem, cost = c["generator"], c["memorisation"], c["cpu_cost"]
    tr = g.get("training") or {}
    return [
        "### Memorisation",
        "",
        f"Each of the {mem['generated']} generated volumes was matched to its nearest training volume in the 3D "
        f"classifier's features (z-scored, cosine). Copy threshold {f(mem['threshold'], 4)} (half the 1st "
        f"percentile of {mem['calibration']['heldout_images']} held-out-to-train distances): **{mem['flagged']} "
        f"flagged ({f(100 * mem['rate'], 1)}%)**. The closest pairs:",
        "",
        "![closest pairs](figures/adrenal3d_memorisation_pairs.png)",
        "",
        "### Cost per volume",
        "",
        f"On this project's CPU ({cost['threads']} threads), one {g['resolution']}^3 volume at {cost['steps']} "
        f"steps: {f(cost['first_volume_s'], 1)} s for the first after loading, {f(cost['next_volume_s'], 1)} "
        f"s for the next; peak memory {f(cost['peak_rss_mb'], 0)} MB. No GPU was available to measure.",
        "",
        "### Limits",
        "",
        f"- {g['resolution']}^3 voxels of binary adrenal shapes: a demonstration of the 3D path, not CT texture. "
        "Larger volumes need a GPU, or latent diffusion (`train-volume-generator --latent`: an AutoencoderKL "
        "compresses 4x per side, the DDPM runs on its latents), which is built and tested but not bundled or "
        "measured here yet.",
        "- The judge is a small classifier trained on the same 1,188 volumes; its features define FID and the "
        "memorisation check, so all figures compare within this card only.",
        "- Why v-prediction: the first bundled model predicted the noise (epsilon, 1,500 steps). Its denoiser was "
        "accurate one step at a time, but at high noise its estimate of the clean volume was worse than a constant "
        "guess (x0 MSE 0.137 against 0.063 at t = 900 on 8 held-out volumes; the v-prediction model: 0.032), "
        "because an epsilon error is amplified by sqrt((1 - alpha_bar) / alpha_bar). Every sampler then ended "
        "with a grey, noisy background (median voxel 0.32 where real volumes are 0). That model scored label "
        "agreement 0.517 and an FID 70,278x the floor in 3D features. With v-prediction 97.9% of voxels are below "
        "0.05, as in real volumes (97.3%). `python -m scripts.probe_denoising_3d <model folder>` measures this.",
        "",
        "Reproduce:",
        "",
        "```bash",
        f"radsynth train-volume-generator datasets/adrenalmnist3d_64.npz --out runs/adrenal3d/model "
        f"--size {g['resolution']} --steps {g['steps']} --batch-size {tr.get('batch_size')} --lr 3e-4 "
        f"--channels 16,32,64 --flip --prediction {tr.get('prediction', 'epsilon')}",
        "python -m scripts.bundle_models --only-volumes --volume-generator runs/adrenal3d/model",
        "python -m scripts.volume_card",
        "```",
        "",
        f"Measuring this section took {f(c['runtime_s'] / 60, 1)} minutes.",
        "",
    ]


def card_text(docs: Path = ROOT / "docs") -> str:
    """docs/model-card.md's text from model-card.json, plus the 3D section when model-card-3d.json exists."""
    text = render(json.loads((docs / "model-card.json").read_text()))
    volumes = docs / "model-card-3d.json"
    if volumes.exists():
        text += "\n" + render_volumes(json.loads(volumes.read_text()))
    return text


def write_card(docs: Path = ROOT / "docs") -> Path:
    """Write docs/model-card.md."""
    (docs / "model-card.md").write_text(card_text(docs))
    return docs / "model-card.md"
