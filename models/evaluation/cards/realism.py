"""docs/realism-card.md from the realism cards (scripts/realism_card.py) of V (the choices) and T (the
figures), beside the realism targets.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

from models.evaluation.cards.base_gains import interval_name, training_gains

FLOOR_RATIO_BARS = {"64": 2.5, "256": 3.0}  # FID at most this multiple of the real floor (judge's features)
BLUR_RATIO_BAR = 2.0  # FID in each fixed random feature space at most this multiple of blurred real's
RANDOM_SPACES = ("random_cnn", "second_cnn")
HIGH_FREQUENCY_BAND = 0.1  # high-frequency power within +/- this (log10) of real's
WASHED_OUT_BAND = 0.05  # washed-out share within this of real's
DEFAULT_JOB_BAR_S = 8.0  # the default 4-image 256-px job, through the service, on an idle 2-core machine
ROOT = Path(__file__).resolve().parents[3]
FOLDER = ROOT / "docs" / "realism"
AGREEMENT_BAND = 0.05  # label agreement within +/- this of the judge's on real images

REPRODUCE = (
    "DATA='../shared/data/nih-cxr14-64 ../shared/data/nih-cxr14-256'",
    "python -m scripts.train_judge $DATA                      # bundles/judge-nih-J64 (split J)",
    "# the V sweeps below up to the base comparison were measured on the step-2,400 base served before",
    "python -m scripts.sampler_sweep $DATA                    # docs/realism/V/samplers (V)",
    "python -m scripts.superres_sweep $DATA                   # docs/realism/V/superres (V)",
    "python -m scripts.superres_sweep $DATA --aug-steps 250 --steps 15 --starts 0.5,0.7 \\",
    "    --out docs/realism/V/superres_start                  # starting super-resolution part-way (V)",
    "python -m scripts.realism_card models/pretrained/nih-cxr14 bundles/judge-nih-J64 $DATA --split V \\",
    "    --cfg 2,3,4,6,8,10,14,20 --n 12 --choice-only --out docs/realism/V   # the guidance choice",
    "python -m scripts.superres_sweep $DATA --aug-steps 250 --starts 0.5:15,1:30 --keep-low \\",
    "    --out docs/realism/V/superres_cfg20                  # the stage at CFG 20 (V)",
    "python -m bench.bench_service --default-only --repeats 3 --also superres_start=1 \\",
    "    --also guidance_interval=0:1                         # seconds per default job",
    "python -m scripts.superres_sweep $DATA --aug-steps 250 --starts 0.5:15 --keep-low --keep-low-factors 4,8,16 \\",
    "    --out docs/realism/V/superres_cfg20_keep             # how coarse the kept content is (V)",
    "python -m scripts.superres_choice docs/realism/V/superres_cfg20/sweep.json \\",
    "    docs/realism/V/superres_cfg20_keep/sweep.json        # the stage's default (rule in the section)",
    "python -m scripts.fit_noise_check models/pretrained/nih-cxr14 $DATA --max-attempts 6   # limits from G; V",
    "python -m scripts.compare_bases models/pretrained/nih-cxr14 bundles/judge-nih-J64 $DATA --n 12 \\",
    "    --unet 'served (step 2,400, augmented)=models/pretrained/nih-cxr14/unet' \\",
    "    --unet 'no augmentation (step 4,500)=bundles/nih-base64-G/unet@12,14' \\",
    "    --out docs/realism/V/base_choice                     # base generators compared (V)",
    "python -m scripts.assemble_generator bundles/nih-base64-G bundles/nih-sr256-GJ $DATA --cfg 14 --sr-steps 30 \\",
    "    --sr-aug-step 250 --sr-start 0.5 --sr-keep-low 4 --cfg-interval 0:0.8   # the chosen base and guidance",
    "python -m scripts.realism_card models/pretrained/nih-cxr14 bundles/judge-nih-J64 $DATA --split V --cfg 14 \\",
    "    --cfg-intervals 0:0.7,0:0.8 --n 12 --choice-only --out docs/realism/V/guidance_interval",
    "python -m scripts.realism_card models/pretrained/nih-cxr14 bundles/judge-nih-J64 $DATA --split T \\",
    "    --n 12 --per-finding-256 12 --out docs/realism/T            # the figures",
    "python -m scripts.render_realism_card docs/realism",
    "python -m scripts.superres_check models/pretrained/nih-cxr14/superres ../shared/data/nih-cxr14-256 \\",
    "    --split T --steps 30 --aug-step 100 --start 1 --keep-low 0 --out docs/realism/T/superres   # s = 100",
    "python -m scripts.superres_check models/pretrained/nih-cxr14/superres ../shared/data/nih-cxr14-256 \\",
    "    --split T --steps 30 --start 1 --keep-low 0 --out docs/realism/T/superres_s250  # s = 250",
    "python -m scripts.superres_check models/pretrained/nih-cxr14/superres ../shared/data/nih-cxr14-256 \\",
    "    --split T --out docs/realism/T/superres_default  # the stage alone, at the service's defaults",
)
FAKES = ("real floor", "blurred real", "real + noise", "mean image + noise")
SPACE_NAMES = {"judge": "judge", "random_cnn": "random CNN", "second_cnn": "second CNN"}


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def fid_table(block: dict) -> list[str]:
    """FID (with its 95% bootstrap interval where measured) of the generated images and the references, in every
    feature space the block has."""
    spaces = [k.removeprefix("distances_") for k in ("distances_judge", "distances_random_cnn",
                                                     "distances_second_cnn") if k in block]
    names = [n for n in ("generated", *FAKES, "real 64 px + bicubic") if n in block["distances_judge"]]
    lines = ["| images | " + " | ".join(f"FID {SPACE_NAMES[x]} | ratio to floor" for x in spaces) +
             " | KID judge (x1000) |", "|---" * (2 * len(spaces) + 2) + "|"]
    for name in names:
        cells = []
        for space in spaces:
            d = block[f"distances_{space}"][name]
            ci = d.get("interval95")
            interval = f" [{max(0.0, ci[0]):.2f}, {ci[1]:.2f}]" if ci else ""
            cells.append(f"{d['fid']:.2f}{interval} | {d['ratio_to_floor']:.2f}")
        j = block["distances_judge"][name]
        lines.append(f"| {name} | {' | '.join(cells)} | {1000 * j['kid_mean']:.2f} +/- {1000 * j['kid_std']:.2f} |")
    return lines


def agreement_table(card: dict, size: str) -> list[str]:
    real = card["real_label_agreement"]["per_finding"]
    gen = card[size]["label_agreement"]["per_finding"]
    lines = ["| finding | generated (n per side) | real images of the split (positives) |", "|---|---|---|"]
    for name, g in gen.items():
        r = real.get(name, {})
        rv = "n/a (< 5 positives)" if r.get("auroc") != r.get("auroc") else f"{r['auroc']:.2f} ({r['n_finding']})"
        lines.append(f"| {name} | {g['auroc']:.2f} ({g['n_finding']}) | {rv} |")
    return lines


def beats_bicubic(check: dict, metric: str) -> bool:
    """Whether the stage-alone check's super-resolution scores below bicubic on `metric` (lower is better)."""
    return check["scores"]["super-resolution"][metric] < check["scores"]["bicubic"][metric]


def below_blur(row: dict, reference: dict) -> str:
    """'yes' when a sweep row's random-CNN FID is below the blurred-real fake's."""
    return "yes" if row["fid_random_cnn"] < reference["random_cnn"]["blurred real"] else "no"


def listed(keys: list) -> str:
    return "; ".join(str(k) for k in keys) or "none"


