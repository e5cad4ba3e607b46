"""De-identify DICOM datasets with the PS3.15 Annex E Basic Application Level Confidentiality Profile.

Attributes of Table E.1-1 are emptied (type 2, action Z), removed (X) or given new UIDs (U); private
tags, overlays and curves are removed; sequences are cleaned recursively. Then, stricter than the profile, only
an allow-list survives: what decoding and display need, the emptied patient and study attributes, and the
de-identification marks. An attribute the table misses (or a newer standard adds) is therefore dropped too.
Burned-in text in pixels is not detected: uploads with BurnedInAnnotation YES are refused by the caller.
The patient is then given a pseudonym (PatientID `RS-...`, PatientName `ANONYMOUS^...`, the profile's "dummy
value"): random, so it cannot be traced back, and shared by the files of one patient within one call's map, so a
PACS keeps one upload's or one data set's patients apart instead of filing every upload under one empty patient.
"""

from __future__ import annotations

import secrets

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid

from models.io.allowed_values import clean_values

METHOD = "RadSynth: PS3.15 E.1-1 Basic Application Confidentiality Profile"

# Action Z: keep the element present but empty (type 2 in common IODs).
EMPTY = {
    "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "AccessionNumber",
    "ReferringPhysicianName", "StudyID", "StudyDate", "StudyTime", "ContentCreatorName",
    "FillerOrderNumberImagingServiceRequest", "PlacerOrderNumberImagingServiceRequest",
    "VerifyingObserverName", "PersonName", "ContrastBolusAgent",
}

# Action X (or X/Z/D resolved to X): remove.
REMOVE = {
    "AcquisitionDate", "AcquisitionTime", "AcquisitionDateTime", "ContentDate", "ContentTime",
    "SeriesDate", "SeriesTime", "OverlayDate", "OverlayTime", "CurveDate", "CurveTime",
    "InstanceCreationDate", "InstanceCreationTime", "InstitutionName", "InstitutionAddress",
    "InstitutionalDepartmentName", "InstitutionalDepartmentTypeCodeSequence", "InstitutionCodeSequence",
    "ReferringPhysicianAddress", "ReferringPhysicianTelephoneNumbers",
    "ReferringPhysicianIdentificationSequence", "PhysiciansOfRecord", "PhysiciansOfRecordIdentificationSequence",
    "PerformingPhysicianName", "PerformingPhysicianIdentificationSequence", "NameOfPhysiciansReadingStudy",
    "PhysiciansReadingStudyIdentificationSequence", "OperatorsName", "OperatorIdentificationSequence",
    "AdmittingDiagnosesDescription", "AdmittingDiagnosesCodeSequence", "DerivationDescription",
    "OtherPatientIDs", "OtherPatientIDsSequence", "OtherPatientNames", "PatientBirthName",
    "PatientBirthTime", "PatientAge", "PatientSize", "PatientWeight", "PatientAddress",
    "PatientMotherBirthName", "MilitaryRank", "BranchOfService", "MedicalRecordLocator",
    "MedicalAlerts", "Allergies", "CountryOfResidence", "RegionOfResidence",
    "PatientTelephoneNumbers", "PatientTelecomInformation", "EthnicGroup", "Occupation",
    "SmokingStatus", "AdditionalPatientHistory", "PregnancyStatus", "LastMenstrualDate",
    "PatientReligiousPreference", "PatientComments", "PatientState", "PatientInsurancePlanCodeSequence",
    "PatientPrimaryLanguageCodeSequence", "ResponsibleOrganization", "ResponsiblePerson",
    "IssuerOfPatientID", "IssuerOfPatientIDQualifiersSequence", "InsurancePlanIdentification",
    "StationName", "DeviceSerialNumber", "DeviceUID", "PlateID", "DetectorID", "GantryID",
    "CassetteID", "GeneratorID", "StudyDescription", "SeriesDescription", "ImageComments",
    "RequestAttributesSequence", "RequestedProcedureDescription", "RequestedProcedureID",
    "RequestingPhysician", "RequestingService", "ScheduledProcedureStepDescription",
    "ScheduledProcedureStepID", "PerformedProcedureStepDescription", "PerformedProcedureStepID",
    "PerformedProcedureStepStartDate", "PerformedProcedureStepStartTime", "PerformedProcedureStepEndDate",
    "PerformedProcedureStepEndTime", "PerformedLocation", "PerformedStationName",
    "PerformedStationAETitle", "ScheduledStationName", "ScheduledStationAETitle", "ScheduledPerformingPhysicianName",
    "ProtocolName", "ReasonForStudy", "ReasonForTheRequestedProcedure", "RequestedContrastAgent",
    "ReferencedPatientSequence", "ReferencedStudySequence", "ReferencedPerformedProcedureStepSequence",
    "ReferencedPatientAliasSequence", "OriginalAttributesSequence", "ModifiedAttributesSequence",
    "DigitalSignaturesSequence", "TextString", "TextComments", "TextValue", "Arbitrary", "AuthorObserverSequence",
    "ParticipantSequence", "CustodialOrganizationSequence", "ContentSequence", "FrameComments",
    "ConsultingPhysicianName", "ClinicalTrialSponsorName", "ClinicalTrialSiteName", "ClinicalTrialSubjectID",
    "ClinicalTrialSubjectReadingID", "ClinicalTrialProtocolName", "ClinicalTrialSiteID",
    "ClinicalTrialCoordinatingCenterName", "ServiceEpisodeID", "ServiceEpisodeDescription",
    "AdmissionID", "IssuerOfAdmissionIDSequence", "CurrentPatientLocation", "PatientInstitutionResidence",
    "VisitComments", "DischargeDiagnosisDescription", "ImagePresentationComments", "AcquisitionComments",
    "AcquisitionDeviceProcessingDescription", "DetectorDescription", "InterpretationText",
    "InterpretationAuthor", "ResultsComments", "StorageMediaFileSetUID", "SourceImageSequence",
    "ReferencedImageSequence", "ReferencedSOPInstanceUID", "Manufacturer", "ManufacturerModelName",
    "SoftwareVersions", "PatientBreedDescription", "ResponsiblePersonRole", "PersonAddress",
    "PersonTelephoneNumbers", "ReviewerName", "EvaluatorName", "DateOfLastCalibration",
    "TimeOfLastCalibration", "DateOfSecondaryCapture", "TimeOfSecondaryCapture", "IconImageSequence",
}

