"""Data sets: upload an archive of your own labelled X-rays (an ingest job checks and registers it), list,
inspect and delete them. Built-in data sets are everyone's; an uploaded one is its owner's alone."""

from __future__ import annotations

import re
import tempfile
import uuid
from pathlib import Path
from typing import Annotated

import anyio
from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse

from app.deps import IDEMPOTENCY_HEADER, ArtifactsDep, OwnerDep, SettingsDep, StoreDep
from app.errors import ApiError
from app.schemas import JOB_ACCEPTED, DatasetInfo, ErrorBody, JobOut
from app.stream_form import stream_form
from app.submit import submit_with_upload
from app.uploads import scratch_folder
from app.zip_stream import zip_folder
from core import datasets
from core.contracts import IngestParams
from models.data.archives import ArchiveRefused, ArchiveTooLarge, check_dicom_members, list_archive
from models.data.formats import FORMATS, DataFormat

router = APIRouter(tags=["datasets"])
ERRORS = {s: {"model": ErrorBody} for s in (401, 409, 413, 415, 422, 429, 503)}
ARCHIVE_LIMITER = anyio.CapacityLimiter(2)


def info(entry: datasets.DatasetEntry) -> DatasetInfo:
    manifest = entry.manifest or {}
    return DatasetInfo(name=entry.name, format=entry.format, available=entry.path.exists(),
                       uploaded=entry.owner is not None,
                       **{k: manifest[k] for k in ("images", "patients", "per_finding", "image_size", "problems",
                                                   "created") if k in manifest})


@router.get("/datasets", response_model=list[DatasetInfo], operation_id="list_datasets")
def list_datasets(owner: OwnerDep, settings: SettingsDep) -> list[DatasetInfo]:
    """The data sets you can train on: the service's own, then yours (uploaded with POST /datasets)."""
    return [info(e) for e in datasets.visible(settings, owner).values()]


@router.get("/datasets/{name}", response_model=DatasetInfo, operation_id="get_dataset",
            responses={404: {"model": ErrorBody}})
def get_dataset(name: str, owner: OwnerDep, settings: SettingsDep) -> DatasetInfo:
    """One data set: its layout, counts per finding, patients, image sizes and the problems found in it."""
    entry = datasets.visible(settings, owner).get(name)
    if entry is None:
        raise ApiError("not_found", f"no data set {name!r} (unknown, or not yours); GET /datasets lists yours")
    return info(entry)


@router.get("/datasets/{name}/archive", operation_id="download_dataset",
            responses={404: {"model": ErrorBody}, 200: {"content": {"application/zip": {}}}})
def download_dataset(name: str, owner: OwnerDep, settings: SettingsDep) -> StreamingResponse:
    """One of your data sets (uploaded or synthesized) as a zip, streamed as it is built."""
    entry = datasets.owned(settings, owner).get(name)
    if entry is None:
        raise ApiError("not_found", f"no data set {name!r} of yours (the service's own are not downloadable here)")
    folder = datasets.owned_folder(settings, owner, name)
    return StreamingResponse(zip_folder(folder, prefix=name, skip=("rows.jsonl",)), media_type="application/zip",
                             headers={"Content-Disposition": f'attachment; filename="{name}.zip"'})


@router.delete("/datasets/{name}", status_code=204, operation_id="delete_dataset",
               responses={404: {"model": ErrorBody}, 409: {"model": ErrorBody}})
def delete_dataset(name: str, owner: OwnerDep, settings: SettingsDep) -> Response:
    """Delete one of your data sets with all its files. The service's own cannot be deleted."""
    if name in datasets.builtin(settings):
        raise ApiError("conflict", f"{name!r} is a data set of the service; only uploaded ones can be deleted")
    try:
        gone = datasets.delete(settings, owner, name)
    except ValueError:
        gone = False
    if not gone:
        raise ApiError("not_found", f"no data set {name!r} of yours")
    return Response(status_code=204)


UPLOAD_FORM = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["name", "file"], "properties": {
        "name": {"type": "string", "pattern": datasets.NAME_PATTERN,
                 "description": "the data set's name, yours alone (send it before the file: a taken name or a full "
                                "quota is then refused before the archive is read)"},
        "format": {"type": "string", "enum": list(FORMATS), "description": "the layout (default: recognised)"},
        "file": {"type": "string", "format": "binary", "description": "a zip, tar or tar.gz of a data set: an NIH "
                 "folder (Data_Entry_2017.csv + images), a folder per finding, DICOM files with labels.csv, or a "
                 "MedMNIST .npz"}}}}}}}


