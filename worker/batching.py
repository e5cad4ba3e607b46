"""Cross-job batching: a generate job takes compatible waiting generate jobs into its own UNet batch, and so does
each batch of a synthesize job (worker/kinds/synthesize_riders.py).

Compatible means the same generator, sampler, steps, guidance and super-resolution settings (both kinds), and no
denoising GIF. The companions are
claimed exactly as a delivery would claim them (`JobStore.start`, one Redis transaction each), so two workers
never take the same job. When a companion's own Celery message arrives later, it finds the job running or ended
and is dropped. If this worker dies mid-batch, every claimed job loses its heartbeat and the reaper requeues it.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from core.contracts import GenerateParams, JobRecord, JobStatus
from core.jobs import JobNotFound, JobStore
from models.vocabulary.sampling import Sampling

log = logging.getLogger("radsynth.worker")
LOOKAHEAD = 64  # queued jobs inspected per claim


def batch_key(p: GenerateParams, model: Path, steps: int) -> tuple | None:
    """What jobs must share to be sampled together; None if this job cannot be batched."""
    if p.gif:
        return None
    return sampling_key(model, p.sampling(steps))


def sampling_key(model: Path, sampling: Sampling) -> tuple:
    """The generator and sampling a UNet batch shares (generate jobs, and synthesize jobs taking them along); GIF
    frames and precision are not part of it (batched jobs draw no GIF; precision is the worker's)."""
    return str(model.resolve()), sampling.but(frames=0, precision="fp32")


def claim_companions(store: JobStore, lead: JobRecord, key: tuple, room: int, *, runner: str,
                     heartbeat_timeout: float, key_of, skip: set[str] | None = None) -> list[JobRecord]:
    """Claim queued generate jobs with the same `key` (oldest first) while their images fit in `room`.

    `key_of(params, owner)` computes a waiting job's key (it resolves the model name as the handler does, as the
    job's owner sees it). Jobs
    found unable to join are added to `skip`, so a second look does not read them again (parameters never
    change).
    """
    claimed: list[JobRecord] = []
    skip = set() if skip is None else skip
    ids = [i for i in store.queued_ids("generate", LOOKAHEAD) if i != lead.id and i not in skip]
    for job_id, rec in zip(ids, store.peek_many(ids), strict=True):
        if room <= 0:
            break
        try:
            if rec is None or rec.kind != "generate" or rec.status != JobStatus.queued:
                continue
            params = GenerateParams.model_validate(rec.params)
            if key_of(params, rec.owner) != key:
                skip.add(job_id)
                continue
            if params.n > room:
                continue
        except (ValueError, LookupError):
            continue  # a model name that its own delivery will report
        try:
            started = store.start(job_id, rec.generation, runner=runner, heartbeat_timeout=heartbeat_timeout)
        except JobNotFound:
            continue  # deleted meanwhile
        if started.status == JobStatus.running and started.runner == runner and not started.already_running:
            claimed.append(started)
            room -= params.n
    return claimed


def wait_for_companions(store: JobStore, lead: JobRecord, key: tuple, room: int, wait: float, **kwargs
                        ) -> list[JobRecord]:
    """Claim companions now; if none are queued, look once more after `wait` seconds (a burst still arriving)."""
    skip: set[str] = set()
    claimed = claim_companions(store, lead, key, room, skip=skip, **kwargs)
    if not claimed and wait > 0:
        time.sleep(wait)
        claimed = claim_companions(store, lead, key, room, skip=skip, **kwargs)
    if claimed:
        log.info("job %s batched with %d waiting jobs", lead.id, len(claimed))
    return claimed
