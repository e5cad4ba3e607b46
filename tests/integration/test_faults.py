"""Faults survived by real processes: workers SIGKILLed mid-job (whole worker, or only its pool child as the OOM
killer does), a poison job, and Redis killed with jobs queued. The fast subset of `scripts/fault_drill.py`."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from tests.integration.deployment import REPO, Deployment, wait_until

SLOW_JOB = {"n": 4, "sampler": "ddpm", "steps": 1000}  # ~10 s on one CPU thread with the tiny model


@pytest.fixture
def deployment(tmp_path, tiny_generator_dir, tiny_classifier_dir):
    d = Deployment(tmp_path, tiny_generator_dir, tiny_classifier_dir, heartbeat_timeout=4, max_deliveries=2)
    d.start_redis()
    d.start_api()
    yield d
    d.stop_all()


def stored_files(d: Deployment, job_id: str) -> list[str]:
    folder = d.root / "var" / "artifacts" / job_id
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_a_job_survives_its_whole_worker_being_killed(deployment):
    d = deployment
    d.start_worker("w1")
    job_id = d.generate(**SLOW_JOB)
    d.wait_status(job_id, ("running",), min_step=20)
    d.kill("w1")  # the worker and its pool child die together, leaving the message unacked in Redis
    d.start_worker("w2")
    job = d.wait_status(job_id)
    assert job["status"] == "succeeded", job
    assert job["deliveries"] == 2
    names = stored_files(d, job_id)
    assert len(names) == len(set(names)) == len(job["artifacts"]) and not [n for n in names if n.startswith(".tmp")]


def test_a_job_survives_its_pool_child_being_killed(deployment):
    d = deployment
    d.start_worker("w1")
    job_id = d.generate(**SLOW_JOB)
    d.wait_status(job_id, ("running",), min_step=20)
    os.kill(d.pool_children("w1")[0], signal.SIGKILL)  # as the OOM killer would
    job = d.wait_status(job_id)
    assert job["status"] == "succeeded", job
    assert job["deliveries"] == 2


def test_a_poison_job_fails_after_the_delivery_limit(deployment):
    d = deployment
    d.start_worker("w1")
    job_id = d.generate(**SLOW_JOB)
    for delivery in (1, 2):  # max_deliveries=2: each delivery kills its worker's pool process
        wait_until(lambda n=delivery: d.job(job_id)["deliveries"] == n and d.job(job_id)["progress"].get("step", 0)
                   > 5, 90, 0.2, f"delivery {delivery}")
        os.kill(d.pool_children("w1")[0], signal.SIGKILL)
    job = d.wait_status(job_id)
    assert job["status"] == "failed" and job["error"]["code"] == "redelivery_limit", job
    assert "2 times" in job["error"]["message"]
    quick = d.generate()  # the worker still serves other jobs
    assert d.wait_status(quick)["status"] == "succeeded"


def test_queued_jobs_survive_redis_being_killed(deployment):
    d = deployment
    ids = [d.generate(seed=i) for i in range(5)]  # no worker yet: all stay queued
    wait_until(lambda: os.path.getsize(next((d.root / "redis").rglob("*.aof*"))) > 0, 10, 0.2, "the AOF file")
    import time

    time.sleep(1.5)  # appendfsync everysec
    d.kill("redis")
    for method, path in (("GET", "/jobs"), ("GET", f"/jobs/{ids[0]}"), ("POST", "/generate?finding=mass&n=1")):
        r = d.http.request(method, path)
        assert r.status_code == 503 and r.headers["Retry-After"], (method, path, r.status_code, r.text)
        assert r.json()["error"]["code"] == "unavailable"
    d.start_redis()
    d.start_worker("w1")
    jobs = [d.wait_status(i) for i in ids]
    assert [j["status"] for j in jobs] == ["succeeded"] * 5


def test_a_redelivered_message_of_a_running_job_is_dropped(deployment):
    """What Redis does when a job outlives the visibility timeout: deliver its message again. The second
    delivery finds the job running in a live process with a fresh heartbeat, and drops the message."""
    from core.kinds import queue_of
    from core.queue import make_celery

    d = deployment
    d.start_worker("w1")
    d.start_worker("w2")
    job_id = d.generate(**SLOW_JOB)
    d.wait_status(job_id, ("running",), min_step=20)
    os.environ["RADSYNTH_REDIS_URL"], saved = d.env["RADSYNTH_REDIS_URL"], os.environ.get("RADSYNTH_REDIS_URL")
    from core.settings import get_settings

    get_settings.cache_clear()
    try:
        make_celery().send_task("radsynth.run_job", args=[job_id, 0], queue=queue_of("generate"))
    finally:
        if saved is None:
            os.environ.pop("RADSYNTH_REDIS_URL")
        else:
            os.environ["RADSYNTH_REDIS_URL"] = saved
        get_settings.cache_clear()
    job = d.wait_status(job_id)
    assert job["status"] == "succeeded" and job["deliveries"] == 1, job
    logs = "".join((d.root / f"{w}.log").read_text() for w in ("w1", "w2"))
    assert "duplicate and is dropped" in logs
    assert logs.count(f"job {job_id} ended") == 1


def test_the_api_restarted_while_jobs_run_keeps_their_status_and_artifacts(deployment):
    """The API process is SIGKILLed mid-job and started again: jobs carry on in the worker, and afterwards every
    status is right and every artifact downloads byte for byte; an idempotent resubmit finds the same job."""
    d = deployment
    d.start_worker("w1")
    slow = d.generate(**SLOW_JOB)
    r = d.http.post("/generate", params={"finding": "mass", "n": 1, "steps": 2, "qc": "false"},
                    headers={"Idempotency-Key": "restart-drill"})
    keyed = r.json()["id"]
    quick = [d.generate(seed=i) for i in range(3)]
    d.wait_status(slow, ("running",), min_step=20)
    d.kill("api")
    d.start_api()
    jobs = [d.wait_status(i) for i in [slow, keyed, *quick]]
    assert [j["status"] for j in jobs] == ["succeeded"] * 5, jobs
    assert jobs[0]["deliveries"] == 1  # the worker never noticed the API going away
    for job in jobs:
        assert job["artifacts"] and stored_files(d, job["id"])
        for art in job["artifacts"]:
            got = d.http.get(art["url"])
            assert got.status_code == 200
            assert got.content == (d.root / "var" / "artifacts" / job["id"] / art["name"]).read_bytes()
    again = d.http.post("/generate", params={"finding": "mass", "n": 1, "steps": 2, "qc": "false"},
                        headers={"Idempotency-Key": "restart-drill"})
    assert again.json()["id"] == keyed


def test_cancelled_jobs_never_produce_results_across_a_worker_restart(deployment):
    """Under a queue of work, one running and one queued job are cancelled while their worker is frozen, then
    the worker is SIGKILLed and replaced: both end cancelled with no artifacts, the running one never runs
    again, and the rest of the queue succeeds."""
    d = deployment
    d.start_worker("w1")
    running = d.generate(**SLOW_JOB)
    queued = [d.generate(seed=i, steps=20) for i in range(6)]
    d.wait_status(running, ("running",), min_step=20)
    child = d.pool_children("w1")[0]
    os.kill(child, signal.SIGSTOP)  # frozen: it cannot notice the cancel before it dies
    cancelled = [running, queued[2]]
    for job_id in cancelled:
        assert d.http.post(f"/jobs/{job_id}/cancel").status_code == 200
    d.kill("w1")
    d.start_worker("w2")
    jobs = {i: d.wait_status(i) for i in [running, *queued]}
    for job_id, job in jobs.items():
        if job_id in cancelled:
            assert job["status"] == "cancelled" and not job["artifacts"] and not stored_files(d, job_id), job
        else:
            assert job["status"] == "succeeded", job
    assert jobs[running]["deliveries"] == 1 and jobs[queued[2]]["deliveries"] == 0
    assert "after a cancel request; cancelled" in (d.root / "w2.log").read_text()


def test_unsafe_timeouts_are_refused_at_start():
    """A visibility timeout shorter than the time limit would let Redis run long jobs twice: workers refuse it."""
    import subprocess

    from core.processes import worker_command

    env = os.environ | {"RADSYNTH_VISIBILITY_TIMEOUT": "60", "RADSYNTH_TASK_TIME_LIMIT": "120",
                        "RADSYNTH_TASK_SOFT_TIME_LIMIT": "100", "RADSYNTH_REDIS_URL": "redis://127.0.0.1:1/0"}
    out = subprocess.run(worker_command(), env=env, capture_output=True, text=True, timeout=120,
                         cwd=REPO)
    assert out.returncode != 0 and "RADSYNTH_VISIBILITY_TIMEOUT" in out.stderr + out.stdout


def test_a_running_job_is_requeued_as_soon_as_redis_returns(tmp_path, tiny_generator_dir, tiny_classifier_dir):
    """Redis killed and restarted under a running job: the worker notices the lost connection and puts the job
    back in its queue when Redis answers, long before the reaper's heartbeat timeout (60 s here) would."""
    import time

    d = Deployment(tmp_path, tiny_generator_dir, tiny_classifier_dir, heartbeat_timeout=60)
    try:
        d.start_redis()
        d.start_api()
        d.start_worker("w1")
        job_id = d.generate(sampler="ddpm", steps=300, seed=3)
        wait_until(lambda: d.job(job_id)["progress"].get("step", 0) > 5, 90, 0.2, "the job to sample")
        time.sleep(1.5)  # appendfsync everysec: the running state is on disk
        d.kill("redis")
        time.sleep(2)
        d.start_redis()
        back = time.monotonic()
        requeued = wait_until(lambda: (j := d.job(job_id))["deliveries"] >= 2 and j, 30, 0.2,
                              "the job to be delivered again")
        assert time.monotonic() - back < 30 and requeued["status"] in ("queued", "running", "succeeded")
        assert d.wait_status(job_id, timeout=240)["status"] == "succeeded"
    finally:
        d.stop_all()


