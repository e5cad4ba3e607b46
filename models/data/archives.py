"""Uploaded data-set archives (zip, tar, tar.gz), checked before anything is unpacked and unpacked safely.

Refused, with a message naming the first offending members: entries with `..` or an absolute path, links and
devices, nested archives, members that are not data (images, DICOM, CSV labels, MedMNIST .npz, NIfTI), more than
MAX_MEMBERS entries, an unpacked total above the operator's byte limit, and members that inflate more than
MAX_RATIO times (zip bombs). Unpacking writes regular files only, below the destination, and stops at the limit
even when a header lies about a size. Torch-free.
"""

from __future__ import annotations

import shutil
import struct
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

MAX_RATIO = 200  # a member may inflate at most 200x (PNG and DICOM inflate far less; zip bombs far more)
MAX_MEMBERS = 2_000_000
DATA_SUFFIXES = (".png", ".jpg", ".jpeg", ".dcm", ".dicom", ".csv", ".npz", ".nii", ".nii.gz", ".txt", ".md",
                 ".json")
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tgz", ".tar.gz", ".gz", ".bz2", ".xz", ".7z", ".rar", ".zst")
SKIPPED = ("__MACOSX/", ".DS_Store", "Thumbs.db")  # what archivers add; dropped silently


class ArchiveRefused(ValueError):
    """The archive cannot be accepted; the message says why and what to fix."""


class ArchiveTooLarge(ArchiveRefused):
    """The archive unpacks past the operator's limit."""


@dataclass
class Member:
    name: str  # normalised relative POSIX path
    size: int  # unpacked bytes as declared


@dataclass
class Listing:
    kind: str  # "zip" or "tar"
    members: list[Member]

    @property
    def unpacked_bytes(self) -> int:
        return sum(m.size for m in self.members)


def archive_kind(path: Path) -> str:
    if zipfile.is_zipfile(path):
        return "zip"
    try:
        with tarfile.open(path, "r:*"):
            return "tar"
    except (tarfile.TarError, OSError, EOFError):
        raise ArchiveRefused("the upload is not a zip, tar or tar.gz archive") from None


def is_data_file(name: str) -> bool:
    lower = name.lower()
    if lower.endswith((".nii.gz", ".npz")):
        return True
    if lower.endswith(ARCHIVE_SUFFIXES):
        return False
    base = PurePosixPath(lower).name
    return lower.endswith(DATA_SUFFIXES) or "." not in base  # DICOM files often have no extension


def skipped(name: str) -> bool:
    base = PurePosixPath(name).name
    return name.startswith("__MACOSX/") or base in SKIPPED or base.startswith("._")


def safe_name(raw: str) -> str:
    """The member's relative path, or ArchiveRefused for absolute paths, drive letters and `..`."""
    name = raw.replace("\\", "/")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise ArchiveRefused(f"member {raw!r} has an absolute path; archive paths must be relative")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise ArchiveRefused(f"member {raw!r} climbs out of the archive with '..'")
    if any("\x00" in p for p in parts):
        raise ArchiveRefused(f"member {raw!r} has a NUL byte in its name")
    return "/".join(parts)


DAMAGE = (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, ValueError, UnicodeDecodeError,
          NotImplementedError, RuntimeError, zlib.error, KeyError, IndexError, struct.error)


def list_archive(path: str | Path, *, max_bytes: int) -> Listing:
    """Check every entry of the archive without unpacking it; ArchiveRefused says what is wrong."""
    try:
        return _list_archive(Path(path), max_bytes)
    except ArchiveRefused:
        raise
    except DAMAGE as exc:  # a damaged archive fails in many ways inside zipfile and tarfile: all are the upload's
        raise ArchiveRefused(f"the archive is damaged ({type(exc).__name__}); create it again") from None


def _list_archive(path: Path, max_bytes: int) -> Listing:
    kind = archive_kind(path)
    members: list[Member] = []
    problems: list[str] = []
    total = 0
    for raw, size, compressed, regular, directory in _entries(path, kind):
        name = safe_name(raw)
        if directory or not name or skipped(name):
            continue
        if not regular:
            raise ArchiveRefused(f"member {raw!r} is a link or device; only regular files are accepted")
        if not is_data_file(name):
            problems.append(name)
            continue
        if kind == "zip" and compressed > 0 and size / compressed > MAX_RATIO:
            raise ArchiveRefused(f"member {raw!r} inflates {size // compressed}x (more than {MAX_RATIO}x): "
                                 "a compression bomb is refused")
        total += size
        if total > max_bytes:
            raise ArchiveTooLarge(f"the archive unpacks to more than {max_bytes:,} bytes (the service's limit, "
                                 "RADSYNTH_MAX_DATASET_BYTES); split it or ask the operator")
        members.append(Member(name, size))
        if len(members) > MAX_MEMBERS:
            raise ArchiveRefused(f"the archive has more than {MAX_MEMBERS:,} files")
    if problems:
        nested = [p for p in problems if p.lower().endswith(ARCHIVE_SUFFIXES)]
        what = "nested archives are not unpacked" if nested else "only images, DICOM, CSV labels, .npz and NIfTI"
        raise ArchiveRefused(f"{len(problems)} member(s) are not data ({what}): {', '.join(problems[:5])}")
    if not members:
        raise ArchiveRefused("the archive holds no data files")
    if len({m.name for m in members}) != len(members):
        raise ArchiveRefused("the archive holds the same path twice")
    if kind == "tar" and path.stat().st_size * MAX_RATIO < total:
        raise ArchiveRefused(f"the archive inflates more than {MAX_RATIO}x: a compression bomb is refused")
    return Listing(kind, members)


