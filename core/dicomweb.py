"""Pushing a job's DICOM to an archive over DICOMweb (STOW-RS).

Archives are configured by the deployment (RADSYNTH_DICOMWEB_TARGETS), never named by URL in a request: a job
says `push=<name>` and the service looks the name up, so no request can make it call an address of its choosing.
Each instance is sent on its own and its outcome recorded: `stored`, `failed` (the archive refused it; sending it
again would not help) or `pending` (the archive could not be reached after the retries; a later
POST /jobs/{id}/push sends the pending ones again).
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterable
from pathlib import Path

import httpx
from pydantic import BaseModel, Field, HttpUrl, ValidationError

BOUNDARY = "radsynth-stow-boundary"
RETRY_DELAYS_S = (0.5, 2.0, 5.0)  # between the attempts at one instance when the archive cannot be reached


class DicomwebTarget(BaseModel):
    """One archive jobs may push to: its DICOMweb root (e.g. http://orthanc:8042/dicom-web) and credentials."""

    url: HttpUrl
    username: str | None = None
    password: str | None = Field(None, repr=False)
    token: str | None = Field(None, repr=False, description="bearer token (instead of username and password)")
    timeout_s: float = Field(30.0, gt=0, le=600)


class TargetConfigError(ValueError):
    """RADSYNTH_DICOMWEB_TARGETS is not valid JSON of the documented shape."""


def parse_targets(text: str) -> dict[str, DicomwebTarget]:
    """`{"name": {"url": ..., ...}, ...}` as targets; empty text: none."""
    if not text.strip():
        return {}
    try:
        raw = json.loads(text)
        return {str(name): DicomwebTarget.model_validate(spec) for name, spec in raw.items()}
    except ValidationError as exc:  # name the fields, never echo their values (a password may be among them)
        reason = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'target'}: {e['msg']}" for e in exc.errors())
    except (ValueError, AttributeError):
        reason = "not a JSON object of targets"
    raise TargetConfigError("RADSYNTH_DICOMWEB_TARGETS must be JSON such as "
                            '{"pacs": {"url": "http://orthanc:8042/dicom-web"}}: ' + reason)


def sop_instance_uid(data: bytes) -> str:
    import pydicom

    return str(pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True).SOPInstanceUID)


def multipart(data: bytes) -> bytes:
    return (f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode() + data
            + f"\r\n--{BOUNDARY}--\r\n".encode())


def client_for(target: DicomwebTarget) -> httpx.Client:
    headers = {"Accept": "application/dicom+json"}
    if target.token:
        headers["Authorization"] = f"Bearer {target.token}"
    auth = (target.username, target.password or "") if target.username else None
    return httpx.Client(base_url=str(target.url).rstrip("/"), headers=headers, auth=auth,
                        timeout=target.timeout_s, follow_redirects=False)


def refused(response: httpx.Response) -> str | None:
    """The archive's reason for refusing the instance, None when it stored it (STOW-RS: 200, or 202 without a
    Failed SOP Sequence)."""
    if response.status_code not in (200, 202):
        return f"HTTP {response.status_code}"
    try:
        body = response.json() if response.content else {}
    except ValueError:
        return None
    failed = body.get("00081198", {}).get("Value") if isinstance(body, dict) else None
    if failed:
        reason = failed[0].get("00081197", {}).get("Value", ["?"])[0]
        return f"refused (failure reason {reason})"
    return None


def send_one(http: httpx.Client, data: bytes, delays: Iterable[float] = RETRY_DELAYS_S) -> tuple[str, str]:
    """(status, detail) of one STOW-RS request, retried while the archive cannot be reached or answers 5xx."""
    detail = ""
    for delay in (0.0, *delays):
        time.sleep(delay)
        try:
            response = http.post("/studies", content=multipart(data), headers={
                "Content-Type": f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'})
        except httpx.HTTPError as exc:
            detail = f"unreachable ({type(exc).__name__})"
            continue
        if response.status_code >= 500 or response.status_code == 429:
            detail = f"HTTP {response.status_code}"
            continue
        reason = refused(response)
        return ("failed", reason) if reason else ("stored", "")
    return "pending", detail


def push(target_name: str, target: DicomwebTarget, files: list[tuple[str, Path]],
         delays: Iterable[float] = RETRY_DELAYS_S) -> dict:
    """Send each (name, path) to `target`; the record a job's result keeps under `push`."""
    instances = []
    delays = tuple(delays)
    unreachable = False
    with client_for(target) as http:
        for name, path in files:
            data = path.read_bytes()
            if unreachable:  # one instance already used up the retries: do not wait for each of the others
                status, detail = "pending", "not sent: the archive was unreachable"
            else:
                status, detail = send_one(http, data, delays)
                unreachable = status == "pending"
            instances.append({"file": name, "sop_instance_uid": sop_instance_uid(data), "status": status}
                             | ({"detail": detail} if detail else {}))
    return summarise(target_name, instances)


def summarise(target_name: str, instances: list[dict]) -> dict:
    counts = {s: sum(i["status"] == s for i in instances) for s in ("stored", "failed", "pending")}
    return {"target": target_name, "instances": instances, **counts, "at": time.time()}


def resend_pending(record: dict, target: DicomwebTarget, files: dict[str, Path],
                   delays: Iterable[float] = RETRY_DELAYS_S) -> dict:
    """A job's push record after sending its pending (and failed) instances again; stored ones stay as they are."""
    again = [(i["file"], files[i["file"]]) for i in record["instances"] if i["status"] != "stored"
             and i["file"] in files]
    if not again:
        return record
    redone = {i["file"]: i for i in push(record["target"], target, again, delays)["instances"]}
    return summarise(record["target"], [redone.get(i["file"], i) for i in record["instances"]])


def job_dicom_files(job_id: str, kind: str, params: dict, names: Iterable[str], store) -> list[tuple[str, Path]]:
    """(name, stored path) of every DICOM a job wrote, in `store` (core.artifacts); for an explanation of a DICOM
    upload the de-identified upload its results reference comes first, as `upload.dcm`."""
    files: list[tuple[str, Path]] = []
    if kind == "explain" and params.get("source_format") == "dicom":
        upload = store.path(params["upload"], "input")
        if upload is not None:
            files.append(("upload.dcm", upload))
    for name in names:
        path = store.path(job_id, name) if name.endswith(".dcm") else None
        if path is not None:
            files.append((name, path))
    return files
