"""Assemble the service's default generator from the training bundles: the 64-px base and the 64->256
super-resolution stage in one model folder, with the QC memorisation index of the base's training images.

    python -m scripts.assemble_generator bundles/nih-base64-G bundles/nih-sr256-GJ \
        ../shared/data/nih-cxr14-64 ../shared/data/nih-cxr14-256 [--out models/pretrained/nih-cxr14]

The QC index covers split G (what the base learned from), its copy threshold calibrated on split V. Settings
chosen on V by scripts/realism_card.py and scripts/superres_sweep.py (--cfg, --sr-steps, --sr-aug-step,
--sr-start, --sr-keep-low) are recorded as the defaults, with a noise check fitted on the
G images (--noise-quantile, fixed before any measurement; scripts/fit_noise_check.py measures it on V).
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

SERVABLE = ("unet", "scheduler", "radsynth.json")


def copy_servable(src: Path, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for name in SERVABLE:
        if (src / name).is_dir():
            shutil.copytree(src / name, dest / name)
        else:
            shutil.copy2(src / name, dest / name)


SECOND_STAGE_SPLITS = {False: "splits G+J, no labels", True: "split G (256 px), no labels"}


def configured_superres(folder: Path, args: argparse.Namespace) -> dict:
    """The diffusion stage's radsynth.json with the defaults chosen on V written into it."""
    sr_info = json.loads((folder / "radsynth.json").read_text())
    if args.sr_steps:
        sr_info["default_steps"] = args.sr_steps
    if args.sr_aug_step is not None:
        sr_info["default_aug_step"] = args.sr_aug_step
    if args.sr_start is not None:
        sr_info["default_start"] = args.sr_start
    sr_info["keep_low"] = args.sr_keep_low
    sr_info.pop("keep_low_factor", None)
    (folder / "radsynth.json").write_text(json.dumps(sr_info, indent=2))
    return sr_info


def main() -> None:
    from models.catalog import BUNDLED_DIR, DEFAULT_CLASSIFIER, DEFAULT_GENERATOR
    from models.cli.generators import guidance_interval_arg
    from models.diffusion.detail_net import CONFIG as DETAIL_CONFIG
    from models.diffusion.detail_net import DetailStage
    from models.diffusion.superres import SUPERRES_FOLDER, stage_summary

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("base", help="the base generator's bundle (servable folder)")
    ap.add_argument("superres", help="the second stage: the super-resolution bundle, or a one-pass detail network "
                    "folder (e.g. bundles/detail-nih256-G/net)")
    ap.add_argument("data", nargs="+", help="the NIH folders the base trained on (split G)")
    ap.add_argument("--out", default=str(BUNDLED_DIR / DEFAULT_GENERATOR))
    ap.add_argument("--cfg", type=float, default=2.0, help="default classifier-free guidance (chosen on V)")
    ap.add_argument("--cfg-interval", type=guidance_interval_arg, default=None, metavar="LO:HI",
                    help="lo:hi, the share t/T of the schedule where classifier-free guidance applies (chosen on V)")
    ap.add_argument("--sr-steps", type=int, default=None, help="default super-resolution steps (chosen on V)")
    ap.add_argument("--sr-aug-step", type=int, default=None,
                    help="default noise-conditioning step of the super-resolution stage (chosen on V)")
    ap.add_argument("--sr-start", type=float, default=None,
                    help="default start of the super-resolution stage, a share of its schedule (chosen on V)")
    ap.add_argument("--sr-keep-low", type=int, default=0,
                    help="the super-resolution stage keeps the base image's coarse content seen at 1/N of the output's "
                         "side (0: off; chosen on V)")
    ap.add_argument("--noise-quantile", type=float, default=0.99,
                    help="the noise check redraws base images rougher than this quantile of the G images "
                         "(models/diffusion/noise_check.py; 0: no check)")
    ap.add_argument("--noise-attempts", type=int, default=6,
                    help="draws per image the noise check allows (chosen on V by scripts/fit_noise_check.py)")
    ap.add_argument("--choice", default=None, help="the V card whose choice these defaults are (recorded)")
    ap.add_argument("--superres-choice", default=None, metavar="FOLDER",
                    help="the V folder of scripts/superres_choice.py that chose the second stage on this base "
                         "(recorded as superres.chosen_in; the model-card test checks the served stage against it)")
    args = ap.parse_args()

    from models.data.nih import NIHRealismSplit
    from models.qc.context import write_index_of

    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    copy_servable(Path(args.base), out)
    if (Path(args.superres) / DETAIL_CONFIG).exists():
        shutil.copytree(args.superres, out / SUPERRES_FOLDER)
        meta = json.loads((out / SUPERRES_FOLDER / DETAIL_CONFIG).read_text()) | {"keep_low": args.sr_keep_low}
        (out / SUPERRES_FOLDER / DETAIL_CONFIG).write_text(json.dumps(meta, indent=2))
        sr_info = DetailStage.load(out / SUPERRES_FOLDER).info()
    else:
        copy_servable(Path(args.superres), out / SUPERRES_FOLDER)
        sr_info = configured_superres(out / SUPERRES_FOLDER, args)
    info = json.loads((out / "radsynth.json").read_text())
    base = int(info["resolution"])
    summary = stage_summary(sr_info) | {"trained_on": SECOND_STAGE_SPLITS[bool(sr_info.get("one_pass"))]}
    if args.superres_choice:
        summary["chosen_in"] = args.superres_choice
    info |= {"superres": summary,
             "resolutions": [base, base * int(sr_info["scale"])], "default_guidance": args.cfg,
             "default_classifier_scale": 0.0, "trained_on_splits": "G", "defaults_chosen_on": args.choice,
             "qc": {"classifier": DEFAULT_CLASSIFIER}}
    info.pop("fid_history", None)
    info.pop("noise_check", None)
    info.pop("default_guidance_interval", None)
    if args.cfg_interval:
        info["default_guidance_interval"] = list(args.cfg_interval)
    if args.noise_quantile:
        from models.diffusion.noise_check import fit_noise_check
        from models.diffusion.train import real_images

        g = NIHRealismSplit(args.data, {"G"}, base)
        info["noise_check"] = fit_noise_check(real_images(g, len(g)), quantile=args.noise_quantile,
                                              size=base, dataset="nih-cxr14 split G",
                                              max_attempts=args.noise_attempts).to_json()
    (out / "radsynth.json").write_text(json.dumps(info, indent=2, default=str))
    index = write_index_of(out, NIHRealismSplit(args.data, {"G"}, base), NIHRealismSplit(args.data, {"V"}, base))
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"{out}: base step {info.get('steps')}, super-resolution step {sr_info.get('steps')}, "
          f"QC index of {len(index.ids)} G images; {size / 2**20:.1f} MB")


if __name__ == "__main__":
    main()
