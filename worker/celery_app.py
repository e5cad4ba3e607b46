"""The worker's Celery app: the shared configuration (core.queue) plus the task module."""

from __future__ import annotations

from core.queue import make_celery

celery_app = make_celery(include=("worker.tasks",))
