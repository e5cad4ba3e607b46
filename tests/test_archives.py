"""Data-set archives: hostile ones are refused before anything is unpacked; good ones unpack into a data set with
DICOM de-identified and a summary (counts per finding, patients, image sizes, problems)."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
import zipfile
from pathlib import Path

import pydicom
import pytest

from models.data.archives import ArchiveRefused, ArchiveTooLarge, list_archive, unpack
from models.data.ingest import DatasetProblem, ingest_archive
from tests.conftest import NIH, SIIM

LIMIT = 50_000_000


def make_zip(path: Path, members: dict[str, bytes], *, links: tuple[str, ...] = ()) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        for name in links:
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o120777 << 16)
            zf.writestr(info, "/etc/passwd")
    return path


def make_tar(path: Path, members: dict[str, bytes], *, symlink: str | None = None, hardlink: str | None = None,
             device: str | None = None) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for name, kind in ((symlink, tarfile.SYMTYPE), (hardlink, tarfile.LNKTYPE), (device, tarfile.CHRTYPE)):
            if name:
                info = tarfile.TarInfo(name)
                info.type = kind
                info.linkname = "/etc/passwd"
                tf.addfile(info)
    return path


PNG = (NIH / "images" / "00000001_000.png").read_bytes()


@pytest.mark.parametrize("members, fix", [
    ({"../evil.png": PNG}, "'..'"),
    ({"a/../../evil.png": PNG}, "'..'"),
    ({"/etc/cron.d/evil.png": PNG}, "absolute path"),
    ({"C:/evil.png": PNG}, "absolute path"),
    ({"inner.zip": b"PK\x03\x04"}, "nested archives"),
    ({"data/inner.tar.gz": b"\x1f\x8b"}, "nested archives"),
    ({"run.sh": b"#!/bin/sh\nrm -rf /\n", "a.png": PNG}, "run.sh"),
    ({"__MACOSX/._a.png": b"junk"}, "no data files"),
])
def test_hostile_zip_members_are_refused_with_the_reason(tmp_path, members, fix):
    with pytest.raises(ArchiveRefused, match=fix.replace(".", r"\.").replace("(", r"\(")):
        list_archive(make_zip(tmp_path / "a.zip", members), max_bytes=LIMIT)


def test_links_devices_and_bombs_are_refused(tmp_path):
    with pytest.raises(ArchiveRefused, match="link"):
        list_archive(make_zip(tmp_path / "l.zip", {"a.png": PNG}, links=("b.png",)), max_bytes=LIMIT)
    for kw in ({"symlink": "s.png"}, {"hardlink": "h.png"}, {"device": "d.png"}):
        with pytest.raises(ArchiveRefused, match="link or device"):
            list_archive(make_tar(tmp_path / "t.tar.gz", {"a.png": PNG}, **kw), max_bytes=LIMIT)
    bomb = make_zip(tmp_path / "bomb.zip", {"a.png": b"\0" * 20_000_000})
    with pytest.raises(ArchiveRefused, match="compression bomb"):
        list_archive(bomb, max_bytes=LIMIT)
    tar_bomb = make_tar(tmp_path / "bomb.tar.gz", {"a.png": b"\0" * 20_000_000})
    with pytest.raises(ArchiveRefused, match="compression bomb"):
        list_archive(tar_bomb, max_bytes=LIMIT)
    with pytest.raises(ArchiveTooLarge, match="more than 1,000 bytes"):
        list_archive(make_zip(tmp_path / "big.zip", {"a.png": PNG}), max_bytes=1_000)
    not_archive = tmp_path / "x.zip"
    not_archive.write_bytes(PNG)
    with pytest.raises(ArchiveRefused, match="not a zip, tar or tar.gz"):
        list_archive(not_archive, max_bytes=LIMIT)


def test_unpacking_stops_at_the_limit_even_when_a_header_lies(tmp_path):
    archive = make_zip(tmp_path / "a.zip", {"a.png": PNG, "b.png": PNG})
    listing = list_archive(archive, max_bytes=LIMIT)
    with pytest.raises(ArchiveTooLarge):
        unpack(archive, tmp_path / "out", listing, max_bytes=len(PNG) + 10)
    written = unpack(archive, tmp_path / "ok", listing, max_bytes=LIMIT)
    assert written == 2 * len(PNG) and sorted(p.name for p in (tmp_path / "ok").iterdir()) == ["a.png", "b.png"]


def nih_archive(tmp_path: Path, kind: str = "zip") -> Path:
    """The NIH fixture folder wrapped in one top folder, as people zip folders."""
    root = tmp_path / "src" / "my-xrays"
    shutil.copytree(NIH, root)
    base = tmp_path / "upload"
    return Path(shutil.make_archive(str(base), "zip" if kind == "zip" else "gztar", root_dir=tmp_path / "src"))


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_an_nih_folder_becomes_a_data_set_with_counts(tmp_path, kind):
    dest = tmp_path / "datasets" / "mine"
    dest.parent.mkdir()
    manifest = ingest_archive(nih_archive(tmp_path, kind), dest, fmt=None, max_bytes=LIMIT)
    images = len(list((NIH / "images").iterdir()))
    assert manifest["format"] == "nih" and manifest["images"] == images and manifest["root"] == "data/my-xrays"
    assert 0 < manifest["patients"] <= images and sum(manifest["per_finding"].values()) >= images
    assert manifest["image_size"]["max"] == 64 and manifest["problems"] == []
    assert json.loads((dest / "dataset.json").read_text())["images"] == images
    assert not list(dest.parent.glob(".*staging"))


def test_dicom_in_an_upload_is_deidentified_before_anything_reads_it(tmp_path):
    original = pydicom.dcmread(SIIM)
    assert str(original.PatientName)  # the fixture carries a (synthetic) name
    labels = "file,labels,patient_id\na.dcm,Pneumothorax,p1\nb.dcm,No Finding,p2\n"
    archive = make_zip(tmp_path / "d.zip", {"set/labels.csv": labels.encode(), "set/a.dcm": SIIM.read_bytes(),
                                             "set/b.dcm": SIIM.read_bytes()})
    dest = tmp_path / "ds"
    manifest = ingest_archive(archive, dest, fmt=None, max_bytes=LIMIT)
    assert manifest["format"] == "dicom_folder" and manifest["deidentified_dicom"] == 2
    assert manifest["patients"] == 2 and manifest["per_finding"]["Pneumothorax"] == 1
    for name in ("a.dcm", "b.dcm"):
        ds = pydicom.dcmread(dest / "data" / "set" / name)
        assert ds.PatientIdentityRemoved == "YES" and str(ds.PatientName).startswith("ANONYMOUS^")
        assert ds.StudyInstanceUID != original.StudyInstanceUID and ds.PatientID != original.PatientID
    a, b = (pydicom.dcmread(dest / "data" / "set" / n) for n in ("a.dcm", "b.dcm"))
    assert a.StudyInstanceUID == b.StudyInstanceUID  # one study stays one study
    assert a.PatientID == b.PatientID and a.PatientID.startswith("RS-")  # one patient, one pseudonym


def test_an_unreadable_layout_leaves_nothing_behind(tmp_path):
    archive = make_zip(tmp_path / "x.zip", {"notes.txt": b"hello", "readme.md": b"hi"})
    dest = tmp_path / "ds"
    with pytest.raises(DatasetProblem):
        ingest_archive(archive, dest, fmt=None, max_bytes=LIMIT)
    assert not dest.exists() and list(tmp_path.iterdir()) == [archive]
    with pytest.raises(DatasetProblem) as refused:
        ingest_archive(archive, dest, fmt=None, max_bytes=LIMIT)
    assert str(tmp_path) not in str(refused.value)  # no server folder in what the user reads
    broken = make_zip(tmp_path / "y.zip", {"set/consolidation/a.png": b"not a png", "set/mass/b.png": PNG})
    manifest = ingest_archive(broken, tmp_path / "ds2", fmt=None, max_bytes=LIMIT)
    assert manifest["format"] == "image_folder" and manifest["images"] == 1
    assert "1 unreadable image(s)" in manifest["problems"][0]
    assert not (tmp_path / "ds2" / "data" / "set" / "consolidation" / "a.png").exists()  # no loader meets it


def test_damaged_archives_are_refused_not_crashed_on(tmp_path):
    good = make_zip(tmp_path / "g.zip", {"set/consolidation/a.png": PNG, "set/mass/b.png": PNG}).read_bytes()
    refused = 0
    for i in range(40):
        damaged = tmp_path / f"d{i}.zip"
        if i < 20:
            damaged.write_bytes(good[: len(good) * (i + 1) // 22])
        else:
            damaged.write_bytes(bytes(b ^ 0xFF if j % (i - 13) == 0 else b for j, b in enumerate(good)))
        try:
            listing = list_archive(damaged, max_bytes=LIMIT)
            unpack(damaged, tmp_path / f"out{i}", listing, max_bytes=LIMIT)
        except ArchiveRefused:  # anything else fails the test
            refused += 1
    assert refused >= 30
