"""Bounds that keep one owner from exhausting the service: UNet widths, open event streams, job listing that reads
only the page, and /health that names hosts only for key holders."""

from __future__ import annotations

import threading

from tests.integration.conftest import headers, wait_job


def test_a_generator_with_a_thousand_unet_levels_is_refused(client):
    body = {"kind": "generator", "dataset": "fixtures", "steps": 2, "name": "deep", "channels": [8] * 1000}
    r = client.post("/train", json=body, headers=headers())
    assert r.status_code == 422 and "channels" in r.text, r.text
    body["channels"] = [8] * 7
    assert client.post("/train", json=body, headers=headers()).status_code == 422


def test_job_listing_reads_the_page_not_every_job(client, service):
    from core.jobs import JobStore
    from core.settings import get_settings

    store = JobStore.from_url(get_settings().redis_url.rsplit("/", 1)[0] + "/1")  # a database no worker reads
    store.r.flushdb()
    ids = [store.create("generate" if i % 3 else "explain", "pager", {"finding": "Mass"})[0].id for i in range(300)]
    calls = {"commands": 0, "pipelines": 0}
    command, pipeline = store.r.execute_command, store.r.pipeline

    def count_command(*args, **kwargs):
        calls["commands"] += 1
        return command(*args, **kwargs)

    def count_pipeline(*args, **kwargs):
        calls["pipelines"] += 1
        return pipeline(*args, **kwargs)

    store.r.execute_command, store.r.pipeline = count_command, count_pipeline
    page, total = store.list("pager", offset=10, limit=5)
    assert total == 300 and [r.id for r in page] == ids[::-1][10:15]
    assert calls["commands"] + calls["pipelines"] <= 4, calls  # was one read per job the owner ever had
    assert all(r.progress.queue_position for r in page)
    explains, n = store.list("pager", kind="explain", offset=0, limit=200)
    assert n == 100 and len(explains) == 100 and {r.kind for r in explains} == {"explain"}
    assert calls["commands"] + calls["pipelines"] <= 16, calls
    store.r.flushdb()


def test_event_streams_are_capped_per_owner(service, monkeypatch):
    from fastapi.testclient import TestClient

    from app.main import create_app
    from core.settings import get_settings

    monkeypatch.setenv("RADSYNTH_MAX_EVENT_STREAMS_PER_OWNER", "2")
    get_settings.cache_clear()
    try:
        app = create_app()
        with TestClient(app) as tc:
            slow = tc.post("/generate?finding=mass&n=1&steps=400&qc=false", headers=headers()).json()
            opened, stop = threading.Barrier(3), threading.Event()

            def hold():
                with tc.stream("GET", f"/jobs/{slow['id']}/events", headers=headers()) as r:
                    lines = r.iter_lines()
                    next(lines)  # the first event: the stream is open
                    opened.wait(30)
                    stop.wait(60)

            holders = [threading.Thread(target=hold, daemon=True) for _ in range(2)]
            for t in holders:
                t.start()
            opened.wait(30)
            third = tc.get(f"/jobs/{slow['id']}/events", headers=headers())
            assert third.status_code == 429 and "event streams open" in third.json()["error"]["message"]
            other = tc.get("/jobs", headers=headers("bob"))
            assert other.status_code == 200  # other owners and other routes are unaffected
            stop.set()
            tc.post(f"/jobs/{slow['id']}/cancel", headers=headers())
            for t in holders:
                t.join(30)
            wait_job(tc, slow["id"], timeout=60)
    finally:
        get_settings.cache_clear()


def test_health_names_worker_hosts_only_for_key_holders(client):
    anonymous = client.get("/health").json()
    assert anonymous["worker_queues"] == {} and anonymous["workers"]["interactive"] >= 1
    keyed = client.get("/health", headers=headers()).json()
    assert any("@" in name for name in keyed["worker_queues"])
    assert client.get("/health", headers={"X-API-Key": "wrong"}).json()["worker_queues"] == {}
