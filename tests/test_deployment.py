"""The compose file and Dockerfile pass real validators, and the native run command matches compose."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from core.processes import api_command, worker_command
from core.redis_server import DURABLE_ARGS

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="Debian's docker-compose not installed")
def test_compose_file_is_valid():
    env = os.environ | {"RADSYNTH_API_KEYS": "k:owner"}
    out = subprocess.run(["docker-compose", "-f", str(COMPOSE), "config", "-q"], env=env, capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr


def test_compose_requires_api_keys_from_the_environment():
    if shutil.which("docker-compose") is None:
        pytest.skip("docker-compose not installed")
    env = {k: v for k, v in os.environ.items() if k != "RADSYNTH_API_KEYS"}
    out = subprocess.run(["docker-compose", "-f", str(COMPOSE), "config", "-q"], env=env, capture_output=True,
                         text=True)
    assert out.returncode != 0 and "RADSYNTH_API_KEYS" in out.stderr


def test_dockerfile_passes_hadolint():
    hadolint = shutil.which("hadolint") or str(Path(os.sys.executable).parent / "hadolint")
    if not Path(hadolint).exists():
        pytest.skip("hadolint not installed")
    out = subprocess.run([hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_native_run_command_starts_what_compose_starts():
    services = compose()["services"]
    assert services["api"]["command"] == api_command("0.0.0.0", 8000, python="python")
    interactive = worker_command("interactive", name="interactive", python="python")
    train = worker_command("train", name="train", python="python")
    assert services["worker"]["command"] == services["worker-cpu"]["command"] == interactive
    assert services["worker-train"]["command"] == services["worker-train-cpu"]["command"] == train
    redis_cmd = services["redis"]["command"]
    for flag, value in zip(DURABLE_ARGS[::2], DURABLE_ARGS[1::2], strict=True):
        if flag in ("--appendonly", "--appendfsync", "--maxmemory-policy", "--save"):
            assert redis_cmd[redis_cmd.index(flag) + 1] == value, flag


def test_compose_has_gpu_reservation_volumes_and_grace_period():
    c = compose()
    worker = c["services"]["worker"]
    devices = worker["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["capabilities"] == ["gpu"]
    assert {"artifacts", "models"} <= set(c["volumes"])
    grace = int(worker["stop_grace_period"].rstrip("s"))
    from core.queue import client

    assert grace > client().conf.worker_soft_shutdown_timeout
    assert "healthcheck" in c["services"]["api"] and "healthcheck" in c["services"]["redis"]
