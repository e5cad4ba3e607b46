"""Classify jobs: the ensemble's probabilities, spread, thresholds and verdicts for many images, no attribution."""

from __future__ import annotations

import csv
import json
import zipfile
from pathlib import Path

from core.contracts import Artifact, ClassifyParams
from core.datasets import visible
from core.settings import get_settings
from worker import runtime
from worker.context import Context
from worker.runtime import find_model

NAMES_MEMBER = "names.json"  # written by app/routes/classify.py when the request keeps file names
ROWS_IN_RESULT = 50  # more rows than this are in the artifacts only (the job record stays small)


def run(ctx: Context) -> tuple[dict, list[Artifact]]:
    from models.workflows.classify import classify, image_files

    p = ClassifyParams.model_validate(ctx.job.params)
    folder = find_model(p.model, "classifier", ctx.job.owner)
    ens = runtime.classifier(folder)
    sent: list[str] | None = None
    if p.upload is not None:
        files, base = unpacked(p.upload, ctx.workdir / "inputs"), None
        sent = sent_names(ctx.workdir / "inputs") if p.keep_names else None
    else:
        entry = visible(get_settings(), ctx.job.owner)[p.dataset]
        files, base = image_files([entry.path]), entry.path
    ctx.progress(0, len(files), "classifying")
    rows = []
    for i, row in enumerate(classify(ens, files, progress=lambda d, n: ctx.progress(d, n, "classifying"))):
        path = Path(row.pop("file"))
        name = str(path.relative_to(base)) if base else (sent[i] if sent else None)
        rows.append({"item": i, "file": name} | row)
    names = write_tables(rows, ens.findings, ctx.workdir)
    positives = {f: sum(1 for r in rows if r.get("probabilities", {}).get(f, {}).get("positive")) for f in ens.findings}
    result = {"model": folder.name, "images": len(rows), "errors": sum("error" in r for r in rows),
              "positives": positives, "thresholds": {f: {"threshold": t} for f, t in ens.thresholds.items()},
              "source": {"files": p.files} if p.upload else {"dataset": p.dataset}}
    if len(rows) <= ROWS_IN_RESULT:
        result["rows"] = rows
    return result, ctx.store(names)


def unpacked(upload_id: str, dest: Path) -> list[Path]:
    """The uploaded files, from the archive the API wrote (its own names: 00000.png, 00001.dcm, ...), in order."""
    archive = runtime.artifact_store().path(upload_id, "input")
    if archive is None:
        raise FileNotFoundError("the uploaded images are no longer stored")
    dest.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive) as zf:
        names = sorted(n for n in zf.namelist() if "/" not in n and not n.startswith("."))
        for name in names:
            (dest / name).write_bytes(zf.read(name))
    return [dest / n for n in names if n != NAMES_MEMBER]


def sent_names(folder: Path) -> list[str] | None:
    """The file names as sent (only when the request asked to keep them), in order."""
    path = folder / NAMES_MEMBER
    return json.loads(path.read_text()) if path.exists() else None


def write_tables(rows: list[dict], findings: list[str], out: Path) -> list[str]:
    """classifications.jsonl (everything) and classifications.csv (a probability column per finding, then the
    positive findings and any error)."""
    with (out / "classifications.jsonl").open("w") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
    with (out / "classifications.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["item", "file", *findings, "positive_findings", "error"])
        for row in rows:
            probs = row.get("probabilities", {})
            writer.writerow([row["item"], row["file"] or "", *[f"{probs[f]['probability']:.4f}" if f in probs else ""
                                                                for f in findings],
                             "|".join(f for f in findings if probs.get(f, {}).get("positive")), row.get("error", "")])
    return ["classifications.jsonl", "classifications.csv"]
