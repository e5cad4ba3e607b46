"""The README's run command (`radsynth-serve`) as a user starts it: its own Redis, one worker for generate and
explain and another for training, so that a generate job starts while a training job runs."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from core.redis_server import free_port
from tests.conftest import NIH
from tests.integration.deployment import wait_until

REPO = Path(__file__).resolve().parents[2]


def test_generate_starts_while_a_training_job_runs(tmp_path, tiny_generator_dir, tiny_classifier_dir):
    models = tmp_path / "models"
    shutil.copytree(tiny_generator_dir, models / "tiny-gen")
    shutil.copytree(tiny_classifier_dir, models / "tiny-clf")
    port = free_port()
    env = os.environ | {
        "RADSYNTH_DATA_DIR": str(tmp_path / "var"), "RADSYNTH_MODEL_DIRS": str(models),
        "RADSYNTH_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",  # nothing there: the command starts its own
        "RADSYNTH_DEFAULT_GENERATOR": "tiny-gen", "RADSYNTH_DEFAULT_CLASSIFIER": "tiny-clf",
        "RADSYNTH_DATASETS": f"fixtures={NIH}:nih", "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
        "RADSYNTH_RATE_LIMIT_PER_MINUTE": "0",  # the test polls faster than a person
    }
    env.pop("RADSYNTH_API_KEYS", None)
    log = open(tmp_path / "serve.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "app.launcher", "--port", str(port)], env=env, cwd=REPO,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    try:
        def both_workers() -> dict | None:
            try:
                queues = http.get("/health").json()["worker_queues"]
            except (httpx.HTTPError, KeyError, ValueError):
                return None
            names = {name.split("@")[0]: served for name, served in queues.items()}
            return names if {"interactive0", "train"} <= set(names) else None

        names = wait_until(both_workers, 120, interval=1, what="both workers in /health")
        assert names["interactive0"] == ["interactive"] and names["train"] == ["train"]

        train = http.post("/train", json={"kind": "generator", "dataset": "fixtures", "steps": 50_000,
                                          "resolution": 16, "batch_size": 4, "name": "long-run"})
        assert train.status_code == 202, train.text
        train_id = train.json()["id"]
        wait_until(lambda: http.get(f"/jobs/{train_id}").json()["status"] == "running", 60, what="training to run")

        gen = http.post("/generate", params={"finding": "consolidation", "n": 1, "steps": 2, "qc": False,
                                             "format": "png"})
        assert gen.status_code == 202, gen.text
        gen_id = gen.json()["id"]
        record = wait_until(lambda: (r := http.get(f"/jobs/{gen_id}").json())["started_at"] and r, 30, interval=0.2,
                            what="the generate job to start")
        assert record["started_at"] - record["created_at"] <= 10, record
        assert http.get(f"/jobs/{train_id}").json()["status"] == "running"
        http.post(f"/jobs/{train_id}/cancel")
        a_killed_worker_is_restarted_and_its_job_completes_once(http, proc.pid, tmp_path / "var")
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
    log_text = (tmp_path / "serve.log").read_text()
    assert "all processes stopped" in log_text
    assert "worker0 exited with code -9; restarting it in 1 s" in log_text and "worker0 restarted" in log_text


def child_pid(parent: int, marker: str) -> int:
    """The direct child of `parent` whose command line holds `marker`."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == parent and marker in cmdline:
            return int(stat.parent.name)
    raise AssertionError(f"no child of {parent} runs {marker!r}")


def a_killed_worker_is_restarted_and_its_job_completes_once(http, launcher: int, var: Path) -> None:
    """SIGKILL the generate worker's main process mid-job: the launcher restarts it within 10 s, the API keeps
    answering, the job is requeued at once and completes with one end, and the dead run's work folder is gone."""
    import time

    job = http.post("/generate", params={"finding": "mass", "n": 1, "sampler": "ddpm", "steps": 1000, "qc": False,
                                         "format": "png"}).json()
    wait_until(lambda: http.get(f"/jobs/{job['id']}").json()["progress"]["step"] > 0, 60, interval=0.2,
               what="the job to be running")
    worker = child_pid(launcher, "interactive0@")
    os.kill(worker, signal.SIGKILL)
    killed_at = time.monotonic()
    wait_until(lambda: child_pid_or_none(launcher, "interactive0@") not in (None, worker), 10, interval=0.2,
               what="the worker to be restarted")
    assert time.monotonic() - killed_at <= 10
    assert http.get("/health").status_code == 200  # the API stayed up
    done = wait_until(lambda: (r := http.get(f"/jobs/{job['id']}").json())["status"] in ("succeeded", "failed")
                      and r, 120, interval=0.5, what="the requeued job to end")
    assert done["status"] == "succeeded" and done["deliveries"] == 2, done
    names = [a["name"] for a in done["artifacts"]]
    assert len(set(names)) == len(names) and sum(n.startswith("000_") for n in names) == 1, names
    assert not list((var / "tmp").glob(f"{job['id']}-*"))  # the dead delivery's work folder was removed


def child_pid_or_none(parent: int, marker: str) -> int | None:
    try:
        return child_pid(parent, marker)
    except AssertionError:
        return None
