"""Re-measure every figure in docs/model-card.md from the bundled models, and rewrite the card.

    python -m scripts.model_card            # full run (CPU: about half an hour)
    python -m scripts.model_card --quick    # small sample counts, for a smoke test

Writes docs/model-card.json (numbers, sample counts, and the SHA-256 of every bundled weights file, which
tests/test_model_card.py checks against the repository), docs/model-card.md and docs/figures/*.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import numpy as np

from models.catalog import BUNDLED_DIR, DEFAULT_CLASSIFIER, DEFAULT_GENERATOR, resolve_model

ROOT = Path(__file__).resolve().parent.parent

DOCS = ROOT / "docs"
UPLOADS = ROOT / "tests" / "fixtures" / "uploads"
EXTRA_UPLOAD = ROOT.parent / "shared" / "data" / "uploads" / "00027426_000.png"


def weight_hashes(*folders: Path) -> dict[str, str]:
    """SHA-256 of every weights file in `folders` (path, relative to the repository when inside it -> hex digest).
    The 2D card hashes the bundled 2D models; the 3D section (scripts/volume_card.py) its own model."""
    paths = sorted(p for folder in folders for p in Path(folder).resolve().rglob("*.safetensors"))
    return {str(p.relative_to(ROOT) if p.is_relative_to(ROOT) else p): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in paths}


def images_of(ds, idx=None) -> np.ndarray:
    idx = range(len(ds)) if idx is None else idx
    return np.stack([((ds[i]["image"][0] + 1) / 2).numpy() for i in idx])


def labelled_grid(rows: dict[str, np.ndarray], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = max(len(v) for v in rows.values())
    # constrained layout reserves room for the title (tight_layout drew it over the first row)
    fig, axes = plt.subplots(len(rows), cols, figsize=(1.3 * cols + 1.4, 1.3 * len(rows) + 0.4), dpi=110,
                             squeeze=False, layout="constrained")
    for r, (name, imgs) in enumerate(rows.items()):
        for c in range(cols):
            ax = axes[r][c]
            ax.axis("off")
            if c < len(imgs):
                ax.imshow(imgs[c], cmap="gray", vmin=0, vmax=1)
        axes[r][0].text(-0.1, 0.5, name, transform=axes[r][0].transAxes, ha="right", va="center", fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)


def generate(pipe, finding: str, n: int, seed: int, batch: int = 32, **sampling) -> np.ndarray:
    """`n` images with the service's defaults (or `sampling` overrides), seeds seed, seed+1, ..."""
    out = []
    for start in range(0, n, batch):
        k = min(batch, n - start)
        out.append(pipe(finding, k, seeds=list(range(seed + start, seed + start + k)), **sampling).images)
    return np.concatenate(out)


def sampling_info(pipe, gen_dir: Path) -> dict:
    """The defaults every generated image in the card was made with (the service's defaults)."""
    import inspect

    from models.diffusion.guide import GUIDE_FOLDER
    from models.diffusion.samplers import DEFAULT_SAMPLER
    from models.sampler_defaults import default_steps

    guide_meta = gen_dir / GUIDE_FOLDER / "training.json"
    cfg = inspect.signature(pipe.sample_requests).parameters["guidance_scale"].default
    return {"sampler": DEFAULT_SAMPLER, "steps": default_steps(DEFAULT_SAMPLER), "guidance": cfg,
            "classifier_scale": pipe.default_classifier_scale,
            "guide": json.loads(guide_meta.read_text()) if guide_meta.exists() else None}


def eligible_findings(train_ds) -> list[str]:
    """The findings label agreement is averaged over: at least 30 training images, "No Finding" aside."""
    from models.findings import NO_FINDING

    return [f for f, c in train_ds.label_counts().items() if c >= 30 and f != NO_FINDING]


