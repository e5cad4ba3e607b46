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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--jobs", type=int, default=500)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "load.json")
    args = ap.parse_args()
    from models.findings import NIH_LABELS
    from tests.conftest import tiny_pipeline

    root = Path(tempfile.mkdtemp(prefix="radsynth-load-"))
    tiny_pipeline(NIH_LABELS).save(root / "tiny-gen")
    d = Deployment(root / "d", root / "tiny-gen", ROOT / "models" / "pretrained" / "nih-cxr14-64-classifier",
                   max_tasks_per_child=0)
    submit_s, poll_s, health_s, positions_ok, etas, memory = [], [], [], [], [], []
    done = threading.Event()
    counter = {"submitted": 0, "finished": 0}
    lock = threading.Lock()

    def client(i: int) -> None:
        import httpx

        http = httpx.Client(base_url=str(d.http.base_url), headers=dict(d.http.headers), timeout=30)
        while not done.is_set():
            with lock:
                if counter["submitted"] >= args.jobs:
                    break
                counter["submitted"] += 1
            t = time.perf_counter()
            job = http.post("/generate", params={"finding": "mass", "n": 1, "steps": 2, "qc": "false"}).json()
            submit_s.append(time.perf_counter() - t)
            seen = []
            while True:
                t = time.perf_counter()
                j = http.get(f"/jobs/{job['id']}").json()
                poll_s.append(time.perf_counter() - t)
                if j["status"] == "queued" and j["progress"].get("queue_position"):
                    seen.append(j["progress"]["queue_position"])
                if j["status"] == "running" and j["progress"].get("eta_s") is not None:
                    etas.append(j["progress"]["eta_s"])
                if j["status"] in ("succeeded", "failed", "cancelled"):
                    break
                time.sleep(0.1)
            positions_ok.append(all(a >= b for a, b in zip(seen, seen[1:], strict=False)))
            with lock:
                counter["finished"] += 1
        http.close()

    def prober() -> None:
        while not done.is_set():
            t = time.perf_counter()
            d.http.get("/health")
            health_s.append(time.perf_counter() - t)
            time.sleep(0.1)

    try:
        d.start_redis()
        d.start_api()
        d.start_worker("worker")
        child = d.pool_children("worker")[0]
        started = time.time()
        threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
        probe = threading.Thread(target=prober)
        for t in [*threads, probe]:
            t.start()
        while any(t.is_alive() for t in threads):
            memory.append((counter["finished"], rss_mb(child)))
            time.sleep(2)
        wall = time.time() - started
        done.set()
        probe.join()
        same_child = child in d.pool_children("worker")
    finally:
        done.set()
        d.stop_all()
    after_warmup = [m for n, m in memory if n >= 50]
    summary = {
        "clients": args.clients, "jobs": counter["finished"], "wall_s": round(wall, 1),
        "jobs_per_s": round(counter["finished"] / wall, 2),
        "health_p50_ms": round(1000 * pct(health_s, 0.5), 1), "health_p99_ms": round(1000 * pct(health_s, 0.99), 1),
        "submit_p50_ms": round(1000 * pct(submit_s, 0.5), 1), "submit_p99_ms": round(1000 * pct(submit_s, 0.99), 1),
        "poll_p50_ms": round(1000 * pct(poll_s, 0.5), 1), "poll_p99_ms": round(1000 * pct(poll_s, 0.99), 1),
        "queue_positions_never_rose": f"{sum(positions_ok)}/{len(positions_ok)}",
        "running_polls_with_eta": len(etas),
        "pool_process_replaced": not same_child,
        "rss_mb_after_50_jobs": round(after_warmup[0], 1) if after_warmup else None,
        "rss_mb_at_end": round(memory[-1][1], 1) if memory else None,
        "rss_mb_median_after_50": round(statistics.median(after_warmup), 1) if after_warmup else None,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"summary": summary, "memory": memory}, indent=1))
    print(json.dumps(summary, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
