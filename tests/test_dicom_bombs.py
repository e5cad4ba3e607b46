"""Deflated-DICOM bombs: the transfer syntax is read from the parsed file meta (padding cannot hide it) and a
deflated data set is inflated in chunks up to the most an allowed image can need, wherever a DICOM is read: an
upload (/explain, /classify), a data-set archive before it is unpacked, and ingest's de-identification."""

from __future__ import annotations

import io
import tarfile
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from app.errors import ApiError
from app.uploads import checked_upload
from models.data.archives import ArchiveTooLarge, check_dicom_members, list_archive
from models.data.ingest import deidentify_files
from models.errors import ImageTooLargeError
from models.io.dicom_read import file_meta_end_and_syntax, read_dicom_file
from models.io.raster import DEFAULT_MAX_PIXELS
from tests.bombs import bomb_dicom
from tests.conftest import SIIM

PADDED = bomb_dicom(20000, "deflate", pad_meta=6000)  # 400 MB of pixels in well under a megabyte
MAX_PIXELS = 4096 * 4096  # the bound is 32 MB + slack, far below what the bomb inflates to
PEAK_BOUND = 48 * 2**20


def peak_bytes(call) -> int:
    tracemalloc.start()
    try:
        call()
    except (ImageTooLargeError, ApiError, ArchiveTooLarge):
        pass
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


def test_the_syntax_is_read_from_the_file_meta_even_behind_6000_bytes_of_padding():
    assert len(PADDED) < 1_000_000 and PADDED.find(b"1.2.840.10008.1.2.1.99") > 4096
    end, syntax = file_meta_end_and_syntax(PADDED)
    assert syntax == "1.2.840.10008.1.2.1.99" and end > 6000
    assert file_meta_end_and_syntax(SIIM.read_bytes())[1] == "1.2.840.10008.1.2.4.50"


def test_a_padded_bomb_is_refused_by_the_upload_check_with_bounded_memory():
    with pytest.raises(ApiError) as refused:
        checked_upload(PADDED, max_bytes=32 * 2**20, max_pixels=MAX_PIXELS)
    assert refused.value.code == "image_too_large" and "inflates to more than" in str(refused.value)
    assert peak_bytes(lambda: checked_upload(PADDED, max_bytes=32 * 2**20, max_pixels=MAX_PIXELS)) < PEAK_BOUND


def test_a_bomb_on_disk_is_refused_before_pydicom_inflates_it(tmp_path):
    path = tmp_path / "bomb.dcm"
    path.write_bytes(PADDED)
    with pytest.raises(ImageTooLargeError):
        read_dicom_file(path, max_pixels=MAX_PIXELS)
    assert peak_bytes(lambda: read_dicom_file(path, max_pixels=MAX_PIXELS)) < PEAK_BOUND
    assert read_dicom_file(SIIM, stop_before_pixels=True).Rows > 0  # a real file reads as before


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_an_archive_holding_a_bomb_is_refused_before_unpacking(tmp_path, kind):
    archive = tmp_path / f"set.{kind}"
    members = {"set/labels.csv": b"file,labels\na.dcm,Mass\nb.dcm,Mass\n", "set/a.dcm": SIIM.read_bytes(),
               "set/b.dcm": PADDED}
    if kind == "zip":
        with zipfile.ZipFile(archive, "w") as zf:  # stored: the zip's own ratio check sees nothing to refuse
            for name, data in members.items():
                zf.writestr(name, data)
    else:
        with tarfile.open(archive, "w:gz") as tf:
            for name, data in members.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    listing = list_archive(archive, max_bytes=10**9)  # the listing alone cannot see inside a member
    with pytest.raises(ArchiveTooLarge, match="set/b.dcm.*inflates to more than"):
        check_dicom_members(archive, listing, max_pixels=MAX_PIXELS)
    assert peak_bytes(lambda: check_dicom_members(archive, listing, max_pixels=MAX_PIXELS)) < PEAK_BOUND
    check_dicom_members(archive, listing, max_pixels=DEFAULT_MAX_PIXELS * 4)  # under a larger bound: accepted


def test_ingest_deidentification_refuses_a_bomb_instead_of_inflating_it(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "a.dcm").write_bytes(SIIM.read_bytes())
    (folder / "b").write_bytes(PADDED)  # DICOM is found by content, whatever its name
    with pytest.raises(ImageTooLargeError, match="^b: "):
        deidentify_files(folder, max_pixels=MAX_PIXELS)
    assert peak_bytes(lambda: deidentify_files(Path(folder), max_pixels=MAX_PIXELS)) < PEAK_BOUND
