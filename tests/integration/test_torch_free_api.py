"""The slim API image has no torch: the API must start and serve with torch, diffusers, captum and monai
unimportable. The real app runs under uvicorn in a subprocess whose import system refuses those packages."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from core.redis_server import free_port, start_redis
from tests.conftest import NIH, NIH_UPLOAD, SIIM
from tests.integration.deployment import wait_until

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "diffusers", "captum", "monai", "torchvision")
LAUNCH = f"""
import importlib.abc, sys

class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in {HEAVY!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}} (the api image has no torch)")
        return None

sys.meta_path.insert(0, Refuse())
import uvicorn
uvicorn.run("app.main:app", host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


def test_api_starts_and_serves_without_torch(tmp_path, tiny_generator_dir, tiny_classifier_dir):
    import shutil

    models = tmp_path / "models"
    shutil.copytree(tiny_generator_dir, models / "tiny-gen")
    shutil.copytree(tiny_classifier_dir, models / "tiny-clf")
    redis_port, port = free_port(), free_port()
    redis = start_redis(redis_port, tmp_path / "redis")
    env = os.environ | {
        "RADSYNTH_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0", "RADSYNTH_DATA_DIR": str(tmp_path / "var"),
        "RADSYNTH_MODEL_DIRS": str(models), "RADSYNTH_DEFAULT_GENERATOR": "tiny-gen",
        "RADSYNTH_DEFAULT_CLASSIFIER": "tiny-clf", "RADSYNTH_API_KEYS": "slim-key-0123456789:alice",
        "RADSYNTH_DATASETS": f"fixtures={NIH}:nih",
    }
    log = open(tmp_path / "api.log", "wb")
    api = subprocess.Popen([sys.executable, "-c", LAUNCH, str(port)], env=env, cwd=REPO, stdout=log,
                           stderr=subprocess.STDOUT)
    http = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"X-API-Key": "slim-key-0123456789"},
                        timeout=30)
    try:
        def up() -> bool:
            assert api.poll() is None, (tmp_path / "api.log").read_text()
            try:
                return http.get("/health").status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(up, 60, what="the torch-free API")
        assert http.get("/models").status_code == 200 and http.get("/findings").status_code == 200
        assert http.post("/generate", params={"finding": "consolidation", "n": 1}).status_code == 202
        for path in (NIH_UPLOAD, SIIM):
            r = http.post("/explain", files={"file": (path.name, path.read_bytes())})
            assert r.status_code == 202, r.text
        r = http.post("/train", json={"kind": "generator", "dataset": "fixtures", "steps": 1, "name": "slim-gen"})
        assert r.status_code == 202, r.text
        assert http.get("/jobs").status_code == 200 and http.get("/").status_code == 200
        assert "No module named" not in (tmp_path / "api.log").read_text()
    finally:
        api.terminate()
        api.wait(20)
        redis.terminate()
        redis.wait(10)
