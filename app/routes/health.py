"""GET /health and GET /metrics (Prometheus text format)."""

from __future__ import annotations

import threading
import time
from typing import Annotated

import redis
from fastapi import APIRouter, Header
from fastapi.responses import PlainTextResponse

from app.deps import ArtifactsDep, SettingsDep, StoreDep, match_key
from app.schemas import Health

router = APIRouter(tags=["health"])
_workers_cache: dict = {"at": 0.0, "value": {"per_queue": {}, "by_worker": {}}}


_refreshing = threading.Lock()


def live_workers(ttl: float = 5.0) -> dict:
    """{"per_queue": worker processes consuming each queue, "by_worker": each worker's queues}.

    The Celery broadcast takes up to a second, so after the first answer
    it is refreshed in the background and /health answers from the cache at once (the load test measured a 1 s
    p99 when every fifth second's call waited for it)."""
    if _workers_cache["at"] == 0:
        return _refresh_workers()
    if time.time() - _workers_cache["at"] >= ttl and _refreshing.acquire(blocking=False):
        def refresh() -> None:
            try:
                _refresh_workers()
            finally:
                _refreshing.release()
        threading.Thread(target=refresh, name="radsynth-health-refresh", daemon=True).start()
    return _workers_cache["value"]


def _refresh_workers() -> dict:
    from core.queue import client

    counts: dict[str, int] = {"interactive": 0, "train": 0}
    try:
        replies = client().control.inspect(timeout=1.0).active_queues() or {}
    except Exception:
        replies = {}
    by_worker = {name: sorted(q["name"] for q in queues) for name, queues in replies.items()}
    for queues in by_worker.values():
        for q in queues:
            counts[q] = counts.get(q, 0) + 1
    value = {"per_queue": counts, "by_worker": by_worker}
    _workers_cache.update(at=time.time(), value=value)
    return value


def holds_a_key(settings, x_api_key: str | None, authorization: str | None) -> bool:
    """Whether the caller presented a valid API key (always true in single-user mode, which listens on localhost)."""
    keys = settings.key_owners()
    if not keys:
        return True
    presented = x_api_key or (authorization[7:].strip() if authorization and
                              authorization.lower().startswith("bearer ") else None)
    return bool(presented) and match_key(presented, keys) is not None


@router.get("/health", response_model=Health, operation_id="health")
def health(store: StoreDep, settings: SettingsDep, artifacts: ArtifactsDep,
           x_api_key: Annotated[str | None, Header(description="API key: shows the workers' names")] = None,
           authorization: Annotated[str | None, Header(description="Bearer API key")] = None) -> Health:
    """API, Redis, the artifact store and live workers per queue; 'ok' only when all answer. The workers' names
    (which carry their host names) only for a caller with an API key."""
    try:
        store.r.ping()
        redis_ok, queues = True, store.queue_lengths()
    except redis.RedisError:
        redis_ok, queues = False, {}
    live = live_workers() if redis_ok else {"per_queue": {}, "by_worker": {}}
    workers = live["per_queue"]
    try:
        artifacts.check()
        store_ok = True
    except Exception:  # noqa: BLE001 - any store failure is reported as degraded, never as a 500
        store_ok = False
    ok = redis_ok and store_ok and all(workers.get(q, 0) > 0 for q in ("interactive", "train"))
    return Health(status="ok" if ok else "degraded", redis=redis_ok, workers=workers,
                  worker_queues=live["by_worker"] if holds_a_key(settings, x_api_key, authorization) else {},
                  queues=queues,
                  store=settings.store, store_ok=store_ok, single_user=not settings.key_owners())


@router.get("/metrics", response_class=PlainTextResponse, operation_id="metrics",
            responses={200: {"content": {"text/plain": {}}}})
def metrics(store: StoreDep) -> PlainTextResponse:
    """Jobs by kind and status, durations and queue lengths, in Prometheus text format."""
    lines = ["# HELP radsynth_jobs_total Jobs entering each status, by kind.", "# TYPE radsynth_jobs_total counter"]
    try:
        m = store.metrics()
    except redis.RedisError:
        return PlainTextResponse("# redis unreachable\nradsynth_up 0\n", status_code=503)
    for key, value in sorted(m["jobs"].items()):
        kind, status = key.split(":", 1)
        lines.append(f'radsynth_jobs_total{{kind="{kind}",status="{status}"}} {value}')
    lines += ["# HELP radsynth_job_duration_seconds Run time of finished jobs.",
              "# TYPE radsynth_job_duration_seconds summary"]
    for kind, total in sorted(m["duration_sum"].items()):
        lines.append(f'radsynth_job_duration_seconds_sum{{kind="{kind}"}} {float(total):.3f}')
        lines.append(f'radsynth_job_duration_seconds_count{{kind="{kind}"}} {m["duration_count"].get(kind, 0)}')
    lines += ["# HELP radsynth_queue_length Jobs waiting per queue.", "# TYPE radsynth_queue_length gauge"]
    for queue, length in sorted(m["queues"].items()):
        lines.append(f'radsynth_queue_length{{queue="{queue}"}} {length}')
    lines.append("radsynth_up 1")
    return PlainTextResponse("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")