def _entries(path: Path, kind: str):
    """(name, size, compressed size, is regular file, is directory) per entry."""
    if kind == "zip":
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                mode = info.external_attr >> 16
                link = (mode & 0o170000) == 0o120000
                yield info.filename, info.file_size, info.compress_size, not link, info.is_dir()
        return
    try:
        with tarfile.open(path, "r:*") as tf:
            for info in tf:
                yield info.name, info.size, info.size, info.isfile(), info.isdir()
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ArchiveRefused(f"the tar archive is damaged: {type(exc).__name__}") from None


def unpack(path: str | Path, dest: str | Path, listing: Listing, *, max_bytes: int, progress=None) -> int:
    """Unpack the listed members into `dest` (created), never writing outside it or past `max_bytes` in all.
    Returns the bytes written; ArchiveRefused if the data disagrees with the listing or is damaged."""
    try:
        return _unpack(Path(path), Path(dest), listing, max_bytes, progress)
    except ArchiveRefused:
        raise
    except DAMAGE as exc:
        raise ArchiveRefused(f"the archive is damaged ({type(exc).__name__}); create it again") from None


def _unpack(path: Path, dest: Path, listing: Listing, max_bytes: int, progress) -> int:
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    wanted = {m.name for m in listing.members}
    written = 0
    done = 0

    def target(name: str) -> Path:
        out = (root / name).resolve()
        if root not in out.parents:
            raise ArchiveRefused(f"member {name!r} would be written outside the data set")
        out.parent.mkdir(parents=True, exist_ok=True)
        return out

    def copy(src, name: str) -> None:
        nonlocal written, done
        with open(target(name), "xb") as fh:
            while chunk := src.read(1 << 20):
                written += len(chunk)
                if written > max_bytes:
                    raise ArchiveTooLarge(f"the archive unpacks to more than {max_bytes:,} bytes")
                fh.write(chunk)
        done += 1
        if progress is not None and done % 200 == 0:
            progress(done, len(wanted))

    for name, src in listed_members(path, listing):
        copy(src, name)
    if progress is not None:
        progress(done, len(wanted))
    return written


def listed_members(path: Path, listing: Listing):
    """(name, readable file) of each listed regular member, in archive order; each file is open only while the
    caller holds it."""
    wanted = {m.name for m in listing.members}
    if listing.kind == "zip":
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                name = safe_name(info.filename)
                if name in wanted and not info.is_dir():
                    with zf.open(info) as src:
                        yield name, src
        return
    with tarfile.open(path, "r:*") as tf:
        for info in tf:
            name = safe_name(info.name)
            if name in wanted and info.isfile() and (src := tf.extractfile(info)) is not None:
                yield name, src


def check_dicom_members(path: str | Path, listing: Listing, *, max_pixels: int) -> None:
    """Refuse (ArchiveTooLarge) an archive holding a Deflated DICOM that would inflate past what an image of
    `max_pixels` can need, before anything is unpacked: each member's file meta is parsed and a deflated data set
    is inflated in chunks and discarded, so memory stays at one chunk."""
    from models.errors import ImageTooLargeError, InputError
    from models.io.dicom_read import check_inflated_size

    def check(src, name: str) -> None:
        try:
            check_inflated_size(src, max_pixels)
        except ImageTooLargeError as exc:
            raise ArchiveTooLarge(f"member {name!r}: {exc}") from None
        except InputError:  # damaged: the ingest job reports it with the other unreadable images
            pass

    try:
        for name, src in listed_members(path, listing):
            check(src, name)
    except ArchiveRefused:
        raise
    except DAMAGE as exc:
        raise ArchiveRefused(f"the archive is damaged ({type(exc).__name__}); create it again") from None


def data_root(folder: Path) -> Path:
    """Where the data starts: archives often wrap everything in one top folder (or hold one .npz). A lone folder
    of images is a finding's folder, not a wrapper."""
    entries = [p for p in folder.iterdir() if not p.name.startswith(".")]
    if len(entries) == 1 and entries[0].is_dir() and any(p.is_dir() or p.suffix.lower() in (".csv", ".npz")
                                                         for p in entries[0].iterdir()):
        return data_root(entries[0])
    if len(entries) == 1 and entries[0].suffix == ".npz":
        return entries[0]
    return folder


def remove_tree(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
