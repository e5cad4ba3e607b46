"""Throughput of `POST /synthesize` at 64 and 256 px, and the time to its first image, through the service.

    python -m bench.bench_synthesize [--images-64 64] [--images-256 8] [--repeats 3]

A real Redis, API (uvicorn) and Celery worker with the bundled generator, 2 torch threads, on this machine. Each
job asks for half consolidation and half mass images with the default QC (copies redrawn), every sampling
default (DPM-Solver++ 15 steps at the model's guidance; at 256 px the super-resolution stage's default steps from
its default start on top; base images that are pixel noise redrawn by the model's noise check). Measured on the
job's event stream, from POST: the time until the job first reports an image written (time to first row), and
until it has ended; images per minute = images / that time. One warm-up job per size first; medians over
`--repeats` jobs, sizes interleaved.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from bench.common import median, rss_mb, save, table
from tests.integration.deployment import Deployment

ROOT = Path(__file__).resolve().parents[1]

GENERATOR = ROOT / "models" / "pretrained" / "nih-cxr14"
CLASSIFIER = ROOT / "models" / "pretrained" / "nih-cxr14-64-classifier"  # the generator's QC classifier
THREADS = 2


def synthesize_once(d: Deployment, name: str, images: int, resolution: int) -> dict:
    """One job; seconds to the first written image and to the end, from POST."""
    body = {"name": name, "per_finding": {"consolidation": images // 2, "mass": images - images // 2},
            "resolution": resolution}
    t0 = time.perf_counter()
    r = d.http.post("/synthesize", json=body)
    r.raise_for_status()
    first, job = None, None
    with d.http.stream("GET", f"/jobs/{r.json()['id']}/events", timeout=1800) as events:
        event = None
        for line in events.iter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event in ("job", "progress"):
                data = json.loads(line.split(":", 1)[1])
                progress = data.get("progress") or {}
                if first is None and progress.get("message") == "synthesizing" and (progress.get("step") or 0) >= 1:
                    first = time.perf_counter() - t0
                if event == "job":
                    job = data
                    if job["status"] in ("succeeded", "failed", "cancelled"):
                        break
    total = time.perf_counter() - t0
    assert job and job["status"] == "succeeded", job
    made = job["result"]["images"]
    return {"first_row_s": first if first is not None else total, "total_s": total, "images": made,
            "images_per_min": made / total * 60}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images-64", type=int, default=64)
    ap.add_argument("--images-256", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sizes = {64: args.images_64, 256: args.images_256}
    env = {"RADSYNTH_DEFAULT_GENERATOR": GENERATOR.name, "RADSYNTH_DEFAULT_CLASSIFIER": CLASSIFIER.name,
           "OMP_NUM_THREADS": str(THREADS)}
    d = Deployment(Path(tempfile.mkdtemp(prefix="radsynth-bench-")), GENERATOR, CLASSIFIER, env=env)
    runs: dict[int, list[dict]] = {64: [], 256: []}
    try:
        d.start_redis()
        d.start_api()
        d.start_worker("synth", warm_up=True)
        d.wait_healthy()
        for res in sizes:
            synthesize_once(d, f"warm-{res}", 2, res)
        for i in range(args.repeats):
            for res, n in sizes.items():
                runs[res].append(synthesize_once(d, f"bench-{res}-{i}", n, res))
        pool_rss = rss_mb(d.pool_children("synth")[0])
    finally:
        d.stop_all()
    rows = [{"resolution": f"{res} px", "images per job": sizes[res],
             "images/min": median([r["images_per_min"] for r in runs[res]]),
             "first row s": median([r["first_row_s"] for r in runs[res]]),
             "job s": median([r["total_s"] for r in runs[res]])} for res in sizes]
    print(f"POST /synthesize on a warm worker, {THREADS} threads, default QC, median of {args.repeats}:")
    print(table(rows, ["resolution", "images per job", "images/min", "first row s", "job s"]))
    print(f"worker pool RSS {pool_rss:.0f} MB")
    command = "python -m bench.bench_synthesize " + " ".join(sys.argv[1:])
    payload = {"rows": rows, "runs": {str(k): v for k, v in runs.items()}, "pool_rss_mb": pool_rss,
               "threads": THREADS, "command": command}
    print(f"wrote {save('synthesize', payload)}")


if __name__ == "__main__":
    main()
