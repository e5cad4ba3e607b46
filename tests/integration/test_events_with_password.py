"""The events stream works against a Redis that requires a password (the stream once rebuilt the URL from the
connection's host and port, dropping the credentials)."""

from __future__ import annotations

import json
import threading
import time

from core.jobs import JobStore
from core.redis_server import free_port, reachable, redis_command

KEY = "pw-key-0123456789"


def test_events_stream_from_a_redis_that_needs_a_password(tmp_path, monkeypatch):
    import subprocess

    from fastapi.testclient import TestClient

    from app.main import create_app
    from core.settings import get_settings

    port = free_port()
    proc = subprocess.Popen([*redis_command(port, tmp_path), "--requirepass", "s3cret"], stdout=subprocess.DEVNULL)
    url = f"redis://:s3cret@127.0.0.1:{port}/0"
    try:
        deadline = time.time() + 10
        while not reachable(url) and time.time() < deadline:
            time.sleep(0.05)
        assert not reachable(f"redis://127.0.0.1:{port}/0")  # without the password: refused
        monkeypatch.setenv("RADSYNTH_REDIS_URL", url)
        monkeypatch.setenv("RADSYNTH_API_KEYS", f"{KEY}:carol")
        get_settings.cache_clear()
        store = JobStore.from_url(url)
        job, _ = store.create("generate", "carol", {"finding": "Mass", "n": 1})

        def run_it() -> None:
            time.sleep(1.0)
            store.start(job.id, runner="test:1")
            store.progress(job.id, 1, 2, "sampling")
            time.sleep(0.3)
            store.finish(job.id, result={"images": []})

        threading.Thread(target=run_it, daemon=True).start()
        events = []
        with TestClient(create_app()) as client:
            with client.stream("GET", f"/jobs/{job.id}/events", headers={"X-API-Key": KEY}) as r:
                assert r.status_code == 200
                kind = None
                for line in r.iter_lines():
                    if line.startswith("event:"):
                        kind = line.split(":", 1)[1].strip()
                    elif line.startswith("data:") and kind:
                        events.append((kind, json.loads(line.split(":", 1)[1])))
                        if kind == "job" and events[-1][1]["status"] == "succeeded":
                            break
        kinds = [k for k, _ in events]
        assert kinds[0] == "job" and "progress" in kinds and events[-1][1]["status"] == "succeeded", events
    finally:
        get_settings.cache_clear()
        proc.terminate()
        proc.wait(10)
