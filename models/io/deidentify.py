"""De-identify DICOM datasets with the PS3.15 Annex E Basic Application Level Confidentiality Profile.

Attributes of Table E.1-1 are emptied (type 2, action Z), removed (X) or given new UIDs (U); private
tags, overlays and curves are removed; sequences are cleaned recursively. Burned-in text in pixels is
not detected: uploads with BurnedInAnnotation YES are refused by the caller.
"""

from __future__ import annotations

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid

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


def deidentify(ds: Dataset) -> Dataset:
    """Return `ds` de-identified in place, marked with PatientIdentityRemoved and the method used."""
    uid_map: dict[str, str] = {}
    clean(ds, uid_map)
    if hasattr(ds, "file_meta") and "MediaStorageSOPInstanceUID" in ds.file_meta:
        ds.file_meta.MediaStorageSOPInstanceUID = ds.get("SOPInstanceUID", generate_uid())
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = METHOD
    code = Dataset()
    code.CodeValue = "113100"
    code.CodingSchemeDesignator = "DCM"
    code.CodeMeaning = "Basic Application Confidentiality Profile"
    ds.DeidentificationMethodCodeSequence = Sequence([code])
    return ds
