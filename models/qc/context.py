"""Load what QC needs for a generator: the classifier ensemble and the memorisation index beside the model."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.catalog import DEFAULT_CLASSIFIER, resolve_model
from models.classifier.ensemble import ClassifierEnsemble
from models.qc.checks import qc_images
from models.qc.memorisation import MemorisationIndex, build_index, image_features

INDEX_FILE = "qc_index.npz"


@dataclass
class QCContext:
    classifier: ClassifierEnsemble
    index: MemorisationIndex | None
    classifier_name: str

    def run(self, images: np.ndarray, findings: list[str]) -> list[dict]:
        return qc_images(images, findings, self.classifier, self.index)


def qc_classifier_name(generator_folder: Path, fallback: str = DEFAULT_CLASSIFIER) -> str:
    """The classifier a generator's QC index was built with (radsynth.json 'qc'), else `fallback`."""
    info = json.loads((generator_folder / "radsynth.json").read_text())
    return info.get("qc", {}).get("classifier") or fallback


def load_index(generator_folder: Path) -> MemorisationIndex | None:
    path = generator_folder / INDEX_FILE
    return MemorisationIndex.load(path) if path.exists() else None


def load_qc(generator_folder: Path, classifier: str | None = None, device: str = "cpu",
            extra_dirs: list[Path] | None = None) -> QCContext:
    """The generator's QC classifier (or `classifier`) and its qc_index.npz if present."""
    name = classifier or qc_classifier_name(generator_folder)
    ens = ClassifierEnsemble.load(resolve_model(name, kind="classifier", extra=extra_dirs), device=device)
    return QCContext(ens, load_index(generator_folder), Path(name).name)


def write_index(generator_folder: Path, data: str | Path, classifier: str | None = None, fmt: str | None = None,
                batch: int = 256) -> MemorisationIndex:
    """Build the memorisation index of the generator's training split and record it in its radsynth.json."""
    from models.data.registry import open_dataset

    info = json.loads((generator_folder / "radsynth.json").read_text())
    res = info.get("resolution", 64)
    return write_index_of(generator_folder, open_dataset(data, "train", res, fmt=fmt),
                          open_dataset(data, "val", res, fmt=fmt), classifier, batch)


def write_index_of(generator_folder: Path, train_ds, heldout_ds, classifier: str | None = None,
                   batch: int = 256) -> MemorisationIndex:
    """The memorisation index of `train_ds` (the generator's training images), its copy threshold calibrated on
    `heldout_ds` (real images of other patients), written beside the generator and recorded in radsynth.json."""
    info = json.loads((generator_folder / "radsynth.json").read_text())
    name = classifier or qc_classifier_name(generator_folder)
    ens = ClassifierEnsemble.load(resolve_model(name, kind="classifier"))

    def feats(ds) -> tuple[np.ndarray, list[str]]:
        out, ids = [], []
        for start in range(0, len(ds), batch):
            items = [ds[i] for i in range(start, min(len(ds), start + batch))]
            imgs = np.stack([((it["image"][0] + 1) / 2).numpy() for it in items])
            out.append(image_features(ens, imgs))
            ids += [it["id"] for it in items]
        return np.concatenate(out), ids

    train_f, train_ids = feats(train_ds)
    held_f, _ = feats(heldout_ds)
    index = build_index(train_f, train_ids, held_f)
    index.save(generator_folder / INDEX_FILE)
    info["qc"] = {"classifier": Path(name).name, "index": INDEX_FILE, "threshold": index.threshold,
                  "calibration": index.calibration}
    (generator_folder / "radsynth.json").write_text(json.dumps(info, indent=2, default=str))
    return index
