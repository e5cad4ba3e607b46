"""A real redis-server, a real Celery worker subprocess (prefork) and the real app, with tiny models.

Only the GPU is missing: workers run the same code on CPU. Two API keys: key-a (alice) and key-b (bob).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ADRENAL, NIH, PNEUMONIA_NPZ
from tests.integration.deployment import wait_until as wait_for

KEYS = {"alice": "key-a-0123456789", "bob": "key-b-9876543210"}
ORTHANC_PASSWORD = "orthanc-test-secret"




@pytest.fixture(scope="session")
def service(tmp_path_factory, tiny_generator_dir, tiny_classifier_dir, tiny_volume_generator_dir):
    """Start Redis and one worker; yield a dict with the environment, paths and a client factory."""
    from core.redis_server import free_port, start_redis

    root = tmp_path_factory.mktemp("service")
    models_dir = root / "models"
    models_dir.mkdir()
    gen = models_dir / "tiny-gen"
    shutil.copytree(tiny_generator_dir, gen)
    shutil.copytree(tiny_classifier_dir, models_dir / "tiny-clf")
    shutil.copytree(tiny_volume_generator_dir, models_dir / "tiny-3d")
    from models.qc.context import write_index

    write_index(gen, NIH, classifier=str(models_dir / "tiny-clf"))

    port = free_port()
    redis_proc = start_redis(port, root / "redis", log=root / "redis.log")
    # DICOMweb archives jobs may push to (test_dicomweb.py starts an Orthanc on each port when it needs one)
    archives = {"pacs": free_port(), "later": free_port()}
    targets = {"pacs": {"url": f"http://127.0.0.1:{archives['pacs']}/dicom-web", "username": "radsynth",
                        "password": ORTHANC_PASSWORD},
               "later": {"url": f"http://127.0.0.1:{archives['later']}/dicom-web"}}
    env = {
        "RADSYNTH_REDIS_URL": f"redis://127.0.0.1:{port}/0",
        "RADSYNTH_DATA_DIR": str(root / "var"),
        "RADSYNTH_MODEL_DIRS": str(models_dir),
        "RADSYNTH_DEFAULT_GENERATOR": "tiny-gen",
        "RADSYNTH_DEFAULT_CLASSIFIER": "tiny-clf",
        "RADSYNTH_API_KEYS": ",".join(f"{key}:{owner}" for owner, key in KEYS.items()),
        "RADSYNTH_DATASETS": f"fixtures={NIH}:nih,pneumonia={PNEUMONIA_NPZ}:medmnist,adrenal={ADRENAL}:medmnist3d",
        "RADSYNTH_MAX_UPLOAD_BYTES": str(3_000_000),
        "RADSYNTH_MAX_PIXELS": str(40_000_000),
        "RADSYNTH_RATE_LIMIT_PER_MINUTE": "100000",
        "RADSYNTH_AUTH_FAILURES_PER_MINUTE": "100000",  # the throttle has its own test
        "RADSYNTH_WEBHOOK_ALLOW": "127.0.0.2",  # the journey test's receiver; 127.0.0.1 (the API) stays refused
        "HF_HUB_OFFLINE": "1",
        "RADSYNTH_KIND_MODULES": "tests.integration.echo_kind",  # a toy kind (test_job_kinds.py)
        "OMP_NUM_THREADS": "1",
        "RADSYNTH_DICOMWEB_TARGETS": json.dumps(targets),
    }
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    from core.settings import get_settings

    get_settings.cache_clear()
    from core.processes import worker_command

    log = open(root / "worker.log", "wb")
    worker = subprocess.Popen(worker_command(), env=os.environ.copy(), stdout=log, stderr=subprocess.STDOUT,
                              cwd=Path(__file__).resolve().parents[2])
    from core.queue import make_celery

    probe = make_celery()
    try:
        wait_for(lambda: probe.control.ping(timeout=0.5), 60, what="the Celery worker")
        yield {"root": root, "env": env, "worker": worker, "redis": redis_proc, "models": models_dir,
               "worker_log": root / "worker.log", "archives": archives}
    finally:
        worker.terminate()
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            worker.kill()
        redis_proc.terminate()
        redis_proc.wait(10)
        log.close()
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        get_settings.cache_clear()


@pytest.fixture(scope="session")
def client(service):
    from fastapi.testclient import TestClient

    from app.main import create_app

    with TestClient(create_app(), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="session")
def live_api(service):
    """The real app served by uvicorn over HTTP (for browsers and raw sockets); yields its base URL."""
    import urllib.request

    from core.processes import api_command
    from core.redis_server import free_port

    port = free_port()
    server = subprocess.Popen(api_command("127.0.0.1", port), env=os.environ.copy(), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, cwd=Path(__file__).resolve().parents[2])
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            urllib.request.urlopen(base + "/health", timeout=1).close()
            return True
        except OSError:
            return False

    try:
        wait_for(up, 30, what="uvicorn")
        yield base
    finally:
        server.terminate()
        server.wait(10)


def headers(owner: str = "alice", **extra: str) -> dict[str, str]:
    return {"X-API-Key": KEYS[owner], **extra}


def wait_job(client, job_id: str, owner: str = "alice", timeout: float = 120, until=None) -> dict:
    """Poll GET /jobs/{id} until it ends (or `until(job)` holds)."""
    done = until or (lambda j: j["status"] in ("succeeded", "failed", "cancelled"))

    def poll():
        job = client.get(f"/jobs/{job_id}", headers=headers(owner)).json()
        return job if done(job) else None

    return wait_for(poll, timeout, interval=0.25, what=f"job {job_id}")


def dump(obj) -> str:
    return json.dumps(obj, indent=1)