# Action U: replace with a new UID, consistently within one call.
NEW_UID = {
    "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID",
    "SynchronizationFrameOfReferenceUID", "ReferencedFrameOfReferenceUID", "MediaStorageSOPInstanceUID",
    "IrradiationEventUID", "ConcatenationUID", "DimensionOrganizationUID", "TargetUID",
    "CreatorVersionUID", "TransactionUID", "FiducialUID", "TemplateExtensionCreatorUID",
}


# Everything else is dropped after the table's actions (see allow_only).
KEEP = {
    "SpecificCharacterSet", "ImageType", "SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID",
    "Modality", "ConversionType", "SamplesPerPixel", "PhotometricInterpretation", "PlanarConfiguration",
    "NumberOfFrames", "FrameIncrementPointer", "Rows", "Columns", "PixelSpacing", "ImagerPixelSpacing",
    "PixelAspectRatio", "BitsAllocated", "BitsStored", "HighBit", "PixelRepresentation", "SmallestImagePixelValue",
    "LargestImagePixelValue", "PixelPaddingValue", "PixelPaddingRangeLimit", "RescaleIntercept", "RescaleSlope",
    "RescaleType", "ModalityLUTSequence", "WindowCenter", "WindowWidth", "VOILUTFunction", "VOILUTSequence",
    "PresentationLUTShape", "LossyImageCompression", "LossyImageCompressionRatio", "LossyImageCompressionMethod",
    "BurnedInAnnotation", "RedPaletteColorLookupTableDescriptor", "GreenPaletteColorLookupTableDescriptor",
    "BluePaletteColorLookupTableDescriptor", "RedPaletteColorLookupTableData", "GreenPaletteColorLookupTableData",
    "BluePaletteColorLookupTableData", "SegmentedRedPaletteColorLookupTableData",
    "SegmentedGreenPaletteColorLookupTableData", "SegmentedBluePaletteColorLookupTableData", "PixelData",
    "FloatPixelData", "DoubleFloatPixelData", "ExtendedOffsetTable", "ExtendedOffsetTableLengths",
    "PatientIdentityRemoved", "DeidentificationMethod", "DeidentificationMethodCodeSequence", *EMPTY,
}
KEEP_IN_LUT_ITEMS = {"LUTDescriptor", "LUTData", "ModalityLUTType"}
KEEP_FILE_META = {"FileMetaInformationVersion", "MediaStorageSOPClassUID", "MediaStorageSOPInstanceUID",
                  "TransferSyntaxUID"}


