"""Response models (requests reuse worker.contracts)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from worker.contracts import Artifact, JobError, JobKind, JobStatus, Progress


class ErrorDetail(BaseModel):
    code: str = Field(..., description="stable machine-readable code")
    message: str = Field(..., description="what went wrong and what to fix")


class ErrorBody(BaseModel):
    error: ErrorDetail


class JobOut(BaseModel):
    id: str
    kind: JobKind
    status: JobStatus
    params: dict = Field(..., description="the parameters used, including the seed chosen")
    progress: Progress
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    deliveries: int = 0
    cancel_requested: bool = False
    result: dict | None = None
    artifacts: list[Artifact] = []
    error: JobError | None = None
    url: str = Field(..., description="poll this URL for status")
    events_url: str = Field(..., description="server-sent events stream of this job's progress")


class JobList(BaseModel):
    items: list[JobOut]
    total: int
    offset: int
    limit: int


class ModelInfo(BaseModel):
    name: str
    kind: str
    findings: list[str]
    resolution: int | None = None
    dataset: str | None = None
    default: bool = False
    details: dict = {}


class FindingsOut(BaseModel):
    model: str
    findings: list[str]


class DatasetInfo(BaseModel):
    name: str
    format: str | None
    available: bool


class Health(BaseModel):
    status: str
    redis: bool
    workers: dict[str, int] = Field(..., description="live worker processes per queue")
    queues: dict[str, int] = Field(..., description="jobs waiting per queue")
    single_user: bool
