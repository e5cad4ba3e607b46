"""Hostile uploads never escape as a server error: the real DICOM corpora and SIIM mutants (bounded profile;
`python scripts/upload_fuzz.py` runs the long one)."""

from __future__ import annotations

import pytest

from tests.conftest import SIIM, SIIM_MONO1
from tests.upload_fuzz import check_uploads, corpus_files, mutants

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom warns on every damaged value


def test_every_corpus_dicom_is_accepted_or_refused_with_a_4xx():
    files = corpus_files()
    assert len(files) > 50
    report = check_uploads((p.name, p.read_bytes()) for p in files)
    assert report.server_errors == [], report.summary()
    assert report.accepted > 10 and sum(report.refused.values()) > 5, report.summary()


def test_siim_mutants_are_accepted_or_refused_with_a_4xx():
    cases = list(mutants(SIIM.read_bytes(), 160, seed=1)) + list(mutants(SIIM_MONO1.read_bytes(), 80, seed=2))
    report = check_uploads(cases)
    assert report.server_errors == [], report.summary()
    assert report.tried == 240 and report.refused, report.summary()


def test_undecodable_images_are_described_without_python_internals():
    import pytest

    from models.errors import CorruptImageError
    from models.io.raster import read_raster

    for data, fmt in ((b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "png"), (b"\xff\xd8\xff\xe0garbage", "jpeg"),
                      (b"not an image at all", "png")):
        with pytest.raises(CorruptImageError) as caught:
            read_raster(data, fmt)
        message = str(caught.value)
        assert "0x" not in message and "BytesIO" not in message, message
        assert "send an uncorrupted PNG, JPEG or DICOM image" in message
