"""Do counterfactual explanations remove the finding, and only it?

    # the strength and guidance, chosen on the validation split:
    python -m scripts.counterfactual_check models/pretrained/nih-cxr14 bundles/judge-nih-J64 \
        ../shared/data/nih-cxr14-64 ../shared/data/nih-cxr14-256 --split V --strength 0.3,0.5,0.7 --cfg 2,4 \
        --out docs/explain/counterfactual/V
    # the figures, on the test split, at the chosen setting:
    python -m scripts.counterfactual_check ... --split T --strength 0.5 --cfg 2 --out docs/explain/counterfactual/T

For every image of the split with a finding that the generator learned from at least 30 images, it regenerates
the image with that finding and as "No Finding" (models/explain/counterfactual.py) and asks the judge (trained on
split J only: it never saw the generator's patients, nor V or T) for both. Per setting: the mean drop of the
finding's probability with a patient-bootstrap CI, the share of images where it drops, and how much the other
findings move; the same for "No Finding" images asked to remove a finding they do not have (a control: the drop
should be near 0). The pointing game on the NIH boxes compares the counterfactual's difference map with integrated
gradients of the same judge. With several settings it applies the rule in `choose`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

MIN_G_IMAGES = 30
MAX_OTHER_CHANGE = 0.05
BATCH = 16


def bootstrap_ci(values: np.ndarray, groups: list[str], n: int = 1000, seed: int = 0) -> list[float]:
    """95% CI of the mean, resampling patients."""
    rng = np.random.default_rng(seed)
    ids = sorted(set(groups))
    by = {g: values[[i for i, x in enumerate(groups) if x == g]] for g in ids}
    means = [np.concatenate([by[ids[k]] for k in rng.integers(0, len(ids), len(ids))]).mean() for _ in range(n)]
    return [float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))]


RULE = (f"the largest specific drop (the finding's mean drop minus the control's) among the settings whose other "
        f"findings move <= {MAX_OTHER_CHANGE} on average; ties: the lower strength")


def choose(rows: list[dict]) -> dict:
    """See RULE. The control (removing a finding the image does not have) measures the generic shift that
    regenerating as "No Finding" causes; only the drop beyond it is the finding's."""
    ok = [r for r in rows if r["other_findings_mean_abs_change"] <= MAX_OTHER_CHANGE] or rows
    return max(ok, key=lambda r: (round(r["mean_drop"] - r["control_mean_drop"], 4), -r["strength"]))


def regenerate_cases(pipe, cases: list[tuple], setting: dict, update=None) -> np.ndarray:
    """(N, 2, R, R): each case regenerated with its finding and as No Finding (seed = its index), batched by
    finding."""
    from models.explain.counterfactual import regenerate_many
    from models.vocabulary.findings import NO_FINDING

    out = np.zeros((len(cases), 2, *cases[0][0].shape), np.float32)
    done = 0
    for finding in sorted({c[1] for c in cases}):
        idx = [i for i, c in enumerate(cases) if c[1] == finding]
        for start in range(0, len(idx), BATCH):
            chunk = idx[start:start + BATCH]
            out[chunk] = regenerate_many(pipe, np.stack([cases[i][0] for i in chunk]), [finding, NO_FINDING],
                                         strength=setting["strength"], guidance=setting["cfg"], seeds=chunk)
            done += len(chunk)
            if update:
                update(done, len(cases), finding, {})
    return out


def evaluate(pipe, judge, cases: list[tuple], setting: dict) -> dict:
    """cases: (image at the generator's size, finding to remove, patient, is_control)."""
    from models.explain.counterfactual import ensemble_reads
    from models.progress import progress_bar
    from models.vocabulary.findings import NO_FINDING

    bar, update = progress_bar(len(cases), f"strength {setting['strength']} cfg {setting['cfg']}")
    with bar:
        pairs = regenerate_cases(pipe, cases, setting, update)
    drops, others, groups, control, moved = [], [], [], [], []
    for (image, finding, patient, is_control), (recon, counter) in zip(cases, pairs, strict=True):
        probs = ensemble_reads(judge, [recon, counter])
        k = judge.findings.index(finding)
        drop = float(probs[0, k] - probs[1, k])
        rest = [j for j, name in enumerate(judge.findings) if name not in (finding, NO_FINDING)]
        if is_control:
            control.append(drop)
            continue
        drops.append(drop)
        groups.append(patient)
        others.append(float(np.abs(probs[0, rest] - probs[1, rest]).mean()))
        moved.append(float(np.abs(recon - image).mean()))
    drops_a = np.array(drops)
    return setting | {
        "images": len(drops), "mean_drop": float(drops_a.mean()), "mean_drop_ci95": bootstrap_ci(drops_a, groups),
        "share_dropping": float((drops_a > 0).mean()), "other_findings_mean_abs_change": float(np.mean(others)),
        "control_images": len(control), "control_mean_drop": float(np.mean(control)) if control else 0.0,
        "reconstruction_mean_abs_change": float(np.mean(moved))}


