"""Errors of the service as exceptions that carry its message."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from radsynth_client.types import Job


class RadSynthError(Exception):
    """The service refused a request: HTTP status, the error code and the message saying what to fix."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message

    @classmethod
    def from_response(cls, response: httpx.Response) -> RadSynthError:
        try:
            error = response.json().get("error", {})
        except ValueError:
            error = {}
        return cls(response.status_code, error.get("code", "http_error"),
                   error.get("message", response.text[:500] or response.reason_phrase))


class JobFailed(Exception):
    """A job ended failed or cancelled; `job` holds its record (and `job.error` the reason)."""

    def __init__(self, job: Job):
        reason = f"{job.error.code}: {job.error.message}" if job.error else job.status
        super().__init__(f"job {job.id} ({job.kind}) {job.status}: {reason}")
        self.job = job
