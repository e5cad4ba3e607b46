"""Copy trained models into models/pretrained (the bundled defaults) and build the generator's QC index.

    python -m scripts.bundle_models [--generator runs/nih-cxr14-64/model] [--classifier runs/nih-classifier/model]
    python -m scripts.bundle_models --only-volumes [--volume-generator runs/adrenal3d/model]

Checks the size budget: each weights file under 16 MB, all bundled models under 40 MB.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from models.catalog import BUNDLED_DIR, DEFAULT_CLASSIFIER, DEFAULT_GENERATOR

ROOT = Path(__file__).resolve().parent.parent

MAX_FILE, MAX_TOTAL = 16 * 2**20, 40 * 2**20
VOLUME_GENERATOR = "adrenal3d"


def copy_model(src: Path, name: str) -> Path:
    target = BUNDLED_DIR / name
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(src, target, ignore=shutil.ignore_patterns("checkpoint.pt", "*.tmp"))
    return target


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--generator", default="runs/nih-cxr14-64/model")
    ap.add_argument("--classifier", default="runs/nih-classifier/model")
    ap.add_argument("--data", default=str(ROOT / "datasets" / "nih-cxr14-64"))
    ap.add_argument("--volume-generator", default="runs/adrenal3d/model", help="the 3D model bundled as adrenal3d")
    ap.add_argument("--only-volumes", action="store_true", help="bundle only the 3D model")
    args = ap.parse_args()
    gen = BUNDLED_DIR / DEFAULT_GENERATOR
    if not args.only_volumes:
        gen = copy_model(Path(args.generator), DEFAULT_GENERATOR)
        copy_model(Path(args.classifier), DEFAULT_CLASSIFIER)
        from models.qc.context import write_index

        index = write_index(gen, args.data, classifier=DEFAULT_CLASSIFIER)
        print(f"QC index: {len(index.ids)} training images, threshold {index.threshold:.4g}")
    if Path(args.volume_generator).is_dir():
        copy_model(Path(args.volume_generator), VOLUME_GENERATOR)
        print(f"bundled {VOLUME_GENERATOR} from {args.volume_generator}")
    total = 0
    for path in sorted(BUNDLED_DIR.rglob("*")):
        if path.is_file():
            size = path.stat().st_size
            total += size
            if path.suffix == ".safetensors" and size > MAX_FILE:
                raise SystemExit(f"{path} is {size / 2**20:.1f} MB; the limit per weights file is 16 MB")
    if total > MAX_TOTAL:
        raise SystemExit(f"bundled models total {total / 2**20:.1f} MB; the limit is 40 MB")
    info = json.loads((gen / "radsynth.json").read_text())
    print(f"bundled {DEFAULT_GENERATOR} ({info.get('steps')} steps) and {DEFAULT_CLASSIFIER}: "
          f"{total / 2**20:.1f} MB in {BUNDLED_DIR}")


if __name__ == "__main__":
    main()