def targets(card: dict, superres_checks: list[dict], bench: dict | None = None) -> list[str]:
    b64 = card["64"]
    rows = []

    def row(name: str, value: str, target: str, ok: bool | str) -> None:
        rows.append(f"| {name} | {value} | {target} | {ok if isinstance(ok, str) else 'met' if ok else 'missed'} |")

    for size in ("64", "256"):
        if size not in card:
            continue
        b = card[size]
        nd = b["pixel_health"]["noise_dominated"]
        n = b["n_generated"]
        delivered = " delivered" if "pixel_health_raw" in b else ""
        row(f"noise-dominated share{delivered}, {size} px", f"{pct(nd)} ({round(nd * n)} of {n})", "<= 2%",
            nd <= 0.02)
        if "pixel_health_raw" in b:
            raw = b["pixel_health_raw"]["noise_dominated"]
            row(f"noise-dominated share before the noise check (raw network), {size} px",
                f"{pct(raw)} ({round(raw * n)} of {n})", "-", "reported")
        if "featureless" in b["pixel_health"]:
            fl = b["pixel_health"]["featureless"]
            row(f"featureless share delivered (band-pass structure below the noise check's floor), {size} px",
                f"{round(fl * n)} of {n} (real {pct(b['pixel_health']['real_featureless'])})", "0", fl == 0)
        if "washed_out" in b["pixel_health"]:
            w, rw = b["pixel_health"]["washed_out"], b["pixel_health"]["real_washed_out"]
            row(f"washed-out share (lung contrast below real G's 5th percentile), {size} px",
                f"{pct(w)} vs real {pct(rw)}", f"within {100 * WASHED_OUT_BAND:.0f} points",
                abs(w - rw) <= WASHED_OUT_BAND)
        if "high_frequency_power_log10" in b:
            hf = b["high_frequency_power_log10"]
            row(f"high-frequency power against real (log10), {size} px",
                f"{hf['generated']:+.2f} (other real images {hf['real floor']:+.2f})",
                f"within +/- {HIGH_FREQUENCY_BAND}", abs(hf["generated"]) <= HIGH_FREQUENCY_BAND)
        d = b["distances_judge"]
        row(f"FID below blurred real (judge), {size} px",
            f"{d['generated']['fid']:.2f} vs {d['blurred real']['fid']:.2f} ({sample_sizes(d['generated'])})",
            "below", fid_call(d["generated"], lambda x, blur=d["blurred real"]["fid"]: x < blur))
        for space in RANDOM_SPACES:
            if f"distances_{space}" not in b:
                continue
            d = b[f"distances_{space}"]
            blur = d["blurred real"]["fid"]
            row(f"FID / blurred real ({SPACE_NAMES[space]}), {size} px",
                f"{d['generated']['fid'] / blur:.2f} ({d['generated']['fid']:.2f}{interval_text(d['generated'])} vs "
                f"{blur:.2f}; {sample_sizes(d['generated'])})", f"<= {BLUR_RATIO_BAR:g}",
                fid_call(d["generated"], lambda x, blur=blur: x <= BLUR_RATIO_BAR * blur))
        gen = b["distances_judge"]["generated"]
        bar = FLOOR_RATIO_BARS[size]
        row(f"FID / real floor (judge), {size} px", f"{gen['ratio_to_floor']:.2f} ({sample_sizes(gen)})",
            f"<= {bar:g}", fid_call(gen, lambda x, floor=gen["fid"] / gen["ratio_to_floor"], bar=bar:
                                    x / floor <= bar))
    agree = b64["label_agreement"]["mean_auroc"]
    row(f"label agreement without classifier guidance (CFG {card['chosen']['cfg']:g}; mean AUROC)", f"{agree:.2f}",
        ">= 0.6", agree >= 0.6)
    for size in ("64", "256"):
        if size in card:
            gap, ci = card[size]["label_agreement_gap"], card[size].get("label_agreement_gap_interval")
            interval = f" [{ci['low']:+.3f}, {ci['high']:+.3f}]" if ci else ""
            row(f"label agreement minus the judge's on real images, {size} px (95% bootstrap interval)",
                f"{gap:+.3f}{interval}", f"within +/- {AGREEMENT_BAND}", abs(gap) <= AGREEMENT_BAND)
    for check in superres_checks:
        sr, bi = check["scores"]["super-resolution"], check["scores"]["bicubic"]
        s = f"{check.get('aug_step')}{check_manner(check)}"
        row(f"super-resolution (s = {s}) of real 64-px T images beats bicubic on FID (random CNN, 256 px)",
            f"{sr['fid_random_cnn']:.2f} vs {bi['fid_random_cnn']:.2f}", "below",
            fid_call({"fid": sr["fid_random_cnn"], "interval95": sr.get("fid_random_cnn_interval95")},
                     lambda x, bicubic=bi["fid_random_cnn"]: x < bicubic))
        row(f"super-resolution (s = {s}) beats bicubic on the power spectrum (distance to the originals', T, 256 px)",
            f"{sr['spectrum_distance']:.3f} vs {bi['spectrum_distance']:.3f}", "below",
            beats_bicubic(check, "spectrum_distance"))
    mem = card["memorisation"]
    row("flagged as copies (raw, before the service's redraw)", f"{mem['flagged']} of {mem['n']}", "-", "reported")
    if bench:
        row(f"default job ({bench['result']['resolution']} px, 4 images) through the service, median",
            f"{bench['median_s']:.1f} s", f"<= {DEFAULT_JOB_BAR_S:g} s", bench["median_s"] <= DEFAULT_JOB_BAR_S)
    return ["| target | measured | bar | |", "|---|---|---|---|", *rows]


def interval_text(distance: dict) -> str:
    """' [lo, hi]', a FID's 95% bootstrap interval, or '' without one."""
    ci = distance.get("interval95")
    return f" [{max(0.0, ci[0]):.2f}, {ci[1]:.2f}]" if ci else ""


def sample_sizes(distance: dict) -> str:
    """The N behind a FID: generated and real images."""
    return f"N = {distance['n_fake']} generated, {distance['n_real']} real"


def fid_call(distance: dict, meets: Callable[[float], bool]) -> str:
    """A FID bar is called only on a bootstrap interval that clears it (both ends meet it: met; neither: missed);
    a point estimate alone, or an interval across the bar, is not called."""
    interval = distance.get("interval95")
    if interval is None:
        return "no call: no bootstrap interval (point " + ("inside" if meets(distance["fid"]) else "outside") + \
            " the bar)"
    ends = [meets(x) for x in interval]
    return "met" if all(ends) else "missed" if not any(ends) else "no call: the interval straddles the bar"


def noise_check_note(card: dict, size: str) -> str:
    """How the generator's noise check changed the noise-dominated share of a block (empty without one)."""
    check, raw = card.get("noise_check"), card[size].get("pixel_health_raw")
    if check is None:
        return ""
    if raw is None:  # the 256-px block super-resolves the base images the check delivered
        return "; its base images passed the generator's noise check"
    return (f"; before the generator's noise check {pct(raw['noise_dominated'])}: the check (roughness above "
            f"{check['roughness_limit']:.4f}, the {check['quantile']:g} quantile of {check['images']} G images) "
            f"redrew {check['redrawn_mix']} of these {card[size]['n_generated']} images on new seeds "
            f"({check['redrawn_all']} of all {check['images_all']} 64-px images made for the card)")


def check_manner(check: dict) -> str:
    """How a stage-alone check ran beyond s: its start and whether it kept the input's coarse content."""
    start = check.get("start", 1.0)
    return ("" if start >= 1 else f", start {start:g}") + (", coarse content kept" if check.get("keep_low") else "")


def served_as(check: dict, default_aug_step: int | None, served: dict) -> bool:
    """Whether a stage-alone check ran at the service's defaults."""
    return (check.get("aug_step") == default_aug_step and check.get("start", 1.0) == served.get("superres_start", 1.0)
            and bool(check.get("keep_low")) == bool(served.get("superres_keep_low")))


def superres_section(checks: list[tuple[dict, str]], default_aug_step: int | None, served: dict) -> list[str]:
    """The super-resolution stage alone on T: real images shrunk to 64 px and brought back, against bicubic; one
    check per noise-conditioning step s (`checks`: (report, its folder under docs/))."""
    first = checks[0][0]
    lines = ["## Super-resolution alone on T", "",
             f"The {first['n']} real T images stored at {first['size']} px, shrunk to 64 px with the training filter "
             "and brought back by the super-resolution stage (one row per way of running it) and by bicubic "
             "upsampling, each compared with the originals; the floor is as many real images of split J against the "
             "same originals. Seconds per image on 2 CPU cores.", "",
             "| images | conditioning step s | steps | s per image | PSNR dB | SSIM | FID random CNN (256) | "
             "spectrum distance |", "|---|---|---|---|---|---|---|---|"]
    shown = set()
    for check, _ in checks:
        s = check.get("aug_step")
        for name, sc in check["scores"].items():
            if name != "super-resolution" and name in shown:
                continue  # bicubic and the floor do not depend on s
            shown.add(name)
            label = name
            if name == "super-resolution":
                label += check_manner(check) + (" (service default)" if served_as(check, default_aug_step, served)
                                                else "")
            fidelity = ("-", "-") if "floor" in name else (f"{sc['psnr_db']:.2f}", f"{sc['ssim']:.3f}")
            stage = (s, check["steps"], f"{check['seconds_per_image']:.1f}") if name == "super-resolution" \
                else ("-", "-", "-")
            lines.append(f"| {label} | {' | '.join(map(str, stage))} | {fidelity[0]} | {fidelity[1]} | "
                         f"{sc['fid_random_cnn']:.2f} | {sc['spectrum_distance']:.3f} |")
    for check, folder in checks:
        lines += ["", f"![super-resolution against bicubic on T, s = {check.get('aug_step')}{check_manner(check)}]"
                  f"({folder}/superres_check.png)"]
    lines += ["", "PSNR and SSIM reward the smooth average that bicubic draws; FID and the spectrum ask whether the "
              "result looks like a real 256-px radiograph. Both reconstructions start from the originals themselves, "
              "so they sit closer to them in FID than unrelated real images do: compare super-resolution with "
              "bicubic, not with the floor. With this few images the FID covariance is singular (SciPy warns), so "
              "read its small margin together with the spectrum. Look at the crops too: the stage draws sharper edges "
              "than bicubic but lays a fine speckle over flat areas that real radiographs do not have. A larger s "
              "tells the stage to trust its 64-px input less: right for the base generator's blurry images (the "
              "choice on V above), costly in fidelity on a real image."]
    if len(checks) > 1:
        steps = [f"{c.get('aug_step')}{check_manner(c)}" for c, _ in checks]
        fid_wins = [f"{c.get('aug_step')}{check_manner(c)}" for c, _ in checks if beats_bicubic(c, "fid_random_cnn")]
        spectrum_wins = [f"{c.get('aug_step')}{check_manner(c)}" for c, _ in checks
                         if beats_bicubic(c, "spectrum_distance")]
        lines += ["", f"On real 64-px images the stage beats bicubic in FID at s = {listed(fid_wins)} and loses at "
                  f"s = {listed([k for k in steps if k not in fid_wins])}; on the power spectrum it beats bicubic at "
                  f"s = {listed(spectrum_wins)}. The service runs the stage only on generated images, at the s chosen "
                  "for them on V."]
    lines.append("")
    return lines


