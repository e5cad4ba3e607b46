"""`radsynth prepare`: a pre-resized copy of an NIH-layout data set at the training resolution, made once.

Decoding a 1024-px PNG and resizing it costs far more than a training step of a small UNet on a GPU, every epoch.
The copy keeps the NIH layout (images/ with the same names, Data_Entry_2017.csv and the split lists), so every
loader and trainer reads it as it reads the original; each image is the centre-square crop resized with the
pinned Lanczos filter, exactly what the trainers compute on the fly, stored as 8-bit PNG. Worker processes share
the images; an interrupted run resumes (images already written are kept).
"""

from __future__ import annotations

import json
import multiprocessing
import shutil
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from models.data.nih import CSV_NAME

SIDE_FILES = (CSV_NAME, "train_val_list.txt", "test_list.txt", "BBox_List_2017.csv")
CHUNK = 64


def prepare_one(source: Path, dest: Path, resolution: int) -> bool:
    """Write `dest` (8-bit PNG at `resolution`, centre-square crop) from `source`; False if it already existed."""
    from PIL import Image

    from models.data.preprocess import load_image_file, to_model_input

    if dest.exists():
        return False
    square, _ = to_model_input(load_image_file(source).pixels, resolution, mode="crop")
    partial = dest.with_name(f".{dest.name}.partial")
    Image.fromarray(np.round(square * 255).astype(np.uint8)).save(partial, format="PNG")
    partial.replace(dest)
    return True


def _prepare_chunk(args: tuple[list[str], str, str, int]) -> int:
    names, src, dst, resolution = args
    return sum(prepare_one(Path(src) / n, Path(dst) / n, resolution) for n in names)


def listed_images(root: Path) -> list[str]:
    """Image file names under root/images that the label file lists, in the label file's order."""
    import csv

    present = {p.name for p in (root / "images").iterdir()} if (root / "images").is_dir() else set()
    with (root / CSV_NAME).open(newline="") as fh:
        return [row["Image Index"] for row in csv.DictReader(fh) if row["Image Index"] in present]


def prepare(root: str | Path, out: str | Path, resolution: int, *, workers: int = 2,
            progress: Callable[[int, int], None] | None = None) -> dict:
    """Copy the NIH data set at `root` to `out` at `resolution`; returns counts (written, kept, total)."""
    root, out = Path(root), Path(out)
    if not (root / CSV_NAME).is_file():
        raise FileNotFoundError(f"{root} has no {CSV_NAME}: `radsynth prepare` reads the NIH layout "
                                "(images/ beside the label file)")
    names = listed_images(root)
    (out / "images").mkdir(parents=True, exist_ok=True)
    for side in SIDE_FILES:
        if (root / side).is_file():
            shutil.copyfile(root / side, out / side)
    chunks = [(names[i:i + CHUNK], str(root / "images"), str(out / "images"), resolution)
              for i in range(0, len(names), CHUNK)]
    written, done = 0, 0
    if workers > 1:
        # spawned, not forked: a fork of a process that already runs threads (a server, torch) can deadlock
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            for chunk, count in zip(chunks, pool.map(_prepare_chunk, chunks), strict=True):
                written, done = written + count, done + len(chunk[0])
                if progress:
                    progress(done, len(names))
    else:
        for chunk in chunks:
            written, done = written + _prepare_chunk(chunk), done + len(chunk[0])
            if progress:
                progress(done, len(names))
    summary = {"source": str(root), "resolution": resolution, "square": "crop", "filter": "lanczos",
               "images": len(names), "written": written, "kept": len(names) - written}
    (out / "prepared.json").write_text(json.dumps(summary, indent=2))
    return summary
