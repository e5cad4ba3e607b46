"""Waiting generate jobs that ride along in a synthesize job's UNet batches.

A synthesize job of thousands of images holds its worker for a long time; a compatible generate job queued behind
it (same generator and sampling) is claimed into the next batch instead, sampled with it, and delivered as soon as
that batch ends, exactly as in a generate job's own batch (worker/batching.py, worker/kinds/generate.py).
"""

from __future__ import annotations

from pathlib import Path

from core.contracts import GenerateParams, JobRecord
from core.jobs import runner_id
from core.settings import get_settings
from worker import runtime
from worker.batching import claim_companions
from worker.context import Context
from worker.kinds.generate import companion_key_of, finish_companion, image_seeds, report_members


class GenerateRiders:
    """The `RideAlong` of models.workflows.synthesize for the worker: claims, progress, cancellation and delivery."""

    def __init__(self, ctx: Context, folder: Path, pipe, key: tuple, max_images: int):
        self.ctx, self.folder, self.pipe, self.key = ctx, folder, pipe, key
        self.max_images = max_images
        self.key_of = companion_key_of({})
        self.jobs: list[tuple[Context, GenerateParams]] = []
        self.cancelled: set[str] = set()
        self.incompatible: set[str] = set()  # queued jobs another generator or sampling needs: never read again
        self.served = 0

    def claim(self, used: int) -> list[tuple[str, list[int]]]:
        room = self.max_images - used
        if room <= 0:
            return []
        s = get_settings()
        claimed: list[JobRecord] = claim_companions(
            runtime.job_store(), self.ctx.job, self.key, room, runner=runner_id(),
            heartbeat_timeout=s.heartbeat_timeout, key_of=self.key_of, skip=self.incompatible)
        self.ctx.keep_alive(claimed)
        self.jobs = [(Context(rec, self.ctx.workdir / rec.id), GenerateParams.model_validate(rec.params))
                     for rec in claimed]
        self.cancelled = set()
        return [(q.finding, image_seeds(q)) for _, q in self.jobs]

    def progress(self, step: int, total: int) -> None:
        """Progress for every rider; one whose owner cancelled ends now (its images are dropped)."""
        report_members(self.jobs, self.cancelled, step, total,
                       f"sampling in a batch of synthesize job {self.ctx.job.id}", lead=None)

    def deliver(self, outputs: list) -> None:
        batch = {"jobs": len(self.jobs) + 1, "images": sum(q.n for _, q in self.jobs), "synthesize": self.ctx.job.id}
        for (job_ctx, q), out in zip(self.jobs, outputs, strict=True):
            if job_ctx.job.id not in self.cancelled:
                finish_companion(job_ctx, q, self.folder, self.pipe, out, batch)
                self.served += 1
        self.ctx.release([job_ctx.job for job_ctx, _ in self.jobs])
        self.jobs = []
