"""The realism card of a 2D generator, at 64 px and through its super-resolution stage at 256.

    # choices (classifier-free and classifier guidance) on the validation split:
    python -m scripts.realism_card models/pretrained/nih-cxr14 bundles/judge-nih-J64 \
        ../shared/data/nih-cxr14-64 ../shared/data/nih-cxr14-256 --split V --cfg 1.5,2,3 --out docs/realism/V
    # the card's figures on the test split, at the settings chosen on V:
    python -m scripts.realism_card models/pretrained/nih-cxr14 bundles/judge-nih-J64 \
        ../shared/data/nih-cxr14-64 ../shared/data/nih-cxr14-256 --split T --out docs/realism/T

For the split's real images it generates one image each with that image's findings (the same label mix), plus
N images per finding with at least 30 generator-training images and N "No Finding" images. It reports the
noise-dominated and saturated shares, FID/KID in the judge's features and in a fixed random CNN's (beside the real
floor, blurred real, real + noise and mean + noise), precision/recall in the judge's features, label agreement by
the judge beside its agreement on the split's real images, MS-SSIM diversity per finding, and memorisation against
every G image (threshold calibrated on V). The 256-px block super-resolves the generated images whose real
counterparts exist at 256 px and the first few of each finding. Writes card.json and figures into --out.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.evaluation.generated import EVERY_STEP, FINDING_SEED, MIX_SEED, NORMAL_SEED, sample
from models.evaluation.real_images import real_split


def generate_sets(pipe, labels: list[list[str]], eligible: list[str], n: int, setting: dict) -> dict:
    from models.progress import progress_bar

    requests = [(names, MIX_SEED + i) for i, names in enumerate(labels)]
    requests += [("No Finding", NORMAL_SEED + i) for i in range(n)]
    for j, name in enumerate(eligible):
        requests += [(name, FINDING_SEED + 1000 * j + i) for i in range(n)]
    bar, update = progress_bar(len(requests), f"generate cfg {setting['cfg']} cg {setting['classifier_scale']}")
    with bar:
        images, seeds, redraws = sample(pipe, requests, setting, update)
    sets = {"mix": images[:len(labels)], "No Finding": images[len(labels):len(labels) + n]}
    start = len(labels) + n
    for name in eligible:
        sets[name] = images[start:start + n]
        start += n
    sets |= {"seeds": seeds, "noise_redraws": redraws, "requests": requests}
    return sets


def raw_mix(pipe, sets: dict, n_mix: int, setting: dict) -> np.ndarray:
    """The mix images as the network drew them before the noise check: the images it redrew are sampled again
    from their first seeds without the check (the others are the raw ones already)."""
    raw = sets["mix"].copy()
    redrawn = [i for i in range(n_mix) if sets["noise_redraws"][i]]
    if redrawn:
        raw[redrawn] = sample(pipe, [sets["requests"][i] for i in redrawn], setting, redraw_noise=False)[0]
    return raw


def super_resolve(pipe, images: np.ndarray, seeds: list[int], steps: int | None) -> np.ndarray:
    from models.diffusion.pipeline import SUPERRES_SEED_OFFSET
    from models.progress import progress_bar

    bar, update = progress_bar(1, "super-resolution 256 px")
    with bar:
        return pipe.superres(images, [s + SUPERRES_SEED_OFFSET for s in seeds], num_inference_steps=steps,
                             callback=lambda d, t: update(d, t, "sampling", {}))


def settings_from(args, pipe) -> list[dict]:
    """The guidance settings to measure. A setting without `cfg_interval` guides at every step; without
    --cfg-intervals the model's own default interval is measured (and recorded)."""
    cfgs = [float(c) for c in args.cfg.split(",")]
    scales = [float(c) for c in args.classifier_scales.split(",")] if args.classifier_scales else \
        [pipe.default_classifier_scale]
    from models.vocabulary.sampler_defaults import parse_guidance_interval

    intervals = [None if i == "none" else parse_guidance_interval(i)
                 for i in args.cfg_intervals.split(",")] if args.cfg_intervals else \
        [pipe.resolve_guidance_interval(None)]
    intervals = [list(i) if i and tuple(i) != EVERY_STEP else None for i in intervals]
    rescales = [float(r) for r in args.guidance_rescales.split(",")] if args.guidance_rescales else \
        [pipe.default_guidance_rescale]
    return [{"cfg": c, "classifier_scale": s} | ({"cfg_interval": i} if i else {})
            | ({"guidance_rescale": r} if r else {})
            for c in cfgs for s in scales if s == 0 or pipe.guide is not None for i in intervals for r in rescales]


