"""What a running job's handler works with: its record, a work folder, progress, cancellation and its heartbeat."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.artifacts import media_type
from core.contracts import Artifact, JobRecord
from worker import runtime
from worker.heartbeat import Heartbeat


class JobCancelled(Exception):
    """Raised inside a job when its owner cancelled it; the job stops at its next step."""


@dataclass
class Context:
    job: JobRecord
    workdir: Path
    heartbeat: Heartbeat | None = None  # jobs claimed into this job's batch beat through it too

    def keep_alive(self, records: list[JobRecord]) -> None:
        """Beat for these jobs too (companions claimed into this job's batch) while this job runs."""
        if self.heartbeat is not None:
            self.heartbeat.job_ids.extend(rec.id for rec in records)

    def release(self, records: list[JobRecord]) -> None:
        """Stop beating for these companions (they have ended)."""
        if self.heartbeat is not None:
            for rec in records:
                if rec.id in self.heartbeat.job_ids:
                    self.heartbeat.job_ids.remove(rec.id)

    def progress(self, step: int, total: int, message: str) -> None:
        store = runtime.job_store()
        if store.cancel_requested(self.job.id):
            raise JobCancelled()
        store.progress(self.job.id, step, total, message)

    def check_cancel(self) -> bool:
        return runtime.job_store().cancel_requested(self.job.id)

    def store(self, names: list[str]) -> list[Artifact]:
        """Copy files from the work dir into the artifact store (atomically, deterministic names)."""
        arts = []
        for name in names:
            size = runtime.artifact_store().put_file(self.job.id, name, self.workdir / name)
            arts.append(Artifact(name=name, media_type=media_type(name), size=size,
                                 url=f"/jobs/{self.job.id}/artifacts/{name}"))
        return arts
