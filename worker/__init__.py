"""The Celery workers: task delivery and retries (`tasks.py`), one handler per job kind (`kinds/`), the running
job's context, models loaded once per process, and cross-job batching. Job contracts and stores live in core/."""