def setting_name(setting: dict) -> str:
    interval, rescale = setting.get("cfg_interval"), setting.get("guidance_rescale")
    return f"CFG {setting['cfg']:g}" + (f" at t/T {interval[0]:g}-{interval[1]:g}" if interval else "") + \
        (f", rescale {rescale:g}" if rescale else "")


def memorisation(judge, roots: list[str], train: np.ndarray, ids: list[str], generated: np.ndarray,
                 out: Path) -> dict:
    """Nearest G image (`train`, `ids`) in the judge's features for every generated image; threshold from V."""
    from models.evaluation.figures import labelled_grid
    from models.qc.memorisation import build_index, image_features

    heldout, *_ = real_split(roots, "V", 64)
    index = build_index(image_features(judge, train), ids, image_features(judge, heldout))
    d, nearest = index.nearest(image_features(judge, generated))
    order = np.argsort(d)[:8]
    labelled_grid({"generated": generated[order], "nearest G image": train[nearest[order]]},
                  out / "memorisation_pairs.png", "the 8 generated images closest to a generator-training image")
    return {"flagged": int((d < index.threshold).sum()), "n": len(d), "raw_flagged_rate": float((d < index.threshold)
            .mean()), "threshold": index.threshold, "calibration": index.calibration,
            "closest_distance": float(d.min()), "median_distance": float(np.median(d)), "train_images": len(train)}


def block(judge, real, labels, generated, floor, by_finding, size: int, noise_check=None) -> dict:
    """The figures of one resolution; with the generator's `noise_check`, also the share of featureless images
    (band-pass structure below its floor) beside real's."""
    from models.evaluation.realism_measures import distances, diversity_per_finding, label_agreement, pixel_health
    from models.metrics.autoencoder_eval import high_frequency_power
    from models.metrics.precision_recall import precision_recall
    from models.metrics.realism import random_cnn_features, second_cnn_features, washed_out_share
    from models.qc.memorisation import image_features

    judge_f = lambda x: image_features(judge, x)  # noqa: E731
    normal = by_finding.pop("No Finding")
    featureless = {} if noise_check is None or noise_check.structure_limit is None else {
        "featureless": float(noise_check.featureless(generated).mean()),
        "real_featureless": float(noise_check.featureless(real).mean())}
    return {"pixel_health": pixel_health(generated, real) | featureless | {
                "washed_out": washed_out_share(generated, floor), "real_washed_out": washed_out_share(real, floor)},
            "high_frequency_power_log10": {"generated": high_frequency_power(generated, real),
                                           "real floor": high_frequency_power(floor, real)},
            "distances_judge": distances(judge_f, real, generated, floor, intervals=True),
            "distances_random_cnn": distances(random_cnn_features(size=size), real, generated, floor, intervals=True),
            "distances_second_cnn": distances(second_cnn_features(size=size), real, generated, floor, intervals=True),
            "precision_recall_judge": precision_recall(judge_f(real), judge_f(generated)),
            "label_agreement": label_agreement(judge, by_finding, normal),
            "diversity_ms_ssim": diversity_per_finding(by_finding | {"No Finding": normal}, real, labels),
            "n_real": len(real), "n_generated": len(generated), "n_floor": len(floor)}


def side_by_side(real, labels, by_finding: dict, path: Path, split: str, per: int = 8) -> None:
    from models.evaluation.figures import labelled_grid

    rows = {}
    for name, images in by_finding.items():
        real_of = real[[i for i, names in enumerate(labels) if name in names]][:per]
        rows[f"real {name}"] = real_of
        rows[f"generated {name}"] = images[:per]
    labelled_grid(rows, path, f"real {split} images (as many as the split has, up to {per}) and generated ones "
                              f"with the same finding, at {real.shape[-1]} px")


