"""How long a generate job waits when it is queued behind a long synthesize job, with and without riding along
in the synthesize job's batches (cross-job batching).

    python -m bench.bench_synthesize_riders [--images 64] [--repeats 2]

A real Redis, API and one Celery worker with the bundled generator, 2 torch threads. Each run starts a synthesize
job of `--images` images at 64 px (half consolidation, half mass, default QC); once it has written its first row,
a default 4-image generate job at 64 px is posted. Measured: the generate job's latency (POST to succeeded) and the
synthesize job's duration. Arms: the worker with the default `batch_max_images` (32: up to 16 images of waiting
generate jobs join each 16-image synthesize batch) and with 16 (no room: the generate job waits for the whole
data set). Arms alternate; medians over `--repeats` runs each.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from bench.bench_synthesize import CLASSIFIER, GENERATOR, THREADS
from bench.common import median, save, table
from tests.integration.deployment import Deployment, wait_until

ARMS = {"ride along (batch_max_images 32)": 32, "wait (batch_max_images 16)": 16}


def job(d: Deployment, job_id: str) -> dict:
    return d.http.get(f"/jobs/{job_id}").json()


def one_run(d: Deployment, name: str, images: int) -> dict:
    body = {"name": name, "per_finding": {"consolidation": images // 2, "mass": images - images // 2},
            "resolution": 64}
    t0 = time.perf_counter()
    synth = d.http.post("/synthesize", json=body).json()["id"]
    wait_until(lambda: (job(d, synth).get("progress") or {}).get("step", 0) >= 1, 600, 0.2, "the first row")
    t1 = time.perf_counter()
    r = d.http.post("/generate", params={"finding": "consolidation", "resolution": 64})
    r.raise_for_status()
    gen = r.json()["id"]
    wait_until(lambda: job(d, gen)["status"] in ("succeeded", "failed"), 1800, 0.2, "the generate job")
    latency = time.perf_counter() - t1
    wait_until(lambda: job(d, synth)["status"] in ("succeeded", "failed"), 1800, 0.5, "the synthesize job")
    total = time.perf_counter() - t0
    g, s = job(d, gen), job(d, synth)
    assert g["status"] == "succeeded" and s["status"] == "succeeded", (g, s)
    return {"generate_latency_s": latency, "synthesize_s": total, "rode_along": "batch" in g["result"],
            "images": s["result"]["images"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    env = {"RADSYNTH_DEFAULT_GENERATOR": GENERATOR.name, "RADSYNTH_DEFAULT_CLASSIFIER": CLASSIFIER.name,
           "OMP_NUM_THREADS": str(THREADS)}
    d = Deployment(Path(tempfile.mkdtemp(prefix="radsynth-bench-")), GENERATOR, CLASSIFIER, env=env)
    runs: dict[str, list[dict]] = {arm: [] for arm in ARMS}
    try:
        d.start_redis()
        d.start_api()
        for i in range(args.repeats):
            for arm, max_images in ARMS.items():
                name = f"w{i}-{max_images}"
                d.start_worker(name, batch_max_images=max_images)
                d.wait_healthy()
                runs[arm].append(one_run(d, f"riders-{i}-{max_images}", args.images))
                d.kill(name)
    finally:
        d.stop_all()
    rows = [{"worker": arm, "generate latency s": median([r["generate_latency_s"] for r in rs]),
             "synthesize job s": median([r["synthesize_s"] for r in rs]),
             "rode along": f"{sum(r['rode_along'] for r in rs)}/{len(rs)}"} for arm, rs in runs.items()]
    print(f"A 4-image generate job posted behind a {args.images}-image synthesize job (64 px), {THREADS} threads, "
          f"median of {args.repeats}:")
    print(table(rows, ["worker", "generate latency s", "synthesize job s", "rode along"]))
    command = "python -m bench.bench_synthesize_riders " + " ".join(sys.argv[1:])
    print(f"wrote {save('synthesize_riders', {'rows': rows, 'runs': runs, 'threads': THREADS, 'command': command})}")


if __name__ == "__main__":
    main()