@router.post("/datasets", status_code=202, response_model=JobOut, operation_id="upload_dataset",
             responses=ERRORS | JOB_ACCEPTED, openapi_extra=UPLOAD_FORM)
async def upload_dataset(
    request: Request,
    owner: OwnerDep,
    settings: SettingsDep,
    store: StoreDep,
    artifacts: ArtifactsDep,
    idempotency_key: Annotated[str | None, IDEMPOTENCY_HEADER] = None,
) -> JobOut:
    """Upload a data set as one archive; an `ingest` job checks it (paths, sizes, nested archives), unpacks it,
    de-identifies its DICOM files and counts findings and patients. Poll the job; the data set then appears in
    GET /datasets and can be trained on by name.

    The archive is streamed to disk once as it arrives; fields sent before it (`name`, `format`) are checked first,
    so a taken name or a full quota costs no upload."""
    retry = bool(idempotency_key and store.job_of_key(owner, idempotency_key))  # a retry gets its first job back

    def check_fields(fields: dict[str, str]) -> None:
        if "name" in fields:
            checked_fields(fields)
            if not retry:
                check_name(settings, owner, fields["name"])
        check_quota(store, settings, owner)

    with tempfile.TemporaryDirectory(dir=scratch_folder(settings)) as tmp:
        archive = Path(tmp) / "archive"
        fields = await stream_form(request, file_field="file", target=archive, before_file=check_fields)
        name, fmt = checked_fields(fields)

        def check_store_and_queue() -> JobOut:
            if not retry:
                check_name(settings, owner, name)
            upload_id = uuid.uuid4().hex
            try:
                listing = list_archive(archive, max_bytes=settings.max_dataset_bytes)
                check_dicom_members(archive, listing, max_pixels=settings.max_pixels)
            except ArchiveRefused as exc:
                code = "upload_too_large" if isinstance(exc, ArchiveTooLarge) else "invalid_input"
                raise ApiError(code, str(exc)) from exc
            artifacts.put_file(upload_id, "input", archive, move=True)
            params = IngestParams(upload=upload_id, name=name, format=fmt)
            return submit_with_upload(store, settings, artifacts, "ingest", owner, params.model_dump(mode="json"),
                                      idempotency_key)

        return await anyio.to_thread.run_sync(check_store_and_queue, limiter=ARCHIVE_LIMITER)


def checked_fields(fields: dict[str, str]) -> tuple[str, DataFormat | None]:
    """The form's name and format, or a 422 saying what to send."""
    name = fields.get("name", "")
    if not re.match(datasets.NAME_PATTERN, name):
        raise ApiError("invalid_parameter", "name: 2-63 lower-case letters, digits, '.', '_' or '-', starting with a "
                       f"letter or digit (got {name[:80]!r})")
    fmt = fields.get("format") or None
    if fmt is not None and fmt not in FORMATS:
        raise ApiError("invalid_parameter", f"format must be one of {', '.join(FORMATS)} (got {fmt[:40]!r}); or leave "
                       "it out")
    return name, fmt  # type: ignore[return-value]


def check_quota(store, settings, owner: str) -> None:
    """429 before the archive is read when the owner already has the most active jobs allowed."""
    limit = settings.max_active_jobs
    if limit and store.active_jobs(owner) >= limit:
        raise ApiError("too_many_jobs", f"you have {limit} jobs queued or running; wait for some to finish or cancel "
                       "them before uploading", headers={"Retry-After": "30"})


def check_name(settings, owner: str, name: str) -> None:
    if name in datasets.builtin(settings):
        raise ApiError("conflict", f"{name!r} is the name of a data set of the service; choose another")
    mine = datasets.owned(settings, owner)
    if name in mine:
        raise ApiError("conflict", f"you already have a data set named {name!r}; delete it or choose another name")
    if len(mine) >= settings.max_datasets_per_owner:
        raise ApiError("conflict", f"you have {settings.max_datasets_per_owner} data sets, the most one owner may "
                       "keep; delete one first")