def settings_figure(real: np.ndarray, by_setting: dict[str, np.ndarray], path: Path,
                    split: str, per: int = 8) -> None:
    """The first `per` real images of the split, and per setting the images generated with their findings and
    the same seeds, so settings compare image by image."""
    from models.evaluation.figures import labelled_grid

    labelled_grid({f"real {split}": real[:per], **{k: v[:per] for k, v in by_setting.items()}}, path,
                  f"real {split} images (top) and, per setting, generated ones with the same findings, fixed seeds")


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("generator", help="generator folder (with superres/ for the 256-px block)")
    ap.add_argument("judge", help="the judge's classifier folder (trained on split J only)")
    ap.add_argument("data", nargs="+", help="the NIH folders")
    ap.add_argument("--split", choices=["V", "T"], required=True)
    ap.add_argument("--cfg", default=None, help="classifier-free guidance scales (comma list; default: the model's)")
    ap.add_argument("--cfg-intervals", default=None,
                    help="comma list of 'none' or lo:hi, the share t/T of the schedule where classifier-free "
                         "guidance applies (default: none, every step)")
    ap.add_argument("--classifier-scales", default=None, help="classifier-guidance scales (default: the model's)")
    ap.add_argument("--guidance-rescales", default=None,
                    help="guidance-rescale shares, 0-1 (comma list; default: the model's)")
    ap.add_argument("--n", type=int, default=16, help="images per finding for label agreement and diversity")
    ap.add_argument("--per-finding-256", type=int, default=8, help="images per finding super-resolved at 256")
    ap.add_argument("--sr-steps", type=int, default=None)
    ap.add_argument("--choice-only", action="store_true",
                    help="stop after the settings' rows and the choice (a sweep; no card blocks)")
    ap.add_argument("--out", required=True)
    return ap.parse_args()


@dataclass
class RealismSetup:
    """What every realism run starts from: the generator and judge, the split's real 64-px images with their
    findings, the judge's agreement on them, and the floor (as many G images, drawn by `rng`, which later draws
    the 256-px floor)."""

    pipe: Any
    judge: Any
    real: np.ndarray
    labels: list
    ids: list
    eligible: list[str]
    real_agree: dict
    g_images: np.ndarray
    g_ids: list
    floor: np.ndarray
    rng: np.random.Generator


def load_setup(generator: str, judge_dir: str, data: list[str], split: str) -> RealismSetup:
    """Load the models and the real images of `split` and draw the G floor (seed 0)."""
    import torch

    from models.classifier.ensemble import ClassifierEnsemble
    from models.diffusion.pipeline import RadSynthPipeline
    from models.evaluation.realism_measures import real_label_agreement

    torch.set_grad_enabled(False)
    pipe = RadSynthPipeline.load(generator)
    judge = ClassifierEnsemble.load(judge_dir)
    real, labels, ids, _ = real_split(data, split, 64)
    eligible = [f for f, c in real_split_counts(data).items() if c >= 30 and f != "No Finding"]
    rng = np.random.default_rng(0)
    g_images, _, g_ids, _ = real_split(data, "G", 64)
    floor = g_images[rng.choice(len(g_images), min(len(real), len(g_images)), replace=False)]
    return RealismSetup(pipe, judge, real, labels, ids, eligible, real_label_agreement(judge, real, labels, eligible),
                        g_images, g_ids, floor, rng)


