"""De-identification with markers: a real DICOM (the SIIM CR) carrying a unique marker in every text, date and UID
attribute of the DICOM dictionary that it lacks (a superset of PS3.15 Table E.1-1), in private tags and in nested
sequences, goes through POST /explain and the real worker. No marker may appear in any stored file, response,
artifact, log line or Redis value (job records and task messages)."""

from __future__ import annotations

import io
import logging

import pydicom
from pydicom.datadict import DicomDictionary, dictionary_VR, keyword_for_tag
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from models.io.deidentify import KEEP
from tests.conftest import SIIM, UPLOADS
from tests.integration.conftest import headers, wait_job

STRING_VRS = {"PN", "LO", "SH", "LT", "ST", "UT", "UC", "AE", "CS", "UR"}
SHARED = {"DA": "18310217", "TM": "235959.123457", "DT": "18310217235959", "AS": "077Y"}
NEEDED_TO_DECODE = KEEP - {"PatientName", "PatientID", "PatientBirthDate", "PatientSex", "AccessionNumber",
                           "ReferringPhysicianName", "StudyID", "StudyDate", "StudyTime", "StudyInstanceUID",
                           "SeriesInstanceUID", "SOPInstanceUID"}


def marked_dicom() -> tuple[bytes, list[str], int]:
    """The SIIM DICOM plus markers; returns (bytes, marker strings to search for, attributes marked)."""
    ds = pydicom.dcmread(SIIM)
    markers: list[str] = list(SHARED.values())
    marked = 0
    for tag in sorted(DicomDictionary):
        keyword = keyword_for_tag(tag)
        vr = dictionary_VR(tag)
        skip = tag >> 16 in (0x0000, 0x0002, 0xFFFE) or keyword in NEEDED_TO_DECODE or "PixelData" in keyword
        if not keyword or skip:
            continue
        if vr in STRING_VRS:
            value = f"MKR{marked:05d}X" if vr != "UR" else f"http://mkr{marked:05d}x.example"
            value = value.upper() if vr == "CS" else value
        elif vr == "UI":
            value = f"1.2.826.0.1.3680043.10.999.{marked}"
        elif vr in SHARED:
            value = SHARED[vr]
        else:
            continue
        if vr not in SHARED:
            markers.append(value)
        ds.add_new(tag, vr, value)
        marked += 1
    # Nested sequences two levels deep, and private tags at both levels.
    inner = Dataset()
    inner.PatientName = "MKRNESTED^INNER"
    inner.add_new(0x00091010, "LO", "MKRPRIVATEINNER")
    outer = Dataset()
    outer.PatientID = "MKRNESTEDOUTER"
    outer.ReferencedStudySequence = Sequence([inner])
    ds.OtherPatientIDsSequence = Sequence([outer])
    block = ds.private_block(0x0011, "MKR PRIVATE CREATOR", create=True)
    block.add_new(0x01, "LO", "MKRPRIVATETOP")
    markers += ["MKRNESTED", "MKRPRIVATEINNER", "MKRNESTEDOUTER", "MKRPRIVATETOP", "MKR PRIVATE CREATOR"]
    # Values of attributes the allow-list keeps, the preamble and the file meta's version bytes.
    ds.LossyImageCompressionMethod = "MKRLOSSYMETHOD"
    ds.ImageType = ["DERIVED", "PRIMARY", "MKRIMAGETYPE"]
    ds.RescaleType = "MKRRESCALETYPE"
    ds.preamble = b"MKRPREAMBLE".ljust(128, b"\0")
    ds.file_meta.FileMetaInformationVersion = b"\0\1MKRMETAVERSION\0"
    markers += ["MKRLOSSYMETHOD", "MKRIMAGETYPE", "MKRRESCALETYPE", "MKRPREAMBLE", "MKRMETAVERSION"]
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue(), markers, marked + 10


