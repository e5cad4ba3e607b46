"""ClassifierEnsemble: M members, a self-describing folder (safetensors + config), probabilities with spread."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from models.classifier.network import FindingCNN
from models.vocabulary.findings import NO_FINDING, resolve
from models.vocabulary.model_kinds import CLASSIFIER

# Inputs are grey [0, 1]; members see (x - MEAN) / STD.
MEAN, STD = 0.5, 0.25


YOUDEN_RULE = "Youden's J (sensitivity + specificity - 1) maximised on the validation split"
SPECIFICITY_RULE = "the lowest threshold with specificity >= {:.2f} on the validation split (V)"
UNDEFINED_THRESHOLD = 0.5
UNDEFINED_RULE = "a default of 0.5: the validation split had no positive (or no negative) of this finding"
NO_FINDING_RULE = "positive exactly when no finding is positive at its own threshold"


@dataclass
class EnsemblePrediction:
    """Per image and finding: mean probability, std across members, and each member's probability."""

    findings: list[str]
    member_probs: np.ndarray  # (M, N, K)

    @property
    def mean(self) -> np.ndarray:
        return self.member_probs.mean(0)

    @property
    def std(self) -> np.ndarray:
        return self.member_probs.std(0)

    def as_dicts(self, thresholds: dict[str, float] | None = None, rule: str = YOUDEN_RULE,
                 trust: dict[str, dict] | None = None) -> list[dict]:
        """Per image {finding: probability, std, members and, with thresholds, positive, threshold and the rule
        that set it; with `trust`, the ensemble's test AUROC for the finding, its interval and whether it is
        reliable (the interval excludes 0.5)}. "No Finding" is positive exactly when no other finding is (never
        contradicting them)."""
        out = []
        for n in range(self.member_probs.shape[1]):
            row = {}
            for k, name in enumerate(self.findings):
                entry = {"probability": float(self.mean[n, k]), "std": float(self.std[n, k]),
                         "members": [float(p) for p in self.member_probs[:, n, k]]}
                if thresholds and name in thresholds:
                    value = float(thresholds[name])
                    entry |= {"positive": bool(self.mean[n, k] >= value), "threshold": value,
                              "threshold_rule": rule if value != UNDEFINED_THRESHOLD else UNDEFINED_RULE}
                if trust and name in trust:
                    entry |= trust[name]
                row[name] = entry
            if thresholds and NO_FINDING in row and "positive" in row[NO_FINDING]:
                any_finding = any(e.get("positive") for name, e in row.items() if name != NO_FINDING)
                row[NO_FINDING] |= {"positive": not any_finding, "threshold_rule": NO_FINDING_RULE}
                row[NO_FINDING].pop("threshold", None)
            out.append(row)
        return out


