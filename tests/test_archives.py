"""Data-set archives: hostile ones are refused before anything is unpacked; good ones unpack into a data set with
DICOM de-identified and a summary (counts per finding, patients, image sizes, problems)."""

from __future__ import annotations

import hashlib
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
    with pytest.raises(DatasetProblem, match=r"1 listed image\(s\) are missing or not readable.*consolidation/a.png"):
        ingest_archive(broken, tmp_path / "ds2", fmt=None, max_bytes=LIMIT)  # refused, nothing deleted
    assert not (tmp_path / "ds2").exists()


def tree_hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def sentinel_tree(tmp_path: Path) -> Path:
    """Files a hostile manifest might name: another owner's manifest and image, a text file."""
    sentinel = tmp_path / "sentinel"
    (sentinel / "other-owner" / "data" / "images").mkdir(parents=True)
    (sentinel / "other-owner" / "dataset.json").write_text('{"format": "nih"}')
    (sentinel / "other-owner" / "data" / "images" / "x.png").write_bytes(PNG)
    (sentinel / "notes.txt").write_text("not an image: ingest used to delete this")
    return sentinel


@pytest.mark.parametrize("entry, reason", [
    ("../../sentinel/notes.txt", "climbs out of the data set"),
    ("../../sentinel/other-owner/dataset.json", "climbs out of the data set"),
    ("../../sentinel/other-owner/data/images/x.png", "climbs out of the data set"),
    ("ABSOLUTE", "is an absolute path"),
])
def test_a_manifest_naming_files_outside_the_data_set_is_refused_and_touches_nothing(tmp_path, entry, reason):
    sentinel = sentinel_tree(tmp_path)
    before = tree_hashes(sentinel)
    if entry == "ABSOLUTE":
        entry = str(sentinel / "notes.txt")
    labels = f"file,labels,patient_id\na.dcm,Pneumothorax,p1\n{entry},Mass,p2\n"
    archive = make_zip(tmp_path / "m.zip", {"labels.csv": labels.encode(), "a.dcm": SIIM.read_bytes()})
    with pytest.raises(DatasetProblem) as refused:
        ingest_archive(archive, tmp_path / "ds", fmt=None, max_bytes=LIMIT)
    assert "labels.csv row 3" in str(refused.value) and reason in str(refused.value)
    assert tree_hashes(sentinel) == before  # nothing outside the data set deleted or changed
    assert not (tmp_path / "ds").exists()


def test_every_layout_refuses_links_out_of_the_data_set(tmp_path):
    from models.data.folders import DicomFolder, ImageFolder
    from models.data.nih import NIHChestXray
    from models.data.paths import OutsideDataset

    outside = tmp_path / "outside.png"
    outside.write_bytes(PNG)
    folder = tmp_path / "folder"
    (folder / "mass").mkdir(parents=True)
    (folder / "mass" / "a.png").symlink_to(outside)
    with pytest.raises(OutsideDataset, match="mass/a.png.*symbolic link"):
        ImageFolder(folder, "all")
    linked = tmp_path / "linked"
    (linked / "mass").mkdir(parents=True)
    (linked / "effusion").symlink_to(tmp_path / "folder" / "mass")
    with pytest.raises(OutsideDataset, match="folder effusion"):
        ImageFolder(linked, "all")
    dicoms = tmp_path / "dicoms"
    dicoms.mkdir()
    (dicoms / "a.dcm").symlink_to(SIIM)
    (dicoms / "labels.csv").write_text("file,labels\na.dcm,Mass\n")
    with pytest.raises(OutsideDataset, match="labels.csv row 2: 'a.dcm' follows a symbolic link"):
        DicomFolder(dicoms, "all")
    nih = tmp_path / "nih"
    (nih / "images").mkdir(parents=True)
    shutil.copy(NIH / "Data_Entry_2017.csv", nih)
    name = sorted((NIH / "images").iterdir())[0].name
    (nih / "images" / name).symlink_to(outside)
    with pytest.raises(OutsideDataset, match=f"images/{name}"):
        NIHChestXray(nih, "all")
    inner = tmp_path / "inner"
    (inner / "images").mkdir(parents=True)
    (inner / "images" / "sub").mkdir()
    shutil.copy(NIH / "images" / name, inner / "images" / name)
    (inner / "labels.csv").write_text(f"file,labels\nimages/{name},Mass\nimages/sub/../{name},Mass\n")
    assert len(DicomFolder(inner, "all").records) == 2  # links and '..' that stay inside are fine


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
