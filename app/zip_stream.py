"""A zip archive of a folder, streamed as it is built: nothing is held in memory beyond one chunk of one file, and
nothing is written to disk (images are already compressed, so members are stored, not deflated)."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path

CHUNK = 1 << 20


class _Sink:
    """A write-only, unseekable file object whose written bytes are collected for the next yield."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.offset = 0

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        self.offset += len(data)
        return len(data)

    def tell(self) -> int:
        return self.offset

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        out = b"".join(self.parts)
        self.parts.clear()
        return out


def zip_folder(folder: Path, *, prefix: str, skip: tuple[str, ...] = ()) -> Iterator[bytes]:
    """Yield the bytes of a zip of `folder`'s files (under `prefix/`), in sorted path order."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()):
            rel = path.relative_to(folder).as_posix()
            if rel in skip or any(part.startswith(".") for part in path.relative_to(folder).parts):
                continue
            info = zipfile.ZipInfo.from_file(path, f"{prefix}/{rel}")
            with path.open("rb") as src, zf.open(info, "w", force_zip64=True) as dst:
                while chunk := src.read(CHUNK):
                    dst.write(chunk)
                    yield sink.take()
            yield sink.take()
    yield sink.take()
