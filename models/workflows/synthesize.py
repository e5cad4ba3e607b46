"""Write a labelled synthetic data set in the NIH layout: `images/`, `Data_Entry_2017.csv` with a `Synthetic`
column and per-row provenance (model, version, seed, sampler, steps, guidance, QC scores).

Resumable and exact: every image has a fixed index, finding and seed from the plan; an image counts as made once
its row is appended to `rows.jsonl`, so a run stopped anywhere (a killed worker) goes on where it stopped, with
no image made twice or left out. QC can demand a minimum classifier probability for the asked finding and reject
training copies; a rejected image is drawn again on a new seed (reported) up to `max_attempts` times.
"""

from __future__ import annotations

import csv
import json
import os
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from models import __version__
from models.io.writers import write_png
from models.workflows.generate import NIH_FIELD_OF_VIEW_MM, REPLACEMENT_SEED_STRIDE, Acceptance

ROWS = "rows.jsonl"
LABELS = "Data_Entry_2017.csv"
NIH_COLUMNS = ["Image Index", "Finding Labels", "Follow-up #", "Patient ID", "Patient Age", "Patient Gender",
               "View Position", "OriginalImage[Width", "Height]", "OriginalImagePixelSpacing[x", "y]"]
EXTRA_COLUMNS = ["Synthetic", "Model", "Version", "Seed", "Sampler", "Steps", "Guidance", "Classifier Guidance",
                 "QC Probability", "QC Copy Distance", "Attempts"]


@dataclass(frozen=True)
class Item:
    index: int
    finding: str  # the model's spelling, 'A+B' for several
    seed: int

    @property
    def name(self) -> str:
        return f"syn_{self.index:06d}.png"


def plan(per_finding: dict[str, int], seed: int) -> list[Item]:
    """Indices and seeds for every image, findings in the given order; image i of the plan uses seed + i."""
    items, index = [], 0
    for finding, count in per_finding.items():
        for _ in range(count):
            items.append(Item(index, finding, seed + index))
            index += 1
    return items


def done_rows(out_dir: Path) -> dict[int, dict]:
    """Rows already made (by index); a half-written last line from a killed run is ignored."""
    rows: dict[int, dict] = {}
    path = out_dir / ROWS
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue
            rows[int(row["index"])] = row
    return rows


class RideAlong(Protocol):
    """Other requests sampled in the same UNet batch as a synthesize batch (the worker's waiting generate jobs),
    so they need not wait for a long synthesize job to end."""

    def claim(self, used: int) -> list[tuple[str, list[int]]]:
        """Requests (findings, seeds) to add to a batch that already holds `used` images."""

    def progress(self, step: int, total: int) -> None:
        """A sampler step of the shared batch."""

    def deliver(self, outputs: list) -> None:
        """The claimed requests' outputs (GenerationOutput, in claim order)."""


@dataclass(frozen=True)
class Draw:
    """One attempt at an item: its seed and how many draws came before (0 for the first)."""

    item: Item
    seed: int
    attempt: int


