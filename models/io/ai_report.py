"""An explanation's findings as a DICOM Comprehensive 3D SR holding a TID 1500 measurement report.

One measurement group per finding the classifier scores: the finding's code (`models/vocabulary/finding_codes`),
its calibrated probability, the decision threshold, the ensemble's spread, for explained findings the share of
attribution on borders and markers; qualitative evaluations say whether the finding is called present and
whether the explanation is flagged as a shortcut. The algorithm identification names the model, its version, the
threshold rule and the data it trained on. Values are stored as 64-bit floats beside the decimal string, so they
read back equal to the explanation's JSON.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes

from models import __version__
from models.vocabulary.finding_codes import PRIVATE_SCHEME, UNITLESS, finding_code

SHORTCUT_SHARE = ("SHORTCUTSHARE", PRIVATE_SCHEME, "Attribution share on borders and markers")
SHORTCUT_FLAG = ("SHORTCUTFLAG", PRIVATE_SCHEME, "Explanation flagged as a shortcut")
CHEST_RADIOGRAPH = ("399208008", "SCT", "Plain chest X-ray")


@dataclass(frozen=True)
class ModelDescription:
    """What the SR says made the findings."""

    name: str
    version: str
    trained_on: str
    threshold_rule: str = ""

    @classmethod
    def from_config(cls, name: str, config: dict) -> ModelDescription:
        """From a classifier folder's name and its `radsynth.json`."""
        trained_on = str(config.get("dataset") or "unknown")
        train_split = (config.get("splits") or {}).get("train") if isinstance(config.get("splits"), dict) else None
        if train_split and train_split not in trained_on:
            trained_on += f" (split {train_split})"
        return cls(name=name, version=str(config.get("code_version") or __version__), trained_on=trained_on,
                   threshold_rule=str(config.get("threshold_rule", "")))


def concept(code: tuple[str, str, str]):
    from highdicom.sr import CodedConcept

    return CodedConcept(*code)


def finding_concept(name: str):
    code = finding_code(name)
    return concept((code.value, code.scheme, code.meaning))


def finding_group(name: str, entry: dict, shortcut: dict | None, source: Dataset, algorithm):
    """TID 1501 measurements and qualitative evaluations of one finding on the source image."""
    import highdicom as hd

    def number(code, value: float) -> hd.sr.Measurement:  # the group names the algorithm once for all of them
        return hd.sr.Measurement(name=code, value=float(value), unit=concept(UNITLESS))

    measurements = [number(codes.DCM.Probability, entry["probability"])]
    if "threshold" in entry:
        measurements.append(number(codes.DCM.ThresholdValue, entry["threshold"]))
    if "std" in entry:
        measurements.append(number(codes.SCT.StandardDeviation, entry["std"]))
    evaluations = [hd.sr.QualitativeEvaluation(finding_concept(name),
                                               codes.SCT.Present if entry.get("positive") else codes.SCT.Absent)]
    if shortcut is not None:
        measurements.append(number(concept(SHORTCUT_SHARE), shortcut["shortcut_share"]))
        evaluations.append(hd.sr.QualitativeEvaluation(concept(SHORTCUT_FLAG),
                                                       codes.SCT.Yes if shortcut["flagged"] else codes.SCT.No))
    return hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier=name),
        finding_type=finding_concept(name), algorithm_id=algorithm, measurements=measurements,
        qualitative_evaluations=evaluations,
        source_images=[hd.sr.SourceImageForMeasurementGroup.from_source_image(source)])


def findings_report(summary: dict, source: Dataset, model: ModelDescription, *, series_number: int = 990) -> Dataset:
    """The SR of an explanation `summary` (its JSON: `probabilities`, `shortcuts`) over `source`, the de-identified
    image it explains, in the source's study."""
    import highdicom as hd

    parameters = [f"trained on: {model.trained_on}"]
    if model.threshold_rule:
        parameters.append(f"threshold: {model.threshold_rule}")
    algorithm = hd.sr.AlgorithmIdentification(name=model.name[:64], version=model.version[:64],
                                              parameters=parameters)
    device = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=hd.UID(), name="RadSynth explainer", manufacturer_name="RadSynth", model_name=model.name[:64]))
    shortcuts = summary.get("shortcuts", {})
    groups = [finding_group(name, entry, shortcuts.get(name), source, algorithm)
              for name, entry in summary["probabilities"].items()]
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=device),
        procedure_reported=concept(CHEST_RADIOGRAPH), imaging_measurements=groups)
    sr = hd.sr.Comprehensive3DSR(
        evidence=[source], content=report, series_number=series_number, series_instance_uid=hd.UID(),
        sop_instance_uid=hd.UID(), instance_number=1, manufacturer="RadSynth",
        series_description=f"AI findings: {model.name} (RadSynth)"[:64], is_complete=True, is_final=False,
        is_verified=False, institution_name="", software_versions=__version__)
    private = Dataset()
    private.CodingSchemeDesignator = PRIVATE_SCHEME
    private.CodingSchemeName = "RadSynth local codes"
    private.CodingSchemeResponsibleOrganization = "RadSynth"
    sr.CodingSchemeIdentificationSequence = [private]
    return sr


NUMBER_KEYS = {"122157": "probability", "122411": "threshold", "386136009": "std", SHORTCUT_SHARE[0]: "shortcut_share"}


def report_values(sr: Dataset) -> dict[str, dict[str, float | bool]]:
    """Read an SR written by `findings_report` back: per finding (its label as in the JSON) the probability,
    threshold, spread and shortcut share, and the calls `present` and `shortcut_flagged`."""
    out: dict[str, dict[str, float | bool]] = {}
    for group in sr.ContentSequence:
        if group.ConceptNameCodeSequence[0].CodeValue != "126010":  # Imaging Measurements
            continue
        for item in group.ContentSequence:
            values: dict[str, float | bool] = {}
            label, finding = "", None
            for entry in item.get("ContentSequence", []):
                name = entry.ConceptNameCodeSequence[0]
                if entry.ValueType == "TEXT" and name.CodeValue == "112039":  # Tracking Identifier
                    label = entry.TextValue
                elif entry.ValueType == "CODE" and name.CodeValue == "121071":  # Finding
                    finding = entry.ConceptCodeSequence[0].CodeValue
                elif entry.ValueType == "NUM" and name.CodeValue in NUMBER_KEYS:
                    values[NUMBER_KEYS[name.CodeValue]] = float(entry.MeasuredValueSequence[0].FloatingPointValue)
                elif entry.ValueType == "CODE":
                    key = "shortcut_flagged" if name.CodeValue == SHORTCUT_FLAG[0] else (
                        "present" if name.CodeValue == finding else name.CodeMeaning)
                    values[key] = entry.ConceptCodeSequence[0].CodeMeaning in ("Present", "Yes")
            if label:
                out[label] = values
    return out