def superres_checks(root: Path) -> list[tuple[dict, str]]:
    """Every stage-alone check on T (`T/superres*/superres_check.json`), by conditioning step."""
    found = [(json.loads(f.read_text()), f"realism/T/{f.parent.name}")
             for f in root.glob("T/superres*/superres_check.json")]
    return sorted(found, key=lambda c: c[0].get("aug_step") or 0)


def default_check(checks: list[tuple[dict, str]], default_aug_step: int | None, card: dict) -> dict | None:
    """The stage-alone check that ran at the service's super-resolution defaults, if any."""
    served = card.get("256", {})
    return next((c for c, _ in checks if served_as(c, default_aug_step, served)), None)


def texture_reading(card: dict) -> str:
    """Where the generated images beat blurred real ones in the random CNN's features."""
    wins = {size: card[size]["distances_random_cnn"]["beats_blur"] for size in ("64", "256") if size in card}
    if all(wins.values()):
        return "they beat blurred real images at every size"
    if not any(wins.values()):
        return "blurred real images still beat them"
    won = " and ".join(f"{k} px" for k, v in wins.items() if v)
    lost = " and ".join(f"{k} px" for k, v in wins.items() if not v)
    return f"they beat blurred real images at {won} but not at {lost}"


def reading(card: dict) -> list[str]:
    """How to read the targets: what limits them and what the curve says more compute buys."""
    import statistics

    judge_auc = [v for k, v in (card["judge_info"].get("test_auroc") or {}).items()
                 if k in card["eligible_findings"] and v == v]
    real = card["real_label_agreement"]["mean_auroc"]
    noise = " / ".join(pct(card[size]["pixel_health"]["noise_dominated"]) for size in ("64", "256") if size in card)
    noise = f"{noise} noise-dominated at 64 / 256 px"
    if "pixel_health_raw" in card["64"]:
        noise += (f" as delivered; {pct(card['64']['pixel_health_raw']['noise_dominated'])} at 64 px from the raw "
                  "network, before the noise check")
    return ["How to read it:", "",
            f"- The judge is weak: its own AUROC on T averages {statistics.mean(judge_auc):.2f} over these findings "
            f"(304 training images at 64 px), and it separates *real* T images of a finding from \"No Finding\" ones "
            f"at {real:.2f}. Label agreement of generated images can only be read against that, not against 1.",
            f"- The images are recognisable chest radiographs ({noise}), but softer than real: "
            "ribs in some (the note under the side-by-side figure counts them), few vessels, no devices. In the "
            "random CNN's features, which weigh fine texture, "
            f"{texture_reading(card)}; in the judge's features they beat blur but sit far above the floor.",
            "- The base generator is the limit, not the super-resolution stage (which, checked alone on real "
            "images, restores their high-frequency power: the section below). Its realism curve "
            "(`bundles/nih-base64-G/curve.png`, FID on V against training steps) changes little over the steps "
            "it spans, which are fewer than two doublings: that does not show more training cannot help.",
            *gap_reading(card), *([f"- {card['look']}"] if card.get("look") else [])]


def gap_reading(card: dict) -> list[str]:
    """What the agreement gaps' bootstrap intervals allow one to say (nothing without intervals)."""
    gaps = {size: card[size] for size in ("64", "256") if "label_agreement_gap_interval" in card.get(size, {})}
    if not gaps:
        return []
    spans = "; ".join(f"{size} px {b['label_agreement_gap']:+.3f} [{b['label_agreement_gap_interval']['low']:+.3f}, "
                      f"{b['label_agreement_gap_interval']['high']:+.3f}]" for size, b in gaps.items())
    first = card["eligible_findings"][0]
    per = " and ".join(f"{b['label_agreement']['per_finding'][first]['n_finding']} at {size} px"
                       for size, b in gaps.items())
    by_reading: dict[str, list[str]] = {}
    for size, b in gaps.items():
        by_reading.setdefault(interval_reading(b["label_agreement_gap_interval"]), []).append(f"{size} px")
    readings = [f"at {' and at '.join(sizes)} {reading}" for reading, sizes in by_reading.items()]
    return [f"- The label-agreement gaps ({spans}) rest on {per} generated images per finding: "
            + "; ".join(readings) + "."]


def interval_reading(ci: dict, band: float = AGREEMENT_BAND) -> str:
    """What one bootstrap interval of an agreement gap says against 0 and the +/- `band` target."""
    low, high = ci["low"], ci["high"]
    if low > 0:
        return ("the interval lies above 0, so the default makes the findings more obvious to the judge than real "
                "images are" + (" (by more than the band)" if low > band else ""))
    if high < 0:
        return "the interval lies below 0, so the findings are drawn fainter than in real images"
    if low <= band <= high or low <= -band:
        return "the interval holds 0 and reaches past the band, so T cannot tell whether the default exaggerates"
    return "the interval sits inside the band"


def missed_section(card: dict, curve_path: Path, default_check: dict | None, v_root: Path = FOLDER / "V") -> list[str]:
    """Each missed target at the service's defaults: by how much, and what compute would close it (the target's
    'Done when': the measured curve, extrapolated)."""
    fit = (json.loads(curve_path.read_text()).get("fit") or {}) if curve_path.exists() else {}
    gain = flattened_gain(fit)
    steps, last_lowered = training_gains(
        [v_root / "base_choice" / "choice.json", v_root / "base_steps" / "choice.json"],
        AGREEMENT_BAND) or ("see the base comparison sections", True)
    lever = ("longer training without augmentation is the first lever, a larger base the next" if last_lowered else
             "longer training without augmentation was the lever, but the last snapshot measured did not lower it: "
             "whether more training still helps needs two more doublings of steps at the served settings; a larger "
             "base is the next lever")
    base = (f"the base generator's curve on V (the augmented run, steps {fit['steps'][0]:,}-{fit['steps'][-1]:,}, "
            f"{doublings(fit['steps']):.1f} doublings at CFG 2) is nearly flat, but trained on without augmentation "
            f"{steps} (base comparison sections): {lever}"
            if gain is not None else "see the curve section for the projected training")
    sr = ""
    if default_check:
        ours, bi = (default_check["scores"][k]["fid_random_cnn"] for k in ("super-resolution", "bicubic"))
        sr = (f" On real 64-px inputs the stage alone beats bicubic ({ours:.2f} vs {bi:.2f}, random CNN), so the "
              "gap at 256 px starts in the base images.")
    out: list[str] = []

    def cause() -> str:
        """The base generator's reason in full the first time, by reference after."""
        return base if not any(base in line for line in out) else "the same base curve"
    for size in ("64", "256"):
        b = card.get(size)
        if not b:
            continue
        judge = b["distances_judge"]
        ratio, bar = judge["generated"]["ratio_to_floor"], FLOOR_RATIO_BARS[size]
        if ratio > bar:
            out.append(f"- FID / real floor (judge), {size} px: {ratio:.2f} against {bar:g}, "
                       f"{ratio / bar:.1f}x over; {cause()}." + (sr if size == "256" else ""))
        for space in RANDOM_SPACES:
            d = b.get(f"distances_{space}")
            if d and d["generated"]["fid"] > BLUR_RATIO_BAR * d["blurred real"]["fid"]:
                g, blur = d["generated"]["fid"], d["blurred real"]["fid"]
                out.append(f"- FID / blurred real ({SPACE_NAMES[space]}), {size} px: {g / blur:.2f} against "
                           f"{BLUR_RATIO_BAR:g} ({g:.2f} vs {blur:.2f}), {g / (BLUR_RATIO_BAR * blur):.1f}x over; "
                           f"{cause()}.")
        hf = b.get("high_frequency_power_log10", {}).get("generated")
        if hf is not None and abs(hf) > HIGH_FREQUENCY_BAND:
            out.append(f"- high-frequency power, {size} px: {hf:+.2f} log10 against +/- {HIGH_FREQUENCY_BAND}, "
                       f"{abs(hf) - HIGH_FREQUENCY_BAND:.2f} outside: the images lack the fine detail (ribs, "
                       "vessels, edges) real radiographs carry; a detail stage that learns it (the detail stages "
                       "section) or a sharper base would close it.")
        ph = b["pixel_health"]
        if ph.get("featureless"):
            out.append(f"- featureless images delivered, {size} px: {round(ph['featureless'] * b['n_generated'])} "
                       f"of {b['n_generated']}; the noise check's redraws (noise check section) did not find a "
                       "passing image within its attempts.")
        if "washed_out" in ph and abs(ph["washed_out"] - ph["real_washed_out"]) > WASHED_OUT_BAND:
            out.append(f"- washed-out share, {size} px: {pct(ph['washed_out'])} against real "
                       f"{pct(ph['real_washed_out'])}, more than {100 * WASHED_OUT_BAND:.0f} points apart.")
        gap, ci = b["label_agreement_gap"], b.get("label_agreement_gap_interval")
        if abs(gap) > AGREEMENT_BAND:
            n = b["label_agreement"]["per_finding"][card["eligible_findings"][0]]["n_finding"]
            seconds = b.get("superres_seconds_per_image", 0) + card["base_seconds_per_image_batched"]
            spread = f" (95% interval [{ci['low']:+.3f}, {ci['high']:+.3f}])" if ci else ""
            out.append(f"- label agreement gap, {size} px: {gap:+.3f}{spread} against +/- {AGREEMENT_BAND}, "
                       f"{abs(gap) - AGREEMENT_BAND:.3f} outside; {interval_reading(ci) if ci else 'no interval'}. "
                       f"More generated images per finding ({n} now, about {seconds:.1f} s each on 2 cores) would "
                       "narrow the interval; whether the default then exaggerates the findings is open.")
    if not out:
        return []
    return ["### Missed at the defaults, by how much, and what would close it", "", *out, ""]


