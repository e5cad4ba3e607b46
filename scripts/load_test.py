"""Load test: concurrent clients submit and poll against one worker; /health latency, queue positions, ETAs, and
the pool process's memory over many jobs. Figures go to docs/reliability.md.

    python -m scripts.load_test [--clients 8] [--jobs 500] [--out bench/results/load.json]

A real redis-server, one Celery worker (one pool process, never recycled, so a leak would show) and the uvicorn
API, with the tiny test models on CPU. Each client loops: POST /generate (1 image, 2 steps), then poll until it
ends. A prober calls /health every 100 ms throughout.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path

from bench.common import pct, rss_mb
from tests.integration.deployment import Deployment

ROOT = Path(__file__).resolve().parents[1]


class LoadRun:
    """Clients that submit and poll generate jobs until `jobs` are done, and a prober timing /health."""

    def __init__(self, d: Deployment, jobs: int):
        self.d, self.jobs = d, jobs
        self.submit_s: list[float] = []
        self.poll_s: list[float] = []
        self.health_s: list[float] = []
        self.positions_ok: list[bool] = []
        self.etas: list[float] = []
        self.done = threading.Event()
        self.counter = {"submitted": 0, "finished": 0}
        self.lock = threading.Lock()

    def client(self) -> None:
        import httpx

        http = httpx.Client(base_url=str(self.d.http.base_url), headers=dict(self.d.http.headers), timeout=30)
        while not self.done.is_set():
            with self.lock:
                if self.counter["submitted"] >= self.jobs:
                    break
                self.counter["submitted"] += 1
            t = time.perf_counter()
            job = http.post("/generate", params={"finding": "mass", "n": 1, "steps": 2, "qc": "false"}).json()
            self.submit_s.append(time.perf_counter() - t)
            self.follow(http, job["id"])
            with self.lock:
                self.counter["finished"] += 1
        http.close()

    def follow(self, http, job_id: str) -> None:
        """Poll one job to its end, recording poll times, queue positions and time estimates."""
        seen = []
        while True:
            t = time.perf_counter()
            j = http.get(f"/jobs/{job_id}").json()
            self.poll_s.append(time.perf_counter() - t)
            if j["status"] == "queued" and j["progress"].get("queue_position"):
                seen.append(j["progress"]["queue_position"])
            if j["status"] == "running" and j["progress"].get("eta_s") is not None:
                self.etas.append(j["progress"]["eta_s"])
            if j["status"] in ("succeeded", "failed", "cancelled"):
                break
            time.sleep(0.1)
        self.positions_ok.append(all(a >= b for a, b in zip(seen, seen[1:], strict=False)))

    def prober(self) -> None:
        while not self.done.is_set():
            t = time.perf_counter()
            self.d.http.get("/health")
            self.health_s.append(time.perf_counter() - t)
            time.sleep(0.1)

    def summary(self, clients: int, wall: float, memory: list, same_child: bool) -> dict:
        after_warmup = [m for n, m in memory if n >= 50]
        finished = self.counter["finished"]
        ms = {name: (1000 * pct(values, 0.5), 1000 * pct(values, 0.99))
              for name, values in (("health", self.health_s), ("submit", self.submit_s), ("poll", self.poll_s))}
        return {
            "clients": clients, "jobs": finished, "wall_s": round(wall, 1), "jobs_per_s": round(finished / wall, 2),
            **{f"{name}_p{q}_ms": round(v, 1) for name, (p50, p99) in ms.items()
               for q, v in (("50", p50), ("99", p99))},
            "queue_positions_never_rose": f"{sum(self.positions_ok)}/{len(self.positions_ok)}",
            "running_polls_with_eta": len(self.etas),
            "pool_process_replaced": not same_child,
            "rss_mb_after_50_jobs": round(after_warmup[0], 1) if after_warmup else None,
            "rss_mb_at_end": round(memory[-1][1], 1) if memory else None,
            "rss_mb_median_after_50": round(statistics.median(after_warmup), 1) if after_warmup else None,
        }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--jobs", type=int, default=500)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "load.json")
    args = ap.parse_args()
    from models.vocabulary.findings import NIH_LABELS
    from tests.conftest import tiny_pipeline

    root = Path(tempfile.mkdtemp(prefix="radsynth-load-"))
    tiny_pipeline(NIH_LABELS).save(root / "tiny-gen")
    d = Deployment(root / "d", root / "tiny-gen", ROOT / "models" / "pretrained" / "nih-cxr14-64-classifier",
                   max_tasks_per_child=0)
    run, memory = LoadRun(d, args.jobs), []
    try:
        d.start_redis()
        d.start_api()
        d.start_worker("worker")
        child = d.pool_children("worker")[0]
        started = time.time()
        threads = [threading.Thread(target=run.client) for _ in range(args.clients)]
        probe = threading.Thread(target=run.prober)
        for t in [*threads, probe]:
            t.start()
        while any(t.is_alive() for t in threads):
            memory.append((run.counter["finished"], rss_mb(child)))
            time.sleep(2)
        wall = time.time() - started
        run.done.set()
        probe.join()
        same_child = child in d.pool_children("worker")
    finally:
        run.done.set()
        d.stop_all()
    summary = run.summary(args.clients, wall, memory, same_child)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"summary": summary, "memory": memory}, indent=1))
    print(json.dumps(summary, indent=1))
    print(f"wrote {args.out}")

if __name__ == "__main__":
    main()
