"""Hostile-archive drill for POST /datasets, against a real deployment (Redis, uvicorn, a worker).

    python -m scripts.archive_drill [--out bench/results/archive_drill.json]

Crafts 240 archives in 12 families (path traversal with `..`, absolute and drive-letter paths, symlinks and
hard links, devices, zip and tar bombs, nested archives, executables and other non-data members, truncated and
corrupt archives, archives past the size limit, duplicate paths, NUL bytes in names, a lone image folder that
unpacks but is no data set), 20 variants each, uploads every one and records: the status of the upload, the end
of any ingest job it started, 5xx answers (target 0) and files written outside the data set folders (target 0),
checked by listing the whole deployment's folder and a sentinel directory next to it before and after.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import tarfile
import tempfile
import zipfile
from collections import Counter
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import httpx

from tests.conftest import NIH
from tests.integration.deployment import Deployment, wait_until
from tests.integration.tiny_models import tiny_models

KEY = "drill-key-0123456789"
LIMIT = 20_000_000
PNG = (NIH / "images" / "00000001_000.png").read_bytes()


def zip_bytes(members: dict[str, bytes], *, links: dict[str, str] | None = None, level: int = 8) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=level) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o120777 << 16
            zf.writestr(info, target)
    return buf.getvalue()


def tar_bytes(members: dict[str, bytes], *, special: list[tuple[str, bytes, str]] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for name, kind, target in special or []:
            info = tarfile.TarInfo(name)
            info.type = kind
            info.linkname = target
            tf.addfile(info)
    return buf.getvalue()


def families(sentinel: Path) -> dict[str, list[bytes]]:
    """12 families x 20 variants of hostile or broken archives."""
    out: dict[str, list[bytes]] = {}
    escape = str(sentinel / "escaped.png")
    out["dotdot"] = [(zip_bytes if i % 2 else tar_bytes)({"../" * (1 + i % 5) + f"x{i}.png": PNG}) for i in range(20)]
    out["absolute"] = [(zip_bytes if i % 2 else tar_bytes)({(escape if i % 3 else f"C:/x{i}.png"): PNG})
                       for i in range(20)]
    out["symlink"] = [zip_bytes({"a.png": PNG}, links={f"l{i}.png": escape}) if i % 2 else
                      tar_bytes({"a.png": PNG}, special=[(f"l{i}.png", tarfile.SYMTYPE, escape)]) for i in range(20)]
    out["hardlink_device"] = [tar_bytes({"a.png": PNG}, special=[(f"d{i}.png", (tarfile.LNKTYPE, tarfile.CHRTYPE,
                                                                                tarfile.FIFOTYPE)[i % 3], escape)])
                              for i in range(20)]
    out["bomb"] = [(zip_bytes if i % 2 else tar_bytes)({f"b{i}.png": b"\0" * (5_000_000 + i * 100_000)})
                   for i in range(20)]
    inner = zip_bytes({"a.png": PNG})
    out["nested"] = [zip_bytes({f"inner{i}" + (".zip", ".tar.gz", ".tgz", ".7z", ".rar")[i % 5]: inner,
                                "a.png": PNG}) for i in range(20)]
    out["non_data"] = [zip_bytes({"set/a/x.png": PNG, f"set/a/run{i}" + (".sh", ".exe", ".py", ".so", ".html")[i % 5]:
                                  b"#!/bin/sh\n"}) for i in range(20)]
    good = zip_bytes({"set/consolidation/a.png": PNG, "set/mass/b.png": PNG})
    out["truncated"] = [good[: len(good) * (i + 1) // 22] for i in range(20)]
    out["corrupt"] = [bytes(b ^ 0xFF if j % (7 + i) == 0 else b for j, b in enumerate(good)) for i in range(20)]
    rng = random.Random(0)  # 2 bits of entropy per byte: about 4x compression, far from a bomb
    out["too_large"] = [zip_bytes({f"big{j}.png": bytes(rng.choices(b"ACGT", k=1_500_000)) for j in range(14 + i % 4)})
                        for i in range(20)]
    out["duplicates_nul"] = [zip_bytes({"a.png": PNG, "./a.png": PNG}) if i % 2 else
                             tar_bytes({f"a{i}\x00.png": PNG}) for i in range(20)]
    out["no_data_set"] = [zip_bytes({f"readme{i}.txt": b"hello", "notes.md": b"# none"}) for i in range(20)]
    return out


def error_message(r: httpx.Response) -> str:
    try:
        return r.json()["error"]["message"][:160]
    except (ValueError, KeyError, TypeError):
        return f"(not the error format) {r.text[:120]}"


def snapshot(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")} if folder.exists() else set()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="bench/results/archive_drill.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        sentinel = root / "sentinel"
        sentinel.mkdir()
        gen, clf = tiny_models(root / "models-src")
        d = Deployment(root / "deploy", gen, clf, env={"RADSYNTH_API_KEYS": f"{KEY}:drill",
                                                        "RADSYNTH_MAX_DATASET_BYTES": str(LIMIT)})
        rows, statuses, outcomes = [], Counter(), Counter()
        try:
            d.start_redis()
            d.start_api()
            d.start_worker("w1")
            http = httpx.Client(base_url=f"http://127.0.0.1:{d.api_port}", headers={"X-API-Key": KEY}, timeout=120)
            var = root / "deploy" / "var"
            before_outside = snapshot(sentinel) | {p.name for p in root.iterdir()}
            for family, archives in families(sentinel).items():
                for i, data in enumerate(archives):
                    name = f"{family.replace('_', '-')}-{i}"
                    try:
                        r = http.post("/datasets", files={"file": (f"{name}.zip", data)}, data={"name": name})
                    except httpx.TransportError as exc:  # the API closed the connection: recorded, never hidden
                        statuses["connection closed"] += 1
                        rows.append({"family": family, "variant": i, "bytes": len(data), "status": "closed",
                                     "message": type(exc).__name__})
                        print(f"{name}: connection closed ({type(exc).__name__})", flush=True)
                        continue
                    statuses[r.status_code] += 1
                    row = {"family": family, "variant": i, "bytes": len(data), "status": r.status_code,
                           "message": error_message(r) if r.status_code >= 400 else ""}
                    if r.status_code == 202:
                        job = wait_until(lambda jid=r.json()["id"]: (j := http.get(f"/jobs/{jid}").json())["status"]
                                         in ("succeeded", "failed", "cancelled") and j, 120, 0.1, "ingest")
                        row["job"] = job["status"]
                        row["message"] = (job.get("error") or {}).get("message", "")[:160]
                    outcomes[(family, row.get("job", r.status_code))] += 1
                    rows.append(row)
            datasets = var / "datasets"
            leftovers = sorted(p.name for p in datasets.iterdir()) if datasets.exists() else []
            uploads_left = [p.parent.name for p in (var / "artifacts").rglob("input")]
            outside = sorted((snapshot(sentinel) | {p.name for p in root.iterdir()}) - before_outside)
        finally:
            d.stop_all()
    report = {"archives": len(rows), "families": len({r["family"] for r in rows}), "statuses": dict(statuses),
              "server_errors": sum(n for s, n in statuses.items() if isinstance(s, int) and s >= 500),
              "ingested": sum(1 for r in rows if r.get("job") == "succeeded"),
              "files_outside_the_data_set_folders": outside, "data_set_folders_left": leftovers,
              "uploads_left": uploads_left,
              "by_family": {f: dict(Counter(str(r.get("job", r["status"])) for r in rows if r["family"] == f))
                            for f in dict.fromkeys(r["family"] for r in rows)},
              "examples": {f: next(r["message"] for r in rows if r["family"] == f) for f in
                           dict.fromkeys(r["family"] for r in rows)}}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report | {"rows": rows}, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