def doublings(steps: list[int]) -> float:
    """How many doublings of training steps a curve spans."""
    return math.log2(steps[-1] / steps[0])


def flattened_gain(fit: dict) -> float | None:
    """The share of the excess FID one doubling of training removes, when the curve's fit projects the target
    past 10^6 steps (flattened); None otherwise."""
    if fit.get("steps_to_target") and fit["steps_to_target"] > 1e6:
        return 1 - 2 ** -fit["b"]
    return None


def curve_section(curve_path: Path) -> list[str]:
    """The base generator's realism against training steps on V, and the projection of the card's ratio."""
    if not curve_path.exists():
        return []
    c = json.loads(curve_path.read_text())
    rows, fit, ref = c["snapshots"], c.get("fit") or {}, c["reference"]
    if not rows:
        return []
    figure = f"../{curve_path.with_suffix('.png').as_posix()}"
    out = ["## What more training buys (V)", "", f"![realism against training steps]({figure})", "",
           f"The base generator's EMA weights along its training run, each sampled once per V image ({c['n']}) with "
           f"that image's findings ({c['sampling']}), FID against V in the judge's and the random CNN's features. "
           f"Floors on V (as many G images against V): judge {ref['judge']['real floor (G vs V)']:.1f}, random CNN "
           f"{ref['random_cnn']['real floor (G vs V)']:.2f}; blurred real: judge {ref['judge']['blurred real']:.1f}, "
           f"random CNN {ref['random_cnn']['blurred real']:.2f}.", "",
           "| step | FID judge | FID random CNN | noise-dominated |", "|---|---|---|---|"]
    out += [f"| {r['step']:,} | {r['fid_judge']:.1f} | {r['fid_random_cnn']:.2f} | {pct(r['noise_dominated'])} |"
            for r in rows]
    out.append("")
    per_doubling = flattened_gain(fit)
    if per_doubling is not None and doublings(fit["steps"]) >= 2:
        out += [f"Fitted over steps {', '.join(f'{x:,}' for x in fit['steps'])}: the judge-feature FID's excess over "
                f"the floor shrinks as step^-{fit['b']:.2f}, {100 * per_doubling:.1f}% per doubling of training, "
                "inside the step-to-step spread: **the curve has flattened** over two doublings or more, and no "
                "compute budget closes the gap at this rate (the projection passes 10^6 steps).", ""]
    elif per_doubling is not None:
        out += [f"Fitted over steps {', '.join(f'{x:,}' for x in fit['steps'])}: the judge-feature FID's excess over "
                f"the floor shrinks as step^-{fit['b']:.2f}, {100 * per_doubling:.1f}% per doubling, inside the "
                f"step-to-step spread. Those steps span {doublings(fit['steps']):.1f} doublings, fewer than the two a "
                "'more training does not help' call needs, sampled at the curve's guidance rather than the served "
                "one: **this does not show the base has stopped improving**. The base comparison below (same V "
                "images, served settings) reads the run that went on from step 3,400 without augmentation.", ""]
    elif fit.get("steps_to_target"):
        a = fit["anchor"]
        out += [f"Fitted over steps {', '.join(f'{x:,}' for x in fit['steps'])}: the judge-feature FID's excess over "
                f"the floor shrinks as step^-{fit['b']:.2f}. V's {c['n']} images inflate its floor (small-sample "
                f"bias), so V's ratio is not the card's; anchored on the card (ratio {a['ratio']:.2f} on T at step "
                f"{a['step']:,}) and shrinking at the fitted rate, the 64-px ratio would reach the bar of "
                f"{c['target_ratio']} at about **{fit['steps_to_target']:,.0f} steps**, about "
                f"**{fit['cpu_hours_to_target']:,.0f} CPU-hours** at {fit['seconds_per_step']} s per step on 2 cores "
                f"(a GPU worker would divide that by its speed-up, not measured here). An extrapolation from"
                f" {len(fit['steps'])} points over a short range: read it as an order of magnitude.", ""]
    elif fit:
        out += [f"Fit: {fit.get('note', 'too few points')}.", ""]
    return out


def sampler_section(sweep_path: Path) -> list[str]:
    """Samplers of the base generator on V (`scripts/sampler_sweep.py`), and which the rule keeps."""
    if not sweep_path.exists():
        return []
    sweep = json.loads(sweep_path.read_text())
    rows, ref = sweep["configs"], sweep["reference"]
    kept = min(rows, key=lambda r: r["fid_judge"])
    figures = "realism/V/samplers"
    out = ["## Samplers (V)", "", f"![FID against sampling time]({figures}/sweep.png)", "",
           f"Each sampler made one 64-px image per V image ({sweep['n']}) with its findings ({sweep['sampling']}), "
           "timed on 2 cores in batches of 32. Blurred real scores "
           f"{ref['judge']['blurred real']:.1f} (judge) and {ref['random_cnn']['blurred real']:.2f} (random CNN).", "",
           "| sampler | steps | s per image | FID judge | FID random CNN | below blur (random CNN) | noise-dominated |",
           "|---|---|---|---|---|---|---|"]
    out += [f"| {r['sampler']} | {r['steps']} | {r['seconds_per_image']:.2f} | {r['fid_judge']:.1f} | "
            f"{r['fid_random_cnn']:.2f} | {below_blur(r, ref)} | {pct(r['noise_dominated'])} |" for r in rows]
    if sweep.get("note"):
        out += ["", f"Note: {sweep['note']}"]
    out += ["", "By the card's rule (realism in the judge's features first) "
            f"**{kept['sampler']} {kept['steps']} steps** stays the default. More steps and stochastic "
            "samplers trade the two feature spaces against each other: they put back fine texture, which the "
            "random CNN (weighing texture) rewards, while the judge's features move further from real. A user "
            "who wants texture over anatomy can ask for "
            "them per request (`sampler`, `steps`), at the cost shown.", "",
            f"![the same findings and seeds per sampler]({figures}/samples.png)", ""]
    return out


