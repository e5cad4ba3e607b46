"""The Celery app with the reliability settings measured in the design note, and the send-only client the API
uses to queue jobs (it imports no task code: tasks are sent by name)."""

from __future__ import annotations

from functools import lru_cache

from celery import Celery
from kombu import Queue

from core.kinds import QUEUES
from core.processes import INTERACTIVE_QUEUE
from core.settings import get_settings

RUN_JOB_TASK = "radsynth.run_job"


def make_celery(include: tuple[str, ...] = ()) -> Celery:
    """A Celery app on the configured broker; the worker passes the modules holding its tasks in `include`."""
    s = get_settings()
    s.check_timeouts()
    app = Celery("radsynth", broker=s.redis_url, include=list(include))
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
        task_queues=[Queue(name) for name in QUEUES],
        task_default_queue=INTERACTIVE_QUEUE,
        worker_send_task_events=True,
        task_send_sent_event=True,
    )
    return app


@lru_cache
def client() -> Celery:
    """The send-only client: queues jobs by task name and asks workers what they consume."""
    return make_celery()


def send_job(job_id: str, queue: str, generation: int = 0) -> None:
    """Queue one run of a job (by id) on `queue`."""
    client().send_task(RUN_JOB_TASK, args=[job_id, generation], queue=queue, task_id=job_id if generation == 0
                       else None)
