"""Augmenting one's data set, walked through the HTTP API as a user would: upload a zip of one's own labelled X-rays,
ask for 2,000 consolidation images, download them as a labelled data set, and run an augmentation study.

    make run &                      # the service with its bundled models, as the README says
    python -m scripts.user_journey_augmentation ../shared/data/nih-cxr14-256 [--url http://127.0.0.1:8000] \
        [--images 2000] [--resolution 64] [--out docs/journeys/augmentation]

"Own data" is the 256-px NIH set without its G patients (the bundled generator trained on G), zipped in the NIH
layout, so the study's test patients are patients the generator never saw. Only the API is used: nothing is
read from or written to the server's disk. Writes journey.json (every call's status and timings, the study's
result), study.png and a few of the downloaded synthetic images (samples.png) under --out.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import time
import zipfile
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def own_data_zip(folder: Path, excluded_split: str = "G") -> tuple[bytes, int]:
    """The NIH folder as a zip, without the patients of `excluded_split` of the realism splits."""
    from models.data.splits import read_pinned, split_of_patient

    pinned = read_pinned()
    rows = list(csv.DictReader((folder / "Data_Entry_2017.csv").open()))
    kept = [r for r in rows if split_of_patient(r["Patient ID"], pinned) != excluded_split]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(kept)
        zf.writestr("my-xrays/Data_Entry_2017.csv", out.getvalue())
        for r in kept:
            zf.write(folder / "images" / r["Image Index"], f"my-xrays/images/{r['Image Index']}")
    return buf.getvalue(), len(kept)


def wait(http: httpx.Client, job_id: str, what: str, log: list) -> dict:
    """Poll a job, printing its progress, until it ends."""
    last = None
    while True:
        job = http.get(f"/jobs/{job_id}").json()
        p = job.get("progress") or {}
        line = f"{what}: {job['status']} {p.get('step')}/{p.get('total')} {p.get('message') or ''}"
        if line != last:
            print(line, flush=True)
            last = line
        if job["status"] in ("succeeded", "failed", "cancelled"):
            log.append({"job": what, "status": job["status"], "seconds": job["finished_at"] - job["created_at"]})
            return job
        time.sleep(5)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path, help="an NIH folder: the user's own labelled X-rays")
    ap.add_argument("--url", default="http://127.0.0.1:8000")
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--resolution", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "journeys" / "augmentation")
    ap.add_argument("--test-share", type=float, default=None, help="the study's held-out share of the patients")
    ap.add_argument("--study-only", action="store_true", help="run only the study again, on the data sets an "
                    "earlier run left (its journey.json is kept)")
    ap.add_argument("--render", action="store_true", help="only write journey.md from an earlier journey.json")
    args = ap.parse_args()
    if args.render:
        print(f"wrote {render(args.out)}")
        return
    args.out.mkdir(parents=True, exist_ok=True)
    http = httpx.Client(base_url=args.url, timeout=600)
    log: list[dict] = []
    t0 = time.time()
    if args.study_only:
        earlier = json.loads((args.out / "journey.json").read_text())
        run_study(http, args, earlier | {"calls": [c for c in earlier["calls"] if c.get("job") != "study"
                                                   and not c.get("call", "").startswith("POST /train")]}, t0)
        return

    data, count = own_data_zip(args.data)
    r = http.post("/datasets", files={"file": ("my-xrays.zip", data, "application/zip")}, data={"name": "my-xrays"})
    log.append({"call": "POST /datasets", "status": r.status_code, "bytes": len(data), "images": count})
    r.raise_for_status()
    ingest = wait(http, r.json()["id"], "ingest", log)
    dataset = http.get("/datasets/my-xrays").json()
    print(json.dumps({k: dataset.get(k) for k in ("images", "patients", "per_finding")}))

    body = {"name": "syn-cons", "per_finding": {"consolidation": args.images}, "resolution": args.resolution}
    r = http.post("/synthesize", json=body)
    log.append({"call": "POST /synthesize", "status": r.status_code, "body": body})
    r.raise_for_status()
    synth = wait(http, r.json()["id"], "synthesize", log)

    t_download = time.time()
    archive = args.out / "syn-cons.zip"
    with http.stream("GET", "/datasets/syn-cons/archive") as resp, archive.open("wb") as fh:
        for chunk in resp.iter_bytes():
            fh.write(chunk)
    with zipfile.ZipFile(archive) as zf:
        names = zf.namelist()
        labels = list(csv.DictReader(io.StringIO(zf.read("syn-cons/Data_Entry_2017.csv").decode())))
        samples = [zf.read(n) for n in sorted(names) if n.startswith("syn-cons/images/")][:8]
    log.append({"call": "GET /datasets/syn-cons/archive", "status": resp.status_code, "bytes": archive.stat().st_size,
                "seconds": time.time() - t_download})
    downloaded = {"images": sum(n.startswith("syn-cons/images/") for n in names), "label_rows": len(labels),
                  "findings": sorted({r["Finding Labels"] for r in labels}),
                  "synthetic_column": sorted({r["Synthetic"] for r in labels}),
                  "columns": list(labels[0]) if labels else []}
    print(json.dumps(downloaded))
    save_samples(samples, args.out / "samples.png")
    archive.unlink()  # 2,000 PNGs: checked, not kept in the repository

    journey = {"ingest": ingest.get("result"), "dataset": dataset, "synthesize": synth.get("result"),
               "downloaded": downloaded, "calls": log, "url": args.url,
               "command": "python -m scripts.user_journey_augmentation " + " ".join(sys.argv[1:])}
    run_study(http, args, journey, t0)


def run_study(http: httpx.Client, args: argparse.Namespace, journey: dict, t0: float) -> None:
    """The augmentation study on the uploaded and the synthetic data set; then journey.json and journey.md."""
    study_body = {"kind": "augmentation_study", "dataset": "my-xrays", "synthetic": "syn-cons",
                  "name": f"study-{int(t0)}", "findings": ["Consolidation"], "resolution": 64, "steps": args.epochs,
                  "seeds": 3}
    if args.test_share:
        study_body["test_share"] = args.test_share
    r = http.post("/train", json=study_body)
    journey["calls"].append({"call": "POST /train (augmentation_study)", "status": r.status_code, "body": study_body})
    r.raise_for_status()
    study = wait(http, r.json()["id"], "study", journey["calls"])
    for artifact in study.get("artifacts", []):  # study.png and study.json (with the confidence intervals)
        (args.out / artifact["name"]).write_bytes(http.get(artifact["url"]).content)
    journey["study"] = study.get("result")
    if args.study_only:
        journey["study_command"] = "python -m scripts.user_journey_augmentation " + " ".join(sys.argv[1:])
    (args.out / "journey.json").write_text(json.dumps(journey, indent=2, default=str))
    print(json.dumps(study.get("result", {}).get("verdicts"), indent=1))
    render(args.out)


def render(folder: Path) -> Path:
    """journey.md beside journey.json: what each step returned, with the study's intervals and plot."""
    j = json.loads((folder / "journey.json").read_text())
    study = json.loads((folder / "study.json").read_text()) if (folder / "study.json").exists() else None
    seconds = {c["job"]: c["seconds"] for c in j["calls"] if "job" in c}
    upload = next(c for c in j["calls"] if c.get("call") == "POST /datasets")
    archive = next(c for c in j["calls"] if c.get("call", "").startswith("GET /datasets/"))
    syn, down = j["synthesize"], j["downloaded"]
    asked = json.dumps(next(c for c in j["calls"] if c.get("call") == "POST /synthesize")["body"])
    redraws = syn["rejected_draws"]
    lines = ["# User journey: augment one's own X-rays through the API", "",
             f"`{j['command']}` against `make run` (the README's service, bundled models, no Docker) at {j['url']}"
             + (f", the study again with `{j['study_command']}`" if j.get("study_command") else "")
             + f"; {(sum(seconds.values()) + archive['seconds']) / 60:.0f} min of jobs on 2 CPU cores. Only HTTP "
             "calls: nothing read from or written to the server's disk.", "",
             "| step | call | answer |", "|---|---|---|",
             f"| upload | `POST /datasets` (zip, {upload['bytes'] / 1e6:.1f} MB, {upload['images']} images) | "
             f"{upload['status']}; ingest job {seconds.get('ingest', 0):.0f} s: {j['dataset']['images']} images, "
             f"{j['dataset']['patients']} patients, Consolidation {j['dataset']['per_finding'].get('Consolidation')} |",
             f"| synthesize | `POST /synthesize` {asked} | "
             f"{syn['images']} of {syn['requested']} made ({syn['dropped']} dropped, redraws {redraws}) in "
             f"{seconds.get('synthesize', 0) / 60:.1f} min, {syn['images_per_minute']} images/min |",
             f"| download | `GET /datasets/syn-cons/archive` | {archive['status']}, {archive['bytes'] / 1e6:.1f} MB "
             f"streamed in {archive['seconds']:.1f} s: {down['images']} PNGs, {down['label_rows']} label rows, "
             f"findings {down['findings']}, Synthetic {down['synthetic_column']} |",
             f"| study | `POST /train` kind augmentation_study | {seconds.get('study', 0) / 60:.1f} min, "
             f"{j['study']['test_patients']} test patients: {j['study']['verdicts']} |", "",
             "The downloaded images (first 8):", "", "![downloaded synthetic images](samples.png)", ""]
    if study:
        lines += ["## The study", "", "![AUROC against synthetic ratio](study.png)", "",
                  f"Real training images {study['real_train_images']}, validation {study['real_val_images']}, test "
                  f"{study['test_images']} ({study['test_patients']} patients); "
                  f"{study['bootstrap']} patient-bootstrap resamples; test positives: "
                  + ", ".join(f"{f} {e['test_positives']}" for f, e in study["per_finding"].items()) + ".", "",
                  "| finding | arm | AUROC | 95% CI | minus real only | 95% CI | verdict |",
                  "|---|---|---|---|---|---|---|"]
        for finding, entry in study["per_finding"].items():
            for arm, a in entry["arms"].items():
                diff = (f"{a['difference']:+.3f} | [{a['difference_ci95'][0]:+.3f}, {a['difference_ci95'][1]:+.3f}] | "
                        f"{a['verdict']}") if "difference" in a else "- | - | -"
                lines.append(f"| {finding} | {arm} | {a['auroc']:.3f} | [{a['ci95'][0]:.3f}, {a['ci95'][1]:.3f}] | "
                             f"{diff} |")
        lines.append("")
    path = folder / "journey.md"
    path.write_text("\n".join(lines))
    return path


def save_samples(pngs: list[bytes], path: Path) -> None:
    """The first downloaded synthetic images in one row."""
    from PIL import Image

    if not pngs:
        return
    images = [Image.open(io.BytesIO(b)).convert("L").resize((128, 128)) for b in pngs]
    row = Image.new("L", (128 * len(images), 128))
    for i, im in enumerate(images):
        row.paste(im, (128 * i, 0))
    row.save(path)


if __name__ == "__main__":
    main()