def conditioning_section(sweep_path: Path, default_aug_step: int | None, change: dict | None = None) -> list[str]:
    """The super-resolution stage's noise-conditioning step on V (`scripts/superres_sweep.py`)."""
    if not sweep_path.exists():
        return []
    sweep = json.loads(sweep_path.read_text())
    ref = sweep["reference"]
    rows = sorted(sweep["rows"], key=lambda r: -1 if r["aug_step"] is None else r["aug_step"])
    figures = "realism/V/superres"
    out = ["## Super-resolution conditioning (V)", "", f"![FID against the conditioning step]({figures}/sweep.png)",
           "", f"The super-resolution stage trained with its 64-px input noised by a forward-diffusion step s drawn "
           "from 0-250 (noise-conditioning augmentation); at sampling time s says how far to trust the base image. "
           f"The same {sweep['n']} base images (one per V image stored at 256 px, with its findings; "
           f"{sweep['base']}) were super-resolved at each s ({sweep['superres_steps']} steps, same seeds) and scored "
           f"at 256 px against those V images. Floor (as many G images): judge "
           f"{ref['judge']['real floor (G vs V)']:.1f}, random CNN {ref['random_cnn']['real floor (G vs V)']:.2f}; "
           f"blurred real: judge {ref['judge']['blurred real']:.1f}, random CNN "
           f"{ref['random_cnn']['blurred real']:.2f}.", "",
           "| super-resolution | s per image | FID judge | FID random CNN | below blur (random CNN) "
           "| noise-dominated |",
           "|---|---|---|---|---|---|"]
    for r in rows:
        name = r["name"] + (" (default)" if r["aug_step"] is not None and r["aug_step"] == default_aug_step else "")
        out.append(f"| {name} | {r['seconds_per_image']:.1f} | {r['fid_judge']:.1f} | {r['fid_random_cnn']:.2f} | "
                   f"{below_blur(r, ref)} | {pct(r['noise_dominated'])} |")
    sr_rows = [r for r in rows if r["aug_step"] is not None]
    best = min(sr_rows, key=lambda r: r["fid_judge"])
    bicubic = next((r for r in rows if r["aug_step"] is None), None)
    out += ["", f"By the card's rule (realism in the judge's features first) the default is **s = {best['aug_step']}**"
            + ("" if default_aug_step == best["aug_step"] else f" (the bundled generator has s = {default_aug_step})")
            + ". The judge reads a 64-px version, so it sees what super-resolution does to the large shapes; the "
            "random CNN reads 256 px and weighs the fine texture."]
    if sweep.get("note"):
        out += ["", sweep["note"]]
    if bicubic is not None:
        out += ["", f"Bicubic upsampling of the same base images scores {bicubic['fid_judge']:.1f} (judge) and "
                f"{bicubic['fid_random_cnn']:.2f} (random CNN): on the base generator's blurry images the stage adds "
                "little that either network counts as realistic, while on real 64-px images it restores most of the "
                "detail (the section on the stage alone, below). The base generator is the limit."]
    if change:
        b, a = change["before"], change["after"]
        out += ["", f"On T, {change['what']}: FID at 256 px in the judge's features {b['fid_judge']:.1f} -> "
                f"{a['fid_judge']:.1f}, in the random CNN's {b['fid_random_cnn']:.2f} -> {a['fid_random_cnn']:.2f}; "
                f"precision {b['precision']:.2f} -> {a['precision']:.2f}, recall {b['recall']:.2f} -> "
                f"{a['recall']:.2f} (judge's features)."]
    out += ["", f"![the same base images per conditioning step]({figures}/samples.png)", ""]
    return out


def start_section(sweep_path: Path, full_path: Path, default_aug_step: int | None) -> list[str]:
    """Starting the super-resolution stage part-way (`superres_sweep.py --starts`) beside the default from noise."""
    if not sweep_path.exists():
        return []
    sweep = json.loads(sweep_path.read_text())
    rows = [r for r in sweep["rows"] if r["aug_step"] is not None]
    full = json.loads(full_path.read_text()) if full_path.exists() else None
    default = next((r for r in full["rows"] if r["aug_step"] == default_aug_step), None) if full else None
    ref = sweep["reference"]
    out = ["## Starting super-resolution part-way (V)", "",
           "![part-way starts beside the default](realism/V/superres_start/sweep.png)", "",
           f"`superres_start` < 1 begins the stage from the upsampled base image noised to that share of the "
           f"schedule (its large shapes are already known) and spreads its steps over the rest. The same "
           f"{sweep['n']} base images as above ({sweep['base']}), super-resolved at s = {default_aug_step}, scored at "
           f"256 px against V. Blurred real: judge {ref['judge']['blurred real']:.1f}, random CNN "
           f"{ref['random_cnn']['blurred real']:.2f}.", "",
           "| super-resolution | steps | s per image | FID judge | FID random CNN | noise-dominated |",
           "|---|---|---|---|---|---|"]
    if default is not None:
        out.append(f"| from pure noise (default) | {full['superres_steps']} | {default['seconds_per_image']:.1f} | "
                   f"{default['fid_judge']:.1f} | {default['fid_random_cnn']:.2f} | "
                   f"{pct(default['noise_dominated'])} |")
    out += [f"| start {r['start']:g} | {sweep['superres_steps']} | {r['seconds_per_image']:.1f} | "
            f"{r['fid_judge']:.1f} | {r['fid_random_cnn']:.2f} | {pct(r['noise_dominated'])} |" for r in rows]
    out += ["", "On these CFG-2 base images, by the card's rule (judge's features first), the stage stayed from pure "
            "noise; the next section re-chose it at the present guidance. Any start can be asked per request "
            "(`POST /generate?finding=consolidation&superres_start=0.5`, `radsynth generate --superres-start 0.5`).",
            "", "![the same base images per start](realism/V/superres_start/samples.png)", ""]
    return out


def sr_manner(block: dict) -> str:
    """How the card's 256-px images were super-resolved beyond steps and s (start, coarse content)."""
    start = block.get("superres_start", 1.0)
    where = " from pure noise" if start >= 1 else f", starting from the base image noised to {start:g} of the schedule"
    keep = block.get("superres_keep_low", 0)
    factor = block.get("superres_keep_low_factor", 4) if keep is True else keep  # older cards: a flag
    return where + (f", keeping the base image's content at 1/{factor} of the side" if factor else "")


CFG20_INTRO = ("The guidance moved to CFG 20 after the sections above were measured, so the stage's default was "
               "chosen again on base images drawn at it")
NEW_BASE_INTRO = ("The base changed (the no-augmentation base at step 4,500, CFG 14, guidance at t/T 0-0.8) after "
                  "the section above was measured, so the second stage was chosen again on its images, the one-pass "
                  "detail network (`bundles/detail-nih256-G`) among the candidates")

TRAINED_ON_INTRO = ("The base changed again (the same run trained on to step 5,250, chosen on V at CFG 14 in \"Base "
                    "training steps compared\"), so the one-pass candidates were scored again on its images; the "
                    "diffusion stage's rows were not redrawn, since its default job (16.9 s) is outside the 8-s budget "
                    "whatever its FID")


LATER_BASE_INTRO = ("The base changed again (the same run trained on to step {step}, chosen on V at CFG 14 in \"Base "
                    "training steps compared\", with its guidance interval chosen again on its images), so the "
                    "one-pass candidates were scored again on its images")


def later_base_sections(v_root: Path, changes: dict[str, dict]) -> list[str]:
    """The second stage chosen again on each base snapshot served after step 5,250 (folders superres_base<step>),
    with that change of base read on T (`changes`: the T card's base_changes, by step)."""
    out = []
    folders = [(int(f.name.removeprefix("superres_base")), f) for f in v_root.glob("superres_base*")
               if f.name.removeprefix("superres_base").isdigit()]
    for step, folder in sorted(folders):
        if step > 5250:  # step 5,250's section has its own introduction
            out += superres_choice_section(folder, changes.get(str(step), {}).get("256"),
                                           intro=LATER_BASE_INTRO.format(step=f"{step:,}"),
                                           title=f"Second stage on the base at step {step:,} (V)")
    return out


def superres_choice_section(folder: Path, change: dict | None = None, *, intro: str = CFG20_INTRO,
                            title: str = "Super-resolution at the chosen guidance (V)") -> list[str]:
    """The second stage's default re-chosen on V at the present base and guidance (`scripts/superres_choice.py`)."""
    if not (folder / "choice.json").exists():
        return []
    sweep, choice = (json.loads((folder / name).read_text()) for name in ("sweep.json", "choice.json"))
    more = [folder / "first_run.json", folder.with_name(f"{folder.name}_keep") / "sweep.json"]
    extra = [r for f in more if f.exists() for r in json.loads(f.read_text())["rows"]]
    names = {r["name"] for r in sweep["rows"]}
    rows = sweep["rows"] + [r for r in extra if r["name"] not in names]
    timed = {c["name"]: c["job_seconds"] for c in choice["candidates"]}
    ref, chosen = sweep["reference"], choice["chosen"]
    second = "second_cnn" in ref
    rel = f"realism/V/{folder.name}"
    space_names = {"judge": "judge", "random_cnn": "random CNN", "second_cnn": "second CNN"}
    floors = "; ".join(f"{label}: " + ", ".join(
        f"{space_names[space]} {ref[space][key]:.{1 if space == 'judge' else 2}f}" for space in ref)
        for label, key in (("Floor", "real floor (G vs V)"), ("blurred real", "blurred real")))
    out = [f"## {title}", "", f"![settings on V]({rel}/sweep.png)", "",
           f"{intro} ({sweep['base']}; {sweep['n']} V images stored at 256 px, scored there). \"Base's coarse "
           "content\" puts the base image back at 64 px after the stage (`keep_base_low_frequencies`: the output "
           "minus its own 4x4 average plus the base image, upsampled; the low-frequency consistency of SR3 and ILVR, "
           f"applied once): the stage then adds only the detail finer than a base pixel. {floors}.", "",
           "| second stage | steps | s per image (sweep) | default job, s | FID judge | FID random CNN | "
           + ("FID second CNN | " if second else "") + "noise-dominated |",
           "|---|---|---|---|---|---|" + ("---|" if second else "") + "---|"]
    for r in rows:
        job = timed.get(r["name"])
        mark = "**" if r["name"] == chosen["name"] else ""
        steps = "one pass" if r.get("stage") == "detail" else r.get("steps", "-") if r["aug_step"] is not None \
            else "-"
        out.append(f"| {mark}{r['name']}{mark} | {steps} | {r['seconds_per_image']:.2f} | "
                   f"{'-' if job is None else f'{job:.1f}'} | {r['fid_judge']:.1f} | {r['fid_random_cnn']:.2f} | "
                   + (f"{r['fid_second_cnn']:.2f} | " if second else "") + f"{pct(r['noise_dominated'])} |")
    out += ["", f"Rule: {choice['rule']} (budget {choice['budget_s']:g} s; job times from "
            f"`{choice['bench_command']}`). Chosen: **{chosen['name']}**. `scripts/superres_choice.py` applies it.",
            "", f"![the same base images per setting]({rel}/samples.png)", ""]
    if choice.get("look"):
        out += [f"Looked at (a note written by hand): {choice['look']}", ""]
    if more[1].exists():
        out += [f"![the base image's coarse content kept at several sizes]({rel}_keep/samples.png)", ""]
    return out + t_change(change)


