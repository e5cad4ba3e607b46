"""A side thread that keeps running jobs' heartbeats fresh, so a long step never looks like a dead worker."""

from __future__ import annotations

import logging
import threading

log = logging.getLogger("radsynth.worker")


class Heartbeat:
    """Beats every `every` seconds for each id in `job_ids` (the list may grow: jobs claimed into a batch)."""

    def __init__(self, store, job_ids: list[str], every: float):
        self.store, self.job_ids, self.every = store, job_ids, every
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._loop, name=f"heartbeat-{job_ids[0][:8]}", daemon=True)

    def _loop(self) -> None:
        while not self.stopped.wait(self.every):
            for job_id in list(self.job_ids):
                try:
                    self.store.heartbeat(job_id)
                except Exception as exc:  # noqa: BLE001 - Redis may be restarting; the next beat retries
                    log.warning("heartbeat for job %s failed: %s", job_id, type(exc).__name__)

    def __enter__(self) -> Heartbeat:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.thread.join(5)
