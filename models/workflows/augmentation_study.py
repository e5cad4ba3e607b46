"""What synthetic images buy a classifier: train on real only, real + synthetic at several ratios, and synthetic
only, over several seeds; test on the real data set's held-out patients only.

Per finding: AUROC per arm (mean over seeds) with a patient-bootstrap 95% CI, the paired difference to real only
(the same patient resamples for every arm), and a verdict: helps (the difference's CI is above 0), hurts (below 0)
or no measurable effect. Checkpoints are chosen on the real validation patients, never on test.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from models.classifier.ensemble import ClassifierEnsemble
from models.classifier.train import ClassifierConfig, train_member
from models.data.base import ImageDataset
from models.metrics.auroc import auroc, patient_resamples
from models.runtime_info import pick_device

MIN_TEST_POSITIVES = 5
Progress = Callable[[int, int, str], None]


@dataclass
class StudyConfig:
    ratios: tuple[float, ...] = (0.5, 1.0)  # synthetic images per real training image, beside real only
    synthetic_only: bool = True
    seeds: tuple[int, ...] = (0, 1, 2)
    resolution: int = 64
    epochs: int = 10
    width: int = 32
    batch_size: int = 64
    bootstrap: int = 1000
    findings: list[str] | None = None  # those to report (default: the synthetic set's)


def arrays(ds: ImageDataset) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Images (N, 1, R, R) in [0, 1], labels (N, K) and the patient (group) of each image."""
    items = [ds[i] for i in range(len(ds))]
    if not items:
        return torch.zeros(0, 1, ds.resolution, ds.resolution), torch.zeros(0, len(ds.label_names)), []
    return (torch.stack([(it["image"] + 1) / 2 for it in items]), torch.stack([it["labels"] for it in items]),
            [r.group for r in ds.records])


def relabel(labels: torch.Tensor, names: Sequence[str], target: Sequence[str]) -> torch.Tensor:
    """Labels over `names` mapped onto the `target` vocabulary (findings it lacks stay 0)."""
    from models.vocabulary.findings import UnknownFindingError, resolve

    out = torch.zeros(labels.shape[0], len(target))
    for k, name in enumerate(names):
        try:
            j = list(target).index(resolve([name], list(target))[0])
        except UnknownFindingError:
            continue
        out[:, j] = torch.maximum(out[:, j], labels[:, k])
    return out


def arms(cfg: StudyConfig) -> list[tuple[str, float | None]]:
    """(name, synthetic ratio) per arm; ratio None is synthetic only."""
    out = [("real only", 0.0)] + [(f"real + {r:g}x synthetic", r) for r in cfg.ratios]
    return out + ([("synthetic only", None)] if cfg.synthetic_only else [])


def train_one(pool: tuple[torch.Tensor, torch.Tensor], val: tuple[torch.Tensor, torch.Tensor], names: list[str],
              cfg: StudyConfig, seed: int, device: torch.device) -> ClassifierEnsemble:
    """One classifier (a single member: seeds give the spread) with its best epoch chosen on real validation."""
    ccfg = ClassifierConfig(resolution=cfg.resolution, members=1, width=cfg.width, epochs=cfg.epochs,
                            batch_size=cfg.batch_size, seed=seed, bootstrap=0)
    ens = ClassifierEnsemble(names, 1, input_size=cfg.resolution, width=cfg.width)
    train_member(ens, 0, pool, val, ccfg, device, None, 0, 1)
    return ens.eval()