def main() -> None:
    args = parse_args()
    from models.evaluation.weights import weight_hashes

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    setup = load_setup(args.generator, args.judge, args.data, args.split)
    pipe, judge, real, labels, ids = setup.pipe, setup.judge, setup.real, setup.labels, setup.ids
    eligible, real_agree, g_images, g_ids, floor, rng = (setup.eligible, setup.real_agree, setup.g_images,
                                                         setup.g_ids, setup.floor, setup.rng)
    args.cfg = args.cfg or str(pipe.default_guidance)
    started = time.perf_counter()
    rows, sets_by_setting, chosen = sweep(args, pipe, judge, (real, labels, floor), eligible, real_agree)
    sets = sets_by_setting[rows.index(chosen)]
    base_seconds = time.perf_counter() - started
    card: dict = {"split": args.split, "generator": str(args.generator), "judge": str(args.judge),
                  "weights_sha256": weight_hashes(Path(args.generator)),  # as scripts/model_card.py records them
                  "judge_info": {k: json.loads((Path(args.judge) / "radsynth.json").read_text()).get(k)
                                 for k in ("splits", "test_auroc", "images_real")},
                  "n_real": len(real), "n_per_finding": args.n,
                  "eligible_findings": eligible, "settings": rows, "chosen": chosen,
                  "rule": "label agreement at most 0.05 above the judge's on real images; of those, the settings "
                          "within +/- 0.05 of it first; then those washed out at most 5 points more often than "
                          "real; then the lowest geometric mean over the judge's and both random CNNs' features "
                          "of FID over each space's best (applied on V only)",
                  "real_label_agreement": real_agree}
    if args.choice_only:
        settings_figure(real, {setting_name(r): sets_by_setting[i]["mix"] for i, r in enumerate(rows)},
                        out / "settings.png", args.split)
        (out / "choice.json").write_text(json.dumps(card, indent=2, default=float))
        print(f"wrote {out}/choice.json")
        return
    by_finding = {f: sets[f] for f in [*eligible, "No Finding"]}
    card["64"] = block(judge, real, labels, sets["mix"], floor, dict(by_finding), 64, pipe.noise_check)
    add_agreement_gap(card, "64", judge, by_finding, (real, labels))
    if pipe.noise_check is not None:
        from models.evaluation.realism_measures import pixel_health

        every = len(sets["noise_redraws"])
        card["noise_check"] = pipe.noise_check.to_json() | {
            "redrawn_mix": sum(1 for r in sets["noise_redraws"][:len(labels)] if r),
            "redrawn_all": sum(1 for r in sets["noise_redraws"] if r), "images_all": every}
        card["64"]["pixel_health_raw"] = pixel_health(raw_mix(pipe, sets, len(labels), chosen), real)
    all64 = np.concatenate([sets["mix"], *by_finding.values()])
    card["memorisation"] = memorisation(judge, args.data, g_images, g_ids, all64, out)
    side_by_side(real, labels, by_finding, out / "side_by_side_64.png", args.split)
    if pipe.superres is not None:
        block_256(args, (pipe, judge), card, (sets, by_finding, ids), (real, labels), rng)
    card["base_seconds_per_image_batched"] = base_seconds / (len(sets["seeds"]) * len(rows))
    (out / "card.json").write_text(json.dumps(card, indent=2, default=float))
    print(json.dumps({k: card[k] for k in ("chosen", "memorisation")}, indent=2, default=float))
    print(f"wrote {out}/card.json")


def sweep(args, pipe, judge, real_set: tuple, eligible: list[str], real_agree: dict) -> tuple[list, dict, dict]:
    """Every guidance setting's images, FID in the three feature spaces and label agreement; the chosen setting
    (the rule on V; the only one on T)."""
    from models.evaluation.realism_measures import choose_setting

    spaces = feature_spaces(judge)
    rows, sets_by_setting = [], {}
    for setting in settings_from(args, pipe):
        row, sets = measure_setting(pipe, judge, spaces, real_set, (eligible, args.n, real_agree), setting)
        rows.append(row)
        sets_by_setting[len(rows) - 1] = sets
        print(json.dumps(rows[-1]), flush=True)
    return rows, sets_by_setting, choose_setting(rows) if args.split == "V" else rows[0]


def feature_spaces(judge) -> dict:
    """The three fixed feature spaces of the choice at 64 px: the judge's and two random CNNs'."""
    from models.metrics.realism import random_cnn_features, second_cnn_features
    from models.qc.memorisation import image_features

    return {"judge": lambda x: image_features(judge, x), "random_cnn": random_cnn_features(size=64),
            "second_cnn": second_cnn_features(size=64)}


def measure_setting(pipe, judge, spaces: dict, real_set: tuple, agreement: tuple, setting: dict) -> tuple[dict, dict]:
    """One setting's row (FID in each space with its 95% bootstrap interval, label agreement and its gap to real,
    washed-out, featureless and noise-dominated shares as delivered, the share the noise check redrew, mean
    roughness, high-frequency power, seconds per image) and
    its image sets; `agreement` is (eligible findings, images per finding, the judge's agreement on the real
    images)."""
    from models.evaluation.realism_measures import agreement_gap, label_agreement
    from models.metrics.autoencoder_eval import high_frequency_power
    from models.metrics.fid import frechet_distance
    from models.metrics.realism import fid_interval, noise_dominated_share, roughness, washed_out_share

    real, labels, floor = real_set
    eligible, n, real_agree = agreement
    started = time.perf_counter()
    sets = generate_sets(pipe, labels, eligible, n, setting)
    seconds = (time.perf_counter() - started) / len(sets["seeds"])
    mix = sets["mix"]
    agree = label_agreement(judge, {f: sets[f] for f in eligible}, sets["No Finding"])
    features = {name: (f(real), f(mix)) for name, f in spaces.items()}  # once per space: FID and its interval
    fids = {f"fid_{name}": frechet_distance(*fs) for name, fs in features.items()}
    row = setting | fids | {"agreement": agree["mean_auroc"], "agreement_gap": agreement_gap(agree, real_agree),
                            "washed_out": washed_out_share(mix, floor),
                            "real_washed_out": washed_out_share(real, floor),
                            "high_frequency_power_log10": high_frequency_power(mix, real),
                            "noise_dominated": noise_dominated_share(mix, real, 64), "seconds_per_image": seconds,
                            # the share the noise check had to redraw: the raw failure rate, sharper than the
                            # delivered shares, which the redraws bring near 0
                            "redrawn_share": float(np.mean([r > 0 for r in sets["noise_redraws"]])),
                            "roughness": float(roughness(mix).mean()), "real_roughness": float(roughness(real).mean()),
                            "fid_intervals": {k: list(fid_interval(*fs)) for k, fs in features.items()}}
    check = pipe.noise_check
    if check is not None and check.structure_limit is not None:
        row |= {"featureless": float(check.featureless(mix).mean()),
                "real_featureless": float(check.featureless(real).mean())}
    return row, sets