def test_a_synthesize_job_resumes_after_its_worker_is_killed_with_no_image_missing_or_made_twice(deployment):
    d = deployment
    d.start_worker("w1", synthesize_batch=3)
    body = {"name": "syn-killed", "per_finding": {"mass": 3, "effusion": 3, "nodule": 3}, "sampler": "ddpm",
            "steps": 300, "qc": {"reject_copies": False}}  # batches of 3 (one per finding), a few seconds each
    r = d.http.post("/synthesize", json=body)
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    d.wait_status(job_id, ("running",), min_step=3)  # the first finding's chunk is written
    d.kill("w1")
    killed_at = time.time()
    d.start_worker("w2", synthesize_batch=3)
    job = d.wait_status(job_id)
    assert job["status"] == "succeeded", job
    assert job["deliveries"] == 2 and job["result"]["images"] == 9
    [folder] = [p for p in (d.root / "var").rglob("*syn-killed") if p.is_dir()]
    rows = [json.loads(line) for line in (folder / "rows.jsonl").read_text().splitlines() if line.strip()]
    assert sorted(r["index"] for r in rows) == list(range(9))  # every image once: none lost, none made twice
    images = sorted((folder / "images").glob("*.png"))
    assert [p.name for p in images] == [f"syn_{i:06d}.png" for i in range(9)]
    first_chunk = [p for p in images if int(p.stem.split("_")[1]) < 3]
    assert all(p.stat().st_mtime < killed_at for p in first_chunk)  # kept from before the kill, not redrawn
    listed = d.http.get("/datasets/syn-killed").json()
    assert listed["images"] == 9 and listed["per_finding"] == {"Mass": 3, "Effusion": 3, "Nodule": 3}