def real_label_agreement(ens, splits: dict, eligible: list[str]) -> dict:
    """The same AUROC on real images: finding-k images vs "No Finding" images, on the held-out splits (what a
    generator that draws faithful new X-rays could expect) and on the training split (what copies would score)."""
    from models.classifier.train import dataset_arrays
    from models.findings import NO_FINDING
    from models.metrics.auroc import separation_auroc

    out = {}
    for name, parts in (("heldout", ("val", "test")), ("train", ("train",))):
        xs, ys = zip(*(dataset_arrays(splits[s]) for s in parts), strict=True)
        x, y = np.concatenate(xs), np.concatenate(ys)
        p = ens.predict(x).mean
        normal = y[:, ens.findings.index(NO_FINDING)] == 1
        per = {}
        for finding in eligible:
            k = ens.findings.index(finding)
            pos = y[:, k] == 1
            # fewer than 5 positives: no meaningful AUROC
            score = separation_auroc(p[pos, k], p[normal, k]) if pos.sum() >= 5 else float("nan")
            per[finding] = {"auroc": score, "n_finding": int(pos.sum()), "n_no_finding": int(normal.sum())}
        scored = [v["auroc"] for v in per.values() if not np.isnan(v["auroc"])]
        out[name] = {"per_finding": per, "mean_auroc": float(np.mean(scored)) if scored else float("nan"),
                     "findings_scored": len(scored)}
    return out


