"""The second outside drill's holes, measured against a real deployment (scripts/security_drill.py --part second):
manifest escapes, DICOM bombs, planted PHI, upload memory, webhook addresses, a killed worker under the run
command, and forwarded headers. Each function returns the figures for its row of docs/reliability.md."""

from __future__ import annotations

import hashlib
import io
import os
import signal
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import httpx

from tests.integration.deployment import Deployment, wait_until

REPO = Path(__file__).resolve().parents[1]


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory (VmHWM) of a process so far, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wait_job(http: httpx.Client, job_id: str, timeout: float = 240) -> dict:
    return wait_until(lambda: (j := http.get(f"/jobs/{job_id}").json())["status"] in
                      ("succeeded", "failed", "cancelled") and j, timeout, 0.2, f"job {job_id}")


def tree_digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def zip_of(members: dict[str, bytes | str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def manifest_escapes(d: Deployment, alice: httpx.Client, bob: httpx.Client, nih: Path) -> dict:
    """bob's archives whose labels.csv names alice's files by '../', absolute path and a sentinel outside the
    deployment: each must fail its ingest naming the row, and no file may change (hashed before and after)."""
    members = {f"xrays/{p.relative_to(nih)}": p.read_bytes() for p in nih.rglob("*") if p.is_file()}
    job = wait_job(alice, alice.post("/datasets", data={"name": "alices-set"},
                                     files={"file": ("a.zip", zip_of(members))}).json()["id"])
    datasets = d.root / "var" / "datasets"
    alices = next(datasets.glob("*alices-set"))
    sentinel = d.root / "sentinel"
    sentinel.mkdir(exist_ok=True)
    (sentinel / "notes.txt").write_text("not an image")
    before = tree_digest(alices) | {f"sentinel/{k}": v for k, v in tree_digest(sentinel).items()}
    image = next(alices.rglob("*.png"))
    rows = [f"../../{alices.name}/dataset.json", f"../../{image.relative_to(datasets)}", str(image),
            "../../../sentinel/notes.txt", str(sentinel / "notes.txt")]
    outcomes = []
    for i, row in enumerate(rows):
        archive = zip_of({"labels.csv": f"file,labels,patient_id\n{row},Mass,p1\n"})
        r = bob.post("/datasets", data={"name": f"reach-{i}"}, files={"file": ("b.zip", archive)})
        result = wait_job(bob, r.json()["id"]) if r.status_code == 202 else {"status": r.status_code}
        message = (result.get("error") or {}).get("message", "")
        outcomes.append({"row": row.replace(str(d.root), "<deployment>"), "status": result["status"],
                         "names_row_and_reason": "row 2" in message and ("climbs out" in message
                                                                        or "absolute path" in message)})
    after = tree_digest(alices) | {f"sentinel/{k}": v for k, v in tree_digest(sentinel).items()}
    return {"ingest_of_alices_set": job["status"], "archives": len(rows),
            "refused_with_row_and_reason": sum(o["names_row_and_reason"] and o["status"] == "failed"
                                               for o in outcomes),
            "files_hashed": len(before), "files_changed_or_deleted": sum(after.get(k) != v for k, v in before.items()),
            "bob_data_sets": [s["name"] for s in bob.get("/datasets").json() if s.get("uploaded")],
            "alice_set_still_listed": alice.get("/datasets/alices-set").status_code == 200, "rows": outcomes}


def dicom_bombs(d: Deployment, alice: httpx.Client) -> dict:
    """The padded-meta Deflated bomb on /explain and /classify and inside a data-set archive: statuses, and the
    API's and the worker's peak memory (VmHWM) before and after."""
    from tests.bombs import bomb_dicom

    bomb = bomb_dicom(30000, "deflate", pad_meta=6000)  # inflates to 900 MB
    pool = d.pool_children("w1")
    before = {"api": peak_rss_mb(d.procs["api"].pid), "worker": peak_rss_mb(pool[0]) if pool else float("nan")}
    statuses = {
        "explain": alice.post("/explain", files={"file": ("b.dcm", bomb)}).status_code,
        "classify": alice.post("/classify", files=[("files", ("b.dcm", bomb))]).status_code,
        "datasets": alice.post("/datasets", data={"name": "bomb-set"}, files={"file": ("b.zip", zip_of(
            {"set/labels.csv": "file,labels\nb.dcm,Mass\n", "set/b.dcm": bomb}))}).status_code,
    }
    after = {"api": peak_rss_mb(d.procs["api"].pid), "worker": peak_rss_mb(pool[0]) if pool else float("nan")}
    return {"bomb_bytes": len(bomb), "inflates_to_bytes": 30000 * 30000, "statuses": statuses,
            "peak_rss_mb_before": before, "peak_rss_mb_after": after}


def planted_phi(d: Deployment, alice: httpx.Client) -> dict:
    """17 markers: 12 in a DICOM (patient attributes, a nested sequence, private tags at two levels, the preamble,
    values of kept attributes, the file meta's version bytes) and 5 in a PNG (tEXt, zTXt, iTXt, EXIF, after IEND),
    each explained through the real worker; then every stored file, log, Redis value and response is searched."""
    from tests.integration.test_deidentification import marked_png_and_jpeg

    dicom, dicom_markers = marked_small_dicom()
    png, png_markers = marked_png_and_jpeg()["png"]
    png_markers = [m for m in png_markers if m != "MKREXIFDESCRIPTION"]  # five: one EXIF field is enough
    responses = []
    for name, data in (("upload.dcm", dicom), ("upload.png", png)):
        r = alice.post("/explain", files={"file": (name, data)}, data={"findings": "effusion"})
        responses.append(r.text)
        job = wait_job(alice, r.json()["id"])
        responses += [alice.get(f"/jobs/{job['id']}").text] + [
            alice.get(a["url"]).content.decode("latin-1") for a in job["artifacts"]]
    blobs = responses + [p.read_bytes().decode("latin-1") for p in (d.root / "var").rglob("*") if p.is_file()
                         and p.stat().st_size < 50_000_000]
    blobs += [p.read_bytes().decode("latin-1") for p in d.root.glob("*.log")]
    blobs.append(redis_text(d.env["RADSYNTH_REDIS_URL"]))
    markers = dicom_markers + png_markers
    leaks = sorted({m for m in markers for blob in blobs if m in blob})
    return {"markers_planted": len(markers), "places_searched": len(blobs), "leaks": len(leaks),
            "leaked": leaks}


def redis_text(url: str) -> str:
    """Every key and value in Redis as one text (job records, queues, task messages)."""
    import redis

    r = redis.Redis.from_url(url, decode_responses=True, encoding_errors="replace")
    parts = []
    for key in r.scan_iter(count=1000):
        kind = r.type(key)
        value = {"string": lambda k: r.get(k), "hash": r.hgetall, "list": lambda k: r.lrange(k, 0, -1),
                 "zset": lambda k: r.zrange(k, 0, -1), "set": r.smembers}.get(kind, lambda k: "")(key)
        parts += [key, str(value)]
    return "\n".join(parts)


def marked_small_dicom() -> tuple[bytes, list[str]]:
    import pydicom
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    from tests.conftest import SIIM

    ds = pydicom.dcmread(SIIM)
    ds.PatientName, ds.PatientID, ds.InstitutionName = "MKRNAME^JANE", "MKRPATIENTID", "MKRINSTITUTION"
    ds.StudyDescription, ds.ImageType = "MKRSTUDYDESC", ["DERIVED", "PRIMARY", "MKRIMAGETYPE"]
    ds.LossyImageCompressionMethod = "MKRLOSSYMETHOD"
    inner = Dataset()
    inner.PatientName = "MKRNESTEDNAME"
    inner.add_new(0x00091010, "LO", "MKRPRIVATEINNER")
    outer = Dataset()
    outer.PatientID, outer.ReferencedStudySequence = "MKRNESTEDID", Sequence([inner])
    ds.OtherPatientIDsSequence = Sequence([outer])
    ds.private_block(0x0011, "RS DRILL", create=True).add_new(0x01, "LO", "MKRPRIVATETOP")
    ds.preamble = b"MKRPREAMBLE".ljust(128, b"\0")
    ds.file_meta.FileMetaInformationVersion = b"\0\1MKRMETAVERSION\0"
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue(), ["MKRNAME", "MKRPATIENTID", "MKRINSTITUTION", "MKRSTUDYDESC", "MKRIMAGETYPE",
                            "MKRLOSSYMETHOD", "MKRNESTEDNAME", "MKRPRIVATEINNER", "MKRNESTEDID", "MKRPRIVATETOP",
                            "MKRPREAMBLE", "MKRMETAVERSION"]


def upload_memory(d: Deployment, key: str, parallel: int, per_request_mb: int) -> dict:
    """API peak memory while `parallel` clients each send a /classify request of about `per_request_mb` MB
    (1.4 MB PNGs that do not compress) and a /datasets archive of the same size."""
    import numpy as np
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (1200, 1200), dtype=np.uint8)).save(buf, "PNG")
    png = buf.getvalue()
    files = [("files", (f"{i}.png", png)) for i in range(max(1, per_request_mb * 2**20 // len(png)))]
    archive = zip_of({"set/data.npz": os.urandom(per_request_mb * 2**20)})
    api = d.procs["api"].pid
    out = {"parallel": parallel, "request_mb": round(len(png) * len(files) / 2**20, 1),
           "api_peak_mb_before": round(peak_rss_mb(api), 1)}
    for route in ("classify", "datasets"):
        codes: list[int] = []

        def send(i: int, route: str = route, codes: list[int] = codes) -> None:
            with httpx.Client(base_url=f"http://127.0.0.1:{d.api_port}", headers={"X-API-Key": key},
                              timeout=600) as c:
                if route == "classify":
                    codes.append(c.post("/classify", files=files).status_code)
                else:
                    codes.append(c.post("/datasets", data={"name": f"mem-{parallel}-{i}"},
                                        files={"file": ("m.zip", archive)}).status_code)

        threads = [threading.Thread(target=send, args=(i,)) for i in range(parallel)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        out[f"{route}_statuses"] = {str(c): codes.count(c) for c in set(codes)}
        out[f"api_peak_mb_after_{route}"] = round(peak_rss_mb(api), 1)
    return out


def webhook_addresses(alice: httpx.Client) -> dict:
    """Addresses that are not globally routable, given as webhooks: each must be a 422 at submit."""
    urls = ["http://100.100.100.200/latest/meta-data", "http://100.64.0.1/", "http://[2002:7f00:1::]/",
            "http://[2002:a9fe:a9fe::]/", "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/", "http://198.18.0.1/",
            "http://127.0.0.1:8000/", "http://169.254.169.254/", "http://[::ffff:10.0.0.1]/"]
    codes = [alice.post("/generate", json={"finding": "mass", "n": 1, "steps": 2, "qc": False, "webhook": u})
             .status_code for u in urls]
    return {"addresses": len(urls), "refused_422": codes.count(422), "other": len(urls) - codes.count(422)}


def forwarded_headers(d: Deployment, limit: int) -> dict:
    """Wrong keys, each with a new X-Forwarded-For: how many are answered 401 before the throttle's 429."""
    with httpx.Client(base_url=f"http://127.0.0.1:{d.api_port}", timeout=30) as c:
        codes = [c.get("/jobs", headers={"X-API-Key": f"{i:04d}-wrong", "X-Forwarded-For": f"198.51.100.{i + 1}"})
                 .status_code for i in range(limit + 10)]
    return {"limit_per_minute": limit, "rotated_addresses": limit + 10, "answered_401": codes.count(401),
            "answered_429": codes.count(429)}


def killed_workers(models: dict[str, Path], nih: Path, root: Path, rounds: int = 3) -> dict:
    """The run command (radsynth-serve) with tiny models; the generate worker's main process is SIGKILLed mid-job
    `rounds` times: seconds until it is back, and whether each job completes once."""
    from core.redis_server import free_port
    from tests.integration.test_run_command import child_pid, child_pid_or_none

    port = free_port()
    env = os.environ | {"RADSYNTH_DATA_DIR": str(root / "var"), "RADSYNTH_MODEL_DIRS": str(root / "models"),
                        "RADSYNTH_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
                        "RADSYNTH_DEFAULT_GENERATOR": "tiny-gen", "RADSYNTH_DEFAULT_CLASSIFIER": "tiny-clf",
                        "RADSYNTH_DATASETS": f"fixtures={nih}:nih", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1",
                        "RADSYNTH_RATE_LIMIT_PER_MINUTE": "0"}  # the drill polls faster than a person
    env.pop("RADSYNTH_API_KEYS", None)
    (root / "models").mkdir(parents=True, exist_ok=True)
    for name, src in models.items():
        if not (root / "models" / name).exists():
            subprocess.run(["cp", "-r", str(src), str(root / "models" / name)], check=True)
    log = open(root / "serve.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "app.launcher", "--port", str(port)], env=env, cwd=REPO,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    back, jobs = [], []
    try:
        wait_until(lambda: child_pid_or_none(proc.pid, "interactive0@") and _up(http), 120, 1, "the service")
        for _ in range(rounds):
            job = http.post("/generate", params={"finding": "mass", "n": 1, "sampler": "ddpm", "steps": 1000,
                                                 "qc": False, "format": "png"}).json()
            wait_until(lambda j=job: http.get(f"/jobs/{j['id']}").json()["progress"]["step"] > 0, 60, 0.2, "running")
            worker = child_pid(proc.pid, "interactive0@")
            os.kill(worker, signal.SIGKILL)
            t0 = time.monotonic()
            wait_until(lambda w=worker: child_pid_or_none(proc.pid, "interactive0@") not in (None, w), 30, 0.1,
                       "the restart")
            back.append(round(time.monotonic() - t0, 2))
            done = wait_job(http, job["id"])
            jobs.append({"status": done["status"], "deliveries": done["deliveries"],
                         "api_answered": http.get("/health").status_code == 200})
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(60)
        log.close()
    return {"rounds": rounds, "restart_s": back, "jobs": jobs,
            "completed_once": sum(j["status"] == "succeeded" and j["deliveries"] == 2 for j in jobs)}


def _up(http: httpx.Client) -> bool:
    try:
        return http.get("/health").status_code == 200
    except httpx.HTTPError:
        return False
