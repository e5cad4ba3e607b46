"""What values a de-identified DICOM may keep. The allow-list of attributes (models/io/deidentify.py) decides which
elements survive; this decides which of their values do: numbers must be numbers, UIDs well-formed, and coded
strings one of the standard's defined terms. Anything else (free text smuggled into a kept attribute) is dropped or
replaced, since a value can carry a patient's name as well as a keyword can."""

from __future__ import annotations

import re

from pydicom.dataelem import DataElement
from pydicom.uid import UID_dictionary

SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
UID_FORM = re.compile(r"^(0|[1-9]\d*)(\.(0|[1-9]\d*))*$")
CHARSET = re.compile(r"^(ISO_IR \d{2,3}|ISO 2022 IR \d{2,3}|ISO 2022 IR 13|GB18030|GBK|)$")

# Defined terms of PS3.3 for the coded strings the allow-list keeps.
DEFINED_TERMS: dict[str, frozenset[str]] = {
    "Modality": frozenset("CR DX MG CT MR US NM PT XA RF OT SC RG IO PX ES XC SM DG GM OP OPT OCT".split()),
    "BurnedInAnnotation": frozenset({"YES", "NO"}),
    "ConversionType": frozenset({"DV", "DI", "DF", "WSD", "SD", "SI", "DRW", "SYN"}),
    "ImageType": frozenset({"", "ORIGINAL", "DERIVED", "PRIMARY", "SECONDARY", "AXIAL", "LOCALIZER", "OTHER",
                            "REFORMATTED", "POST_PROCESSED", "SUBTRACTION", "MIXED"}),
    "LossyImageCompression": frozenset({"00", "01"}),
    "LossyImageCompressionMethod": frozenset({"ISO_10918_1", "ISO_14495_1", "ISO_15444_1", "ISO_15444_15",
                                              "ISO_18181_1", "ISO_13818_2", "ISO_14496_10", "ISO_23008_2"}),
    "PhotometricInterpretation": frozenset({"MONOCHROME1", "MONOCHROME2", "PALETTE COLOR", "RGB", "YBR_FULL",
                                            "YBR_FULL_422", "YBR_PARTIAL_420", "YBR_ICT", "YBR_RCT", "XYB"}),
    "PresentationLUTShape": frozenset({"IDENTITY", "INVERSE"}),
    "VOILUTFunction": frozenset({"LINEAR", "LINEAR_EXACT", "SIGMOID"}),
    "RescaleType": frozenset({"US", "OD", "HU", "MGML", "Z_EFF", "ED", "EDW", "HU_MOD", "PCT"}),
    "ModalityLUTType": frozenset({"US", "OD", "HU", "MGML", "Z_EFF", "ED", "EDW", "HU_MOD", "PCT"}),
    "PatientIdentityRemoved": frozenset({"YES", "NO"}),
}
# A kept value that fails its check is replaced rather than dropped where decoding or a viewer needs the element.
REPLACEMENTS = {"Modality": "OT", "SOPClassUID": SECONDARY_CAPTURE, "MediaStorageSOPClassUID": SECONDARY_CAPTURE}
TEXT_VRS = {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI", "UR", "UT"}


def values_of(elem: DataElement) -> list[str]:
    value = elem.value
    if value is None:
        return []
    items = list(value) if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue" else [value]
    return [str(v).strip() for v in items]


def value_ok(keyword: str, vr: str, value: str) -> bool:
    """Whether one value of a kept text element may stay."""
    if value == "":
        return True
    if vr in ("DS", "IS"):
        return bool(NUMBER.match(value))
    if vr == "UI":
        known = keyword not in ("SOPClassUID", "MediaStorageSOPClassUID") or value in UID_dictionary
        return len(value) <= 64 and bool(UID_FORM.match(value)) and known
    if keyword == "SpecificCharacterSet":
        return bool(CHARSET.match(value))
    terms = DEFINED_TERMS.get(keyword)
    return terms is not None and value in terms


def clean_values(elem: DataElement) -> DataElement | str | None:
    """The element itself when every value may stay; for multi-valued coded strings the element with only the
    allowed values; a replacement value where one is defined; None when it must go."""
    if elem.VR not in TEXT_VRS:
        return elem
    values = values_of(elem)
    good = [v for v in values if value_ok(elem.keyword, elem.VR, v)]
    if len(good) == len(values):
        return elem
    if elem.keyword in REPLACEMENTS:
        return REPLACEMENTS[elem.keyword]
    if elem.keyword == "ImageType" and good:
        elem.value = good
        return elem
    return None
