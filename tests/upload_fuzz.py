"""Hostile uploads through the API's own upload check (`app.uploads.accept_upload`): real DICOM corpora and
mutants of the SIIM DICOM. Shared by tests/test_upload_fuzz.py (a bounded profile) and scripts/upload_fuzz.py."""

from __future__ import annotations

import random
import resource
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path


def corpus_files() -> list[Path]:
    """Every DICOM file of pydicom's own test data and of the pydicom-data package (when installed)."""
    import pydicom

    roots = [Path(pydicom.__file__).parent / "data" / "test_files"]
    try:
        import data_store  # the pydicom-data package

        roots.append(Path(data_store.__file__).parent / "data")
    except ImportError:
        pass
    return sorted(p for root in roots if root.is_dir() for p in root.rglob("*") if p.is_file()
                  and p.suffix.lower() in {".dcm", ".dicom", ""} and p.stat().st_size < 40_000_000)


def mutants(data: bytes, count: int, seed: int = 0) -> Iterator[tuple[str, bytes]]:
    """Truncations, byte flips in the header, byte flips anywhere, and spliced garbage, deterministically."""
    rng = random.Random(seed)
    header = min(len(data), 4096)
    for i in range(count):
        kind = i % 4
        buf = bytearray(data)
        if kind == 0:
            cut = rng.randrange(1, len(data))
            yield f"truncate@{cut}", bytes(buf[:cut])
            continue
        if kind in (1, 2):
            span = header if kind == 1 else len(buf)
            for _ in range(rng.randint(1, 16)):
                buf[rng.randrange(span)] = rng.randrange(256)
            yield f"flip{'-header' if kind == 1 else ''}#{i}", bytes(buf)
            continue
        at = rng.randrange(132, header)
        garbage = bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
        yield f"splice@{at}", bytes(buf[:at]) + garbage + bytes(buf[at + rng.randint(0, 64):])


@dataclass
class FuzzReport:
    tried: int = 0
    accepted: int = 0
    refused: Counter = field(default_factory=Counter)  # (status, code) -> count
    server_errors: list[tuple[str, str]] = field(default_factory=list)  # (case, exception) that would be a 5xx
    peak_rss_mb: float = 0.0

    def summary(self) -> dict:
        return {"tried": self.tried, "accepted": self.accepted, "refused_4xx": sum(self.refused.values()),
                "server_errors_5xx": len(self.server_errors),
                "by_code": {f"{s} {c}": n for (s, c), n in sorted(self.refused.items())},
                "peak_rss_mb": round(self.peak_rss_mb, 1), "examples_5xx": self.server_errors[:10]}


def check_uploads(cases: Iterable[tuple[str, bytes]], *, max_bytes: int = 32 * 2**20,
                  max_pixels: int = 8192 * 8192) -> FuzzReport:
    """Run each case through the API's upload check; anything but success or an ApiError with a 4xx is a 5xx."""
    from app.errors import ApiError
    from app.uploads import accept_upload
    from core.artifacts import LocalArtifactStore

    report = FuzzReport()
    with tempfile.TemporaryDirectory() as tmp:
        store = LocalArtifactStore(Path(tmp))
        for name, data in cases:
            report.tried += 1
            try:
                upload_id, _ = accept_upload(data, store, max_bytes=max_bytes, max_pixels=max_pixels)
                store.delete_job(upload_id)
                report.accepted += 1
            except ApiError as exc:
                if 400 <= exc.status < 500 and exc.message:
                    report.refused[(exc.status, exc.code)] += 1
                else:
                    report.server_errors.append((name, f"ApiError {exc.status} {exc.code}"))
            except Exception as exc:  # noqa: BLE001 - this is what the check is looking for
                report.server_errors.append((name, f"{type(exc).__name__}: {str(exc)[:120]}"))
    report.peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return report
