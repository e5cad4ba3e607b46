"""Response models (requests reuse core.contracts)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from core.contracts import JobView


class ErrorDetail(BaseModel):
    code: str = Field(..., description="stable machine-readable code")
    message: str = Field(..., description="what went wrong and what to fix")


class ErrorBody(BaseModel):
    error: ErrorDetail


class JobOut(JobView):
    """A job as the API returns it; `params` include the seed chosen."""

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
    makes: Literal["image", "volume"] | None = Field(None, description="what a generator makes: 2D images or 3D "
                                                     "volumes; null for models that make no scans (classifiers)")
    findings: list[str]
    resolution: int | None = Field(None, description="the largest image side it delivers (details.resolutions: "
                                   "all of them, e.g. a 64-px base and its 256-px super-resolution)")
    dataset: str | None = None
    default: bool = False
    details: dict = {}
    origin: Literal["bundled", "yours", "shared"] = Field(
        "bundled", description="bundled with the service (or added by its operator), trained by you, or trained by "
        "another user who shared it")
    shared: bool = Field(False, description="whether its owner shares it with every user")
    generate_defaults: dict | None = Field(
        None, description="generators: what POST /generate uses for each parameter a request leaves out "
        "(steps_per_sampler: the steps of each sampler)")


class ModelChange(BaseModel):
    shared: bool = Field(..., description="share your trained model with every user of the service (true) or not")


class FindingsOut(BaseModel):
    model: str
    findings: list[str]


class DatasetInfo(BaseModel):
    name: str
    format: str | None
    available: bool
    uploaded: bool = Field(False, description="yours, uploaded with POST /datasets (else the service's own)")
    images: int | None = None
    patients: int | None = None
    per_finding: dict[str, int] | None = None
    image_size: dict[str, int] | None = Field(None, description="longest side in pixels: min, median, max")
    problems: list[str] = []
    created: float | None = None


class Health(BaseModel):
    status: str
    redis: bool
    workers: dict[str, int] = Field(..., description="live worker processes per queue")
    worker_queues: dict[str, list[str]] = Field(
        default_factory=dict, description="each live worker (name@host) and the queues it serves: "
        "'interactive' (generate, explain) and 'train'; empty unless the request carries an API key")
    queues: dict[str, int] = Field(..., description="jobs waiting per queue")
    store: str = Field("local", description="artifact and model store kind: 'local' or 's3'")
    store_ok: bool = Field(True, description="whether the store answered")
    single_user: bool


# OpenAPI links from a queued job to what a client does next (clients and Schemathesis's stateful phase follow them).
JOB_ACCEPTED = {202: {"description": "the job was queued; poll it, cancel it, delete it", "links": {
    link: {"operationId": op, "parameters": {"job_id": "$response.body#/id"}, "description": text}
    for link, op, text in (("GetJob", "get_job", "the job's status, progress and artifacts"),
                           ("CancelJob", "cancel_job", "cancel the job"),
                           ("DeleteJob", "delete_job", "delete the job once it has ended"))}}}
