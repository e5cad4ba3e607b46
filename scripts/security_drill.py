"""Security drill for the holes of the outside drills, against a real deployment with two owners.

    python -m scripts.security_drill [--part first|second|all] [--out bench/results/security_drill.json]

`--part second` measures the second drill's holes (scripts/drill_second.py: manifest escapes, DICOM bombs with the
API's and worker's peak memory, 17 planted PHI markers, API memory under 3 and 10 parallel at-limit uploads,
webhook addresses, forwarded headers, and a worker SIGKILLed under the run command) and writes
bench/results/security_drill_second.json. The first part:

Starts redis-server, the uvicorn API and one Celery worker (tiny models, CPU) like scripts/fault_drill.py, with
two API keys, and measures:
- cross-owner access: every route of the OpenAPI schema that names a job or a model, called by bob on alice's
  job, artifacts, events and trained model, plus model-name take-overs with and without an Idempotency-Key:
  unexpected successes (2xx where 404/409/422 is right);
- the active-job quota under 50 concurrent submits, and after 500 submit-and-cancel rounds;
- cancel latency (request -> status cancelled) for single and batched jobs, p50/p95, beside one sampling step;
- /health latency p50/p99 during a burst of 30 at-limit uploads (8192x8192 PNG) to POST /explain;
- failed logins: requests answered 401 before the throttle answers 429.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import httpx

from tests.conftest import NIH
from tests.integration.deployment import Deployment, wait_until
from tests.integration.tiny_models import tiny_models

ALICE, BOB = "alice-key-0123456789", "bob-key-9876543210"
QUOTA = 4  # the cancel-latency batch holds four jobs at once


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))] if values else float("nan")


def client(d: Deployment, key: str | None) -> httpx.Client:
    return httpx.Client(base_url=f"http://127.0.0.1:{d.api_port}", headers={"X-API-Key": key} if key else {},
                        timeout=120)


def wait_job(http: httpx.Client, job_id: str, timeout: float = 240) -> dict:
    return wait_until(lambda: (j := http.get(f"/jobs/{job_id}").json())["status"] in
                      ("succeeded", "failed", "cancelled") and j, timeout, 0.2, f"job {job_id}")


def cross_owner(d: Deployment, alice: httpx.Client, bob: httpx.Client) -> dict:
    """bob against alice's resources on every route that names one; 2xx is an unexpected success."""
    job = wait_job(alice, alice.post("/generate", params={"finding": "mass", "n": 1, "steps": 2, "qc": False,
                                                          "format": "png"}).json()["id"])
    train = wait_job(alice, alice.post("/train", json={"kind": "generator", "dataset": "fixtures", "resolution": 16,
                                                       "steps": 2, "batch_size": 4, "channels": [8, 16],
                                                       "name": "alices-gen"}).json()["id"])
    artifact = job["artifacts"][0]["name"]
    calls = [("GET", f"/jobs/{job['id']}", None), ("POST", f"/jobs/{job['id']}/cancel", None),
             ("DELETE", f"/jobs/{job['id']}", None), ("GET", f"/jobs/{job['id']}/artifacts/{artifact}", None),
             ("GET", f"/jobs/{job['id']}/events", None), ("GET", f"/jobs/{train['id']}", None),
             ("GET", "/models/alices-gen/samples.png", None), ("PATCH", "/models/alices-gen", {"shared": True}),
             ("GET", "/findings?model=alices-gen", None),
             ("POST", "/generate?finding=mass&n=1&steps=2&qc=false&model=alices-gen", None)]
    for name in ("tiny-clf", "tiny-gen", "alices-gen"):  # names bob must not take over or reach
        for idem in (None, f"take-{name}"):
            calls.append(("POST", "/train", {"kind": "classifier", "dataset": "fixtures", "resolution": 16,
                                             "steps": 1, "name": name, "_idem": idem}))
    unexpected, rows = 0, []
    for method, path, body in calls:
        headers = {}
        if body and body.get("_idem"):
            headers["Idempotency-Key"] = body["_idem"]
        payload = {k: v for k, v in (body or {}).items() if k != "_idem"} or None
        r = bob.request(method, path, json=payload, headers=headers)
        ok = r.status_code < 300
        if path.startswith("/train") and payload and payload["name"] == "alices-gen":
            ok = False  # bob may have his own "alices-gen": names live in each owner's namespace
            if r.status_code == 202:
                bob.post(f"/jobs/{r.json()['id']}/cancel")
        unexpected += ok
        rows.append({"method": method, "path": path.split("?")[0], "status": r.status_code})
    listed = {m["name"] for m in bob.get("/models").json()}
    unexpected += "alices-gen" in listed
    jobs = bob.get("/jobs").json()["items"]
    unexpected += any(j["id"] in (job["id"], train["id"]) for j in jobs)
    return {"calls": len(rows) + 2, "unexpected_successes": unexpected, "rows": rows}