def synthesize(pipe, out_dir: str | Path, items: list[Item], *, model_name: str, qc=None,
               min_agreement: float | None = None, reject_copies: bool = True, max_attempts: int = 3,
               batch_size: int = 16, sampling: dict | None = None, bits: int = 8,
               progress: Callable[[int, int], None] | None = None,
               should_stop: Callable[[], bool] | None = None, ride_along: RideAlong | None = None) -> dict:
    """Make every item not made yet into `out_dir`; returns counts (made, rejections per reason, dropped).

    Batches are kept full: a batch takes the next `batch_size` draws whatever their finding, redraws of rejected
    images go first in the next one, and `ride_along` may add other requests to each batch.
    """
    out_dir = Path(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    sampling = dict(sampling or {})
    rows = done_rows(out_dir)
    queue = deque(Draw(it, it.seed, 0) for it in items if it.index not in rows)
    total = len(items)
    if progress:
        progress(total - len(queue), total)
    rejected, accept = Counter(), Acceptance(reject_copies, min_agreement)
    path = out_dir / ROWS
    if path.exists() and path.stat().st_size and not path.read_bytes().endswith(b"\n"):
        with path.open("a") as fh:  # a killed run's half line stays alone on its line
            fh.write("\n")
    with path.open("a") as log:
        while queue:
            if should_stop and should_stop():
                raise InterruptedError("stopped")
            batch = [queue.popleft() for _ in range(min(batch_size, len(queue)))]
            groups = by_finding(batch)
            riders = ride_along.claim(len(batch)) if ride_along is not None else []
            outs = pipe.sample_requests([(f, [d.seed for d in draws]) for f, draws in groups] + riders,
                                        callback=ride_along.progress if riders else None, **sampling)
            if riders:
                ride_along.deliver(outs[len(groups):])
            redraws = []
            for (finding, draws), out in zip(groups, outs, strict=False):
                reports = qc.run(out.images, out.findings) if qc is not None else [None] * len(draws)
                for k, (draw, image, report) in enumerate(zip(draws, out.images, reports, strict=True)):
                    if accept.passes(report):
                        row = write_image(out_dir, draw, image, report, out, model_name, bits, k)
                    else:
                        flagged = report and report.get("memorisation") and report["memorisation"].get("flagged")
                        rejected["copy" if flagged else "low_agreement"] += 1
                        if draw.attempt < max_attempts:
                            redraws.append(Draw(draw.item, draw.seed + REPLACEMENT_SEED_STRIDE, draw.attempt + 1))
                            continue
                        row = {"index": draw.item.index, "finding": finding, "dropped": True}
                    log.write(json.dumps(row) + "\n")
                    log.flush()
                    os.fsync(log.fileno())
                    rows[row["index"]] = row
            queue.extendleft(reversed(redraws))
            if progress:
                progress(len(rows), total)
    return {"made": sum(1 for r in rows.values() if not r.get("dropped")),
            "dropped": sum(1 for r in rows.values() if r.get("dropped")), "requested": total,
            "rejected_draws": dict(rejected)}


def by_finding(batch: list[Draw]) -> list[tuple[str, list[Draw]]]:
    """The batch as one request per finding, in order of first appearance."""
    groups: dict[str, list[Draw]] = {}
    for draw in batch:
        groups.setdefault(draw.item.finding, []).append(draw)
    return list(groups.items())


def write_image(out_dir: Path, draw: Draw, image: np.ndarray, report: dict | None, out, model_name: str,
                bits: int, k: int) -> dict:
    """Write an accepted image (the `k`-th of `out`) as a PNG with its provenance; returns its row. The seed
    recorded is the one the image came from (the pipeline's noise check may have redrawn it on another)."""
    finding = draw.item.finding
    seed = int(out.seeds[k])
    noise_redraws = out.extra["noise_redraws"][k] if "noise_redraws" in out.extra else 0
    prov = {"model": model_name, "version": __version__, "finding": finding, "seed": seed,
            "sampler": out.sampler, "steps": out.steps, "guidance": out.guidance_scale,
            "classifier_guidance": out.classifier_scale, "synthetic": "yes"}
    write_png(out_dir / "images" / draw.item.name, image, bits=bits, text=prov)
    probability = None
    if report is not None:
        probability = min(a["probability"] for a in report["label_agreement"].values())
    mem = (report or {}).get("memorisation") or {}
    return {"index": draw.item.index, "name": draw.item.name, "finding": finding, "seed": seed,
            "size": int(image.shape[-1]), "sampler": out.sampler, "steps": out.steps,
            "guidance": out.guidance_scale, "classifier_guidance": out.classifier_scale,
            "qc_probability": probability, "qc_copy_distance": mem.get("distance"), "attempts": draw.attempt + 1,
            "noise_redraws": int(noise_redraws)}


def write_labels(out_dir: str | Path, *, model_name: str) -> Path:
    """Data_Entry_2017.csv from the made rows, in index order (NIH columns, then Synthetic and provenance).
    Each synthetic image is its own patient (SYN<index>), so patient-level splits treat it as one."""
    out_dir = Path(out_dir)
    rows = sorted((r for r in done_rows(out_dir).values() if not r.get("dropped")), key=lambda r: r["index"])
    path = out_dir / LABELS
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(NIH_COLUMNS + EXTRA_COLUMNS)
        for r in rows:
            spacing = NIH_FIELD_OF_VIEW_MM / r["size"]
            labels = "|".join(r["finding"].split("+"))
            writer.writerow([r["name"], labels, 0, f"SYN{r['index']:06d}", "", "", "", r["size"], r["size"],
                             f"{spacing:.4f}", f"{spacing:.4f}", "YES", model_name, __version__, r["seed"],
                             r["sampler"], r["steps"], r["guidance"], r["classifier_guidance"],
                             "" if r["qc_probability"] is None else f"{r['qc_probability']:.4f}",
                             "" if r["qc_copy_distance"] is None else f"{r['qc_copy_distance']:.4f}", r["attempts"]])
    tmp.replace(path)
    return path