def marked_png_and_jpeg() -> dict[str, tuple[bytes, list[str]]]:
    """The NIH fixture PNG with a patient's name and birth date in tEXt, zTXt, iTXt and EXIF chunks and after
    IEND, and the same image as a JPEG with EXIF, XMP-like APP1 text and a comment."""
    from PIL import Image, PngImagePlugin

    image = Image.open(UPLOADS / "00000001_000.png").convert("L")
    info = PngImagePlugin.PngInfo()
    info.add_text("Patient", "MKRPNGTEXT^JOHN")
    info.add_text("Birth", "MKRPNGZTXT 19700101", zip=True)
    info.add_itxt("Comment", "MKRPNGITXT")
    exif = Image.Exif()
    exif[0x010E] = "MKREXIFDESCRIPTION"
    exif[0x013B] = "MKREXIFARTIST"
    png, jpeg = io.BytesIO(), io.BytesIO()
    image.save(png, format="PNG", pnginfo=info, exif=exif)
    image.save(jpeg, format="JPEG", exif=exif, comment=b"MKRJPEGCOMMENT", quality=90)
    png_markers = ["MKRPNGTEXT", "MKRPNGZTXT", "MKRPNGITXT", "MKREXIFDESCRIPTION", "MKREXIFARTIST", "MKRPNGTRAIL"]
    return {"png": (png.getvalue() + b"MKRPNGTRAIL", png_markers),
            "jpeg": (jpeg.getvalue(), ["MKREXIFDESCRIPTION", "MKREXIFARTIST", "MKRJPEGCOMMENT"])}


def redis_values(client) -> str:
    from core.jobs import JobStore
    from core.settings import get_settings

    r = JobStore.from_url(get_settings().redis_url).r
    parts = []
    for key in r.scan_iter(count=1000):
        kind = r.type(key)
        if kind == "string":
            parts.append(r.get(key) or "")
        elif kind == "hash":
            parts += [f"{k}={v}" for k, v in r.hgetall(key).items()]
        elif kind == "list":
            parts += r.lrange(key, 0, -1)
        elif kind == "zset":
            parts += r.zrange(key, 0, -1)
        elif kind == "set":
            parts += list(r.smembers(key))
        parts.append(key)
    return "\n".join(parts)


def leaks_after_explain(client, service, caplog, name: str, data: bytes, markers: list[str]) -> tuple[dict, list]:
    """Explain the upload through the real worker; (the job, every (place, marker) found anywhere stored)."""
    caplog.set_level(logging.DEBUG)
    r = client.post("/explain", files={"file": (name, data, "application/octet-stream")},
                    data={"findings": "effusion"}, headers=headers())
    assert r.status_code == 202, r.text
    job = wait_job(client, r.json()["id"], timeout=180)
    assert job["status"] == "succeeded", job
    blobs = {"submit response": r.text, "job": client.get(f"/jobs/{job['id']}", headers=headers()).text,
             "job list": client.get("/jobs", headers=headers()).text, "api log": caplog.text,
             "worker log": service["worker_log"].read_text(errors="replace"), "redis": redis_values(client)}
    for art in job["artifacts"]:
        blobs[f"artifact {art['name']}"] = client.get(art["url"], headers=headers()).content.decode("latin-1")
    var = service["root"] / "var"
    for path in var.rglob("*"):
        if path.is_file() and path.stat().st_size < 50_000_000:
            blobs[f"file {path.relative_to(var)}"] = path.read_bytes().decode("latin-1")
    return job, [(where, m) for m in markers for where, blob in blobs.items() if m in blob]


def test_no_marker_survives_anywhere(client, service, caplog):
    data, markers, attributes = marked_dicom()
    assert attributes > 1500  # every text/date/UID attribute of the dictionary, far beyond Table E.1-1
    job, leaks = leaks_after_explain(client, service, caplog, "MKRFILENAME.dcm", data, markers + ["MKRFILENAME"])
    stored = pydicom.dcmread(service["root"] / "var" / "artifacts" / job["params"]["upload"] / "input")
    assert stored.PatientIdentityRemoved == "YES" and "Confidentiality" in stored.DeidentificationMethod
    assert stored.preamble == b"\0" * 128 and list(stored.ImageType) == ["DERIVED", "PRIMARY"]
    assert leaks == [], f"{len(leaks)} leaks, e.g. {leaks[:5]}"


def test_png_and_jpeg_uploads_are_stored_without_their_metadata(client, service, caplog):
    from PIL import Image

    def readable(data: bytes) -> str:
        """The bytes as text plus what an image reader decodes from its chunks (zTXt is compressed)."""
        image = Image.open(io.BytesIO(data))
        return data.decode("latin-1") + str(image.info) + str(dict(image.getexif()))

    for fmt, (data, markers) in marked_png_and_jpeg().items():
        assert all(m in readable(data) for m in markers)
        job, leaks = leaks_after_explain(client, service, caplog, f"upload.{fmt}", data, markers)
        assert leaks == [], f"{fmt}: {len(leaks)} leaks, e.g. {leaks[:5]}"
        stored = (service["root"] / "var" / "artifacts" / job["params"]["upload"] / "input").read_bytes()
        assert not [m for m in markers if m in readable(stored)]
        original, kept = Image.open(io.BytesIO(data)), Image.open(io.BytesIO(stored))
        assert original.tobytes() == kept.tobytes()  # the pixels are untouched
