"""After a job with `push=<target>`: send its DICOM (and, for an explanation of a DICOM upload, the de-identified
upload its results reference) to the named DICOMweb archive, and keep the per-instance outcome in its result."""

from __future__ import annotations

from core.contracts import Artifact, JobRecord
from core.dicomweb import job_dicom_files, push, summarise
from core.settings import get_settings
from worker import runtime


def push_record(record: JobRecord, artifacts: list[Artifact]) -> dict:
    """The `push` entry of the job's result: what was stored, refused or left pending."""
    name = record.params["push"]
    targets = get_settings().dicomweb()
    files = job_dicom_files(record.id, record.kind, record.params, [a.name for a in artifacts],
                            runtime.artifact_store())
    if name not in targets:  # configured when the job was accepted, gone since
        return summarise(name, [{"file": f, "status": "pending", "detail": "target no longer configured"}
                                for f, _ in files])
    return push(name, targets[name], files)