def run_study(real_splits: dict[str, ImageDataset], synthetic: ImageDataset, out_dir: str | Path, cfg: StudyConfig,
              *, progress: Progress | None = None) -> dict:
    """`real_splits`: train, val and test of the real data set (patient-disjoint); `synthetic`: all its images."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    device = torch.device(pick_device(None))
    names = list(real_splits["train"].label_names)
    train_x, train_y, _ = arrays(real_splits["train"])
    val_x, val_y, _ = arrays(real_splits["val"])
    test_x, test_y, test_groups = arrays(real_splits["test"])
    syn_x, syn_y_raw, _ = arrays(synthetic)
    syn_y = relabel(syn_y_raw, synthetic.label_names, names)
    reported = cfg.findings or [n for n in names if syn_y[:, names.index(n)].sum() > 0]
    plan = arms(cfg)
    total = len(plan) * len(cfg.seeds)
    scores: dict[str, list[np.ndarray]] = {name: [] for name, _ in plan}
    used: dict[str, int] = {}
    done = 0
    for arm, ratio in plan:
        for seed in cfg.seeds:
            rng = np.random.default_rng(10_000 + seed)
            if ratio is None:
                pool = (syn_x, syn_y)
            else:
                k = min(len(syn_x), int(round(ratio * len(train_x))))
                pick = torch.from_numpy(rng.permutation(len(syn_x))[:k])
                pool = (torch.cat([train_x, syn_x[pick]]), torch.cat([train_y, syn_y[pick]]))
            used[arm] = int(pool[0].shape[0] - (0 if ratio is None else len(train_x)))
            if progress:
                progress(done, total, f"{arm}, seed {seed}")
            model = train_one(pool, (val_x, val_y), names, cfg, seed, device)
            scores[arm].append(model.predict(test_x).mean)
            done += 1
    report = summarise(scores, test_y.numpy(), test_groups, names, reported, cfg.bootstrap)
    report |= {"arms": [{"name": a, "ratio": r, "synthetic_images": used[a]} for a, r in plan],
               "real_train_images": len(train_x), "real_val_images": len(val_x), "test_images": len(test_x),
               "test_patients": len(set(test_groups)), "synthetic_available": len(syn_x), "config": asdict(cfg)}
    (out / "study.json").write_text(json.dumps(report, indent=2, default=float))
    plot(report, out / "study.png")
    if progress:
        progress(total, total, "done")
    return report


def summarise(scores: dict[str, list[np.ndarray]], y: np.ndarray, groups: list[str], names: list[str],
              reported: list[str], n_boot: int, seed: int = 0) -> dict:
    """AUROC per arm and finding (mean over seeds), patient-bootstrap CIs and paired differences to real only."""
    resamples = list(patient_resamples(groups, n_boot, np.random.default_rng(seed)))
    per_finding: dict[str, dict] = {}
    for name in reported:
        k = names.index(name)
        positives = int(y[:, k].sum())
        entry: dict = {"test_positives": positives, "arms": {}}
        if positives < MIN_TEST_POSITIVES or positives == len(y):
            entry["verdict"] = (f"too few test positives ({positives}; at least {MIN_TEST_POSITIVES} needed: hold out "
                                f"more patients, test_share)")
            per_finding[name] = entry
            continue
        def arm_auroc(arm: str, idx: np.ndarray | None = None, k: int = k) -> float:
            rows = slice(None) if idx is None else idx
            return float(np.nanmean([auroc(y[rows, k], s[rows, k]) for s in scores[arm]]))

        boot = {arm: np.array([arm_auroc(arm, idx) for idx in resamples]) for arm in scores}
        for arm in scores:
            value = arm_auroc(arm)
            diff = boot[arm] - boot["real only"]
            entry["arms"][arm] = {"auroc": value, "ci95": np.nanpercentile(boot[arm], [2.5, 97.5]).tolist(),
                                  "per_seed": [auroc(y[:, k], s[:, k]) for s in scores[arm]]}
            if arm != "real only":
                lo, hi = np.nanpercentile(diff, [2.5, 97.5]).tolist()
                entry["arms"][arm] |= {"difference": value - arm_auroc("real only"), "difference_ci95": [lo, hi],
                                       "verdict": "helps" if lo > 0 else "hurts" if hi < 0
                                       else "no measurable effect"}
        # The verdict is the pre-declared primary arm's (the most synthetic data with real), not the best-looking
        # arm's: picking the best of several on the test patients would overstate the benefit.
        primary = next((a for a in reversed(list(scores)) if a not in ("real only", "synthetic only")), None)
        entry["verdict"] = entry["arms"][primary]["verdict"] if primary else "no synthetic arm"
        entry["primary_arm"] = primary
        per_finding[name] = entry
    return {"per_finding": per_finding, "bootstrap": n_boot}


def plot(report: dict, path: Path) -> None:
    """AUROC against the synthetic ratio per finding (95% CIs), synthetic only as a separate point."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    findings = [f for f, e in report["per_finding"].items() if e["arms"]]
    if not findings:
        fig = plt.figure(figsize=(6, 1.5))
        fig.text(0.5, 0.5, "no reported finding has enough positive test images for an AUROC\n" +
                 ", ".join(f"{f}: {e['test_positives']}" for f, e in report["per_finding"].items()),
                 ha="center", va="center", fontsize=9)
        fig.savefig(path, dpi=100)
        plt.close(fig)
        return
    fig, axes = plt.subplots(1, max(1, len(findings)), figsize=(3.6 * max(1, len(findings)), 3.2), squeeze=False)
    ratios = {a["name"]: a["ratio"] for a in report["arms"]}
    for ax, name in zip(axes[0], findings, strict=False):
        entry = report["per_finding"][name]
        xs, ys, errs = [], [], []
        for arm, r in ratios.items():
            if r is None or arm not in entry["arms"]:
                continue
            a = entry["arms"][arm]
            xs.append(r)
            ys.append(a["auroc"])
            errs.append([a["auroc"] - a["ci95"][0], a["ci95"][1] - a["auroc"]])
        ax.errorbar(xs, ys, yerr=np.array(errs).T, marker="o", capsize=3, label="real + synthetic")
        if "synthetic only" in entry["arms"]:
            a = entry["arms"]["synthetic only"]
            ax.errorbar([max(xs) * 1.25 if xs else 1], [a["auroc"]], yerr=[[a["auroc"] - a["ci95"][0]],
                        [a["ci95"][1] - a["auroc"]]], marker="s", color="C3", capsize=3, label="synthetic only")
        ax.axhline(0.5, color="grey", lw=0.8, ls=":")
        ax.set_title(f"{name}: {entry['verdict']}", fontsize=9)
        ax.set_xlabel("synthetic images per real image")
        ax.set_ylabel("test AUROC")
        ax.set_ylim(0.3, 1.0)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
