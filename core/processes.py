"""The command line of each service process, defined once for the run command, compose and the tests."""

from __future__ import annotations

import sys

INTERACTIVE_QUEUE, TRAIN_QUEUE = "interactive", "train"


def worker_command(queues: str = "interactive,train", concurrency: int = 1, *, name: str = "worker",
                   python: str = sys.executable) -> list[str]:
    """A Celery worker; one pool process per GPU (or per CPU worker), long jobs one at a time.

    The run command and compose start one worker per queue, so that a training job never holds up generate or
    explain jobs; the tests start one serving both."""
    return [python, "-m", "celery", "-A", "worker.celery_app", "worker", "-Q", queues, "-c", str(concurrency),
            "--pool", "prefork", "-n", f"{name}@%h", "-l", "INFO", "--without-gossip", "--without-mingle"]


def api_command(host: str = "127.0.0.1", port: int = 8000, *, python: str = sys.executable) -> list[str]:
    return [python, "-m", "uvicorn", "app.main:app", "--host", host, "--port", str(port), "--no-proxy-headers",
            "--timeout-graceful-shutdown", "20"]