class ClassifierEnsemble(nn.Module):
    """M FindingCNN members over the same findings and input size."""

    def __init__(self, findings: Sequence[str], members: int = 3, *, input_size: int = 64, width: int = 32,
                 config: dict | None = None, dropout: float = 0.3, stem: int = 1):
        super().__init__()
        self.findings = list(findings)
        self.input_size = input_size
        self.width = width
        self.stem = stem
        self.members = nn.ModuleList(FindingCNN(len(self.findings), width, dropout, stem) for _ in range(members))
        self.config = config or {}
        self.pos_weights: dict[int, torch.Tensor] = {}  # per member, set by training (for calibration)

    @property
    def temperature(self) -> float:
        """Each member's logits are divided by this before the sigmoid (1: uncalibrated); fitted on validation."""
        return float(self.config.get("calibration", {}).get("temperature", 1.0))

    def calibrated(self, logits: torch.Tensor) -> torch.Tensor:
        """Probabilities from member logits: plus the per-finding offset, over the temperature (both from
        validation; none for an uncalibrated ensemble)."""
        calibration = self.config.get("calibration", {})
        offsets = calibration.get("logit_offset")
        if offsets:
            logits = logits + torch.tensor([offsets.get(f, 0.0) for f in self.findings], dtype=logits.dtype,
                                           device=logits.device)
        return torch.sigmoid(logits / self.temperature)

    def normalise(self, images: torch.Tensor) -> torch.Tensor:
        return (images - MEAN) / STD

    @torch.inference_mode()
    def _batched(self, images: np.ndarray | torch.Tensor, fn, batch_size: int) -> torch.Tensor:
        """Apply `fn` to normalised batches of grey [0, 1] images (N, R, R) or (N, 1, R, R); concatenate."""
        x = torch.as_tensor(images, dtype=torch.float32)
        if x.ndim == 3:
            x = x[:, None]
        device = next(self.parameters()).device
        self.eval()
        return torch.cat([fn(self.normalise(x[s:s + batch_size].to(device))).cpu()
                          for s in range(0, x.shape[0], batch_size)], dim=-2)

    def predict(self, images: np.ndarray | torch.Tensor, batch_size: int = 256) -> EnsemblePrediction:
        """Probabilities for grey [0, 1] images at the ensemble's input size."""
        probs = self._batched(images, lambda xb: torch.stack([self.calibrated(m(xb)) for m in self.members]),
                              batch_size)
        return EnsemblePrediction(self.findings, probs.numpy())

    def features(self, images: np.ndarray | torch.Tensor, batch_size: int = 256) -> np.ndarray:
        """Concatenated member features (N, M*D) for grey [0, 1] images: the domain feature space."""
        return self._batched(images, lambda xb: torch.cat([m.features(xb) for m in self.members], 1),
                             batch_size).numpy()

    def finding_index(self, name: str) -> int:
        return self.findings.index(resolve(name, self.findings)[0])

    @property
    def thresholds(self) -> dict[str, float]:
        return self.config.get("thresholds", {})

    @property
    def threshold_rule(self) -> str:
        return self.config.get("threshold_rule", YOUDEN_RULE)

    def trust(self) -> dict[str, dict]:
        """Per finding, how far to trust a call: the test AUROC and its 95% interval from radsynth.json, and
        `reliable` (the interval excludes 0.5, chance)."""
        values, intervals = self.config.get("test_auroc", {}), self.config.get("test_auroc_ci95", {})
        out = {}
        for name, value in values.items():
            lo, hi = intervals.get(name, (None, None))
            if value is None or lo is None or value != value:  # NaN: no positives in the test split
                continue
            out[name] = {"test_auroc": float(value), "test_auroc_ci95": [float(lo), float(hi)],
                         "reliable": bool(lo > 0.5)}
        return out

    def answer(self, pred: EnsemblePrediction) -> list[dict]:
        """What every surface shows per image and finding: probability, threshold, call and how far to trust it."""
        return pred.as_dicts(self.thresholds, self.threshold_rule, self.trust())

    def save(self, path: str | Path, extra: dict | None = None) -> Path:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        for i, member in enumerate(self.members):
            save_file({k: v.contiguous() for k, v in member.state_dict().items()}, path / f"member_{i}.safetensors")
        config = self.config | (extra or {}) | {
            "kind": CLASSIFIER.name, "findings": self.findings, "members": len(self.members),
            "input_size": self.input_size, "resolution": self.input_size, "width": self.width, "stem": self.stem,
            "normalisation": {"input": "grey in [0, 1]", "mean": MEAN, "std": STD},
            "architecture": "FindingCNN: " + (f"a stem dividing the side by {self.stem} (7x7 conv stride 2"
                                              f"{', maxpool' if self.stem == 4 else ''}), " if self.stem > 1 else "")
            + "4 conv blocks (3x3 conv-BN-SiLU x2, maxpool), GAP, dropout, linear",
        }
        self.config = config
        (path / "radsynth.json").write_text(json.dumps(config, indent=2, default=str))
        return path

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> ClassifierEnsemble:
        path = Path(path)
        config = json.loads((path / "radsynth.json").read_text())
        ens = cls(config["findings"], config["members"], input_size=config["input_size"], width=config["width"],
                  config=config, stem=int(config.get("stem", 1)))
        for i, member in enumerate(ens.members):
            member.load_state_dict(load_file(path / f"member_{i}.safetensors"))
        return ens.to(device).eval()