def processes_with(text: str) -> set[int]:
    """PIDs whose command line contains `text` (the launcher and ranks of one training run)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text in (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                    found.add(int(entry.name))
            except OSError:
                continue
    return found


def test_a_torchrun_training_job_stops_every_rank_with_its_worker_and_resumes_on_redelivery(tmp_path,
                                                                                            tiny_generator_dir,
                                                                                            tiny_classifier_dir):
    d = Deployment(tmp_path, tiny_generator_dir, tiny_classifier_dir, heartbeat_timeout=4, max_deliveries=2,
                   env={"RADSYNTH_DATASETS": f"fixtures={REPO / 'tests' / 'fixtures' / 'nih'}:nih"})
    try:
        d.start_redis()
        d.start_api()
        d.start_worker("w1")
        body = {"kind": "generator", "dataset": "fixtures", "resolution": 16, "steps": 300, "batch_size": 4,
                "name": "ddp-killed", "channels": [8, 16], "ranks": 2}  # a checkpoint every 75 steps
        r = d.http.post("/train", json=body)
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]
        d.wait_status(job_id, ("running",), min_step=90, timeout=240)
        ranks = processes_with(f"runs/{job_id}")
        assert len(ranks) >= 3  # torchrun and its two ranks
        d.kill("w1")  # the worker's host dies: its ranks must not outlive it
        wait_until(lambda: not (ranks & processes_with(f"runs/{job_id}")), 60, 0.2, "the ranks to stop")
        d.start_worker("w2")
        seen = []

        def second_delivery_done():
            job = d.job(job_id)
            if job["deliveries"] == 2 and job["status"] == "running":
                seen.append(job["progress"].get("step", 0))
            return job if job["status"] in ("succeeded", "failed", "cancelled") else None

        job = wait_until(second_delivery_done, 300, 0.1, "the redelivered job to end")
        assert job["status"] == "succeeded", job
        assert job["deliveries"] == 2 and job["result"]["ranks"] == 2 and job["result"]["steps"] == 300
        assert seen and min(seen) >= 75, seen  # resumed from the checkpoint, not from step 0
    finally:
        d.stop_all()
