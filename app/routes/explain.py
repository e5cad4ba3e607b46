"""POST /explain: upload an X-ray (PNG, JPEG or DICOM) and queue an integrated-gradients and/or counterfactual
explanation."""

from __future__ import annotations

from typing import Annotated, Literal

import anyio
from fastapi import APIRouter, File, Form, Query, UploadFile

from app.catalog import canonical_findings, model_info
from app.deps import IDEMPOTENCY_HEADER, ArtifactsDep, OwnerDep, SettingsDep, StoreDep
from app.errors import ApiError
from app.schemas import JOB_ACCEPTED, ErrorBody, JobOut
from app.submit import submit_with_upload
from app.uploads import accept_upload
from core.contracts import ExplainMethod, ExplainParams
from core.settings import Settings
from models.vocabulary import counterfactual_defaults
from models.vocabulary.findings import NO_FINDING
from models.vocabulary.model_kinds import makes_images

router = APIRouter(tags=["explain"])
UPLOAD_LIMITER = anyio.CapacityLimiter(2)
ERRORS = {s: {"model": ErrorBody} for s in (401, 413, 415, 422, 429, 503)}
METHOD_HELP = ("ig (integrated gradients), smoothgrad, counterfactual (the upload regenerated without the "
               "finding) or both (ig + counterfactual)")


@router.post("/explain", status_code=202, response_model=JobOut, operation_id="explain",
             responses=ERRORS | JOB_ACCEPTED)
async def explain(
    owner: OwnerDep,
    settings: SettingsDep,
    store: StoreDep,
    artifacts: ArtifactsDep,
    file: Annotated[UploadFile, File(description="PNG, JPEG or DICOM chest X-ray")],
    findings: Annotated[str | None, Form(description="comma-separated findings; default: the 3 most probable")] = None,
    method: Annotated[ExplainMethod, Form(description=METHOD_HELP)] = "ig",
    method_in_query: Annotated[ExplainMethod | None, Query(alias="method", description=METHOD_HELP +
                                                           " (in the URL; wins over the form field)")] = None,
    n_steps: Annotated[int, Form(ge=4, le=500, description="integration steps")] = 50,
    baseline: Annotated[Literal["black", "blur"], Form(description="IG baseline")] = "black",
    model: Annotated[str | None, Form(description="classifier name; default: the bundled one")] = None,
    generator: Annotated[str | None, Form(description="generator of counterfactuals; default: the bundled one")
                         ] = None,
    strength: Annotated[float, Form(gt=0.0, le=1.0, description="counterfactual: share of the noise schedule the "
                                    "upload is noised to before it is regenerated without the finding")
                        ] = counterfactual_defaults.STRENGTH,
    push: Annotated[str | None, Form(max_length=64, description="send the explanation's DICOM (maps, report, "
                                     "overlays and the de-identified upload) to this DICOMweb archive, by the "
                                     "name the deployment gave it (GET /dicomweb)")] = None,
    idempotency_key: Annotated[str | None, IDEMPOTENCY_HEADER] = None,
) -> JobOut:
    """Queue an explanation of an uploaded X-ray; DICOM is de-identified before it is stored.

    `method=counterfactual` (or `both`, with integrated gradients) regenerates the upload without each explained
    finding and returns the counterfactual, its difference map at the upload's geometry and the change in the
    ensemble's probability."""
    method = method_in_query or method

    def check_store_and_queue() -> JobOut:
        data = file.file.read(settings.max_upload_bytes + 1)  # read here: a few uploads in memory at a time
        info = model_info(settings, model, "classifier", owner=owner)
        wanted = canonical_findings(info, findings) if findings and findings.strip() else None
        gen = counterfactual_generator(settings, generator, owner) if method in ("counterfactual", "both") else None
        upload_id, fmt = accept_upload(data, artifacts, max_bytes=settings.max_upload_bytes,
                                       max_pixels=settings.max_pixels)
        params = ExplainParams(upload=upload_id, source_format=fmt, findings=wanted, method=method,
                               n_steps=n_steps, baseline=baseline, model=info["name"], strength=strength,
                               generator=gen, push=push or None)
        return submit_with_upload(store, settings, artifacts, "explain", owner, params.model_dump(mode="json"),
                                  idempotency_key)

    # Decoding and de-identifying run off the event loop, a few at a time, so that a burst of large uploads
    # never holds up other requests (/health answered in 30 s during one before).
    return await anyio.to_thread.run_sync(check_store_and_queue, limiter=UPLOAD_LIMITER)


def counterfactual_generator(settings: Settings, name: str | None, owner: str) -> str:
    """The 2D generator that makes counterfactuals: it must know "No Finding" (a 422 says which ones do)."""
    info = model_info(settings, name, "generator", owner=owner)
    if not makes_images(info) or NO_FINDING not in info.get("findings", []):
        raise ApiError("invalid_parameter", f"generator {info['name']} cannot make counterfactuals: it needs a 2D "
                       f"generator conditioned on '{NO_FINDING}' (GET /models lists them)")
    return info["name"]
