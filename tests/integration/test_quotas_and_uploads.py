"""Active-job quotas hold under concurrency and after many cancelled jobs; refused or orphaned uploads are not
kept. A real redis-server (the service's) and the real app."""

from __future__ import annotations

import os
import threading
import time

from core.jobs import JobStore, TooManyJobs
from tests.conftest import NIH_UPLOAD
from tests.integration.conftest import headers


def store_of(service) -> JobStore:
    return JobStore.from_url(service["env"]["RADSYNTH_REDIS_URL"])


def test_concurrent_submits_never_exceed_the_quota(service):
    store, limit, made, refused = store_of(service), 3, [], []
    owner = f"quota-{time.time_ns()}"
    barrier = threading.Barrier(50)

    def submit() -> None:
        barrier.wait()
        try:
            made.append(store.create("generate", owner, {"finding": "Mass"}, max_active=limit)[0].id)
        except TooManyJobs:
            refused.append(1)

    threads = [threading.Thread(target=submit) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(made) == limit and len(refused) == 50 - limit
    assert store.active_jobs(owner) == limit
    for job_id in made:  # leave nothing queued for the shared worker
        store.cancel(job_id, owner)
    assert store.active_jobs(owner) == 0


def test_the_quota_still_counts_old_jobs_after_500_cancelled_ones(service):
    store, limit = store_of(service), 5
    owner = f"churn-{time.time_ns()}"
    held = [store.create("generate", owner, {"finding": "Mass"}, max_active=limit)[0].id for _ in range(3)]
    for _ in range(500):
        job = store.create("generate", owner, {"finding": "Mass"}, max_active=limit)[0]
        store.cancel(job.id, owner)
    assert store.active_jobs(owner) == 3
    more = []
    for _ in range(4):
        try:
            more.append(store.create("generate", owner, {"finding": "Mass"}, max_active=limit)[0].id)
        except TooManyJobs:
            pass
    assert len(more) == limit - 3
    for job_id in held + more:
        store.cancel(job_id, owner)


def uploads_on_disk(service) -> set[str]:
    root = service["root"] / "var" / "artifacts"
    return {p.name for p in root.iterdir() if (p / "input").exists()} if root.exists() else set()


def test_an_upload_refused_for_the_quota_is_not_kept(client, service, monkeypatch):
    from core.settings import get_settings

    store = store_of(service)
    before = uploads_on_disk(service)
    monkeypatch.setenv("RADSYNTH_MAX_ACTIVE_JOBS", "1")
    get_settings.cache_clear()
    try:
        blocker = client.post("/generate?finding=mass&n=1&sampler=ddpm&steps=1000&qc=false", headers=headers("bob"))
        assert blocker.status_code == 202
        r = client.post("/explain", files={"file": ("x.png", NIH_UPLOAD.read_bytes())}, headers=headers("bob"))
        assert r.status_code == 429, r.text
        assert uploads_on_disk(service) == before
    finally:
        get_settings.cache_clear()
        store.cancel(blocker.json()["id"], "bob")


def test_uploads_no_job_refers_to_are_swept_after_the_grace_period(service):
    from core.artifacts import LocalArtifactStore
    from worker.tasks import sweep_orphaned_uploads

    artifacts = LocalArtifactStore(service["root"] / "var" / "artifacts")
    artifacts.put_bytes("0" * 31 + "a", "input", b"orphan")
    old = time.time() - 7200
    os.utime(service["root"] / "var" / "artifacts" / ("0" * 31 + "a") / "input", (old, old))
    swept = sweep_orphaned_uploads(3600)
    assert "0" * 31 + "a" in swept and "0" * 31 + "a" not in uploads_on_disk(service)
    assert not set(swept) & uploads_on_disk(service)


def test_health_answers_while_large_uploads_are_decoded(live_api):
    """Large uploads are decoded off the event loop: /health keeps answering during a burst instead of waiting
    behind every decode (it took 30 s during 28 at-limit uploads before)."""
    import io
    import threading

    import httpx
    import numpy as np
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.zeros((4000, 4000), np.uint8)).save(buf, format="PNG")
    data, latencies, done = buf.getvalue(), [], threading.Event()

    def upload() -> None:
        with httpx.Client(base_url=live_api, headers=headers(), timeout=120) as c:
            c.post("/explain", files={"file": ("big.png", data)})

    def poll() -> None:
        with httpx.Client(base_url=live_api, timeout=120) as c:
            while not done.is_set():
                t0 = time.monotonic()
                c.get("/health")
                latencies.append(time.monotonic() - t0)

    threads = [threading.Thread(target=upload) for _ in range(6)]
    poller = threading.Thread(target=poll)
    t0 = time.monotonic()
    for t in threads:
        t.start()
    poller.start()
    for t in threads:
        t.join()
    burst = time.monotonic() - t0
    done.set()
    poller.join()
    assert len(latencies) >= 5 and max(latencies) < burst / 3, (max(latencies), burst, len(latencies))
