"""The Celery app with the reliability settings measured in the design note."""

from __future__ import annotations

from celery import Celery
from kombu import Queue

from worker.settings import get_settings


def make_celery() -> Celery:
    s = get_settings()
    s.check_timeouts()
    app = Celery("radsynth", broker=s.redis_url, include=["worker.tasks"])
    transport = {"visibility_timeout": s.visibility_timeout}
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_soft_time_limit=s.task_soft_time_limit,
        task_time_limit=s.task_time_limit,
        broker_transport_options=transport,
        result_backend_transport_options=transport,
        broker_connection_retry_on_startup=True,
        worker_cancel_long_running_tasks_on_connection_loss=False,
        worker_max_tasks_per_child=s.max_tasks_per_child or None,
        # A replacement pool process imports torch and diffusers before it reports up; with the default 4 s a
        # loaded machine killed and respawned it forever after an OOM kill (measured in tests/integration).
        worker_proc_alive_timeout=120,
        worker_soft_shutdown_timeout=60,  # docker-compose stop_grace_period (90 s) is longer
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        task_queues=[Queue("interactive"), Queue("train")],
        task_default_queue="interactive",
        worker_send_task_events=True,
        task_send_sent_event=True,
    )
    return app


celery_app = make_celery()