def pointing_game(pipe, judge, roots: list[str], setting: dict) -> dict:
    """Counterfactual difference maps and integrated gradients (the judge's) against the NIH boxes."""
    import torch

    from models.data.nih import nih_boxes
    from models.data.preprocess import load_image_file, to_model_input
    from models.explain.attribution import attribute
    from models.explain.counterfactual import regenerate
    from models.explain.sanity import box_mask, localisation
    from models.vocabulary.findings import NO_FINDING

    rows = []
    for root in roots:
        for name, boxes in nih_boxes(root).items():
            path = Path(root) / "images" / name
            if not path.exists():
                continue
            square, _ = to_model_input(load_image_file(path).pixels, judge.input_size, "crop")
            for finding, box in boxes:
                key = {"Infiltrate": "Infiltration"}.get(finding, finding)
                if key not in judge.findings or key not in pipe.findings:
                    continue
                mask = box_mask(square.shape, box, scale=1024 / square.shape[0])
                recon, counter = regenerate(pipe, square, [key, NO_FINDING], strength=setting["strength"],
                                            guidance=setting["cfg"], seed=0)
                ig, _ = attribute(judge, torch.from_numpy(square)[None, None], judge.findings.index(key), n_steps=32)
                rows.append({"image": name, "finding": key,
                             "counterfactual": localisation(np.abs(recon - counter), mask),
                             "integrated_gradients": localisation(ig, mask)})
    summary = {m: {"pointing_hit_rate": float(np.mean([r[m]["pointing_hit"] for r in rows])) if rows else None,
                   "share_inside_mean": float(np.mean([r[m]["share_inside"] for r in rows])) if rows else None}
               for m in ("counterfactual", "integrated_gradients")}
    chance = float(np.mean([r["counterfactual"]["mask_fraction"] for r in rows])) if rows else None
    return {"boxes": len(rows), "chance_share": chance, "per_method": summary, "rows": rows}


def figure(pipe, judge, cases: list[tuple], setting: dict, path: Path, per: int = 8) -> None:
    """Rows of [image | regenerated with the finding | as No Finding | difference] for the first cases."""
    from PIL import Image

    from models.explain.counterfactual import Counterfactual, ensemble_reads
    from models.explain.counterfactual_figure import counterfactual_panel

    cases = cases[:per]
    panels = []
    for (image, finding, _, _), (recon, counter) in zip(cases, regenerate_cases(pipe, cases, setting), strict=True):
        probs = ensemble_reads(judge, [image, recon, counter])
        k = judge.findings.index(finding)
        table = {finding: {"original": float(probs[0, k]), "reconstruction": float(probs[1, k]),
                           "counterfactual": float(probs[2, k])}}
        cf = Counterfactual(finding, recon, counter, recon - counter, np.abs(recon - counter), table,
                            {"strength": setting["strength"]})
        panels.append(counterfactual_panel(cf, image))
    Image.fromarray(np.concatenate(panels, 0)).save(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("generator")
    ap.add_argument("judge")
    ap.add_argument("roots", nargs="+")
    ap.add_argument("--split", required=True, choices=["V", "T"])
    ap.add_argument("--strength", default="0.5")
    ap.add_argument("--cfg", default="2")
    ap.add_argument("--limit", type=int, default=0, help="at most this many finding images (0: all)")
    ap.add_argument("--controls", type=int, default=16, help="No Finding images for the control")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    import torch

    from models.classifier.ensemble import ClassifierEnsemble
    from models.diffusion.pipeline import RadSynthPipeline
    from models.evaluation.real_images import real_split
    from models.vocabulary.findings import NO_FINDING

    torch.set_num_threads(2)
    pipe = RadSynthPipeline.load(args.generator)
    judge = ClassifierEnsemble.load(args.judge)
    meta = json.loads((Path(args.generator) / "radsynth.json").read_text())
    counts = meta.get("images_per_finding", {})
    eligible = [f for f in pipe.findings if f != NO_FINDING and counts.get(f, 0) >= MIN_G_IMAGES
                and f in judge.findings]
    images, labels, ids, ds = real_split(args.roots, args.split, int(pipe.unet.config.sample_size))
    patients = [r.group for r in ds.records]
    cases = [(images[i], next(f for f in labels[i] if f in eligible), patients[i], False)
             for i in range(len(images)) if any(f in eligible for f in labels[i])]
    if args.limit:
        cases = cases[:args.limit]
    normals = [i for i in range(len(images)) if labels[i] == [NO_FINDING]][:args.controls]
    cases += [(images[i], eligible[j % len(eligible)], patients[i], True) for j, i in enumerate(normals)]

    settings = [{"strength": float(s), "cfg": float(c)} for s in args.strength.split(",") for c in args.cfg.split(",")]
    rows = [evaluate(pipe, judge, cases, s) for s in settings]
    chosen = choose(rows)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report = {"split": args.split, "generator": args.generator, "judge": args.judge, "eligible_findings": eligible,
              "rule": RULE,
              "settings": rows, "chosen": {"strength": chosen["strength"], "cfg": chosen["cfg"]},
              "pointing_game": pointing_game(pipe, judge, args.roots, chosen)}
    (out / "check.json").write_text(json.dumps(report, indent=2))
    figure(pipe, judge, [c for c in cases if not c[3]], chosen, out / "counterfactuals.png")
    for r in rows:
        print(f"strength {r['strength']} cfg {r['cfg']}: drop {r['mean_drop']:+.3f} {r['mean_drop_ci95']}, "
              f"dropping {r['share_dropping']:.0%}, others {r['other_findings_mean_abs_change']:.3f}, "
              f"control {r['control_mean_drop']:+.3f}")
    print("chosen:", report["chosen"], "pointing game:", report["pointing_game"]["per_method"])


if __name__ == "__main__":
    main()
