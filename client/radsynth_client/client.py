"""`Client`: one object per service, typed calls that queue a job and wait for it."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx

from radsynth_client.errors import JobFailed, RadSynthError
from radsynth_client.types import Dataset, Job


class Client:
    """RadSynth at `url`, as the owner of `api_key` (None: a single-user service on localhost).

    `progress`: show a progress bar while waiting (default: when stderr is a terminal and tqdm is installed)."""

    def __init__(self, url: str = "http://127.0.0.1:8000", api_key: str | None = None, *, timeout: float = 60.0,
                 progress: bool | None = None, http: httpx.Client | None = None):
        headers = {"X-API-Key": api_key} if api_key else {}
        self.http = http or httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout)
        if http is not None and api_key:
            self.http.headers.update(headers)
        self.progress = sys.stderr.isatty() if progress is None else progress
        self.jobs = Jobs(self)
        self.datasets = Datasets(self)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    # -- plumbing -------------------------------------------------------------------------------------------
    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send a request; a 4xx or 5xx answer is raised as RadSynthError with the service's message."""
        response = self.http.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise RadSynthError.from_response(response)
        return response

    def submit(self, method: str, path: str, *, wait: bool, **kwargs: Any) -> Job:
        job = Job.from_json(self.request(method, path, **kwargs).json(), client=self)
        return self.jobs.wait(job) if wait else job

    # -- the service's calls ------------------------------------------------------------------------------
    def generate(self, finding: str | Sequence[str], n: int = 4, *, wait: bool = True, **params: Any) -> Job:
        """Synthetic images (or volumes) of `finding` (several: a list or 'a+b'); `params` as POST /generate takes
        them (model, format, resolution, seed, guidance, push, ...)."""
        findings = finding if isinstance(finding, str) else "+".join(finding)
        body = {"finding": findings, "n": n, **{k: v for k, v in params.items() if v is not None}}
        return self.submit("POST", "/generate", json=body, wait=wait)

    def explain(self, path: str | Path, findings: Sequence[str] | None = None, method: str = "ig", *,
                wait: bool = True, **form: Any) -> Job:
        """Explain the X-ray at `path` (PNG, JPEG or DICOM): probabilities, attribution maps, DICOM AI results;
        `form` as POST /explain takes it (n_steps, baseline, model, strength, push, ...)."""
        data = {"method": method, **{k: str(v) for k, v in form.items() if v is not None}}
        if findings:
            data["findings"] = ",".join(findings)
        with open(path, "rb") as f:
            return self.submit("POST", "/explain", files={"file": (Path(path).name, f)}, data=data, wait=wait)

    def classify(self, paths: Sequence[str | Path] = (), *, dataset: str | None = None, model: str | None = None,
                 wait: bool = True) -> Job:
        """Probabilities per image and finding for `paths` (or every image of `dataset`), no maps."""
        data = {k: v for k, v in (("dataset", dataset), ("model", model)) if v is not None}
        with ExitStack() as stack:
            files = [("files", (Path(p).name, stack.enter_context(open(p, "rb")))) for p in paths]
            return self.submit("POST", "/classify", files=files or None, data=data, wait=wait)

    def synthesize(self, name: str, per_finding: dict[str, int] | None = None, *, wait: bool = True,
                   **params: Any) -> Job:
        """A labelled synthetic data set `name`; `params` as POST /synthesize takes them."""
        body = {"name": name, "per_finding": per_finding, **params}
        return self.submit("POST", "/synthesize", json={k: v for k, v in body.items() if v is not None}, wait=wait)

    def train(self, *, wait: bool = True, **params: Any) -> Job:
        """Train a model (kind, dataset, name, steps, ...: POST /train)."""
        return self.submit("POST", "/train", json=params, wait=wait)

    def models(self) -> list[dict]:
        return self.request("GET", "/models").json()