def add_agreement_gap(card: dict, size: str, judge, by_finding: dict, real_64: tuple) -> None:
    """The block's label agreement minus the judge's on the split's real images, with its bootstrap interval."""
    from models.evaluation.realism_measures import agreement_gap, agreement_gap_interval

    eligible = [f for f in by_finding if f != "No Finding"]
    card[size]["label_agreement_gap"] = agreement_gap(card[size]["label_agreement"], card["real_label_agreement"])
    card[size]["label_agreement_gap_interval"] = agreement_gap_interval(
        judge, {f: by_finding[f] for f in eligible}, by_finding["No Finding"], *real_64)


def block_256(args, models: tuple, card: dict, made: tuple, real_64: tuple, rng: np.random.Generator) -> None:
    """Super-resolve the generated images whose real counterparts exist at 256 px and the first few of each
    finding; score them against the split's native 256-px images (`made`: the 64-px sets, the per-finding sets
    and the real images' ids)."""
    pipe, judge = models
    sets, by_finding, ids = made
    real256, labels256, ids256, _ = real_split(args.data, args.split, 256, native_only=True)
    g256, *_ = real_split(args.data, "G", 256, native_only=True)
    floor256 = g256[rng.choice(len(g256), min(len(real256), len(g256)), replace=False)]
    where = [ids.index(i) for i in ids256]
    k, eligible = args.per_finding_256, [f for f in by_finding if f != "No Finding"]
    low = np.concatenate([sets["mix"][where], *[v[:k] for v in by_finding.values()]])
    seeds = [sets["seeds"][i] for i in where] + reorder_seeds(sets["seeds"], len(real_64[1]), args.n, k, eligible)
    t0 = time.perf_counter()
    high = super_resolve(pipe, low, seeds, args.sr_steps)
    sr_seconds = time.perf_counter() - t0
    by256 = {name: high[len(where) + j * k:len(where) + (j + 1) * k] for j, name in enumerate(by_finding)}
    card["256"] = block(judge, real256, labels256, high[:len(where)], floor256, dict(by256), 256, pipe.noise_check)
    add_agreement_gap(card, "256", judge, by256, real_64)
    card["256"]["superres_seconds_per_image"] = sr_seconds / len(high)
    sr = pipe.superres
    if getattr(sr, "one_pass", False):
        card["256"] |= {"detail_stage": "one-pass detail network", "detail_steps": sr.metadata.get("steps"),
                        "superres_keep_low": sr.keep_low}
    else:
        card["256"] |= {"superres_steps": args.sr_steps or sr.steps_from(sr.default_start),
                        "superres_start": sr.default_start, "superres_keep_low": sr.keep_low,
                        "superres_aug_step": sr.default_aug_step}
    side_by_side(real256, labels256, by256, Path(args.out) / "side_by_side_256.png", args.split)


def reorder_seeds(seeds: list[int], n_mix: int, n: int, k: int, eligible: list[str]) -> list[int]:
    """Seeds of the first k images of each per-finding set, in by_finding order (eligible..., No Finding)."""
    normal = seeds[n_mix:n_mix + n][:k]
    rest = []
    for j in range(len(eligible)):
        start = n_mix + n + j * n
        rest += seeds[start:start + k]
    return rest + normal


def real_split_counts(roots: list[str]) -> dict[str, int]:
    from models.data.nih import NIHRealismSplit

    return NIHRealismSplit(roots, {"G"}, 64).label_counts()


if __name__ == "__main__":
    main()
