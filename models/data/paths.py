"""Keep every file a data set names inside the data set: manifest entries (a labels CSV's `file` column, an image
folder's files, NIH image folders) are resolved and refused when they are absolute, climb out with `..`, or follow
a symbolic link out of the data set's root. Torch-free."""

from __future__ import annotations

from pathlib import Path, PurePosixPath, PureWindowsPath


class OutsideDataset(ValueError):
    """A data set names a file outside its own folder; the message says where (row or name) and why."""


def is_absolute_name(name: str) -> bool:
    """True for POSIX and Windows absolute names and drive-relative ones (`C:x`, `\\\\server\\share`)."""
    windows = PureWindowsPath(name)
    return PurePosixPath(name).is_absolute() or bool(windows.drive) or windows.is_absolute() or name.startswith("\\")


def inside(root: str | Path, name: str, *, where: str) -> Path:
    """`root / name`, resolved, or OutsideDataset naming `where` (e.g. "labels.csv row 3") and the reason.

    The message quotes `name` only, never a server folder: the user knows the data set, not where it is stored.
    """
    if not name or not name.strip():
        raise OutsideDataset(f"{where}: the file name is empty; name each file relative to the data set's folder")
    if "\x00" in name:
        raise OutsideDataset(f"{where}: the file name has a NUL byte")
    if is_absolute_name(name):
        raise OutsideDataset(f"{where}: {name!r} is an absolute path; name files relative to the data set's folder")
    base = Path(root).resolve()
    resolved = (base / name).resolve()
    if resolved == base or base in resolved.parents:
        return resolved
    if ".." in PurePosixPath(name.replace("\\", "/")).parts:
        raise OutsideDataset(f"{where}: {name!r} climbs out of the data set with '..'; only files inside it can "
                             "be listed")
    raise OutsideDataset(f"{where}: {name!r} follows a symbolic link out of the data set; copy the file in instead")


def inside_folder(root: str | Path, folder: Path, *, where: str) -> Path:
    """`folder` (a path under `root`, e.g. from a directory listing) resolved, or OutsideDataset when a link
    takes it out of `root`."""
    return inside(root, str(Path(folder).relative_to(root)), where=where)
