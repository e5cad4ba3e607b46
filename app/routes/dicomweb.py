"""GET /dicomweb: the DICOMweb archives this deployment lets jobs push to (names only, never URLs or secrets)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from app.deps import OwnerDep, SettingsDep

router = APIRouter(tags=["dicomweb"])


class DicomwebTargets(BaseModel):
    targets: list[str] = Field(..., description="names a job may give as push=<name>")


@router.get("/dicomweb", response_model=DicomwebTargets, operation_id="list_dicomweb_targets")
def list_targets(owner: OwnerDep, settings: SettingsDep) -> DicomwebTargets:
    """Names of the configured DICOMweb archives (RADSYNTH_DICOMWEB_TARGETS)."""
    return DicomwebTargets(targets=sorted(settings.dicomweb()))
