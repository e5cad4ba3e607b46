"""Loaders on real fixture data: labels, pixel ranges, splits, DICOM photometrics and compression."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
import torch
from PIL import Image

from models.data.folders import DicomFolder, ImageFolder
from models.data.medmnist import MedMNIST
from models.data.nih import NIHChestXray
from models.data.preprocess import SquareGeometry, heatmap_to_original, load_image_file, to_model_input
from models.errors import UnsupportedTransferSyntaxError
from models.io.dicom_read import read_dicom
from models.vocabulary.findings import NIH_LABELS
from tests.conftest import NIH, NIH_UPLOAD, PNEUMONIA_NPZ, SIIM, SIIM_MONO1


def csv_labels() -> dict[str, set[str]]:
    with (NIH / "Data_Entry_2017.csv").open() as fh:
        return {r["Image Index"]: set(r["Finding Labels"].split("|")) for r in csv.DictReader(fh)}


def test_nih_labels_and_pixel_range_match_the_csv():
    ds = NIHChestXray(NIH, "all", 32)
    truth = csv_labels()
    assert len(ds) == len(truth)
    for i in range(len(ds)):
        item = ds[i]
        assert item["image"].shape == (1, 32, 32)
        assert -1.0 <= float(item["image"].min()) < float(item["image"].max()) <= 1.0
        names = {NIH_LABELS[j] for j in torch.nonzero(item["labels"]).flatten().tolist()}
        assert names == truth[item["id"]]


def test_nih_splits_are_patient_disjoint_and_cover_everything():
    splits = {s: NIHChestXray(NIH, s, 16) for s in ("train", "val", "test")}
    groups = {s: {r.group for r in d.records} for s, d in splits.items()}
    assert not groups["train"] & groups["val"] and not groups["train"] & groups["test"]
    assert not groups["val"] & groups["test"]
    assert sum(len(d) for d in splits.values()) == len(csv_labels())


def test_nih_official_test_list_decides_test_membership(tmp_path):
    import shutil

    root = tmp_path / "nih"
    shutil.copytree(NIH, root)
    names = sorted(csv_labels())
    (root / "test_list.txt").write_text("\n".join(names[:5]) + "\n")
    test = NIHChestXray(root, "test", 16)
    assert sorted(r.key for r in test.records) == names[:5]


def test_nih_official_subfolders_are_found(tmp_path):
    import shutil

    root = tmp_path / "nih"
    (root / "images_001" / "images").mkdir(parents=True)
    shutil.copy(NIH / "Data_Entry_2017.csv", root)
    for p in (NIH / "images").iterdir():
        shutil.copy(p, root / "images_001" / "images" / p.name)
    assert len(NIHChestXray(root, "all", 16)) == len(csv_labels())


def test_medmnist_npz_labels_and_range():
    ds = MedMNIST(PNEUMONIA_NPZ, "train", 28)
    raw = np.load(PNEUMONIA_NPZ)["train_labels"][:, 0]
    assert ds.label_names == ["normal", "pneumonia"]
    for i in (0, len(ds) - 1):
        item = ds[i]
        assert item["labels"].tolist() == [float(raw[i] == 0), float(raw[i] == 1)]
        assert item["image"].shape == (1, 28, 28) and item["image"].min() >= -1 and item["image"].max() <= 1


def test_rgb_with_equal_channels_becomes_the_same_grey(tmp_path):
    grey = np.asarray(Image.open(NIH_UPLOAD).convert("L"))
    rgba = Image.fromarray(np.stack([grey] * 3 + [np.full_like(grey, 255)], -1), mode="RGBA")
    rgba.save(tmp_path / "rgba.png")
    Image.fromarray(grey).save(tmp_path / "grey.png")
    a = load_image_file(tmp_path / "rgba.png").pixels
    b = load_image_file(tmp_path / "grey.png").pixels
    np.testing.assert_array_equal(a, b)


def test_jpeg_baseline_dicom_decodes_and_monochrome1_is_inverted():
    mono2 = read_dicom(SIIM.read_bytes())
    mono1 = read_dicom(SIIM_MONO1.read_bytes())
    assert mono2.pixels.shape == (1024, 1024)
    assert mono2.info["transfer_syntax"].startswith("JPEG Baseline")
    assert 0.0 <= mono2.pixels.min() < mono2.pixels.max() <= 1.0
    # The fixture pair stores identical pixel data and differs only in the tag, so honouring
    # MONOCHROME1 (0 = white) must give exactly the inverted image.
    np.testing.assert_allclose(mono1.pixels, 1.0 - mono2.pixels, atol=1e-6)
    # In the MONOCHROME2 file, lungs (left field) are darker than the mediastinum (centre).
    assert mono2.pixels[400:600, 250:350].mean() < mono2.pixels[400:600, 480:540].mean()


def test_compressed_dicom_without_decoder_names_the_syntax(monkeypatch):
    import models.io.dicom_read as dr

    class NoDecoder:
        is_available = False

    monkeypatch.setattr(dr, "get_decoder", lambda uid: NoDecoder())
    with pytest.raises(UnsupportedTransferSyntaxError, match="JPEG Baseline"):
        read_dicom(SIIM.read_bytes())


def test_uncompressed_16bit_dicom_with_rescale_and_window(tmp_path):
    from models.io.writers import dicom_bytes, synthetic_dicom_dataset

    ramp = np.tile(np.linspace(0, 1, 64), (64, 1))
    ds = synthetic_dicom_dataset(ramp, {"model": "t"}, bits=16)
    ds.RescaleSlope, ds.RescaleIntercept = 2, -1000
    ds.WindowCenter, ds.WindowWidth = 2 * 32767 - 1000, 2 * 65535
    img = read_dicom(dicom_bytes(ds))
    assert np.all(np.diff(img.pixels[0]) >= 0)
    assert img.pixels[0, 0] < 0.05 and img.pixels[0, -1] > 0.95


def test_image_folder_and_dicom_folder(tmp_path):
    import shutil

    for name in ("Mass", "No Finding"):
        (tmp_path / "imgs" / name).mkdir(parents=True)
    pngs = sorted((NIH / "images").iterdir())
    for i, p in enumerate(pngs[:10]):
        shutil.copy(p, tmp_path / "imgs" / ("Mass" if i % 2 else "No Finding") / p.name)
    ds = ImageFolder(tmp_path / "imgs", "all", 16)
    assert ds.label_names == ["Mass", "No Finding"] and len(ds) == 10

    folder = tmp_path / "dcm"
    folder.mkdir()
    shutil.copy(SIIM, folder / "a.dcm")
    shutil.copy(SIIM_MONO1, folder / "b.dcm")
    (folder / "labels.csv").write_text("file,labels,patient_id\na.dcm,Pneumothorax,p1\nb.dcm,No Finding,p1\n")
    dd = DicomFolder(folder, "all", 32)
    assert len(dd) == 2 and dd.label_names == ["No Finding", "Pneumothorax"]
    assert torch.allclose(dd[0]["image"], -dd[1]["image"], atol=1e-5)  # same pixels, MONOCHROME1 tag

    from models.data.registry import label_vocabulary

    # The vocabulary read from labels alone (as the API validates findings) equals the loaders' own.
    assert label_vocabulary(tmp_path / "imgs") == ds.label_names
    assert label_vocabulary(folder) == dd.label_names
    mnist = MedMNIST(PNEUMONIA_NPZ, "train", 16).label_names
    assert label_vocabulary(PNEUMONIA_NPZ) == mnist == ["normal", "pneumonia"]
    assert label_vocabulary(NIH, "nih") == list(NIH_LABELS)


@pytest.mark.parametrize("shape", [(40, 64), (64, 40), (50, 50)])
@pytest.mark.parametrize("mode", ["crop", "pad"])
def test_square_geometry_round_trip(shape, mode):
    rng = np.random.default_rng(0)
    img = rng.random(shape).astype(np.float32)
    geom = SquareGeometry.of(*shape, mode)
    back = geom.from_square(geom.to_square(img))
    covered = back != 0
    np.testing.assert_allclose(back[covered], img[covered])
    if mode == "pad":
        assert covered.mean() > 0.99
    square, g2 = to_model_input(img, 16, mode)
    assert square.shape == (16, 16) and heatmap_to_original(square, g2).shape == shape


def test_png_upload_bytes_are_sniffed_not_named(tmp_path):
    buf = io.BytesIO()
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(buf, format="PNG")
    odd = tmp_path / "scan.dcm"
    odd.write_bytes(buf.getvalue())
    assert load_image_file(odd).source_format == "png"
