"""Fault drill: kill workers and Redis under real jobs and count what survives. Figures go to docs/reliability.md.

    python -m scripts.fault_drill [--rounds 21] [--redis-jobs 10] [--out bench/results/reliability.json]

Runs a whole deployment as real processes (redis-server with AOF, a Celery worker, the uvicorn API) with tiny
models on CPU. Each round starts a generate, explain or train job, waits until it is running, then SIGKILLs
either the whole worker (its process group, as a host or container dying would) or only its pool process (as the
OOM killer would), restarts what died, and waits for the job to end. Then Redis is killed, and separately
restarted gracefully, with jobs queued and running. Reports jobs submitted, succeeded, failed, lost (never
ending) and duplicated (finished more than once), the highest delivery count of any job, and recovery time
(kill -> the job running again) as median and p95.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from tests.conftest import NIH, NIH_UPLOAD
from tests.integration.deployment import Deployment, wait_until
from tests.integration.tiny_models import tiny_models

ROOT = Path(__file__).resolve().parents[1]

KINDS = ("generate", "explain", "train")


class Events:
    """Every status/progress event of every job, from Redis pub/sub (reconnecting across Redis restarts)."""

    def __init__(self, url: str):
        import redis

        self.url, self.seen, self.stop = url, [], threading.Event()
        self.redis = redis
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                pubsub = self.redis.Redis.from_url(self.url, decode_responses=True).pubsub()
                pubsub.psubscribe("radsynth:events:*")
                while not self.stop.is_set():
                    msg = pubsub.get_message(timeout=0.5)
                    if msg and msg["type"] == "pmessage":
                        self.seen.append((time.time(), json.loads(msg["data"])))
            except self.redis.RedisError:
                time.sleep(0.2)

    def resumed(self, job_id: str) -> bool:
        return any(e["id"] == job_id and "resumed" in (e.get("progress") or {}).get("message", "")
                   for _, e in self.seen)


def submit(d: Deployment, kind: str, i: int) -> str:
    if kind == "generate":
        return d.generate(n=4, sampler="ddpm", steps=1000, seed=i)
    if kind == "explain":
        with NIH_UPLOAD.open("rb") as fh:
            r = d.http.post("/explain", files={"file": ("x.png", fh, "image/png")},
                            data={"findings": "effusion,mass", "method": "smoothgrad", "n_steps": "200"})
    else:
        r = d.http.post("/train", json={"kind": "generator", "dataset": "fixtures", "resolution": 16, "steps": 120,
                                        "batch_size": 4, "name": f"drill-{i}", "channels": [8, 16]})
    assert r.status_code == 202, r.text
    return r.json()["id"]


def kill_rounds(d: Deployment, events: Events, rounds: int) -> dict:
    rows = []
    for i in range(rounds):
        kind, whole = KINDS[i % 3], (i // 3) % 2 == 0
        job_id = submit(d, kind, i)
        # Training is killed after its first checkpoint (every 30 steps here), so the drill sees it resume.
        d.wait_status(job_id, ("running",), timeout=180, min_step=40 if kind == "train" else 2)
        before = d.job(job_id)["deliveries"]
        killed_at = time.time()
        if whole:
            d.kill("worker")
            d.start_worker("worker", wait=False)
        else:
            os.kill(d.pool_children("worker")[0], signal.SIGKILL)
        if d.job(job_id)["status"] in ("succeeded", "failed") and d.job(job_id)["deliveries"] == before:
            print(f"round {i:2d}  {kind}: the job ended before the kill landed; not counted", flush=True)
            if whole:
                d.wait_status(job_id)
            continue
        try:
            wait_until(lambda j=job_id, b=before: d.job(j)["deliveries"] > b, 300, 0.1, "the next delivery")
            recovery = time.time() - killed_at
            job = d.wait_status(job_id, timeout=600)
        except TimeoutError:
            recovery, job = None, d.job(job_id)
        rows.append({"round": i, "kind": kind, "killed": "worker" if whole else "pool child", "job": job_id,
                     "status": job["status"], "deliveries": job["deliveries"], "recovery_s": recovery,
                     "resumed_from_checkpoint": events.resumed(job_id) if kind == "train" else None})
        print(f"round {i:2d}  {kind:8s}  killed {rows[-1]['killed']:10s}  -> {job['status']:9s}  deliveries "
              f"{job['deliveries']}  recovery {recovery or float('nan'):5.1f} s", flush=True)
    return {"rows": rows}


def redis_rounds(d: Deployment, jobs: int) -> list[dict]:
    out = []
    for how in ("SIGKILL", "graceful restart"):
        ids = [d.generate(n=2, sampler="ddpm", steps=300, seed=100 + i) for i in range(jobs)]
        d.wait_status(ids[0], ("running",), min_step=2)
        time.sleep(1.5)  # appendfsync everysec
        if how == "SIGKILL":
            d.kill("redis")
        else:
            os.killpg(d.procs["redis"].pid, signal.SIGTERM)
            d.procs["redis"].wait(30)
        time.sleep(2)
        d.start_redis()
        ends = []
        for job_id in ids:
            try:
                ends.append(d.wait_status(job_id, timeout=600)["status"])
            except TimeoutError:
                ends.append("lost")
        out.append({"redis": how, "submitted": len(ids), "succeeded": ends.count("succeeded"),
                    "failed": ends.count("failed"), "lost": ends.count("lost")})
        print(f"redis {how}: {out[-1]}", flush=True)
    return out


def finished_more_than_once(d: Deployment) -> int:
    """Jobs whose end was recorded twice by workers (their logs say 'ended' once per completed run)."""
    counts: dict[str, int] = {}
    for log in d.root.glob("worker*.log"):
        for line in log.read_text(errors="replace").splitlines():
            if " ended " in line and "job " in line:
                job = line.split("job ", 1)[1].split()[0]
                counts[job] = counts.get(job, 0) + 1
    return sum(1 for c in counts.values() if c > 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=21)
    ap.add_argument("--redis-jobs", type=int, default=10)
    ap.add_argument("--heartbeat-timeout", type=float, default=6)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "reliability.json")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="radsynth-drill-"))
    gen, clf = tiny_models(root / "models-src")
    d = Deployment(root, gen, clf, heartbeat_timeout=args.heartbeat_timeout, max_deliveries=3,
                   datasets=f"fixtures={NIH}:nih")
    started = time.time()
    try:
        d.start_redis()
        d.start_api()
        d.start_worker("worker")
        events = Events(d.env["RADSYNTH_REDIS_URL"])
        kills = kill_rounds(d, events, args.rounds)
        redis = redis_rounds(d, args.redis_jobs)
    finally:
        d.stop_all()
    rows = kills["rows"]
    recoveries = sorted(r["recovery_s"] for r in rows if r["recovery_s"] is not None)
    summary = {
        "kill_rounds": len(rows), "succeeded": sum(r["status"] == "succeeded" for r in rows),
        "failed": sum(r["status"] == "failed" for r in rows),
        "lost": sum(r["status"] not in ("succeeded", "failed", "cancelled") for r in rows),
        "duplicated": finished_more_than_once(d), "max_deliveries": max(r["deliveries"] for r in rows),
        "recovery_median_s": statistics.median(recoveries) if recoveries else None,
        "recovery_p95_s": recoveries[min(len(recoveries) - 1, int(round(0.95 * (len(recoveries) - 1))))]
        if recoveries else None,
        "train_resumed_from_checkpoint": [r["resumed_from_checkpoint"] for r in rows if r["kind"] == "train"],
        "heartbeat_timeout_s": args.heartbeat_timeout, "wall_s": round(time.time() - started, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"summary": summary, "redis": redis, "rounds": rows}, indent=1))
    print(json.dumps(summary, indent=1))
    print(f"wrote {args.out}; logs in {root}")


if __name__ == "__main__":
    main()
