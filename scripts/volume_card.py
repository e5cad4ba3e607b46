"""Measure the bundled 3D generator (adrenal3d) for the model card, and rewrite the card's 3D section.

    python -m scripts.volume_card            # full run (CPU, 2 cores: about 20 minutes)
    python -m scripts.volume_card --quick    # small sample counts, for a smoke test

On AdrenalMNIST3D's official splits (test = held out): a small 3D classifier's test AUROC (it is the judge),
label agreement (the classifier separating volumes generated for "hyperplasia" from "normal" ones), FID in the
3D classifier's features and on axial slices in a 2D slice classifier's features, each next to its real-vs-real
floor, 3D MS-SSIM diversity, nearest-training-volume memorisation, and seconds and memory per volume on CPU.
Writes docs/model-card-3d.json (with the SHA-256 of the weights), docs/figures/adrenal3d_*, and re-renders
docs/model-card.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from models.catalog import BUNDLED_DIR, resolve_model
from models.evaluation.figures import labelled_grid
from models.evaluation.weights import weight_hashes

ROOT = Path(__file__).resolve().parent.parent

DOCS = ROOT / "docs"
MODEL = "adrenal3d"


def generate(pipe, finding: str, n: int, seed: int, batch: int, steps: int) -> torch.Tensor:
    """Volumes in [-1, 1] as (n, 1, S, S, S), `batch` at a time."""
    out = []
    for start in range(0, n, batch):
        k = min(batch, n - start)
        vols = pipe(finding, k, seeds=list(range(seed + start, seed + start + k)), num_inference_steps=steps).volumes
        out.append(torch.from_numpy(vols)[:, None] * 2 - 1)
        print(f"  generated {start + k}/{n} {finding}", flush=True)
    return torch.cat(out)


def cpu_cost(folder: Path, steps: int) -> dict:
    """Seconds and peak memory for one volume with the default sampler, in a fresh process. Memory is the child's
    VmHWM (reset at exec; getrusage's ru_maxrss would include the parent's pages copied at fork)."""
    code = ("import time,torch;from models.volumes.latent3d import load_volume_pipeline as P;"
            f"p=P({str(folder)!r});t=time.time();p('hyperplasia',1,seeds=[0],num_inference_steps={steps});"
            f"a=time.time()-t;t=time.time();p('hyperplasia',1,seeds=[1],num_inference_steps={steps});"
            "hwm=[l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1];"
            "print(a,time.time()-t,int(hwm)/1024,torch.get_num_threads())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    first, second, peak, threads = (float(v) for v in out.stdout.split()[-4:])
    return {"first_volume_s": first, "next_volume_s": second, "peak_rss_mb": peak, "steps": steps,
            "threads": int(threads), "device": "cpu"}


def pairs_figure(rows: dict[str, np.ndarray], path: Path, title: str) -> None:
    """Rows of axial/coronal/sagittal mid-slice strips (one strip per volume)."""
    from models.volumes.write import mid_slices

    labelled_grid({name: np.stack([mid_slices(v) for v in vols]) for name, vols in rows.items()}, path, title)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--model", default=MODEL)
    args = ap.parse_args()
    from core.settings import DEMO_VOLUMES
    from models.evaluation.cards.model import write_card
    from models.volumes.latent3d import load_volume_pipeline
    from models.volumes.sources import open_volume_source

    q, t0 = args.quick, time.time()
    folder = resolve_model(args.model, kind="generator3d")
    info = json.loads((folder / "radsynth.json").read_text())
    pipe = load_volume_pipeline(folder)
    splits = {s: open_volume_source(DEMO_VOLUMES, s, pipe.size) for s in ("train", "val", "test")}
    if q:
        splits = {s: type(v)(v.volumes[:60], v.labels[:60], v.findings, v.voxel_mm, v.name) for s, v in splits.items()}
    names = splits["train"].findings
    card: dict = {"generated_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "quick": q,
                  "model": folder.name, "weights_sha256": weight_hashes(folder),
                  "generator": {k: info.get(k) for k in ("dataset", "steps", "wall_time_s", "hardware", "voxel_mm",
                                                          "code_version", "training", "resolution", "findings")},
                  "data": {s: {"volumes": len(v.labels), **{n: int((v.labels == i).sum()) for i, n in
                                                            enumerate(names)}} for s, v in splits.items()}}
    print("data", card["data"], flush=True)
    clf3d, clf2d = train_judges(splits, q, card)
    steps = 25  # 64 volumes per finding (CPU time; the held-out split has 298)
    gen = {name: generate(pipe, name, 8 if q else 64, 10_000 * (i + 1), 8, steps) for i, name in enumerate(names)}
    measure_generated(gen, splits, (clf3d, clf2d), card)
    draw_figures(gen, splits, card)
    card["cpu_cost"] = cpu_cost(folder, steps)
    card["runtime_s"] = time.time() - t0
    (DOCS / "model-card-3d.json").write_text(json.dumps(card, indent=2, default=float))
    write_card(DOCS)
    print(json.dumps({k: card[k] for k in ("label_agreement", "memorisation", "cpu_cost")}, indent=1, default=float))


def train_judges(splits: dict, quick: bool, card: dict) -> tuple:
    """A 3D volume classifier and a 2D axial-slice classifier, trained on train and chosen on val."""
    from models.metrics.auroc import auroc, bootstrap_ci
    from models.volumes.classifier3d import axial_slices, predict_proba, train_cnn

    tr, va, te = splits["train"], splits["val"], splits["test"]
    n_classes, epochs = len(tr.findings), 3 if quick else 15
    clf3d, hist3d = train_cnn(tr.volumes, tr.labels, va.volumes, va.labels, dims=3, n_classes=n_classes,
                              epochs=epochs, progress=lambda e, n, s: print(f"  3D classifier epoch {e}/{n} "
                                                                              f"val AUROC {s:.3f}", flush=True))
    p_test = predict_proba(clf3d, te.volumes)[:, 1]
    card["classifier3d"] = {"test_auroc": auroc(te.labels == 1, p_test),
                            "test_ci": bootstrap_ci(te.labels == 1, p_test, n=200 if quick else 2000),
                            "val_auroc": hist3d["best_val_score"], "epochs": epochs,
                            "test_positives": int((te.labels == 1).sum()),
                            "test_negatives": int((te.labels == 0).sum())}
    tr_s, tr_idx = axial_slices(tr.volumes)
    va_s, va_idx = axial_slices(va.volumes)
    clf2d, hist2d = train_cnn(tr_s, tr.labels[tr_idx], va_s, va.labels[va_idx], dims=2, n_classes=n_classes,
                              epochs=2 if quick else 6, batch_size=128)
    card["slice_classifier"] = {"val_auroc": hist2d["best_val_score"]}
    print("judges", card["classifier3d"]["test_auroc"], hist2d["best_val_score"], flush=True)
    return clf3d, clf2d


def unit(v: torch.Tensor) -> np.ndarray:
    """Volumes in [-1, 1] (N, 1, D, H, W) as [0, 1] arrays (N, D, H, W)."""
    return ((v[:, 0] + 1) / 2).numpy()


def measure_generated(gen: dict, splits: dict, judges: tuple, card: dict) -> None:
    """Label agreement, FID in 3D and slice features beside the train-vs-held-out floor, 3D MS-SSIM diversity
    and memorisation against every training volume."""
    from models.metrics.auroc import bootstrap_ci, separation_auroc
    from models.metrics.fid import fid_kid_from_features
    from models.qc.features import ms_ssim_diversity
    from models.qc.memorisation import build_index
    from models.volumes.classifier3d import axial_slices, cnn_features, predict_proba

    clf3d, clf2d = judges
    tr, te, names = splits["train"], splits["test"], splits["train"].findings
    fake = torch.cat(list(gen.values()))
    pos, neg = (predict_proba(clf3d, gen[name])[:, 1] for name in (names[1], names[0]))
    y = np.r_[np.ones(len(pos)), np.zeros(len(neg))]
    card["label_agreement"] = {"auroc": separation_auroc(pos, neg), "ci": bootstrap_ci(y, np.r_[pos, neg], n=1000),
                               "n_per_finding": len(pos), "mean_p_finding": float(pos.mean()),
                               "mean_p_normal": float(neg.mean()), "finding": names[1]}
    rng = np.random.default_rng(0)
    train_sub = tr.volumes[rng.choice(len(tr.labels), min(len(tr.labels), len(te.labels)), replace=False)]
    sets = (("test", te.volumes), ("fake", fake), ("train", train_sub))
    f3 = {k: cnn_features(clf3d, v) for k, v in sets}
    f2 = {k: cnn_features(clf2d, axial_slices(v)[0]) for k, v in sets}
    card["fid_3d"] = {"generated_vs_heldout": fid_kid_from_features(f3["test"], f3["fake"]),
                      "train_vs_heldout": fid_kid_from_features(f3["test"], f3["train"])}
    card["fid_slices"] = {"generated_vs_heldout": fid_kid_from_features(f2["test"], f2["fake"]),
                          "train_vs_heldout": fid_kid_from_features(f2["test"], f2["train"]),
                          "slices_per_volume": int(len(f2["test"]) // len(te.labels))}
    for key in ("fid_3d", "fid_slices"):
        card[key]["ratio"] = card[key]["generated_vs_heldout"]["fid"] / card[key]["train_vs_heldout"]["fid"]
    card["ms_ssim_3d"] = {"generated": ms_ssim_diversity(unit(fake), pairs=100),
                          "heldout_real": ms_ssim_diversity(unit(te.volumes), pairs=100), "pairs": 100}
    index = build_index(cnn_features(clf3d, tr.volumes), [str(i) for i in range(len(tr.labels))], f3["test"])
    d, j = index.nearest(f3["fake"])
    flagged = d < index.threshold
    order = np.argsort(d)[:6]
    card["memorisation"] = {"generated": len(d), "flagged": int(flagged.sum()), "rate": float(flagged.mean()),
                            "threshold": index.threshold, "calibration": index.calibration,
                            "closest": [float(d[i]) for i in order]}
    card["_closest"] = (fake[order], tr.volumes[j[order]])


def draw_figures(gen: dict, splits: dict, card: dict) -> None:
    """The closest generated/training pairs, real and generated mid-slices per finding, and a slice sweep."""
    from models.volumes.write import write_previews

    te, names = splits["test"], splits["train"].findings
    figures = DOCS / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    closest_fake, closest_train = card.pop("_closest")
    pairs_figure({"generated": unit(closest_fake), "nearest training": unit(closest_train)},
                 figures / "adrenal3d_memorisation_pairs.png", "closest generated / training volumes (mid-slices)")
    rows = {}
    for i, name in enumerate(names):
        real = te.volumes[np.flatnonzero(te.labels == i)[:6]]
        rows[f"real {name}"], rows[f"generated {name}"] = unit(real), unit(gen[name][:6])
    pairs_figure(rows, figures / "adrenal3d_samples.png", "axial | coronal | sagittal mid-slices, held-out real "
                 "and generated")
    sweep = write_previews(figures, unit(gen[names[1]][:1])[0], stem="adrenal3d_hyperplasia")
    card["figures"] = ["figures/adrenal3d_samples.png", "figures/adrenal3d_memorisation_pairs.png",
                       f"figures/{sweep['sweep'].name}", f"figures/{sweep['slices'].name}"]

if __name__ == "__main__":
    if not (BUNDLED_DIR / MODEL).exists() and "--model" not in sys.argv:
        sys.exit(f"no bundled {MODEL} in {BUNDLED_DIR}")
    main()
