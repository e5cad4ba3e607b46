"""Data layouts RadSynth reads, and the label names of the MedMNIST files it knows (torch-free vocabulary)."""

from __future__ import annotations

from typing import Literal

DataFormat = Literal["nih", "medmnist", "dicom_folder", "image_folder"]
FORMATS: tuple[str, ...] = DataFormat.__args__

# Label names of the MedMNIST files RadSynth knows; others get class_0, class_1, ...
KNOWN_LABELS = {
    "pneumoniamnist": ("normal", "pneumonia"),
    "breastmnist": ("malignant", "normal_or_benign"),
    "adrenalmnist3d": ("normal", "hyperplasia"),
}
