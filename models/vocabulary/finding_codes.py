"""Standard codes for the NIH findings, as DICOM AI results (Structured Reports) name them.

Codes come from SNOMED CT (scheme "SCT") or the DICOM Controlled Terminology ("DCM"); a finding with no code we
could vouch for is coded in RadSynth's private scheme ("99RADSYNTH", the form DICOM PS3.16 keeps for local codes),
so a report never carries a guessed code. `docs/dicom.md` prints this table.
"""

from __future__ import annotations

from typing import NamedTuple

PRIVATE_SCHEME = "99RADSYNTH"
UNITLESS = ("1", "UCUM", "no units")  # the unit of probabilities, thresholds and attributions


class FindingCode(NamedTuple):
    value: str
    scheme: str
    meaning: str
    note: str = ""


# Where the DICOM standard's own tables (PS3.16, as shipped in pydicom's code dictionary) hold the concept, that
# code is used; the others are SNOMED CT concepts used for these findings by public chest X-ray tools.
STANDARD_CODES: dict[str, FindingCode] = {
    "Atelectasis": FindingCode("46621007", "SCT", "Atelectasis"),
    "Cardiomegaly": FindingCode("287272002", "SCT", "Cardiomegaly", "DICOM PS3.16"),
    "Effusion": FindingCode("60046008", "SCT", "Pleural effusion", "DICOM PS3.16"),
    "Infiltration": FindingCode("112121", "DCM", "Infiltrate", "DICOM PS3.16"),
    "Mass": FindingCode("4147007", "SCT", "Mass", "DICOM PS3.16"),
    "Nodule": FindingCode("27925004", "SCT", "Nodule", "DICOM PS3.16"),
    "Pneumonia": FindingCode("233604007", "SCT", "Pneumonia"),
    "Pneumothorax": FindingCode("36118008", "SCT", "Pneumothorax", "DICOM PS3.16"),
    "Consolidation": FindingCode("95436008", "SCT", "Lung consolidation"),
    "Edema": FindingCode("19242006", "SCT", "Pulmonary edema", "DICOM PS3.16"),
    "Emphysema": FindingCode("87433001", "SCT", "Pulmonary emphysema"),
    "Fibrosis": FindingCode("112674009", "SCT", "Fibrosis", "DICOM PS3.16; not specific to the lung"),
    "Hernia": FindingCode("84089009", "SCT", "Hiatal hernia", "NIH's Hernia label is almost always hiatal"),
}


def finding_code(name: str) -> FindingCode:
    """The standard code of `name`, or a private one (the label itself) where there is none."""
    if name in STANDARD_CODES:
        return STANDARD_CODES[name]
    value = "".join(ch for ch in name.upper() if ch.isalnum())[:16] or "FINDING"
    return FindingCode(value, PRIVATE_SCHEME, name.replace("_", " "), "no standard code vouched for")
