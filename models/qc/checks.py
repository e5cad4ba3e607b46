"""Per-image QC of generated images and a set-level summary."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from models.classifier.ensemble import ClassifierEnsemble
from models.data.preprocess import resize
from models.qc.memorisation import MemorisationIndex, image_features
from models.vocabulary.findings import resolve


def qc_images(images: np.ndarray, findings: Sequence[str], ens: ClassifierEnsemble,
              index: MemorisationIndex | None) -> list[dict]:
    """For each image: the ensemble's probability for each requested finding (agreement) and memorisation."""
    names = [n for n in findings if n in ens.findings] or resolve(list(findings), ens.findings)
    r = ens.input_size
    x = np.stack([resize(im, r) for im in images]) if images.shape[-1] != r else images
    pred = ens.predict(x)
    mem = index.check(image_features(ens, x)) if index is not None else [None] * len(images)
    out = []
    for n in range(len(images)):
        agreement = {}
        for name in names:
            k = ens.findings.index(name)
            p = float(pred.mean[n, k])
            thr = ens.thresholds.get(name, 0.5)
            agreement[name] = {"probability": p, "std": float(pred.std[n, k]), "threshold": thr,
                               "agrees": bool(p >= thr)}
        out.append({"label_agreement": agreement, "agrees": all(a["agrees"] for a in agreement.values()),
                    "memorisation": mem[n]})
    return out


def summarise(qc: list[dict]) -> dict:
    n = len(qc)
    flagged = sum(1 for q in qc if q["memorisation"] and q["memorisation"]["flagged"])
    return {"images": n, "agreement_rate": sum(q["agrees"] for q in qc) / n if n else 0.0,
            "flagged_rate": flagged / n if n else 0.0, "flagged": flagged}