def add_real_reference(docs: Path) -> None:
    """Measure only the real-image label agreement and add it to an existing card (the generator is not used)."""
    from core.settings import DEMO_DATASET
    from models.classifier.ensemble import ClassifierEnsemble
    from models.data.nih import NIHChestXray

    card = json.loads((docs / "model-card.json").read_text())
    ens = ClassifierEnsemble.load(resolve_model(DEFAULT_CLASSIFIER, kind="classifier"))
    splits = {s: NIHChestXray(DEMO_DATASET, s, 64) for s in ("train", "val", "test")}
    card["label_agreement"]["real_reference"] = real_label_agreement(ens, splits, card["label_agreement"]["findings"])
    (docs / "model-card.json").write_text(json.dumps(card, indent=2, default=float))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--generator", default=DEFAULT_GENERATOR, help="generator name or folder (default: bundled)")
    ap.add_argument("--classifier", default=DEFAULT_CLASSIFIER, help="classifier name or folder")
    ap.add_argument("--docs", default=str(DOCS), help="where to write the card (default: docs/)")
    ap.add_argument("--only-real-reference", action="store_true", help="measure only the label agreement of real "
                    "images and add it to the existing card")
    args = ap.parse_args()
    docs = Path(args.docs)
    from models.evaluation.cards.model import write_card

    if args.only_real_reference:
        add_real_reference(docs)
        write_card(docs)
        return
    fig_dir, card_json = docs / "figures", docs / "model-card.json"
    q = args.quick
    from core.settings import DEMO_DATASET
    from models.classifier.ensemble import ClassifierEnsemble
    from models.classifier.train import ClassifierConfig, SyntheticSpec, dataset_arrays, evaluate, train_classifier
    from models.data.nih import NIHChestXray
    from models.diffusion.pipeline import RadSynthPipeline
    from models.findings import NO_FINDING
    from models.metrics.auroc import separation_auroc
    from models.metrics.features import ms_ssim_diversity
    from models.metrics.fid import fid_kid_from_features
    from models.qc.memorisation import MemorisationIndex, image_features

    t0 = time.time()
    fig_dir.mkdir(parents=True, exist_ok=True)
    gen_dir = resolve_model(args.generator, kind="generator")
    clf_dir = resolve_model(args.classifier, kind="classifier")
    pipe = RadSynthPipeline.load(gen_dir)
    ens = ClassifierEnsemble.load(clf_dir)
    gen_info = json.loads((gen_dir / "radsynth.json").read_text())
    clf_info = json.loads((clf_dir / "radsynth.json").read_text())
    card: dict = {"generated_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "quick": q,
                  "weights_sha256": weight_hashes(BUNDLED_DIR / DEFAULT_GENERATOR,
                                                  BUNDLED_DIR / DEFAULT_CLASSIFIER),
                  "generator": {k: gen_info.get(k) for k in ("dataset", "steps", "epochs", "wall_time_s", "hardware",
                                                              "images", "code_version", "config")},
                  "classifier": {k: clf_info.get(k) for k in ("dataset", "wall_time_s", "hardware", "images_real",
                                                               "code_version", "config", "thresholds")}}
    card["sampling"] = sampling_info(pipe, gen_dir)
    res = pipe.unet.config.sample_size
    splits = {s: NIHChestXray(DEMO_DATASET, s, res) for s in ("train", "val", "test")}
    card["data"] = {s: {"images": len(d), "patients": len({r.group for r in d.records}),
                        "per_finding": d.label_counts()} for s, d in splits.items()}
    print("data", {s: len(d) for s, d in splits.items()}, flush=True)

    # 1. Classifier AUROC on the patient-disjoint test split (val chose epochs and thresholds).
    test_x, test_y = dataset_arrays(splits["test"])
    ev = evaluate(ens, test_x, test_y, bootstrap=200 if q else 2000)
    card["classifier_auroc_test"] = ev["per_finding"]

    # 2. FID / KID in domain features: generated vs held-out, next to training real vs held-out.
    held = np.concatenate([images_of(splits["val"]), images_of(splits["test"])])
    n = min(len(held), 60 if q else len(held))
    held = held[:n]
    held_records = splits["val"].records + splits["test"].records
    mix: dict[str, int] = {}
    for rec in held_records[:n]:
        primary = rec.labels[0]
        mix[primary] = mix.get(primary, 0) + 1
    fake = np.concatenate([generate(pipe, name, c, 50_000 + 1000 * i) for i, (name, c) in enumerate(mix.items())])
    rng = np.random.default_rng(0)
    train_x = images_of(splits["train"])
    train_sub = train_x[rng.choice(len(train_x), n, replace=False)]
    feats = lambda x: image_features(ens, x)  # noqa: E731
    f_held, f_fake, f_train = feats(held), feats(fake), feats(train_sub)
    card["fid"] = {"generated_vs_heldout": fid_kid_from_features(f_held, f_fake),
                   "train_vs_heldout": fid_kid_from_features(f_held, f_train),
                   "features": f"domain: concatenated pooled features of the {len(ens.members)} bundled classifier "
                               f"members ({f_held.shape[1]} dims)", "label_mix": mix}
    card["fid"]["ratio"] = card["fid"]["generated_vs_heldout"]["fid"] / card["fid"]["train_vs_heldout"]["fid"]
    if pipe.guide is not None:  # the same seeds without classifier guidance, to show what it changes
        plain = np.concatenate([generate(pipe, name, c, 50_000 + 1000 * i, classifier_scale=0.0)
                                for i, (name, c) in enumerate(mix.items())])
        card["fid"]["without_classifier_guidance"] = fid_kid_from_features(f_held, feats(plain))
    card["diversity_ms_ssim"] = {"generated": ms_ssim_diversity(fake), "heldout_real": ms_ssim_diversity(held),
                                 "pairs": 200}
    print("fid", card["fid"]["ratio"], flush=True)

    # 3. Label agreement: the ensemble separating images generated for a finding from "No Finding" images.
    m = 12 if q else 32
    eligible = eligible_findings(splits["train"])
    normal = generate(pipe, NO_FINDING, m, 70_000)
    p_normal = ens.predict(normal).mean
    agreement, generated_sets = {}, {NO_FINDING: normal}
    for i, name in enumerate(eligible):
        imgs = generate(pipe, name, m, 80_000 + 1000 * i)
        generated_sets[name] = imgs
        k = ens.findings.index(name)
        p = ens.predict(imgs).mean[:, k]
        agreement[name] = {"auroc": separation_auroc(p, p_normal[:, k]), "n_finding": m, "n_no_finding": m,
                           "mean_prob_finding": float(p.mean()), "mean_prob_no_finding": float(p_normal[:, k].mean()),
                           "train_images": splits["train"].label_counts()[name]}
    if pipe.guide is not None:  # same seeds, classifier guidance off
        p_plain_normal = ens.predict(generate(pipe, NO_FINDING, m, 70_000, classifier_scale=0.0)).mean
        plain_agreement = {}
        for i, name in enumerate(eligible):
            k = ens.findings.index(name)
            p = ens.predict(generate(pipe, name, m, 80_000 + 1000 * i, classifier_scale=0.0)).mean[:, k]
            plain_agreement[name] = separation_auroc(p, p_plain_normal[:, k])
        card["label_agreement_without_classifier_guidance"] = {
            "per_finding": plain_agreement, "mean_auroc": float(np.mean(list(plain_agreement.values())))}
    card["label_agreement"] = {"per_finding": agreement,
                               "mean_auroc": float(np.mean([a["auroc"] for a in agreement.values()])),
                               "findings": eligible, "real_reference": real_label_agreement(ens, splits, eligible)}
    print("agreement", card["label_agreement"]["mean_auroc"], flush=True)

    # 4. Memorisation: every generated image against the training index; closest pairs shown.
    index = MemorisationIndex.load(gen_dir / "qc_index.npz")
    all_fake = np.concatenate([fake, *generated_sets.values()])
    d, j = index.nearest(feats(all_fake))
    flagged = d < index.threshold
    order = np.argsort(d)[:6]
    train_by_id = {r.key: i for i, r in enumerate(splits["train"].records)}
    pairs = {"generated": np.stack([all_fake[i] for i in order]),
             "nearest training": np.stack([train_x[train_by_id[index.ids[j[i]]]] for i in order])}
    labelled_grid(pairs, fig_dir / "memorisation_pairs.png", "closest generated / training pairs (domain features)")
    from models.generate import generate_checked
    from models.qc.context import QCContext

    qc = QCContext(ens, index, clf_dir.name)
    delivered, report = generate_checked(pipe, "Consolidation", list(range(90_000, 90_000 + (8 if q else 32))), qc=qc,
                                         reject_copies=True)
    card["memorisation"] = {
        "generated": int(len(all_fake)), "flagged_raw": int(flagged.sum()), "flagged_rate_raw": float(flagged.mean()),
        "threshold": index.threshold, "calibration": index.calibration,
        "closest_distances": [float(d[i]) for i in order],
        "with_rejection": {"delivered": len(report), "flagged_delivered": sum(r["memorisation"]["flagged"]
                                                                                for r in report)}}

    # 5. Explanation sanity: randomisation check and localisation.
    from models.explain.localisation import nih_box_localisation, phantom_localisation
    from models.explain.sanity import randomisation_check

    common = max((f for f in ens.findings if f != NO_FINDING), key=lambda f: splits["train"].label_counts()[f])
    card["randomisation_check"] = randomisation_check(ens, held[: 4 if q else 12], common, n_steps=32)
    card["randomisation_check"].pop("spearman_per_image", None)
    card["localisation_nih_boxes"] = nih_box_localisation(ens, DEMO_DATASET)
    from models.data.phantom import ChestPhantom

    ph_cfg = ClassifierConfig(resolution=res, members=3, width=16, epochs=3 if q else 10, batch_size=32,
                              bootstrap=100, lr=3e-3)
    ph_train, ph_val = ChestPhantom(200 if q else 600, res, seed=1), ChestPhantom(60 if q else 150, res, seed=2)
    ph_dir, ph_report = train_classifier(ph_train, ph_val, ROOT / "var" / "phantom-clf", ph_cfg)
    card["localisation_phantom"] = phantom_localisation(ClassifierEnsemble.load(ph_dir), n=24 if q else 100) | {
        "phantom_classifier_val_auroc": {k: v["auroc"] for k, v in ph_report["val"].items()}}
    print("localisation done", flush=True)

    # 6. Augmentation benefit: real only vs real + synthetic, same patient-disjoint test split, over seeds.
    seeds = [0] if q else [0, 1, 2]
    extra = [SyntheticSpec(str(gen_dir), f, 20 if q else 100) for f in ("Consolidation", "Mass")]
    from models.classifier.train import synthetic_pool

    pool = synthetic_pool(extra, list(splits["train"].label_names), res, 0, "cpu")  # one set shared by the seeds
    aug: dict[str, dict] = {"real": {}, "real+synthetic": {}}
    for setting, shared in (("real", None), ("real+synthetic", pool)):
        for seed in seeds:
            cfg = ClassifierConfig(resolution=res, members=1, epochs=2 if q else 8, seed=seed, bootstrap=100,
                                   synthetic=extra if shared is not None else [])
            _, rep = train_classifier(splits["train"], splits["val"], ROOT / "var" / "aug" / f"{setting}-{seed}", cfg,
                                      test_ds=splits["test"], extra=shared)
            for name, v in rep["test"].items():
                aug[setting].setdefault(name, []).append(v["auroc"])
    card["augmentation"] = {"seeds": seeds, "synthetic": [vars(s) | {"generator": gen_dir.name} for s in extra],
                            "members": 1, "test_auroc": {
                                s: {k: {"mean": float(np.nanmean(v)), "sd": float(np.nanstd(v)), "per_seed": v}
                                    for k, v in d.items() if not all(np.isnan(v))} for s, d in aug.items()}}

    # 7. Pictures: samples per finding, a denoising GIF, overlays on real uploads.
    rows = {name: generate(pipe, name, 6, 123_000 + 100 * i) for i, name in enumerate(pipe.findings)}
    sm = card["sampling"]
    labelled_grid(rows, fig_dir / "samples_per_finding.png", f"{gen_dir.name}: 6 samples per finding "
                  f"({sm['sampler']} {sm['steps']} steps, guidance {sm['guidance']:g}, classifier guidance "
                  f"{sm['classifier_scale']:g})")
    if pipe.guide is not None:  # what classifier guidance does to the same seeds
        scales = sorted({0.0, sm["classifier_scale"] / 4, sm["classifier_scale"]})
        cg_rows = {f"{name} c={c:g}": generate(pipe, name, 8, 7, classifier_scale=c)
                   for name in ("Consolidation", "Effusion", NO_FINDING) for c in scales}
        labelled_grid(cg_rows, fig_dir / "classifier_guidance.png", "classifier guidance scale c (same seeds per "
                      "column; c=0 is classifier-free guidance alone)")
    out = pipe("Consolidation", 4, seeds=[7, 8, 9, 10], return_frames=True)
    from models.io.writers import atomic_write_bytes, gif_bytes, grid

    atomic_write_bytes(fig_dir / "denoising_consolidation.gif",
                       gif_bytes([grid(list(f), cols=4) for f in out.frames], scale=3))
    from models.data.preprocess import load_image_file
    from models.explain.attribution import explain
    from models.explain.overlay import overlay_rgb

    overlays = []
    for path in [UPLOADS / "00000001_000.png", EXTRA_UPLOAD, UPLOADS / "siim_chest_cr.dcm"]:
        if not path.exists():
            continue
        img = load_image_file(path)
        expl = explain(ens, img.pixels, ["Cardiomegaly"] if "00000001" in path.name else None, n_steps=50)
        name = expl.findings[0]
        p = expl.probabilities[name]
        rgb = overlay_rgb(img.pixels, expl.attributions[name], max_side=512,
                          title=f"{path.name}: {name} p={p['probability']:.2f}+/-{p['std']:.2f}")
        from PIL import Image

        target = fig_dir / f"explain_{path.stem}.png"
        Image.fromarray(rgb).save(target)
        overlays.append({"file": path.name, "finding": name, "probability": p["probability"], "std": p["std"],
                         "figure": f"figures/{target.name}"})
    card["explanation_examples"] = overlays
    card["runtime_s"] = round(time.time() - t0, 1)
    if not q:  # headline figures shown by GET /models and the web page
        headline = {
            gen_dir: {"fid_ratio_to_real_floor": card["fid"]["ratio"],
                      "label_agreement_auroc": card["label_agreement"]["mean_auroc"],
                      "memorisation_flagged_rate_raw": card["memorisation"]["flagged_rate_raw"]},
            clf_dir: {f"test_auroc_{k}": v["auroc"] for k, v in card["classifier_auroc_test"].items()
                      if v["positives"] >= 5},
        }
        for folder, metrics in headline.items():
            info = json.loads((folder / "radsynth.json").read_text())
            info["metrics"] = metrics | {"source": "docs/model-card.md"}
            (folder / "radsynth.json").write_text(json.dumps(info, indent=2, default=str))
    card_json.write_text(json.dumps(card, indent=2, default=float))
    write_card(docs)
    print(f"wrote {card_json} and docs/model-card.md in {card['runtime_s']} s")


if __name__ == "__main__":
    main()
