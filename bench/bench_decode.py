"""Decode throughput: images/s from 1024-px PNGs to 256-px training tensors, per DataLoader worker count, and
from the pre-resized copy `radsynth prepare` makes.

    python -m bench.bench_decode [--images 200] [--repeats 3]

The full NIH set's 1024-px PNGs are not on this machine: the inputs are the 256-px NIH images of
../shared/data/nih-cxr14-256 upsampled to 1024 px (Lanczos, 8-bit grey PNG, as NIH stores them), so decoding
and resizing cost what the real files cost; their content is smoother. Each setting reads every image once
through the trainer's own DataLoader stream (models/training_utils.batch_stream), median of `--repeats`.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench.common import median, save, table

ROOT = Path(__file__).resolve().parents[1]

SOURCE = ROOT.parent / "shared" / "data" / "nih-cxr14-256"


def make_1024(dest: Path, n: int) -> Path:
    """An NIH-layout folder of `n` 1024-px PNGs upsampled from the 256-px NIH images, with their label rows."""
    from PIL import Image

    (dest / "images").mkdir(parents=True)
    with (SOURCE / "Data_Entry_2017.csv").open(newline="") as fh:
        reader = csv.DictReader(fh)
        rows = [r for r in reader if (SOURCE / "images" / r["Image Index"]).exists()][:n]
        fields = reader.fieldnames
    for row in rows:
        img = Image.open(SOURCE / "images" / row["Image Index"]).convert("L")
        img.resize((1024, 1024), Image.Resampling.LANCZOS).save(dest / "images" / row["Image Index"])
    with (dest / "Data_Entry_2017.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return dest


def throughput(root: Path, workers: int, batch: int = 16) -> float:
    """Images/s through the trainers' DataLoader stream at 256 px, one pass over every image."""
    from models.data.nih import NIHChestXray
    from models.distributed import Ranks
    from models.training_utils import StepBatches, batch_stream

    ds = NIHChestXray(root, "all", 256)
    steps = len(ds) // batch
    sampler = StepBatches(len(ds), batch, 0, Ranks().share(batch), 0, steps)
    t0 = time.perf_counter()
    seen = sum(b["image"].shape[0] for b in batch_stream(ds, sampler, workers=workers))
    return seen / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workers", default="0,1,2")
    args = ap.parse_args()
    import torch

    from models.data.prepare import prepare

    torch.set_num_threads(1)
    work = Path(tempfile.mkdtemp(prefix="radsynth-decode-"))
    try:
        big = make_1024(work / "nih1024", args.images)
        t0 = time.perf_counter()
        prepare(big, work / "nih256", 256, workers=2)
        prepare_s = time.perf_counter() - t0
        rows = []
        for label, root in (("1024-px PNG", big), ("prepared 256-px PNG", work / "nih256")):
            for w in (int(x) for x in args.workers.split(",")):
                rates = [throughput(root, w) for _ in range(args.repeats)]
                rows.append({"input": label, "workers": w, "images/s": median(rates), "runs": rates})
    finally:
        shutil.rmtree(work, ignore_errors=True)
    base = {r["input"]: r["images/s"] for r in rows if r["workers"] == 0}
    for r in rows:
        r["vs 0 workers"] = r["images/s"] / base[r["input"]]
    print(f"decode to 256-px tensors, {args.images} images, median of {args.repeats} (2 cores):")
    print(table(rows, ["input", "workers", "images/s", "vs 0 workers"]))
    rate = args.images / prepare_s
    print(f"radsynth prepare (2 workers): {rate:.1f} images/s, once")
    command = "python -m bench.bench_decode " + " ".join(sys.argv[1:])
    path = save("decode", {"rows": rows, "prepare_images_per_s": rate, "images": args.images, "command": command})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