class Jobs:
    """The owner's jobs: get, list, wait, cancel, save, push again."""

    def __init__(self, client: Client):
        self.client = client

    def get(self, job: Job | str) -> Job:
        job_id = job.id if isinstance(job, Job) else job
        return Job.from_json(self.client.request("GET", f"/jobs/{job_id}").json(), client=self.client)

    def list(self, *, kind: str | None = None, status: str | None = None, limit: int = 50) -> list[Job]:
        params = {k: v for k, v in (("kind", kind), ("status", status), ("limit", limit)) if v is not None}
        items = self.client.request("GET", "/jobs", params=params).json()["items"]
        return [Job.from_json(item, client=self.client) for item in items]

    def cancel(self, job: Job | str) -> Job:
        job_id = job.id if isinstance(job, Job) else job
        return Job.from_json(self.client.request("POST", f"/jobs/{job_id}/cancel").json(), client=self.client)

    def push(self, job: Job | str) -> Job:
        """Send the job's DICOM that its archive has not stored yet again (POST /jobs/{id}/push)."""
        job_id = job.id if isinstance(job, Job) else job
        return Job.from_json(self.client.request("POST", f"/jobs/{job_id}/push").json(), client=self.client)

    def wait(self, job: Job | str, *, raise_on_failure: bool = True) -> Job:
        """Follow the job's event stream until it ends (a progress bar on a terminal); Ctrl-C cancels the job.
        A failed or cancelled job raises JobFailed unless `raise_on_failure` is False."""
        current = job if isinstance(job, Job) else self.get(job)
        bar = ProgressBar(current, enabled=self.client.progress)
        try:
            for event in self.events(current):
                bar.update(event)
            current = self.get(current)
        except KeyboardInterrupt:
            self.cancel(current)
            raise
        finally:
            bar.close()
        if raise_on_failure and current.status != "succeeded":
            raise JobFailed(current)
        return current

    def events(self, job: Job) -> Iterator[dict]:
        """The job's server-sent events as dicts, until it ends."""
        with self.client.http.stream("GET", f"/jobs/{job.id}/events", timeout=httpx.Timeout(None, connect=30)
                                     ) as response:
            if response.status_code >= 400:
                response.read()
                raise RadSynthError.from_response(response)
            for line in response.iter_lines():
                if line.startswith("data:"):
                    event = json.loads(line[5:].strip())
                    yield event
                    if event.get("status") in Job.FINAL and "kind" in event:
                        return

    def save(self, job: Job, folder: str | Path, names: Sequence[str] | None = None) -> list[Path]:
        """Download artifacts of `job` (all, or `names`) into `folder`."""
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        paths = []
        for art in job.artifacts:
            if names is not None and art.name not in names:
                continue
            target = out / Path(art.name).name
            with self.client.http.stream("GET", f"/jobs/{job.id}/artifacts/{art.name}") as response:
                if response.status_code >= 400:
                    response.read()
                    raise RadSynthError.from_response(response)
                with open(target, "wb") as f:
                    for chunk in response.iter_bytes():
                        f.write(chunk)
            paths.append(target)
        return paths


class Datasets:
    """The data sets the owner can use: list, get, upload (an archive), delete."""

    def __init__(self, client: Client):
        self.client = client

    def list(self) -> list[Dataset]:
        return [Dataset.from_json(d) for d in self.client.request("GET", "/datasets").json()]

    def get(self, name: str) -> Dataset:
        return Dataset.from_json(self.client.request("GET", f"/datasets/{name}").json())

    def upload(self, archive: str | Path, name: str, *, format: str | None = None, wait: bool = True) -> Job:
        """Upload a zip or tar archive as data set `name` (an ingest job checks and unpacks it)."""
        data = {"name": name, **({"format": format} if format else {})}
        with open(archive, "rb") as f:
            return self.client.submit("POST", "/datasets", data=data, files={"file": (Path(archive).name, f)},
                                      wait=wait)

    def delete(self, name: str) -> None:
        self.client.request("DELETE", f"/datasets/{name}")


class ProgressBar:
    """tqdm over a job's progress events; nothing when disabled or when tqdm is not installed."""

    def __init__(self, job: Job, enabled: bool):
        self.bar = None
        if enabled:
            try:
                from tqdm import tqdm
            except ImportError:
                return
            self.bar = tqdm(total=max(job.progress.total, 1), desc=f"{job.kind} {job.id[:8]}", unit="step")

    def update(self, event: dict) -> None:
        progress = event.get("progress") or {}
        if self.bar is None or not progress:
            return
        self.bar.total = max(progress.get("total") or 1, 1)
        self.bar.n = min(progress.get("step") or 0, self.bar.total)
        self.bar.set_postfix_str(progress.get("message", ""), refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
