"""Batch classification throughput: `radsynth classify`'s path on 1,000 real 256-px NIH radiographs.

    python -m bench.bench_classify [--n 1000] [--workers 1,2] [--data ../shared/data/nih-cxr14-256]

The 481 images of the shared 256-px set are read in turn until `n` files are classified (decoded from PNG,
padded square, resized to the ensemble's input, all members run); reports images per second per decoding-thread
count, median of three runs each, interleaved. Target: at least 10 images/s on 2 cores.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from bench.common import save


def main() -> None:
    from models.catalog import DEFAULT_CLASSIFIER, resolve_model
    from models.classifier.ensemble import ClassifierEnsemble
    from models.workflows.classify import classify, image_files

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "nih-cxr14-256"))
    args = ap.parse_args()
    files = image_files([Path(args.data) / "images"])
    files = (files * (args.n // len(files) + 1))[: args.n]
    ens = ClassifierEnsemble.load(resolve_model(DEFAULT_CLASSIFIER, kind="classifier"))
    rates: dict[str, list[float]] = {}
    for _ in range(3):
        for workers in (int(w) for w in args.workers.split(",")):
            t0 = time.perf_counter()
            rows = list(classify(ens, files, workers=workers))
            rates.setdefault(f"{workers} decoding threads", []).append(len(rows) / (time.perf_counter() - t0))
    result = {"images": len(files), "classifier": DEFAULT_CLASSIFIER, "input": ens.input_size,
              "images_per_s_median": {k: round(statistics.median(v), 1) for k, v in rates.items()},
              "runs": {k: [round(x, 1) for x in v] for k, v in rates.items()}}
    print(result)
    save("classify", result)


if __name__ == "__main__":
    main()
