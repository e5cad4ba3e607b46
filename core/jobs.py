"""Durable job records in Redis (AOF), owned by a user; our own, not Celery's expiring results.

A job is a Redis hash whose fields are updated independently (progress by the worker, cancel by the API),
so concurrent writers never overwrite each other. Status transitions use WATCH/MULTI transactions.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import Iterable

import redis

from core.contracts import FINAL, Artifact, JobError, JobRecord, JobStatus, Progress
from core.kinds import QUEUES, queue_of

PREFIX = "radsynth"
JSON_FIELDS = ("params", "progress", "result", "artifacts", "error")


def k(*parts: str) -> str:
    return ":".join((PREFIX, *parts))


HOST = socket.gethostname()
LIST_BATCH = 500


def runner_id() -> str:
    """This process, as recorded on the jobs it runs."""
    return f"{HOST}:{os.getpid()}"


def runner_alive(runner: str | None) -> bool:
    """Whether a job's runner may still be alive: a process on this host is checked; one elsewhere is assumed
    alive (its heartbeat decides)."""
    if not runner or ":" not in runner:
        return False
    host, _, pid = runner.rpartition(":")
    if host != HOST:
        return True
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, ValueError):
        return False
    except PermissionError:
        return True
    return True


# Active-job slots: a sorted set per owner, job id -> the time its slot was taken.
RESERVE_SLOT = """
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2])
return 1
"""
SLOT_WITHOUT_RECORD_S = 60.0  # a slot whose job record never appeared (a crash in between) is free after this


class TooManyJobs(Exception):
    def __init__(self, limit: int):
        super().__init__(f"{limit} jobs queued or running")
        self.limit = limit


class JobNotFound(KeyError):
    pass


class JobStore:
    """All job state, queue positions, idempotency keys, events and metrics counters."""

    def __init__(self, client: redis.Redis, url: str | None = None):
        self.r = client
        self.url = url  # the configured URL, credentials and TLS included: async clients are built from it

    @classmethod
    def from_url(cls, url: str) -> JobStore:
        return cls(redis.Redis.from_url(url, decode_responses=True, health_check_interval=15,
                                        socket_connect_timeout=5, socket_timeout=30, retry_on_timeout=True), url)

    def async_client(self):
        """An asyncio Redis client to the same server, with the same credentials (for event streams)."""
        import redis.asyncio as aredis

        if self.url is None:
            raise ValueError("this JobStore was built from a client, not a URL: use JobStore.from_url")
        return aredis.Redis.from_url(self.url, decode_responses=True)

    @staticmethod
    def events_channel(job_id: str) -> str:
        return k("events", job_id)

    def queued_ids(self, kind: str, limit: int) -> list[str]:
        """The oldest `limit` queued job ids of `kind`'s queue."""
        return self.r.zrange(k("queued", queue_of(kind)), 0, limit - 1)

    # -- create and read ------------------------------------------------------------------------------
    def create(self, kind: str, owner: str, params: dict, *, idempotency_key: str | None = None,
               max_active: int = 0) -> tuple[JobRecord, bool]:
        """Create a queued job; with an idempotency key already used by this owner, return that job instead.

        With `max_active` > 0 the job takes one of the owner's active-job slots, checked and taken atomically
        (TooManyJobs when none is free); the slot is given back when the job ends or is deleted."""
        job_id = uuid.uuid4().hex
        if idempotency_key:
            idem = k("idem", owner, idempotency_key)
            if not self.r.set(idem, job_id, nx=True, ex=7 * 24 * 3600):
                try:
                    return self.get(self.r.get(idem), owner), False
                except JobNotFound:  # that job was deleted: the key is free again
                    self.r.set(idem, job_id, ex=7 * 24 * 3600)
        if max_active and not self.reserve_slot(owner, job_id, max_active):
            if idempotency_key:
                self.r.delete(k("idem", owner, idempotency_key))
            raise TooManyJobs(max_active)
        now = time.time()
        record = JobRecord(id=job_id, kind=kind, owner=owner, status=JobStatus.queued, params=params, created_at=now)
        pipe = self.r.pipeline()
        pipe.zadd(k("active", owner), {job_id: now})
        if params.get("upload"):
            pipe.hset(k("upload-job"), params["upload"], job_id)
        pipe.hset(k("job", job_id), mapping=self.encode(record))
        pipe.zadd(k("jobs", "owner", owner), {job_id: now})
        pipe.zadd(k("queued", queue_of(kind)), {job_id: now})
        pipe.hincrby(k("metrics", "jobs"), f"{kind}:queued", 1)
        pipe.execute()
        return record, True

    def job_of_key(self, owner: str, idempotency_key: str) -> JobRecord | None:
        """The job an idempotency key of this owner already made, if it still exists."""
        job_id = self.r.get(k("idem", owner, idempotency_key))
        try:
            return self.get(job_id, owner) if job_id else None
        except JobNotFound:
            return None

    def reserve_slot(self, owner: str, job_id: str, limit: int) -> bool:
        """Take one of `owner`'s `limit` active-job slots for `job_id` in one atomic step; slots of jobs that
        ended without giving theirs back (a crash between the two writes) are reclaimed first."""
        for attempt in range(2):
            if self.r.eval(RESERVE_SLOT, 1, k("active", owner), limit, job_id, time.time()):
                return True
            if attempt == 0:
                self.reclaim_slots(owner)
        return False

    def reclaim_slots(self, owner: str) -> None:
        slots = self.r.zrange(k("active", owner), 0, -1, withscores=True)
        pipe = self.r.pipeline()
        for job_id, _ in slots:
            pipe.hget(k("job", job_id), "status")
        now = time.time()
        ended = [j for (j, taken), status in zip(slots, pipe.execute(), strict=True)
                 if status in FINAL or (status is None and now - taken > SLOT_WITHOUT_RECORD_S)]
        if ended:
            self.r.zrem(k("active", owner), *ended)
    def encode(self, record: JobRecord) -> dict[str, str]:
        data = record.model_dump(mode="json")
        return {key: json.dumps(value) if key in JSON_FIELDS else ("" if value is None else str(value))
                for key, value in data.items()}

    def decode(self, raw: dict[str, str]) -> JobRecord:
        data: dict = {}
        for key, value in raw.items():
            if key in JSON_FIELDS:
                data[key] = json.loads(value) if value else None
            elif key in ("created_at", "started_at", "finished_at", "heartbeat_at"):
                data[key] = float(value) if value else None
            elif key in ("deliveries", "generation"):
                data[key] = int(value)
            elif key == "cancel_requested":
                data[key] = value in ("True", "1", "true")
            else:
                data[key] = value
        data["artifacts"] = data.get("artifacts") or []
        data["progress"] = data.get("progress") or {}
        return JobRecord.model_validate(data)

    def get(self, job_id: str, owner: str | None = None) -> JobRecord:
        """The job, or JobNotFound when it does not exist or belongs to someone else."""
        raw = self.r.hgetall(k("job", job_id)) if job_id and len(job_id) <= 64 else {}
        if not raw or (owner is not None and raw.get("owner") != owner):
            raise JobNotFound(job_id)
        record = self.decode(raw)
        if record.status == JobStatus.queued:
            rank = self.r.zrank(k("queued", queue_of(record.kind)), job_id)
            record.progress.queue_position = None if rank is None else rank + 1
        return record

    def peek_many(self, job_ids: list[str]) -> list[JobRecord | None]:
        """Several records in one round trip (no queue positions); None for those that no longer exist."""
        pipe = self.r.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.hgetall(k("job", job_id))
        out: list[JobRecord | None] = []
        for raw in pipe.execute():
            try:
                out.append(self.decode(raw) if raw else None)
            except ValueError:  # a damaged record: its own delivery reports it
                out.append(None)
        return out

    def list(self, owner: str, *, kind: str | None = None, status: str | None = None, offset: int = 0,
             limit: int = 50) -> tuple[list[JobRecord], int]:
        """Newest first. Unfiltered, only the page is read; filtered, the owner's jobs' kind and status are read
        in pipelined batches (one round trip per LIST_BATCH jobs, not one per job), then the page's records."""
        index = k("jobs", "owner", owner)
        if not kind and not status:
            total = int(self.r.zcard(index))
            page = self.r.zrevrange(index, offset, offset + limit - 1)
            records = [r for r in self.peek_many(page) if r is not None and r.owner == owner]
            return self.with_queue_positions(records), total
        matching: list[str] = []
        for start in range(0, int(self.r.zcard(index)), LIST_BATCH):
            ids = self.r.zrevrange(index, start, start + LIST_BATCH - 1)
            pipe = self.r.pipeline(transaction=False)
            for job_id in ids:
                pipe.hmget(k("job", job_id), "owner", "kind", "status")
            for job_id, (who, job_kind, job_status) in zip(ids, pipe.execute(), strict=True):
                if who == owner and (not kind or job_kind == kind) and (not status or job_status == status):
                    matching.append(job_id)
        page = [r for r in self.peek_many(matching[offset:offset + limit]) if r is not None]
        return self.with_queue_positions(page), len(matching)

    def with_queue_positions(self, records: list[JobRecord]) -> list[JobRecord]:
        """Fill in the queue position of the queued ones (one pipelined round trip)."""
        queued = [r for r in records if r.status == JobStatus.queued]
        pipe = self.r.pipeline(transaction=False)
        for record in queued:
            pipe.zrank(k("queued", queue_of(record.kind)), record.id)
        for record, rank in zip(queued, pipe.execute() if queued else [], strict=True):
            record.progress.queue_position = None if rank is None else rank + 1
        return records

    # -- transitions ----------------------------------------------------------------------------------
    def _transition(self, job_id: str, fn) -> JobRecord:
        return self._apply(job_id, fn)[0]

    def _apply(self, job_id: str, fn) -> tuple[JobRecord, bool]:
        """Write `fn(record)`'s changes in a WATCH/MULTI transaction; returns the record after it and whether
        anything was written (Redis may retry the transaction: the last attempt decides)."""
        key = k("job", job_id)
        changed = [False]

        def tx(pipe: redis.client.Pipeline) -> None:
            raw = pipe.hgetall(key)
            if not raw:
                raise JobNotFound(job_id)
            changes = fn(self.decode(raw))
            changed[0] = bool(changes)
            pipe.multi()
            if changes:
                pipe.hset(key, mapping=changes)

        self.r.transaction(tx, key)
        rec = self.decode(self.r.hgetall(key))
        self.publish(rec)
        return rec, changed[0]

    def start(self, job_id: str, generation: int = 0, *, runner: str = "", heartbeat_timeout: float = 120.0
              ) -> JobRecord:
        """Mark running and count the delivery. Left unchanged, for the caller to skip: a finished job, a message
        older than the job's generation (requeued after a crash), and a job still running elsewhere (a live
        runner with a fresh heartbeat: Redis redelivered its message, e.g. after the visibility timeout)."""
        now = time.time()
        busy: list[bool] = []

        def fn(rec: JobRecord) -> dict:
            if rec.status in FINAL or rec.generation != generation:
                return {}
            if rec.cancel_requested:  # cancelled while its last worker was dying: it never runs again
                return {"status": JobStatus.cancelled.value, "finished_at": str(now)}
            fresh = rec.heartbeat_at is not None and now - rec.heartbeat_at < heartbeat_timeout
            if rec.status == JobStatus.running and fresh and runner_alive(rec.runner):
                busy.append(True)
                return {}
            return {"status": JobStatus.running.value, "started_at": str(now), "deliveries": str(rec.deliveries + 1),
                    "heartbeat_at": str(now), "runner": runner}

        rec = self._transition(job_id, fn)
        rec.already_running = bool(busy)
        if rec.generation != generation or busy:
            return rec
        self.r.zrem(k("queued", queue_of(rec.kind)), job_id)
        if rec.status == JobStatus.cancelled:
            self.r.zrem(k("running"), job_id)
            self.count_final(rec)
        if rec.status == JobStatus.running:
            self.r.zadd(k("running"), {job_id: now})
        if rec.status == JobStatus.running and rec.deliveries == 1:
            self.r.hincrby(k("metrics", "jobs"), f"{rec.kind}:running", 1)
        return rec

    def heartbeat(self, job_id: str) -> None:
        """A running job is alive; the reaper requeues running jobs whose heartbeat stops."""
        now = time.time()
        pipe = self.r.pipeline()
        pipe.hset(k("job", job_id), "heartbeat_at", str(now))
        pipe.zadd(k("running"), {job_id: now}, xx=True)
        pipe.execute()

    def requeue_stale(self, timeout: float) -> list[JobRecord]:
        """Jobs marked running whose heartbeat is older than `timeout` (their worker died with them): each goes
        back to queued with a new generation, in one transaction, so only one reaper requeues it. The caller
        sends a message carrying that generation. One whose cancel was requested ends cancelled instead. Returns the
        jobs changed (queued or cancelled)."""
        cutoff = time.time() - timeout
        changed_jobs = []
        for job_id in self.r.zrangebyscore(k("running"), "-inf", cutoff):
            rec = self.requeue(job_id, only_if=lambda r: (r.heartbeat_at or 0) <= cutoff)
            if rec is not None:
                changed_jobs.append(rec)
        return changed_jobs

    def requeue_dead_runners(self) -> list[JobRecord]:
        """Jobs marked running by a process of this host that no longer exists (a worker killed with SIGKILL and
        restarted by its supervisor): requeued at once instead of after the heartbeat timeout. Jobs of other
        hosts are left to their heartbeats."""
        changed_jobs = []
        for job_id in self.r.zrange(k("running"), 0, -1):
            rec = self.requeue(job_id, only_if=lambda r: not runner_alive(r.runner))
            if rec is not None:
                changed_jobs.append(rec)
        return changed_jobs

    def requeue(self, job_id: str, *, generation: int | None = None, only_if=lambda rec: True) -> JobRecord | None:
        """Put a running job back in its queue with a new generation (or end it cancelled if that was asked), in
        one transaction; None when it was not running (of `generation`) or `only_if(record)` is false."""
        now = time.time()

        def fn(rec: JobRecord) -> dict:
            if rec.status != JobStatus.running or (generation is not None and rec.generation != generation) \
                    or not only_if(rec):
                return {}
            if rec.cancel_requested:
                return {"status": JobStatus.cancelled.value, "finished_at": str(now)}
            return {"status": JobStatus.queued.value, "generation": str(rec.generation + 1)}

        try:
            rec, changed = self._apply(job_id, fn)
        except (JobNotFound, ValueError):
            self.r.zrem(k("running"), job_id)
            return None
        if changed and rec.status == JobStatus.queued:
            self.r.zrem(k("running"), job_id)
            self.r.zadd(k("queued", queue_of(rec.kind)), {job_id: rec.created_at})
        elif rec.status in FINAL:
            self.r.zrem(k("running"), job_id)
            self.count_final(rec)
        return rec if changed else None

    def progress(self, job_id: str, step: int, total: int, message: str) -> None:
        started = self.r.hget(k("job", job_id), "started_at")
        eta = None
        if started and step > 0 and total > step:
            elapsed = time.time() - float(started)
            eta = round(elapsed / step * (total - step), 1)
        prog = Progress(step=step, total=total, message=message, eta_s=eta)
        self.r.hset(k("job", job_id), "progress", prog.model_dump_json())
        self.r.publish(k("events", job_id), json.dumps({"id": job_id, "status": "running",
                                                        "progress": prog.model_dump()}))

    def finish(self, job_id: str, *, result: dict | None = None, artifacts: Iterable[Artifact] = (),
               error: JobError | None = None, generation: int | None = None) -> JobRecord:
        """Succeed or fail; a job whose cancel was requested ends cancelled and keeps no results. A run of an
        older generation (its job was requeued meanwhile) records nothing."""
        now = time.time()
        arts = [a.model_dump() for a in artifacts]

        def fn(rec: JobRecord) -> dict:
            if rec.status in FINAL or (generation is not None and rec.generation != generation):
                return {}
            if rec.cancel_requested:
                return {"status": JobStatus.cancelled.value, "finished_at": str(now)}
            status = JobStatus.failed if error else JobStatus.succeeded
            return {"status": status.value, "finished_at": str(now), "result": json.dumps(result),
                    "artifacts": json.dumps(arts), "error": json.dumps(error.model_dump() if error else None),
                    "progress": json.dumps((Progress(step=1, total=1, message=status.value)).model_dump())}

        rec = self._transition(job_id, fn)
        if rec.status in FINAL:
            self.r.zrem(k("running"), job_id)
        self.count_final(rec)
        return rec

    def set_result(self, job_id: str, result: dict) -> JobRecord:
        """Replace a finished job's result (a later DICOMweb push records its outcome there)."""
        return self._transition(job_id, lambda rec: {"result": json.dumps(result)} if rec.status in FINAL else {})

    def cancel(self, job_id: str, owner: str) -> JobRecord:
        """A queued job becomes cancelled at once (it never runs); a running one is asked to stop."""
        self.get(job_id, owner)
        now = time.time()

        def fn(rec: JobRecord) -> dict:
            if rec.status in FINAL:
                return {}
            if rec.status == JobStatus.queued:
                return {"status": JobStatus.cancelled.value, "finished_at": str(now), "cancel_requested": "True"}
            return {"cancel_requested": "True"}

        rec = self._transition(job_id, fn)
        if rec.status == JobStatus.cancelled:
            self.r.zrem(k("queued", queue_of(rec.kind)), job_id)
            self.count_final(rec)
        return rec

    def delete(self, job_id: str, owner: str) -> None:
        """Remove an ended job's record from Redis (its files are the artifact store's to delete)."""
        pipe = self.r.pipeline()
        pipe.delete(k("job", job_id), k("counted", job_id))
        pipe.zrem(k("jobs", "owner", owner), job_id)
        pipe.zrem(k("active", owner), job_id)
        pipe.zrem(k("running"), job_id)
        pipe.execute()

    def upload_in_use(self, upload_id: str) -> bool:
        """Whether a job that still exists refers to this stored upload."""
        job_id = self.r.hget(k("upload-job"), upload_id)
        return bool(job_id) and bool(self.r.exists(k("job", job_id)))

    def forget_upload(self, upload_id: str) -> None:
        self.r.hdel(k("upload-job"), upload_id)

    def cancel_requested(self, job_id: str) -> bool:
        return self.r.hget(k("job", job_id), "cancel_requested") in ("True", "1", "true")

    def mark_cancelled(self, job_id: str) -> JobRecord:
        now = time.time()
        rec = self._transition(job_id, lambda rec: {} if rec.status in FINAL else {
            "status": JobStatus.cancelled.value, "finished_at": str(now)})
        self.r.zrem(k("running"), job_id)
        self.count_final(rec)
        return rec

    # -- events and metrics ---------------------------------------------------------------------------
    def publish(self, rec: JobRecord) -> None:
        self.r.publish(self.events_channel(rec.id), json.dumps({"id": rec.id, "status": rec.status,
                                                        "progress": rec.progress.model_dump()}))

    def count_final(self, rec: JobRecord) -> None:
        """Book an ended job once: give back its active-job slot and count it in the metrics."""
        if rec.status not in FINAL:
            return
        self.r.zrem(k("active", rec.owner), rec.id)
        flag = k("counted", rec.id)
        if not self.r.set(flag, "1", nx=True, ex=30 * 24 * 3600):
            return
        pipe = self.r.pipeline()
        pipe.hincrby(k("metrics", "jobs"), f"{rec.kind}:{rec.status}", 1)
        if rec.started_at and rec.finished_at:
            pipe.hincrbyfloat(k("metrics", "duration_sum"), str(rec.kind), rec.finished_at - rec.started_at)
            pipe.hincrby(k("metrics", "duration_count"), str(rec.kind), 1)
        pipe.execute()

    def queue_lengths(self) -> dict[str, int]:
        return {q: int(self.r.zcard(k("queued", q))) for q in QUEUES}

    def metrics(self) -> dict:
        return {"jobs": self.r.hgetall(k("metrics", "jobs")),
                "duration_sum": self.r.hgetall(k("metrics", "duration_sum")),
                "duration_count": self.r.hgetall(k("metrics", "duration_count")), "queues": self.queue_lengths()}

    def active_jobs(self, owner: str) -> int:
        """Queued and running jobs of `owner` (all of them, not a window of the newest)."""
        self.reclaim_slots(owner)
        return int(self.r.zcard(k("active", owner)))

    def over_rate(self, owner: str, limit: int) -> int | None:
        """Seconds to wait when `owner` already reached `limit` counted hits this minute, else None (counts nothing)."""
        if limit <= 0:
            return None
        count = int(self.r.get(k("rate", owner, str(int(time.time() // 60)))) or 0)
        return None if count < limit else 60 - int(time.time()) % 60

    def hit_rate(self, owner: str, limit: int) -> int | None:
        """Count a request; returns seconds to wait when over `limit` per minute, else None."""
        if limit <= 0:
            return None
        window = int(time.time() // 60)
        key = k("rate", owner, str(window))
        count = self.r.incr(key)
        if count == 1:
            self.r.expire(key, 120)
        return None if count <= limit else 60 - int(time.time()) % 60
