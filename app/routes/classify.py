"""POST /classify: probabilities for many X-rays at once (uploaded files or a data set), without attribution."""

from __future__ import annotations

import json
import tempfile
import uuid
import zipfile
from pathlib import Path, PurePosixPath
from typing import Annotated

import anyio
from fastapi import APIRouter, File, Form, UploadFile

from app.catalog import model_info
from app.deps import IDEMPOTENCY_HEADER, ArtifactsDep, OwnerDep, SettingsDep, StoreDep
from app.errors import ApiError
from app.schemas import JOB_ACCEPTED, ErrorBody, JobOut
from app.submit import submit, submit_with_upload
from app.uploads import checked_upload, scratch_folder
from core import datasets
from core.contracts import ClassifyParams
from core.settings import Settings

router = APIRouter(tags=["explain"])
UPLOAD_LIMITER = anyio.CapacityLimiter(1)
ERRORS = {s: {"model": ErrorBody} for s in (401, 413, 415, 422, 429, 503)}
SUFFIX = {"png": "png", "jpeg": "jpg", "dicom": "dcm"}
NAMES_MEMBER = "names.json"  # read by worker/kinds/classify.py


def sent_name(filename: str | None) -> str:
    """A file's name as the client sent it: the last path part, printable characters only, at most 200."""
    name = PurePosixPath((filename or "").replace("\\", "/")).name
    return "".join(c for c in name if c.isprintable())[:200]


@router.post("/classify", status_code=202, response_model=JobOut, operation_id="classify",
             responses=ERRORS | JOB_ACCEPTED)
async def classify(
    owner: OwnerDep,
    settings: SettingsDep,
    store: StoreDep,
    artifacts: ArtifactsDep,
    files: Annotated[list[UploadFile] | None, File(description="PNG, JPEG or DICOM X-rays (repeat the field)")
                     ] = None,
    dataset: Annotated[str | None, Form(description="instead of files: classify every image of this data set")
                       ] = None,
    model: Annotated[str | None, Form(description="classifier name; default: the bundled one")] = None,
    keep_names: Annotated[bool, Form(description="return each file's name as sent in the results' `file` column "
                                     "(off by default: a file name can carry a patient's name)")] = False,
    idempotency_key: Annotated[str | None, IDEMPOTENCY_HEADER] = None,
) -> JobOut:
    """Queue a classification of many images: per image and finding the ensemble's probability, spread, threshold
    and verdict, with no heatmaps. Results come in the order the files were sent (`item` 0, 1, ...; file names
    only with `keep_names`) in `classifications.csv` and `.jsonl`; DICOM is de-identified before it is stored."""
    if bool(files) == bool(dataset):
        raise ApiError("invalid_parameter", "send image files (the `files` field, repeated) or name a `dataset`, "
                       "not both and not neither")
    info = model_info(settings, model, "classifier", owner=owner)
    if dataset:
        if dataset not in datasets.visible(settings, owner):
            raise ApiError("unknown_dataset", f"unknown dataset {dataset!r}; GET /datasets lists yours")
        params = ClassifyParams(dataset=dataset, model=info["name"])
        return submit(store, settings, "classify", owner, params.model_dump(mode="json"), idempotency_key)
    if len(files) > settings.max_classify_files:
        raise ApiError("invalid_parameter", f"{len(files)} files sent; one request takes at most "
                       f"{settings.max_classify_files} (RADSYNTH_MAX_CLASSIFY_FILES): send more requests, or upload "
                       "them as a data set (POST /datasets) and classify it by name")

    def check_store_and_queue() -> JobOut:
        upload_id = uuid.uuid4().hex
        with tempfile.TemporaryDirectory(dir=scratch_folder(settings)) as tmp:
            archive = Path(tmp) / "files.zip"
            zip_checked(files, settings, archive, keep_names=keep_names)
            artifacts.put_file(upload_id, "input", archive)
        params = ClassifyParams(upload=upload_id, files=len(files), model=info["name"], keep_names=keep_names)
        return submit_with_upload(store, settings, artifacts, "classify", owner, params.model_dump(mode="json"),
                                  idempotency_key)

    return await anyio.to_thread.run_sync(check_store_and_queue, limiter=UPLOAD_LIMITER)


def zip_checked(files: list[UploadFile], settings: Settings, target: Path, *, keep_names: bool = False) -> None:
    """Write the checked (DICOM: de-identified) files into `target`, an uncompressed zip, named by their position;
    the first bad file is a 4xx naming its position. One file is in memory at a time (the others wait in
    Starlette's spool files), so a request's size does not decide the API's memory."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as zf:
        for i, upload in enumerate(files):
            data = upload.file.read(settings.max_upload_bytes + 1)
            try:
                stored, fmt = checked_upload(data, max_bytes=settings.max_upload_bytes, max_pixels=settings.max_pixels)
            except ApiError as exc:
                raise ApiError(exc.code, f"file {i + 1} of {len(files)}: {exc.message}") from exc
            zf.writestr(f"{i:05d}.{SUFFIX[fmt]}", stored)
            del data, stored
        if keep_names:  # the names as sent, without folders or control characters
            zf.writestr(NAMES_MEMBER, json.dumps([sent_name(f.filename) for f in files]))