def t_change(change: dict | None) -> list[str]:
    """A default's change read on T (a card's `previous_*` entry: what changed, figures before and after)."""
    if not change:
        return []
    return [f"On T, {change['what']}: " + "; ".join(
        f"{name} {change['before'][name]:.2f} -> {change['after'][name]:.2f}" for name in change["after"]) + ".", ""]


def runs_on_base(runs: list[tuple[str, dict]], weights: dict[str, str]) -> list[tuple[str, dict]]:
    """The V runs drawn with the base weights of `weights` (the 64-px stage: the second stage's files are left out)."""
    def base(w: dict[str, str]) -> dict[str, str]:
        return {k: v for k, v in w.items() if "/superres/" not in k}

    return [(name, run) for name, run in runs if base(run.get("weights_sha256", {})) == base(weights) != {}]


def guidance_interval_section(v_root: Path, t: dict) -> list[str]:
    """Classifier-free guidance limited to an interval of the schedule: every V run of
    `realism_card.py --cfg-intervals` (folders V/guidance_interval*) at the served scale, pooled and chosen by
    the card's rule; `t` is the T card (its setting is the served one)."""
    from models.evaluation.realism_measures import choose_setting

    chosen_t = t["chosen"]
    every_run = [(p.parent.name, json.loads(p.read_text()))
                 for p in sorted(v_root.glob("guidance_interval*/choice.json"))]
    if not every_run:
        return []
    runs = runs_on_base(every_run, t.get("weights_sha256", {})) or every_run[-1:]
    earlier = [f"- `{name}` (other base weights): chosen there "
               f"{interval_name(choose_setting(run['settings'])).removeprefix('t/T ')}"
               for name, run in every_run if name not in {n for n, _ in runs}]
    rows = [r for _, run in runs for r in run["settings"] if r["cfg"] == chosen_t["cfg"]]
    if not rows:  # the runs were measured at a scale the T card has not been read at yet
        scale = runs[0][1]["settings"][0]["cfg"]
        rows, chosen_t = [r for _, run in runs for r in run["settings"] if r["cfg"] == scale], {"cfg": scale}
    chosen = choose_setting(rows)
    every = next((r for r in rows if not r.get("cfg_interval")), None)
    real = runs[0][1]["real_label_agreement"]["mean_auroc"]
    out = ["## Guidance in an interval of the schedule (V)", "",
           "Classifier-free guidance applied only at steps with lo <= t/T <= hi, the plain conditional prediction "
           "elsewhere (Kynkaanniemi et al. 2024: guidance at the noisiest steps drives samples to a few "
           "over-drawn modes; a lower end above 0 leaves the last, least noisy steps unguided, where a large scale "
           "turns the small difference between the two predictions into pixel grain). "
           f"CFG {chosen_t['cfg']:g}, one image per V image and 12 per finding, as in the choice "
           f"above, the same seeds in every run; the judge's agreement on the real V images: {real:.3f}."
           + ("" if "real_roughness" not in rows[0] else
              " Redrawn: the share of requests the noise check had to redraw (too rough, featureless or washed "
              "out); roughness: the mean neighbour difference of the delivered images (real V "
              f"{rows[0]['real_roughness']:.4f}; '-': not recorded in that run)."), "",
           "| guided at t/T | FID judge | FID random CNN | FID second CNN | label agreement | minus real | redrawn "
           "| roughness |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        mark = "**" if r == chosen else ""
        raw = (f"{pct(r['redrawn_share'])} | {r['roughness']:.4f}" if "redrawn_share" in r else "- | -")
        out.append(f"| {mark}{interval_name(r).removeprefix('t/T ')}{mark} | {r['fid_judge']:.1f} | "
                   f"{r['fid_random_cnn']:.2f} | {r.get('fid_second_cnn', float('nan')):.2f} | {r['agreement']:.3f} | "
                   f"{r['agreement_gap']:+.3f} | {raw} |")
    served = chosen.get("cfg_interval") == chosen_t.get("cfg_interval")
    reading = f"The choice rule (above), over these {len(rows)} settings, takes {interval_name(chosen)}"
    if every is not None and every is not chosen:
        reading += (f": judge FID {chosen['fid_judge']:.1f} against {every['fid_judge']:.1f} at every step, random "
                    f"CNN {chosen['fid_random_cnn']:.2f} against {every['fid_random_cnn']:.2f}, label agreement "
                    f"{chosen['agreement']:.3f} against {every['agreement']:.3f} (minus real "
                    f"{chosen['agreement_gap']:+.3f} against {every['agreement_gap']:+.3f})")
    reading += (". It is the served default (`default_guidance_interval` in the model's radsynth.json; a request "
                "can ask another with `guidance_interval=lo:hi`), and the T card above was read at it."
                if served else ". It is not served yet: the T card has not been read at it.")
    out += ["", reading + " Judge-FID differences of a point or two are inside the step-to-step spread of the "
            "curve above; the random-CNN FID and the agreement move more.", ""]
    other = [r for _, run in runs for r in run["settings"] if r["cfg"] != chosen_t["cfg"]]
    if other:
        out += ["Other scales drawn with the same weights and requests (outside the choice above, which is made at "
                "the scale the base comparison chose):", *[
                    f"- CFG {r['cfg']:g} at {interval_name(r)}: judge FID {r['fid_judge']:.1f}, random CNN "
                    f"{r['fid_random_cnn']:.2f}, second CNN {r['fid_second_cnn']:.2f}, agreement minus real "
                    f"{r['agreement_gap']:+.3f}" for r in other], ""]
    if earlier:
        out += [f"The table pools the runs on the base weights the T card measured ({', '.join(n for n, _ in runs)})"
                "; earlier bases had their own runs:", *earlier, ""]
    out += [f"![the same V requests per setting ({name})](realism/V/{name}/settings.png)" for name, _ in runs] + [""]
    return out + t_change(t.get("previous_interval"))


def noise_check_section(path: Path) -> list[str]:
    """The generator's noise check, fitted on G and measured on V (`scripts/fit_noise_check.py`)."""
    if not path.exists():
        return []
    r = json.loads(path.read_text())
    c = r["noise_check"]
    return ["## Noise check (V)", "",
            f"Every base image rougher than {c['roughness_limit']:.4f} (mean neighbour difference at {c['size']} px: "
            f"the {c['quantile']:g} quantile of the {c['images']} G images, fixed before any measurement, so a real "
            f"radiograph would be redrawn 1 time in {round(1 / (1 - c['quantile']))}) is drawn again on a new seed, "
            f"up to {c['max_attempts']} times, before super-resolution; an image that fails every attempt is "
            "delivered as the least failing of its candidates; the reported seed is the delivered image's. "
            f"On V ({r['n']} images, one per V image with its findings, CFG {r['sampling']['guidance']:g}):", "",
            "| | noise-dominated (rougher than the roughest real V image) | above the check's limit |",
            "|---|---|---|",
            f"| raw network | {pct(r['raw']['noise_dominated'])} | {r['raw']['above_limit']} |",
            f"| delivered (after the check) | {pct(r['delivered']['noise_dominated'])} | "
            f"{r['delivered']['above_limit']} |", "",
            f"It redrew {r['redrawn']} of {r['n']} images ({pct(r['redrawn_share'])}; real V images it would redraw: "
            f"{pct(r['real_V_redrawn_share'])}); the redraws took {r['seconds']['redraws']:.0f} s against "
            f"{r['seconds']['raw_batch_per_image']:.1f} s per image for the batch. The check hides the network's "
            "failures from users, it does not remove them: the raw share is on the targets table too.", "",
            "![raw (left) and redrawn (right), one V request per row](realism/V/noise_check/redrawn.png)", "",
            *structure_floor_lines(r)]


def fid_cell(row: dict, space: str) -> str:
    """'FID [lo, hi]' of one row in one feature space."""
    d = row[f"fid_{space}"]
    lo, hi = d["interval95"]
    return f"{d['fid']:.2f} [{max(0.0, lo):.2f}, {hi:.2f}]"  # a distance is never below 0


def detail_stage_section(path: Path) -> list[str]:
    """The detail stages compared on V (`scripts/detail_stage_check.py`): the served diffusion stage, the one-pass
    detail network and bicubic, on real images shrunk to 64 px and on the base generator's own images."""
    if not path.exists():
        return []
    c = json.loads(path.read_text())
    head = ["| | FID random CNN [95% CI] | FID second CNN [95% CI] | high-frequency power (log10, real 0) | PSNR | "
            "s per image |", "|---|---|---|---|---|---|"]

    def rows(block: dict) -> list[str]:
        return [f"| {name} | {fid_cell(r, 'random_cnn')} | {fid_cell(r, 'second_cnn')} | "
                f"{r['high_frequency_power_log10']:+.3f} | "
                f"{'-' if 'psnr_db' not in r else format(r['psnr_db'], '.1f') + ' dB'} | "
                f"{'-' if 'seconds_per_image' not in r else format(r['seconds_per_image'], '.2f')} |"
                for name, r in block.items()]

    wash = c["washed_out_share"]
    return ["## Detail stages compared (V)", "",
            f"{c['n_real']} real {c['split']} radiographs at 256 px against: the references ({c['n_floor']} other "
            "real images, of split G; the same blurred; the same shrunk to 64 px and brought back by bicubic), "
            "each stage on the real images shrunk to 64 px, and each stage on the base generator's own 64-px "
            "images for the same findings. The detail network trained on split G's 256-px images only.", "",
            *head, *rows(c["references"]), "", "Each stage on real images shrunk to 64 px:", "", *head,
            *rows(c["stage_alone_on_real"]), "", "Each stage on the base generator's images:", "", *head,
            *rows(c["on_base_images"]), "",
            f"Washed out (lung contrast below the 5th percentile of the real {c['split']} images): base images "
            f"{pct(wash['base images'])}, real G images {pct(wash['real floor (G)'])}.", "",
            f"![real and each stage on the base images](realism/{c['split']}/detail/side_by_side.png)", "",
            *([f"Looked at (a note written by hand): {c['look']}", ""] if c.get("look") else [])]


def base_choice_section(path: Path, title: str = "Base generators compared (V)", change: dict | None = None
                        ) -> list[str]:
    """Base generators (or one base's guidance settings) compared on V at the served settings
    (`scripts/compare_bases.py`), with the choice."""
    if not path.exists():
        return []
    c = json.loads(path.read_text())
    chosen = c["chosen"]
    floors = "; blurred real: ".join(", ".join(f"{SPACE_NAMES[k]} {v:.2f}" for k, v in c["references"][name].items())
                                     for name in ("real floor", "blurred real"))

    def cell(r: dict, space: str) -> str:
        lo, hi = r["fid_intervals"][space]
        return f"{r[f'fid_{space}']:.2f} [{max(0.0, lo):.2f}, {hi:.2f}]"

    lines = [f"## {title}", "",
             "Each base sampled at the served settings (guidance at the interval in the row, the noise check's "
             f"redraws) and the scale in the row, one image per V image with its findings ({c['n_real']}) and "
             f"{c['n_per_finding']} "
             "per finding for label agreement, the same seeds for every row. FID against the V images with 95% "
             f"bootstrap intervals; the floor (as many G images): {floors}. Rule: {c['rule']}.", "",
             "| base | CFG (guided at t/T) | guidance rescale | FID judge | FID random CNN | FID second CNN | "
             "agreement minus real | washed out (real) | featureless (real) | high-frequency power | s per image |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in c["settings"]:
        mark = "**" if r == chosen else ""
        lines.append(f"| {mark}{r['base']}{mark} | {r['cfg']:g} ({interval_name(r).removeprefix('t/T ')}) | "
                     f"{r.get('guidance_rescale', 0):g} | "
                     f"{cell(r, 'judge')} | {cell(r, 'random_cnn')} | {cell(r, 'second_cnn')} | "
                     f"{r['agreement_gap']:+.3f} | "
                     f"{pct(r['washed_out'])} ({pct(r['real_washed_out'])}) | {pct(r['featureless'])} "
                     f"({pct(r['real_featureless'])}) | {r['high_frequency_power_log10']:+.2f} | "
                     f"{r['seconds_per_image']:.1f} |")
    lines += ["", f"Chosen: **{chosen['base']}** at CFG {chosen['cfg']:g} ({interval_name(chosen)}), guidance "
              "rescale "
              f"{chosen.get('guidance_rescale', 0):g}.", "",
              f"![the same V requests per base and setting](realism/V/{path.parent.name}/{c['figure']})", ""]
    return lines + [line for k in ("note", "look") if c.get(k)
                    for line in (c[k] if k == "note" else f"Looked at (a note written by hand): {c[k]}", "")
                    ] + t_change(change)


def structure_floor_lines(r: dict) -> list[str]:
    """The check's structure floor (featureless grey fields), when the report has one."""
    floor = r.get("noise_check", {}).get("structure_limit")
    if floor is None or "featureless" not in r.get("raw", {}):
        return []
    c = r["noise_check"]
    return [f"The same check redraws featureless images: band-pass energy (difference of Gaussians at 1 and 4 px, at "
            f"{c['size']} px) below {floor:.4f}, the {1 - c['quantile']:.2f} quantile of the G images. On V: raw "
            f"{r['raw']['featureless']} of {r['n']} featureless, delivered {r['delivered']['featureless']}; real V "
            f"images below the floor: {pct(r['real_V_featureless_share'])}.", "", *contrast_floor_lines(r),
            *attempts_lines(r)]


def contrast_floor_lines(r: dict) -> list[str]:
    """The check's contrast floor (washed-out hazes), when the report has one."""
    floor = r.get("noise_check", {}).get("contrast_limit")
    if floor is None or "washed_out" not in r.get("raw", {}):
        return []
    c = r["noise_check"]
    return [f"And washed-out ones: chest contrast (the 90th minus the 10th percentile of the grey values over the "
            f"central region, at {c['size']} px) below {floor:.4f}, the {1 - c['quantile']:.2f} quantile of the G "
            f"images. On V: raw {r['raw']['washed_out']} of {r['n']} below it, delivered "
            f"{r['delivered']['washed_out']}; real V images below it: {pct(r['real_V_washed_out_share'])}. The card's "
            "washed-out share uses a higher bar (real's 5th percentile), so it still counts the hazier images the "
            "check lets through.", ""]


def attempts_lines(r: dict) -> list[str]:
    """How many redraws the check allows, as chosen on V (when the report compares them)."""
    rows = r.get("attempts_compared")
    if not rows:
        return []
    before = ("" if "attempts_compared_with" not in r or r["attempts_compared_with"] == r["noise_check"]
              else ", measured with the check's earlier limits")
    return [f"How many redraws, chosen on V (the same 144 requests; only the failing images are redrawn{before}):", "",
            "| redraws allowed | an image failing all of them is delivered as | delivered featureless | "
            "redraws took |", "|---|---|---|---|",
            *[f"| {x['max_attempts']} | {x['delivered_as']} | {x['delivered_featureless']} of {r['n']} | "
              f"{x['redraw_seconds']:.0f} s |" for x in rows], ""]


def second_stage(block: dict, default_aug_step: int | None) -> dict[str, str]:
    """How the card names the 256-px stage it measured (the T card's 256-px block), in its title, its table of
    training splits, the judge's independence and the sampling line."""
    if block.get("detail_stage"):
        return {"title": "one-pass 64->256 detail network",
                "judge": "The detail network learned from the 256-px images of G only (no labels), so the judge has "
                         "seen none of the patients of any stage.",
                "row": "| one-pass detail network | G (256 px, no labels) |",
                "sampling": "the 256-px image from the one-pass detail network" + (
                    f", keeping the base image's content at 1/{block['superres_keep_low']} of the side"
                    if block.get("superres_keep_low") else "")}
    return {"title": "64->256 super-resolution",
            "judge": "The super-resolution stage learned its detail from the 256-px images of G and J (no labels), "
                     "so at 256 px the judge has seen the patients that taught the detail stage.",
            "row": "| super-resolution stage | G and J (256 px, no labels) |",
            "sampling": f"super-resolution {block.get('superres_steps', '-')} steps at noise-conditioning step "
                        f"s = {default_aug_step}{sr_manner(block)}"}


def render(root: Path) -> str:
    t = json.loads((root / "T" / "card.json").read_text())
    checks = superres_checks(root)
    default_aug_step = t.get("256", {}).get("superres_aug_step")  # as measured; a test holds it to the model
    v = next((json.loads(f.read_text()) for f in (root / "V" / "choice.json", root / "V" / "card.json")
              if f.exists()), None)
    stage = second_stage(t.get("256", {}), default_aug_step)
    out = [f"# Realism card: the bundled `nih-cxr14` generator (64-px base + {stage['title']})", "",
           "Generated by `scripts/realism_card.py` and rendered by `scripts/render_realism_card.py`; every figure is "
           f"on split **T** ({t['64']['n_real']} real images of patients no model trained on), every choice was made "
           "on split V. The judge is a classifier ensemble trained on split J only "
           f"(`{t['judge']}`): it never trained on or guided the base generator's patients (split G). "
           f"{stage['judge']} The random CNNs trained on nothing.", "",
           "| network | trained on |", "|---|---|",
           "| base generator and its classifier guide | G |", stage["row"],
           f"| judge (`{t['judge']}`) | J |", "| random-CNN feature spaces | nothing (fixed seeds) |", "",
           "`docs/splits.md` has the counts per split and the rule for defaults.", "",
           f"Sampling: DPM-Solver++ 15 steps, classifier-free guidance {t['chosen']['cfg']} at "
           f"{interval_name(t['chosen'])}, classifier guidance "
           f"{t['chosen']['classifier_scale']}; {stage['sampling']}.",
           "", "## Targets (T)", "", *targets(t, [c for c, _ in checks], bench_result(root)), "",
           *missed_section(t, Path("bundles/nih-base64-G/curve.json"), default_check(checks, default_aug_step, t),
                           root / "V"),
           *reading(t), "",
           *curve_section(Path("bundles/nih-base64-G/curve.json")),
           *sampler_section(root / "V" / "samplers" / "sweep.json"),
           *conditioning_section(root / "V" / "superres" / "sweep.json", default_aug_step, t.get("previous_256")),
           *start_section(root / "V" / "superres_start" / "sweep.json", root / "V" / "superres" / "sweep.json",
                          default_aug_step),
           *superres_choice_section(root / "V" / "superres_cfg20", t.get("previous_superres")),
           *superres_choice_section(root / "V" / "superres_cfg14", t.get("previous_second_stage"),
                                    intro=NEW_BASE_INTRO, title="Second stage on the new base (V)"),
           *superres_choice_section(root / "V" / "superres_base5250", t.get("previous_base"),
                                    intro=TRAINED_ON_INTRO, title="Second stage on the base trained on (V)"),
           *later_base_sections(root / "V", t.get("base_changes", {}))]
    out += v_choice_section(root, v, t)
    out += guidance_interval_section(root / "V", t)
    out += noise_check_section(root / "V" / "noise_check" / "report.json")
    out += detail_stage_section(root / "V" / "detail" / "check.json")
    out += base_choice_section(root / "V" / "base_choice" / "choice.json")
    latest = max(t.get("base_changes", {}).items(), key=lambda kv: int(kv[0]), default=(None, {}))[1]
    out += base_choice_section(root / "V" / "base_steps" / "choice.json", "Base training steps compared (V)",
                               latest.get("64", t.get("previous_base_64")))
    out += base_choice_section(root / "V" / "guidance_rescale" / "choice.json", "Guidance rescale (V)")
    out += cost_section(root.parent.parent / "bench" / "results" / "default_job.json")
    out += [line for size in ("64", "256") if size in t for line in size_section(t, size)]
    if checks:
        out += superres_section(checks, default_aug_step, t.get("256", {}))
    mem = t["memorisation"]
    out += ["## Memorisation against all of G", "", "![closest pairs](realism/T/memorisation_pairs.png)", "",
            f"{mem['flagged']} of {mem['n']} generated 64-px images fall under the copy threshold "
            f"({mem['threshold']:.4f}, half the 1st percentile of V-to-G distances) in the judge's features against "
            f"all {mem['train_images']} G images; closest distance {mem['closest_distance']:.4f}, median "
            f"{mem['median_distance']:.4f}. The service's QC redraws flagged images, so none is delivered.", "",
            "## Reproduce", "", "```bash", *REPRODUCE, "```", ""]
    return "\n".join(out)


def bench_result(root: Path) -> dict | None:
    """The default job's benchmark through the service (bench/results/default_job.json), if measured."""
    path = root.parent.parent / "bench" / "results" / "default_job.json"
    return json.loads(path.read_text()) if path.exists() else None


def v_choice_section(root: Path, v: dict | None, t: dict) -> list[str]:
    """The guidance choice on V, and the super-resolution step count chosen there."""
    out: list[str] = []
    if not v:
        return out
    out += ["## The choice on V", "", f"Rule: {v['rule']}.", "",
            "| CFG | classifier guidance | FID judge | label agreement | minus real |", "|---|---|---|---|---|"]
    out += [f"| {r['cfg']} | {r['classifier_scale']} | {r['fid_judge']:.2f} | {r['agreement']:.3f} | "
            f"{r['agreement_gap']:+.3f} |" for r in v["settings"]]
    out += ["", f"The judge's agreement on the real V images: {v['real_label_agreement']['mean_auroc']:.3f}."]
    out += ["", f"Chosen: CFG {v['chosen']['cfg']}, classifier guidance {v['chosen']['classifier_scale']} (the "
            "generator has no guide: its own conditioning carries the finding)." + (
                f" {v['note']}" if v.get("note") else ""), ""]
    if v.get("figure"):
        out += [f"![the same findings and seeds per setting](realism/V/{v['figure']})", ""]
    out += t_change(t.get("previous_cfg"))
    steps = root / "V" / "superres_steps.json"
    if steps.exists():
        sr = json.loads(steps.read_text())
        shares = ", ".join(f"{k} steps {pct(x['noise_dominated'])}" for k, x in sr["by_steps"].items())
        out += [f"Super-resolution steps: {sr['rule']}, on {sr['n_generated']} V images: noise-dominated "
                f"{shares}; chosen {sr['chosen']}.", ""]
    return out


def second_stage_words(result: dict) -> str:
    """A benchmarked job's second stage, in words."""
    if result.get("detail_stage"):
        return "the one-pass detail network"
    return (f"super-resolution {result['superres_steps']} steps from {result.get('superres_start') or 1.0:g} of "
            "its schedule")


def cost_section(bench: Path) -> list[str]:
    """The default job's time through the real service, and its variants side by side."""
    out: list[str] = []
    if not bench.exists():
        return out
    b = json.loads(bench.read_text())
    out += ["## Cost of the default job", "",
            f"`POST /generate?finding=consolidation` with every default ({b['result']['resolution']} px, 4 images, "
            f"base {b['result']['steps']} steps + {second_stage_words(b['result'])}, QC, "
            f"PNG + DICOM) on a warm worker with {b['threads']} CPU threads, end to end through the real API, "
            f"Redis and Celery worker: median **{b['median_s']:.1f} s** over {len(b['seconds'])} requests "
            f"(target <= 8 s: {'met' if b['median_s'] <= 8 else 'missed'}; the figure depends on the CPU, so "
            f"compare it only with runs on the same machine); worker pool process {b['pool_rss_mb']:.0f} MB "
            f"resident. `{b['command']}`", ""]
    variants = b.get("variants") or ({f"superres_start={b['superres_start']['start']:g}": b["superres_start"]}
                                     if "superres_start" in b else {})
    for name, part in variants.items():
        r = part["result"]
        if name.startswith("guidance_interval"):
            what = f"classifier-free guidance at {interval_name({'cfg_interval': r.get('guidance_interval')})}"
        else:
            what = second_stage_words(r)
        out += [f"The same request with `{name}` ({what}), interleaved with it: median **{part['median_s']:.1f} "
                f"s**, {part['ratio_to_default']:.2f} x the default.", ""]
    if b.get("note"):
        out += [b["note"], ""]
    return out


def size_section(t: dict, size: str) -> list[str]:
    """One resolution's figures: pictures, pixel health, FID, label agreement, diversity."""
    b = t[size]
    ph, pr = b["pixel_health"], b["precision_recall_judge"]
    where = "" if size == "64" else " stored at 256 px"
    out = [f"## {size} px", "",
            f"![real and generated at {size} px](realism/T/side_by_side_{size}.png)", "",
            f"{b['n_generated']} generated images (one per real T image{where}"
            f", with its findings) against {b['n_real']} real T images; the floor is {b['n_floor']} real G images.",
            "", f"- noise-dominated {pct(ph['noise_dominated'])} (rougher than the roughest real T image, measured "
            f"at {ph['measured_at_px']} px){noise_check_note(t, size)}; saturated {pct(ph['saturated'])} (real: "
            f"{pct(ph['real_saturated'])})",
            f"- precision {pr['precision']:.2f}, recall {pr['recall']:.2f} in the judge's features (k = {pr['k']})",
            "", *fid_table(b), "", "Label agreement (the judge separating images of a finding from \"No Finding\" "
            "images, AUROC):", "", *agreement_table(t, size), "",
            "MS-SSIM between random pairs (lower: more diverse): " + "; ".join(
                f"{k} {d['generated']:.2f}" + (f" (real {d['real']:.2f})" if d["real"] is not None else "")
                for k, d in b["diversity_ms_ssim"].items()), ""]
    if size == "256" and b.get("detail_stage"):
        out += [f"Detail network: {b['superres_seconds_per_image']:.2f} s per image (one pass) on 2 CPU cores.", ""]
    elif size == "256":
        out += [f"Super-resolution: {b['superres_seconds_per_image']:.1f} s per image at "
                f"{b['superres_steps']} steps on 2 CPU cores (batched by 4).", ""]
        out += t_change(t.get("previous_256_agreement"))
    return out


def card_text(root: Path = FOLDER) -> str:
    """docs/realism-card.md's text from the V and T cards in `root`."""
    return render(root)


def write(root: Path = FOLDER, out: Path = ROOT / "docs" / "realism-card.md") -> Path:
    """Write the card."""
    out.write_text(render(root))
    return out
