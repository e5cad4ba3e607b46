"""Typed results: the service's JSON (openapi/openapi.json: JobOut, Artifact, Progress, DatasetInfo) as
dataclasses. `tests/client/test_types.py` checks each field against the OpenAPI schema."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any


def known(cls, data: dict) -> dict:
    """The keys of `data` that `cls` declares (a newer service may add fields; they are kept in `extra`)."""
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}


@dataclass(frozen=True)
class Progress:
    step: int = 0
    total: int = 0
    message: str = ""
    eta_s: float | None = None
    queue_position: int | None = None

    @classmethod
    def from_json(cls, data: dict | None) -> Progress:
        return cls(**known(cls, data or {}))


@dataclass(frozen=True)
class Artifact:
    name: str
    media_type: str
    size: int
    url: str

    @classmethod
    def from_json(cls, data: dict) -> Artifact:
        return cls(**known(cls, data))


@dataclass(frozen=True)
class JobError:
    code: str
    message: str


@dataclass
class Job:
    """A job as GET /jobs/{id} returns it."""

    id: str
    kind: str
    status: str
    params: dict[str, Any]
    created_at: float
    url: str
    events_url: str
    progress: Progress = field(default_factory=Progress)
    started_at: float | None = None
    finished_at: float | None = None
    deliveries: int = 0
    cancel_requested: bool = False
    result: dict[str, Any] | None = None
    artifacts: list[Artifact] = field(default_factory=list)
    error: JobError | None = None
    client: Any = field(default=None, repr=False, compare=False)

    FINAL = ("succeeded", "failed", "cancelled")

    @classmethod
    def from_json(cls, data: dict, client: Any = None) -> Job:
        values = known(cls, data)
        values["progress"] = Progress.from_json(data.get("progress"))
        values["artifacts"] = [Artifact.from_json(a) for a in data.get("artifacts") or []]
        values["error"] = JobError(**data["error"]) if data.get("error") else None
        return cls(**values, client=client)

    @property
    def done(self) -> bool:
        return self.status in self.FINAL

    def artifact(self, name: str) -> Artifact:
        for art in self.artifacts:
            if art.name == name:
                return art
        raise KeyError(f"job {self.id} has no artifact {name!r}; it has: {', '.join(a.name for a in self.artifacts)}")

    def save(self, folder, names: list[str] | None = None) -> list:
        """Download the job's artifacts (all, or `names`) into `folder`; returns their paths."""
        return self.client.jobs.save(self, folder, names)


@dataclass(frozen=True)
class Dataset:
    """A data set as GET /datasets returns it."""

    name: str
    format: str | None
    available: bool
    uploaded: bool = False
    images: int | None = None
    patients: int | None = None
    per_finding: dict[str, int] | None = None
    image_size: dict[str, int] | None = None
    problems: list[str] = field(default_factory=list)
    created: float | None = None

    @classmethod
    def from_json(cls, data: dict) -> Dataset:
        return cls(**known(cls, data))
