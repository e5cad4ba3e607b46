"""A whole RadSynth deployment as real processes (redis-server, Celery workers, the uvicorn API) that tests and the
fault drill can kill and restart. Each process runs in its own session, so killing it kills its pool children."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
KEY = "fault-key-0123456789"


def wait_until(predicate, timeout: float, interval: float = 0.2, what: str = "condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out waiting for {what}")


def radsynth_env(settings: dict) -> dict[str, str]:
    """Settings as the RADSYNTH_* variables the processes read."""
    return {f"RADSYNTH_{k.upper()}": str(v) for k, v in settings.items()}


class Deployment:
    """Redis (AOF on) + API + named workers, all sharing one data folder and tiny models."""

    def __init__(self, root: Path, generator_dir: Path, classifier_dir: Path, *, env: dict[str, str] | None = None,
                 **settings):
        from core.redis_server import free_port

        self.root = Path(root)
        models = self.root / "models"
        models.mkdir(parents=True, exist_ok=True)
        for src, name in ((generator_dir, "tiny-gen"), (classifier_dir, "tiny-clf")):
            if not (models / name).exists():
                shutil.copytree(src, models / name)
        self.redis_port, self.api_port = free_port(), free_port()
        self.env = os.environ | {
            "RADSYNTH_REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "RADSYNTH_DATA_DIR": str(self.root / "var"), "RADSYNTH_MODEL_DIRS": str(models),
            "RADSYNTH_DEFAULT_GENERATOR": "tiny-gen", "RADSYNTH_DEFAULT_CLASSIFIER": "tiny-clf",
            "RADSYNTH_API_KEYS": f"{KEY}:drill", "RADSYNTH_RATE_LIMIT_PER_MINUTE": "0",
            "RADSYNTH_MAX_ACTIVE_JOBS": "0", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1",
        } | (env or {}) | radsynth_env(settings)
        self.procs: dict[str, subprocess.Popen] = {}
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.api_port}", headers={"X-API-Key": KEY},
                                 timeout=30)

    # -- processes --------------------------------------------------------------------------------------
    def _start(self, name: str, cmd: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        log = open(self.root / f"{name}.log", "ab")
        proc = subprocess.Popen(cmd, env=self.env | (env or {}), cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        self.procs[name] = proc
        return proc

    def start_redis(self) -> None:
        from core.redis_server import reachable, redis_command

        (self.root / "redis").mkdir(exist_ok=True)
        self._start("redis", redis_command(self.redis_port, (self.root / "redis").resolve()))
        wait_until(lambda: reachable(self.env["RADSYNTH_REDIS_URL"]), 15, 0.05, "redis")

    def start_api(self) -> None:
        from core.processes import api_command

        self._start("api", api_command(port=self.api_port))
        wait_until(self._api_up, 60, 0.3, "the API")

    def start_worker(self, name: str = "worker", *, wait: bool = True, **settings) -> subprocess.Popen:
        """A worker; `settings` override the deployment's for it alone (e.g. its own data_dir, as on another host)."""
        from core.processes import worker_command

        proc = self._start(name, worker_command(name=name), radsynth_env(settings))
        if wait:
            wait_until(lambda: self.pool_children(name), 90, 0.3, f"{name}'s pool process")
        return proc

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Signal a process and everything it started (as a host or container dying would)."""
        proc = self.procs[name]
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        proc.wait(30)

    def pool_children(self, name: str) -> list[int]:
        pid = self.procs[name].pid
        try:
            return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        except OSError:
            return []

    def stop_all(self) -> None:
        self.http.close()
        for name in list(self.procs)[::-1]:
            if self.procs[name].poll() is None:
                try:
                    os.killpg(self.procs[name].pid, signal.SIGTERM)
                    self.procs[name].wait(20)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    self.kill(name)

    def _api_up(self, status: str | None = None) -> bool:
        try:
            r = self.http.get("/health")
        except httpx.HTTPError:
            return False
        return r.status_code == 200 and (status is None or r.json().get("status") == status)

    def wait_healthy(self, timeout: float = 90) -> None:
        """Until /health says ok: Redis, the store and a worker on every queue."""
        wait_until(lambda: self._api_up("ok"), timeout, 0.5, "/health to say ok")

    # -- jobs -------------------------------------------------------------------------------------------
    def generate(self, **params) -> str:
        query = {"finding": "mass", "n": 1, "steps": 2, "qc": "false"} | params
        r = self.http.post("/generate", params=query)
        assert r.status_code == 202, r.text
        return r.json()["id"]

    def job(self, job_id: str) -> dict:
        return self.http.get(f"/jobs/{job_id}").json()

    def wait_status(self, job_id: str, statuses: tuple[str, ...] = ("succeeded", "failed", "cancelled"),
                    timeout: float = 180, min_step: int = 0) -> dict:
        def poll():
            try:
                job = self.job(job_id)
            except httpx.HTTPError:
                return None
            return job if job["status"] in statuses and job["progress"].get("step", 0) >= min_step else None
        return wait_until(poll, timeout, 0.2, f"job {job_id} to reach {statuses}")
