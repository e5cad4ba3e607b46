"""Copy a generator with its second stage replaced by a trained detail network (one pass instead of diffusion
super-resolution steps): for side-by-side checks and benchmarks, and to serve it once chosen on V.

    python -m scripts.attach_detail_stage models/pretrained/nih-cxr14 bundles/detail-nih256-G/net \
        /tmp/variants/nih-cxr14-detail
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from models.diffusion.detail_net import DetailStage
from models.diffusion.superres import SUPERRES_FOLDER, stage_summary


def attach(generator: Path, detail: Path, out: Path) -> Path:
    """`out`: `generator` with `detail` as its stage; radsynth.json says so (name, stage summary, provenance)."""
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(generator, out, ignore=shutil.ignore_patterns(SUPERRES_FOLDER))
    stage = DetailStage.load(detail)
    stage.save(out / SUPERRES_FOLDER)
    info = json.loads((out / "radsynth.json").read_text())
    info |= {"superres": stage_summary(stage.info()),
             "detail_stage_from": str(detail), "assembled_from": str(generator)}
    (out / "radsynth.json").write_text(json.dumps(info, indent=2, default=str))
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("generator", type=Path)
    ap.add_argument("detail", type=Path, help="a detail network folder (detail_net.json + weights)")
    ap.add_argument("out", type=Path)
    args = ap.parse_args()
    print("wrote", attach(args.generator, args.detail, args.out))
