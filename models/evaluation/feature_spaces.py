"""Fixed feature spaces for FID on V: the judge's and two random CNNs', with the floor and simple fakes scored."""

from __future__ import annotations

import numpy as np


class Spaces:
    """The three feature spaces, with V's features and the floor and fakes already scored."""

    def __init__(self, judge_dir: str, real: np.ndarray, floor: np.ndarray, size: int = 64):
        from models.classifier.ensemble import ClassifierEnsemble
        from models.metrics.fid import frechet_distance
        from models.metrics.realism import fakes, random_cnn_features, second_cnn_features
        from models.qc.memorisation import image_features

        judge = ClassifierEnsemble.load(judge_dir)
        self.features = {"judge": lambda x: image_features(judge, x), "random_cnn": random_cnn_features(size=size),
                         "second_cnn": second_cnn_features(size=size)}
        self.real, self.size = real, size
        self.real_f = {name: f(real) for name, f in self.features.items()}
        self.reference: dict[str, dict[str, float]] = {}
        for name, f in self.features.items():
            ref = {"real floor (G vs V)": frechet_distance(f(floor), self.real_f[name])}
            ref |= {fake: frechet_distance(f(images), self.real_f[name]) for fake, images in fakes(floor).items()}
            self.reference[name] = ref

    def measure(self, generated: np.ndarray) -> dict:
        from models.metrics.fid import frechet_distance
        from models.metrics.realism import noise_dominated_share, saturated_share

        row = {"noise_dominated": noise_dominated_share(generated, self.real, self.size),
               "saturated": saturated_share(generated)}
        for name, f in self.features.items():
            fid = frechet_distance(f(generated), self.real_f[name])
            row[f"fid_{name}"] = fid
            row[f"ratio_{name}"] = fid / self.reference[name]["real floor (G vs V)"]
        return row
