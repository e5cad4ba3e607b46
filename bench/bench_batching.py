"""Cross-job batching: throughput of many small generate jobs with batching on / off, and what it adds to a lone job.

    python -m bench.bench_batching [--jobs 16] [--repeats 3] [--lone 7]

A real Redis, API and Celery worker with the bundled generator (1 torch thread, see below). Throughput: a burst
of `--jobs` 1-image jobs (25 DPM-Solver++ steps) arrives while the worker finishes a first job; the time from the first
submit until every job has ended, with batching on (RADSYNTH_BATCH_MAX_IMAGES=32) and off (=1), alternating.
Lone job: one job sent to an idle worker, end to end, with batching on (it waits RADSYNTH_BATCH_WAIT for
companions) and off. Medians throughout; the machine's other work shows as outliers in the JSON.
"""

from __future__ import annotations

import argparse
import sys
import time

from bench.bench_service import deployment, run_job
from bench.common import median, save, table

JOB = {"finding": "consolidation", "n": 1, "steps": 25, "qc": "false", "format": "png"}
WAIT = 0.1


def burst(d, jobs: int, seed: int) -> float:
    t0 = time.perf_counter()
    ids = [d.generate(**JOB, seed=seed + i) for i in range(jobs)]
    for job_id in ids:
        assert d.wait_status(job_id, timeout=600)["status"] == "succeeded"
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--lone", type=int, default=7)
    args = ap.parse_args()
    d = deployment()
    # One torch thread: with two on these two cores, the API, Redis and this client preempting one of torch's
    # spin-waiting OpenMP threads made single-job times swing 3-11 s (docs/benchmarks.md, the shared-host note).
    d.env["OMP_NUM_THREADS"] = "1"
    modes = {"batching on": {"batch_max_images": 32, "batch_wait": WAIT}, "batching off": {"batch_max_images": 1}}
    bursts: dict[str, list[float]] = {m: [] for m in modes}
    lone: dict[str, list[float]] = {m: [] for m in modes}
    try:
        d.start_redis()
        d.start_api()
        for r in range(args.repeats):
            for mode, settings in modes.items():
                name = f"w{r}{mode[-2:].strip()}"
                d.start_worker(name, **settings)
                d.wait_healthy()
                run_job(d, JOB | {"seed": 1})  # loaded and warm
                bursts[mode].append(burst(d, args.jobs, 1000 * (r + 1)))
                time.sleep(5)  # the batched jobs' own messages are still being drained (each is dropped): idle first
                for i in range(args.lone // args.repeats + 1):
                    lone[mode].append(run_job(d, JOB | {"seed": 500 + i})[1])
                d.kill(name)
    finally:
        d.stop_all()
    rows = [{"mode": m, "burst s": median(bursts[m]), "jobs/s": args.jobs / median(bursts[m]),
             "lone job s": median(lone[m])} for m in modes]
    print(table(rows, ["mode", "burst s", "jobs/s", "lone job s"]))
    speedup = median(bursts["batching off"]) / median(bursts["batching on"])
    added = median(lone["batching on"]) - median(lone["batching off"])
    print(f"\nthroughput with batching / one at a time: {speedup:.2f}x ({args.jobs} jobs)")
    print(f"added to a lone job: {added * 1000:.0f} ms (batch wait {WAIT * 1000:.0f} ms; bound wait + 10% = "
          f"{WAIT * 1.1 * 1000:.0f} ms)")
    path = save("batching", {"jobs": args.jobs, "job": JOB, "bursts": bursts, "lone": lone, "speedup": speedup,
                             "lone_added_s": added, "batch_wait_s": WAIT,
                             "command": "python -m bench.bench_batching " + " ".join(sys.argv[1:])})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
