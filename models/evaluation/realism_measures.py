"""The measures of the realism card, each read beside real images and simple fakes.

Every function takes images already made (grey [0, 1], (N, H, W)) and a judge (a ClassifierEnsemble that never
trained on or guided the generator's patients), so the card script only has to decide which images to compare.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from models.metrics.auroc import separation_auroc
from models.metrics.fid import fid_kid_from_features
from models.metrics.realism import fakes, noise_dominated_share, saturated_share

FeatureFn = Callable[[np.ndarray], np.ndarray]
NO_FINDING = "No Finding"
MIN_REAL_POSITIVES = 5  # fewer real positives give no meaningful separation AUROC


def pixel_health(generated: np.ndarray, real: np.ndarray) -> dict:
    """Noise-dominated share (rougher than the roughest real image, at the images' own size) and saturated
    share, beside real's own saturated share."""
    size = int(real.shape[-1])
    return {"noise_dominated": noise_dominated_share(generated, real, size), "saturated": saturated_share(generated),
            "real_saturated": saturated_share(real), "n": len(generated), "measured_at_px": size}


def distances(features: FeatureFn, real: np.ndarray, generated: np.ndarray, floor: np.ndarray,
              *, seed: int = 0, intervals: bool = False) -> dict:
    """FID/KID of the generated images against `real`, beside other real images (`floor`) and the fakes made from
    them (above 64 px also the floor shrunk to 64 px and brought back with bicubic); `ratio_to_floor` divides each
    FID by the floor's. With `intervals`, each FID carries a 95% bootstrap interval over both image sets."""
    from models.metrics.autoencoder_eval import bicubic_from
    from models.metrics.realism import fid_interval

    real_f = features(real)
    sets = {"generated": generated, "real floor": floor, **fakes(floor, seed=seed)}
    if floor.shape[-1] > 64:
        sets["real 64 px + bicubic"] = bicubic_from(floor)
    rows = {}
    for name, images in sets.items():
        f = features(images)
        rows[name] = fid_kid_from_features(real_f, f, seed=seed)
        if intervals:
            rows[name]["interval95"] = list(fid_interval(real_f, f, seed=seed))
    floor_fid = rows["real floor"]["fid"]
    for row in rows.values():
        row["ratio_to_floor"] = row["fid"] / floor_fid if floor_fid > 0 else float("nan")
    rows["beats_blur"] = rows["generated"]["fid"] < rows["blurred real"]["fid"]
    return rows


def judge_probabilities(judge, images: np.ndarray) -> np.ndarray:
    """The judge's mean probabilities (N, K), images resized to its input size as the service's QC does."""
    from models.data.preprocess import resize

    size = judge.input_size
    if images.shape[-1] != size:
        images = np.stack([resize(im, size) for im in images])
    return judge.predict(images).mean


def label_agreement(judge, by_finding: Mapping[str, np.ndarray], normal: np.ndarray) -> dict:
    """Per finding, how well the judge separates images generated for it from images generated as "No Finding"
    (AUROC of the judge's probability of that finding); the mean over findings."""
    p_normal = judge_probabilities(judge, normal)
    per = {}
    for name, images in by_finding.items():
        k = judge.findings.index(name)
        p = judge_probabilities(judge, images)[:, k]
        per[name] = {"auroc": separation_auroc(p, p_normal[:, k]), "n_finding": len(images),
                     "n_no_finding": len(normal)}
    return {"per_finding": per, "mean_auroc": float(np.mean([v["auroc"] for v in per.values()])) if per else
            float("nan")}


def real_label_agreement(judge, images: np.ndarray, labels: Sequence[Sequence[str]], findings: Sequence[str]) -> dict:
    """The same AUROC on real images: those showing a finding against those labelled "No Finding"."""
    p = judge_probabilities(judge, images)
    normal = np.array([NO_FINDING in names or not names for names in labels])
    per = {}
    for name in findings:
        pos = np.array([name in names for names in labels])
        k = judge.findings.index(name)
        score = separation_auroc(p[pos, k], p[normal, k]) if pos.sum() >= MIN_REAL_POSITIVES else float("nan")
        per[name] = {"auroc": score, "n_finding": int(pos.sum()), "n_no_finding": int(normal.sum())}
    scored = [v["auroc"] for v in per.values() if not np.isnan(v["auroc"])]
    return {"per_finding": per, "mean_auroc": float(np.mean(scored)) if scored else float("nan"),
            "findings_scored": len(scored)}


def agreement_gap(generated: dict, real: dict) -> float:
    """Generated minus real mean agreement, over the findings both score (positive: exaggerates)."""
    both = [f for f, v in real["per_finding"].items() if not np.isnan(v["auroc"]) and f in generated["per_finding"]]
    if not both:
        return float("nan")
    return float(np.mean([generated["per_finding"][f]["auroc"] - real["per_finding"][f]["auroc"] for f in both]))


def agreement_gap_interval(judge, by_finding: Mapping[str, np.ndarray], normal: np.ndarray, real: np.ndarray,
                           labels: Sequence[Sequence[str]], *, draws: int = 1000, seed: int = 0) -> dict:
    """95% bootstrap interval of `agreement_gap`: each finding's generated images, the generated "No Finding"
    images and the real images resampled with replacement (real ones by image: the split has about one per
    patient), over the findings the point estimate scores."""
    p_normal = judge_probabilities(judge, normal)
    p_gen = {name: judge_probabilities(judge, images) for name, images in by_finding.items()}
    p_real = judge_probabilities(judge, real)
    is_normal = np.array([NO_FINDING in names or not names for names in labels])
    has = {name: np.array([name in names for names in labels]) for name in by_finding}
    scored = [name for name in by_finding if has[name].sum() >= MIN_REAL_POSITIVES]
    rng = np.random.default_rng(seed)
    gaps = []
    for _ in range(draws):
        rn, ri = rng.integers(0, len(normal), len(normal)), rng.integers(0, len(real), len(real))
        diffs = []
        for name in scored:
            k = judge.findings.index(name)
            pos, neg = has[name][ri], is_normal[ri]
            if not pos.any() or not neg.any():
                continue
            gen = p_gen[name][rng.integers(0, len(p_gen[name]), len(p_gen[name])), k]
            diffs.append(separation_auroc(gen, p_normal[rn, k]) - separation_auroc(p_real[ri][pos, k],
                                                                                  p_real[ri][neg, k]))
        if diffs:
            gaps.append(np.mean(diffs))
    low, high = np.percentile(gaps, [2.5, 97.5])
    return {"low": float(low), "high": float(high), "draws": len(gaps), "findings": scored}


SPACES = ("fid_judge", "fid_random_cnn", "fid_second_cnn")


def choose_setting(rows: Sequence[dict], *, tolerance: float = 0.05) -> dict:
    """The rule, applied on the validation split: settings whose label agreement does not exceed the judge's
    agreement on real images by more than `tolerance` are allowed; of those, the ones within +/- `tolerance` of
    it (the card's target band) come first. Where the rows measure the washed-out share, settings more than 5
    points above real's drop out (unless all would). Then, where the rows carry FID in all three feature spaces,
    the lowest geometric mean of each space's FID over that space's best wins (no one space decides); in older
    rows with the judge's only, the lowest judge-feature FID."""
    allowed = [r for r in rows if not r["agreement_gap"] > tolerance]
    if not allowed:
        raise ValueError("every setting exaggerates the findings beyond the tolerance; add smaller scales")
    in_band = [r for r in allowed if abs(r["agreement_gap"]) <= tolerance]
    pool = in_band or allowed
    if all("washed_out" in r for r in pool):
        pool = [r for r in pool if r["washed_out"] <= r["real_washed_out"] + tolerance] or pool
    if not all(all(k in r for k in SPACES) for r in pool):
        return min(pool, key=lambda r: r["fid_judge"])
    best = {k: min(r[k] for r in pool) for k in SPACES}
    return min(pool, key=lambda r: sum(np.log(r[k] / best[k]) for k in SPACES))


def diversity_per_finding(generated: Mapping[str, np.ndarray], real: np.ndarray, labels: Sequence[Sequence[str]],
                          *, pairs: int = 200) -> dict:
    """Mean MS-SSIM between random pairs (lower = more diverse) per finding, beside real images of the finding
    (None where fewer than 3 real ones)."""
    from models.qc.features import ms_ssim_diversity

    out = {}
    for name, images in generated.items():
        real_of = real[[i for i, names in enumerate(labels) if name in names or (name == NO_FINDING and not names)]]
        out[name] = {"generated": ms_ssim_diversity(images, pairs=pairs),
                     "real": ms_ssim_diversity(real_of, pairs=pairs) if len(real_of) >= 3 else None,
                     "n_real": len(real_of)}
    return out
