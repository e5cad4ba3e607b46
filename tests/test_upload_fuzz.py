"""Hostile uploads never escape as a server error: the real DICOM corpora and SIIM mutants (bounded profile;
`python -m scripts.upload_fuzz` runs the long one)."""

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


def test_pixel_data_that_does_not_match_the_geometry_is_refused():
    import io

    import numpy as np
    import pydicom
    import pytest

    from models.errors import CorruptImageError
    from models.io.dicom_read import read_dicom
    from tests.conftest import SIIM

    ds = pydicom.dcmread(SIIM)
    ds.decompress()
    ds.Rows = ds.Columns = 256
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.SamplesPerPixel = 16, 16, 15, 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelData = np.zeros((2, 256, 256), np.uint16).tobytes()  # two frames' worth, NumberOfFrames absent
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    with pytest.raises(CorruptImageError, match="NumberOfFrames"):
        read_dicom(buf.getvalue())
    ds.NumberOfFrames = 2  # declared: now it is a valid two-frame image
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    assert read_dicom(buf.getvalue()).pixels.shape == (256, 256)


def test_images_below_the_minimum_size_are_refused():
    import io

    import numpy as np
    import pytest
    from PIL import Image

    from models.errors import CorruptImageError
    from models.io.raster import MIN_SIDE, read_raster

    for shape in ((1, 1), (1, 20000), (MIN_SIDE - 1, 512)):
        buf = io.BytesIO()
        Image.fromarray(np.zeros(shape, np.uint8)).save(buf, format="PNG")
        with pytest.raises(CorruptImageError, match=f"at least {MIN_SIDE}x{MIN_SIDE}"):
            read_raster(buf.getvalue(), "png")