def quota(alice: httpx.Client, bob: httpx.Client) -> dict:
    ids: list[str] = []
    codes: list[int] = []

    def submit() -> None:
        r = bob.post("/generate", params={"finding": "mass", "n": 1, "sampler": "ddpm", "steps": 1000, "qc": False})
        codes.append(r.status_code)
        if r.status_code == 202:
            ids.append(r.json()["id"])

    threads = [threading.Thread(target=submit) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    active_concurrent = sum(j["status"] in ("queued", "running") for j in bob.get("/jobs?limit=200").json()["items"])
    for job_id in ids:
        bob.post(f"/jobs/{job_id}/cancel")
    held = [alice.post("/generate", params={"finding": "mass", "n": 1, "sampler": "ddpm", "steps": 1000,
                                             "qc": False}).json()["id"] for _ in range(QUOTA - 1)]
    for _ in range(500):
        r = alice.post("/generate", params={"finding": "mass", "n": 1, "qc": False, "steps": 2})
        if r.status_code == 202:
            alice.post(f"/jobs/{r.json()['id']}/cancel")
    extra = [alice.post("/generate", params={"finding": "mass", "n": 1, "qc": False, "steps": 2}).status_code
             for _ in range(3)]
    for job_id in held:
        alice.post(f"/jobs/{job_id}/cancel")
    return {"limit": QUOTA, "concurrent_submits": 50, "accepted": codes.count(202), "refused_429": codes.count(429),
            "active_after_concurrent_burst": active_concurrent,
            "after_500_cancel_rounds_accepted_of_3_more": extra.count(202), "free_slots_then": 1}


def job_of(http: httpx.Client, job_id: str) -> dict:
    return http.get(f"/jobs/{job_id}").json()


def wait_for(http: httpx.Client, job_id: str, check, what: str, timeout: float = 120) -> dict:
    def ready() -> dict | None:
        job = job_of(http, job_id)
        return job if check(job) else None

    return wait_until(ready, timeout, 0.02, what)


def cancel_and_time(http: httpx.Client, job_id: str) -> float:
    t0 = time.monotonic()
    http.post(f"/jobs/{job_id}/cancel")
    wait_for(http, job_id, lambda j: j["status"] == "cancelled", "the cancel", 60)
    return time.monotonic() - t0


def cancel_latency(d: Deployment, alice: httpx.Client, rounds: int = 5) -> dict:
    single, batched, step_s = [], [], []
    slow = {"finding": "mass", "n": 1, "sampler": "ddpm", "steps": 1000, "qc": False}
    for _ in range(rounds):
        job = alice.post("/generate", params=slow).json()["id"]
        first = wait_for(alice, job, lambda j: j["progress"].get("step", 0) > 3, "sampling")
        time.sleep(1.0)
        step_s.append(1.0 / max(1, job_of(alice, job)["progress"]["step"] - first["progress"]["step"]))
        single.append(cancel_and_time(alice, job))
    for _ in range(rounds):
        busy = alice.post("/generate", params=slow).json()["id"]
        wait_for(alice, busy, lambda j: j["status"] == "running", "the busy job")
        members = [alice.post("/generate", params=slow | {"seed": 100 + i}).json()["id"] for i in range(3)]
        alice.post(f"/jobs/{busy}/cancel")
        wait_for(alice, members[0], lambda j: "batch" in j["progress"].get("message", ""), "the batch")
        batched.append(cancel_and_time(alice, members[1]))
        for m in (members[0], members[2]):
            alice.post(f"/jobs/{m}/cancel")
        for m in (members[0], members[2]):
            wait_job(alice, m)
    return {"single_p50_s": statistics.median(single), "single_p95_s": pct(single, 95),
            "batched_p50_s": statistics.median(batched), "batched_p95_s": pct(batched, 95),
            "one_step_s_median": statistics.median(step_s), "rounds": rounds}


def upload_burst(d: Deployment, alice: httpx.Client, n: int = 30) -> dict:
    import numpy as np
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.zeros((8192, 8192), np.uint8)).save(buf, format="PNG", optimize=True)
    data = buf.getvalue()
    health: list[float] = []
    done = threading.Event()

    def poll_health() -> None:
        with client(d, None) as h:
            while not done.is_set():
                t0 = time.monotonic()
                h.get("/health")
                health.append(time.monotonic() - t0)
                time.sleep(0.05)

    codes: list[int] = []

    def upload() -> None:
        with client(d, ALICE) as c:
            codes.append(c.post("/explain", files={"file": ("big.png", data)}).status_code)

    poller = threading.Thread(target=poll_health)
    poller.start()
    t0 = time.monotonic()
    threads = [threading.Thread(target=upload) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    burst_s = time.monotonic() - t0
    done.set()
    poller.join()
    for j in alice.get("/jobs?kind=explain&limit=200").json()["items"]:
        alice.post(f"/jobs/{j['id']}/cancel")
    return {"uploads": n, "upload_bytes": len(data), "statuses": {str(c): codes.count(c) for c in set(codes)},
            "burst_s": round(burst_s, 2), "health_calls": len(health),
            "health_p50_ms": round(1000 * statistics.median(health), 1),
            "health_p99_ms": round(1000 * pct(health, 99), 1)}


def failed_logins(d: Deployment, limit: int) -> dict:
    with client(d, None) as c:
        codes = [c.get("/jobs", headers={"X-API-Key": f"guess-{i}"}).status_code for i in range(limit + 30)]
    return {"limit_per_minute": limit, "answered_401": codes.count(401), "answered_429": codes.count(429)}


def first_drill(report: dict) -> None:
    """The first drill's figures (cross-owner access, quotas, cancel latency, upload burst, failed logins)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        gen, clf = tiny_models(root / "models-src")
        d = Deployment(root / "deploy", gen, clf, max_active_jobs=QUOTA, auth_failures_per_minute=20,
                       env={"RADSYNTH_API_KEYS": f"{ALICE}:alice,{BOB}:bob",
                            "RADSYNTH_DATASETS": f"fixtures={NIH}:nih",
                            "RADSYNTH_MAX_PIXELS": str(8192 * 8192)})
        try:
            d.start_redis()
            d.start_api()
            d.start_worker("w1")
            alice, bob = client(d, ALICE), client(d, BOB)
            for name, run in (("cross_owner", lambda: cross_owner(d, alice, bob)), ("quota", lambda: quota(alice, bob)),
                              ("cancel_latency", lambda: cancel_latency(d, alice)),
                              ("upload_burst", lambda: upload_burst(d, alice)),
                              ("failed_logins", lambda: failed_logins(d, 20))):
                report[name] = run()
                print(name, json.dumps(report[name])[:400], flush=True)
        finally:
            d.stop_all()


def second_drill(report: dict) -> None:
    """The second drill's figures, each section on its own deployment state (see scripts/drill_second.py)."""
    from scripts import drill_second as drill

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        gen, clf = tiny_models(root / "models-src")
        d = Deployment(root / "deploy", gen, clf, auth_failures_per_minute=20,
                       env={"RADSYNTH_API_KEYS": f"{ALICE}:alice,{BOB}:bob",
                            "RADSYNTH_DATASETS": f"fixtures={NIH}:nih",
                            "RADSYNTH_MAX_CLASSIFY_BYTES": str(64 * 2**20),
                            "RADSYNTH_MAX_DATASET_BYTES": str(64 * 2**20)})
        try:
            d.start_redis()
            d.start_api()
            d.start_worker("w1")
            alice, bob = client(d, ALICE), client(d, BOB)
            sections = (("manifest_escapes", lambda: drill.manifest_escapes(d, alice, bob, NIH)),
                        ("dicom_bombs", lambda: drill.dicom_bombs(d, alice)),
                        ("planted_phi", lambda: drill.planted_phi(d, alice)),
                        ("upload_memory_3", lambda: drill.upload_memory(d, BOB, 3, 60)),
                        ("upload_memory_10", lambda: drill.upload_memory(d, BOB, 10, 60)),
                        ("webhook_addresses", lambda: drill.webhook_addresses(alice)),
                        ("forwarded_headers", lambda: drill.forwarded_headers(d, 20)))
            for name, run in sections:
                report[name] = run()
                print(name, json.dumps(report[name])[:400], flush=True)
        finally:
            d.stop_all()
        report["killed_workers"] = drill.killed_workers({"tiny-gen": gen, "tiny-clf": clf}, NIH, root / "serve")
        print("killed_workers", json.dumps(report["killed_workers"]), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("first", "second", "all"), default="all")
    parser.add_argument("--out", default=None, help="default: bench/results/security_drill[_second].json")
    args = parser.parse_args()
    for part, run, default in (("first", first_drill, "bench/results/security_drill.json"),
                               ("second", second_drill, "bench/results/security_drill_second.json")):
        if args.part not in (part, "all"):
            continue
        report: dict = {"measured": time.strftime("%Y-%m-%d")}
        run(report)
        out = Path(args.out or default)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2))
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