def keep_allowed_values(ds: Dataset, elem) -> None:
    """Drop or replace `elem` when one of its values is not an allowed value (allowed_values.clean_values)."""
    kept = clean_values(elem)
    if kept is None:
        del ds[elem.tag]
    elif isinstance(kept, str):
        elem.value = kept


def allow_only(ds: Dataset) -> None:
    """Drop every element outside the allow-list, and every kept text value that is not a number, a well-formed
    UID or a defined term; LUT sequence items keep only their numeric tables."""
    for elem in list(ds):
        if elem.keyword not in KEEP:
            del ds[elem.tag]
            continue
        if elem.keyword in ("ModalityLUTSequence", "VOILUTSequence"):
            for item in elem.value:
                for inner in list(item):
                    if inner.keyword not in KEEP_IN_LUT_ITEMS:
                        del item[inner.tag]
                    else:
                        keep_allowed_values(item, inner)
        elif elem.keyword not in EMPTY:
            keep_allowed_values(ds, elem)
    meta = getattr(ds, "file_meta", None)
    if meta is not None:
        for elem in list(meta):
            if elem.keyword not in KEEP_FILE_META:
                del meta[elem.tag]
            else:
                keep_allowed_values(meta, elem)
        if "FileMetaInformationVersion" in meta:  # OB: any bytes could ride in it
            meta.FileMetaInformationVersion = b"\x00\x01"


def clean(ds: Dataset, uid_map: dict[str, str]) -> None:
    """Apply the profile to `ds` in place, recursing into sequences."""
    ds.remove_private_tags()
    for elem in list(ds):
        group = elem.tag.group
        if 0x5000 <= group <= 0x50FF or 0x6000 <= group <= 0x60FF:  # curves and overlays
            del ds[elem.tag]
            continue
        keyword = elem.keyword
        if keyword in REMOVE:
            del ds[elem.tag]
        elif keyword in EMPTY:
            elem.value = ""
        elif keyword in NEW_UID and elem.value:
            old = str(elem.value)
            elem.value = uid_map.setdefault(old, generate_uid())
        elif elem.VR == "SQ":
            for item in elem.value:
                clean(item, uid_map)
        elif elem.VR == "PN":  # any other person name is identifying
            elem.value = ""


def pseudonym(original_id: str, uid_map: dict[str, str]) -> str:
    """A random pseudonym for a patient ID, the same for every file sharing `uid_map` (kept in memory only)."""
    return uid_map.setdefault(f"patient:{original_id}", secrets.token_hex(6).upper())


def deidentify(ds: Dataset, *, uid_map: dict[str, str] | None = None) -> Dataset:
    """Return `ds` de-identified in place, marked with PatientIdentityRemoved and the method used, its patient
    pseudonymous. Pass one `uid_map` for many files to keep their study and series relations (with new UIDs) and
    their patients (with one pseudonym each)."""
    uid_map = {} if uid_map is None else uid_map
    token = pseudonym(str(ds.get("PatientID", "")), uid_map)
    clean(ds, uid_map)
    allow_only(ds)
    if hasattr(ds, "file_meta") and "MediaStorageSOPInstanceUID" in ds.file_meta:
        ds.file_meta.MediaStorageSOPInstanceUID = ds.get("SOPInstanceUID", generate_uid())
    if hasattr(ds, "preamble"):  # 128 free bytes before 'DICM': anything could be written there
        ds.preamble = b"\x00" * 128
    ds.PatientID, ds.PatientName = f"RS-{token}", f"ANONYMOUS^{token[:8]}"
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = METHOD
    code = Dataset()
    code.CodeValue = "113100"
    code.CodingSchemeDesignator = "DCM"
    code.CodeMeaning = "Basic Application Confidentiality Profile"
    ds.DeidentificationMethodCodeSequence = Sequence([code])
    return ds
