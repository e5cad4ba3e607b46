"""Batch classification without attribution: probabilities, spread, thresholds and verdicts for many files."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from models.classifier.ensemble import ClassifierEnsemble

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".dcm", ".dicom")


def image_files(paths: Iterable[str | Path]) -> list[Path]:
    """The files given, and the images inside any folder given (recursively), sorted; unknown names skipped."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        elif path.is_file():
            found.append(path)
        else:
            raise FileNotFoundError(f"{path}: no such file or folder")
    return found


def load_for(ens: ClassifierEnsemble, path: Path) -> tuple[np.ndarray | None, str | None]:
    """The image as the ensemble sees it (padded square, its input size), or an error message."""
    from models.data.preprocess import load_image_file, to_model_input
    from models.errors import InputError

    try:
        square, _ = to_model_input(load_image_file(path).pixels, ens.input_size, mode="pad")
        return square, None
    except (InputError, OSError, ValueError) as exc:
        return None, str(exc)


def classify(ens: ClassifierEnsemble, files: list[Path], *, batch_size: int = 64, workers: int = 2,
             progress: Callable[[int, int], None] | None = None) -> Iterator[dict]:
    """One result per file, in order: {file, probabilities: {finding: {probability, std, positive, threshold,
    threshold_rule}}} or {file, error}. Files are decoded in `workers` threads while the ensemble runs."""
    done = 0
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for start in range(0, len(files), batch_size):
            chunk = files[start:start + batch_size]
            loaded = list(pool.map(lambda p: load_for(ens, p), chunk))
            good = [i for i, (img, _) in enumerate(loaded) if img is not None]
            rows = ens.answer(ens.predict(np.stack([loaded[i][0] for i in good]))) if good else []
            by_index = dict(zip(good, rows, strict=True))
            for i, path in enumerate(chunk):
                if i in by_index:
                    probs = {k: {f: v for f, v in entry.items() if f != "members"} for k, entry in by_index[i].items()}
                    yield {"file": str(path), "probabilities": probs}
                else:
                    yield {"file": str(path), "error": loaded[i][1]}
            done += len(chunk)
            if progress:
                progress(done, len(files))
