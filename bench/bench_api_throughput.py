"""API throughput under load with Locust: requests/s and p50/p99 latency for submit, poll and download.

    python -m bench.bench_api_throughput [--users 20] [--seconds 60]

A real Redis, uvicorn API (one process) and Celery worker with the bundled generator. The worker is kept busy
with a long DDPM job for the whole run, so submitted jobs queue behind it, as on a loaded service. Locust runs
headless on the same 2 cores as everything else, so these are lower bounds for a server with its own cores.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.bench_service import deployment
from bench.common import save, table
from tests.integration.deployment import KEY

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--worker-threads", type=int, default=1,
                    help="torch threads of the busy worker (2 = it takes both cores of this machine)")
    args = ap.parse_args()
    d = deployment()
    d.env["OMP_NUM_THREADS"] = str(args.worker_threads)
    out = Path(tempfile.mkdtemp(prefix="radsynth-locust-"))
    try:
        d.start_redis()
        d.start_api()
        d.start_worker("w1")
        d.wait_healthy()
        done = d.wait_status(d.generate(finding="consolidation", n=1, steps=5, format="png"))
        artifact = next(a["url"] for a in done["artifacts"] if a["name"].endswith(".png"))
        busy = d.generate(finding="consolidation", n=4, sampler="ddpm", steps=1000)
        d.wait_status(busy, ("running",))
        env = os.environ | {"RADSYNTH_BENCH_KEY": KEY, "RADSYNTH_BENCH_ARTIFACT": artifact}
        cmd = [str(Path(sys.executable).parent / "locust"), "-f", str(ROOT / "bench" / "locustfile.py"),
               "--headless", "-u", str(args.users), "-r", str(args.users), "-t", f"{args.seconds}s",
               "--host", f"http://127.0.0.1:{d.api_port}", "--csv", str(out / "run"), "--only-summary"]
        subprocess.run(cmd, env=env, check=False, capture_output=True, text=True)
        still_busy = d.job(busy)["status"] == "running"
    finally:
        d.stop_all()
    rows = []
    with open(out / "run_stats.csv") as fh:
        for r in csv.DictReader(fh):
            rows.append({"request": r["Name"], "count": int(r["Request Count"]), "failures": int(r["Failure Count"]),
                         "req/s": float(r["Requests/s"]), "p50 ms": float(r["50%"] or 0),
                         "p99 ms": float(r["99%"] or 0), "max ms": float(r["Max Response Time"] or 0)})
    print(table(rows, ["request", "count", "failures", "req/s", "p50 ms", "p99 ms", "max ms"]))
    print(f"worker busy with the DDPM job throughout: {still_busy}")
    path = save(f"api_throughput_w{args.worker_threads}", {"users": args.users, "seconds": args.seconds,
                                                          "worker_threads": args.worker_threads, "rows": rows,
                                   "worker_busy_throughout": still_busy,
                                   "command": "python -m bench.bench_api_throughput " + " ".join(sys.argv[1:])})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
