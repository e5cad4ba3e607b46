"""3D volumes: real CT loaders (NIfTI and a DICOM series), NIfTI and DICOM series output with the right geometry,
previews, and a tiny 3D DDPM that trains on real AdrenalMNIST3D volumes and samples reproducibly by seed."""

from __future__ import annotations

import json
import shutil
import subprocess

import nibabel as nib
import numpy as np
import pydicom
import pytest

from models.volumes.diffusion3d import VolumePipeline
from models.volumes.geometry import Volume
from models.volumes.intensity import ct_window, percentile_normalise
from models.volumes.read import read_dicom_series, read_medmnist3d, read_nifti
from models.volumes.sources import open_volume_source
from models.volumes.train3d import train_volume_generator
from models.volumes.write import mid_slices, write_dicom_series, write_nifti, write_previews
from tests.conftest import ADRENAL, VOLUMES


def test_the_real_ct_nifti_reads_with_its_geometry():
    vol = read_nifti(VOLUMES / "example_ct_sm.nii.gz")
    header = nib.load(VOLUMES / "example_ct_sm.nii.gz")
    assert vol.array.shape == tuple(reversed(header.shape))  # (Z, Y, X)
    np.testing.assert_allclose(sorted(vol.spacing), sorted(header.header.get_zooms()), rtol=1e-5)
    np.testing.assert_allclose(vol.ras_affine(), header.affine, atol=1e-4)
    assert vol.array.min() < -500 and vol.array.max() > 500  # Hounsfield units: air and bone
    window = ct_window(vol.array)
    assert window.min() == 0.0 and window.max() == 1.0


def test_the_real_ct_dicom_series_reads_in_slice_order_with_spacing():
    vol = read_dicom_series(VOLUMES / "example_ct_dicom")
    files = [pydicom.dcmread(p) for p in sorted((VOLUMES / "example_ct_dicom").iterdir())]
    assert vol.array.shape == (len(files), files[0].Rows, files[0].Columns)
    normal = vol.slice_dir
    positions = sorted(float(np.dot([float(v) for v in f.ImagePositionPatient], normal)) for f in files)
    assert vol.spacing[2] == pytest.approx(np.median(np.diff(positions)), rel=1e-4)
    assert vol.spacing[0] == pytest.approx(float(files[0].PixelSpacing[1]))
    assert float(np.dot(vol.origin, normal)) == pytest.approx(positions[0], abs=1e-3)
    assert vol.meta["modality"] == "CT" and vol.array.min() < -500  # rescaled to HU
    assert "PatientName" not in vol.meta and "PatientID" not in vol.meta


def test_a_series_with_a_missing_slice_is_refused(tmp_path):
    for i, path in enumerate(sorted((VOLUMES / "example_ct_dicom").iterdir())):
        if i != 7:
            shutil.copy(path, tmp_path / path.name)
    with pytest.raises(Exception, match="evenly spaced"):
        read_dicom_series(tmp_path)


def test_nifti_output_opens_with_the_right_affine(tmp_path):
    rng = np.random.default_rng(0)
    vol = Volume(rng.random((6, 8, 10), dtype=np.float32), spacing=(0.8, 0.9, 2.5), origin=(10.0, -20.0, 30.0))
    path = write_nifti(tmp_path / "v.nii.gz", vol)
    img = nib.load(path)
    assert img.shape == (10, 8, 6) and img.header.get_xyzt_units()[0] == "mm"
    np.testing.assert_allclose(img.header.get_zooms(), (0.8, 0.9, 2.5), rtol=1e-6)
    np.testing.assert_allclose(img.affine, vol.ras_affine(), atol=1e-5)
    assert int(img.header["sform_code"]) == 1 and int(img.header["qform_code"]) == 1
    back = read_nifti(path)
    np.testing.assert_allclose(back.array, vol.array, atol=1e-6)
    np.testing.assert_allclose(back.origin, vol.origin, atol=1e-4)


def test_dicom_series_output_reads_back_sorted_by_position(tmp_path):
    rng = np.random.default_rng(1)
    vol = Volume(rng.random((5, 12, 16), dtype=np.float32), spacing=(0.7, 0.6, 3.0), origin=(0.0, 0.0, -40.0))
    paths = write_dicom_series(tmp_path / "series", vol, {"model": "test", "synthetic": "yes"})
    files = [pydicom.dcmread(p) for p in paths]
    random_order = [files[i] for i in (3, 0, 4, 1, 2)]
    ordered = sorted(random_order, key=lambda d: float(d.ImagePositionPatient[2]))
    assert [int(d.InstanceNumber) for d in ordered] == [1, 2, 3, 4, 5]
    assert len({d.StudyInstanceUID for d in files}) == len({d.SeriesInstanceUID for d in files}) == 1
    assert len({d.FrameOfReferenceUID for d in files}) == 1 and len({d.SOPInstanceUID for d in files}) == 5
    z = [float(d.ImagePositionPatient[2]) for d in ordered]
    np.testing.assert_allclose(np.diff(z), 3.0, atol=1e-3)
    assert [float(v) for v in files[0].PixelSpacing] == pytest.approx([0.6, 0.7])
    assert all(d.SyntheticData == "YES" and d.PatientIdentityRemoved == "YES" for d in files)
    back = read_dicom_series(tmp_path / "series")
    assert back.array.shape == vol.array.shape and back.spacing == pytest.approx(vol.spacing, abs=1e-3)
    assert np.abs(back.array - vol.array).max() < 1e-3  # CT Images rescale stored values back to the volume's
    assert back.meta["modality"] == "CT"


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dicom3tools not installed")
def test_dicom_series_slices_pass_dciodvfy(tmp_path):
    vol = Volume(np.linspace(0, 1, 4 * 8 * 8, dtype=np.float32).reshape(4, 8, 8), spacing=(1.0, 1.0, 2.0))
    for path in write_dicom_series(tmp_path, vol, {"model": "test"})[:2]:
        out = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True)
        # Debian's dicom3tools (2022) predates SyntheticData (0008,001C); every other error fails the test.
        errors = [line for line in (out.stdout + out.stderr).splitlines() if line.startswith("Error")
                  and "(0x0008,0x001c)" not in line]
        assert not errors, errors


def test_previews_and_intensity(tmp_path):
    vol = np.zeros((8, 10, 12), dtype=np.float32)
    vol[2:6, 3:7, 4:8] = 1
    files = write_previews(tmp_path, vol)
    assert files["slices"].stat().st_size > 0 and files["sweep"].read_bytes()[:6] == b"GIF89a"
    assert mid_slices(vol).shape == (132, 132 * 3 + 4)  # enlarged 11x to at least 128 px
    assert mid_slices(vol, min_side=1).shape == (12, 12 * 3 + 4)
    mr = np.random.default_rng(2).gamma(2.0, 100.0, (8, 8, 8)).astype(np.float32)
    unit = percentile_normalise(mr)
    assert unit.min() == 0.0 and unit.max() == 1.0


def test_a_tiny_3d_ddpm_trains_on_real_adrenal_volumes_and_samples_by_seed(tmp_path):
    volumes, labels = read_medmnist3d(ADRENAL, "train")
    assert volumes.shape[1:] == (64, 64, 64) and set(labels) <= {0, 1}
    pipe, summary = train_volume_generator(volumes, labels, ["normal", "hyperplasia"], size=16, steps=4,
                                           batch_size=4, channels=(8, 16))
    assert np.isfinite(summary["final_loss"])
    a = pipe("hyperplasia", 2, seeds=[3, 4], num_inference_steps=3)
    b = pipe("Hyperplasia", 2, seeds=[3, 4], num_inference_steps=3)
    np.testing.assert_array_equal(a.volumes, b.volumes)
    assert a.volumes.shape == (2, 16, 16, 16) and 0 <= a.volumes.min() and a.volumes.max() <= 1
    assert not np.allclose(a.volumes[0], a.volumes[1])
    pipe.save(tmp_path / "adrenal3d-tiny", metadata={"dataset": "test"})
    again = VolumePipeline.load(tmp_path / "adrenal3d-tiny")
    c = again("hyperplasia", 1, seeds=[3], num_inference_steps=3)
    np.testing.assert_allclose(c.volumes[0], a.volumes[0], atol=2e-2)  # float16 weights on disk


def test_a_v_prediction_3d_ddpm_keeps_its_parameterisation_through_save_and_load(tmp_path):
    volumes, labels = read_medmnist3d(ADRENAL, "train")
    pipe, summary = train_volume_generator(volumes[:16], labels[:16], ["normal", "hyperplasia"], size=8, steps=3,
                                           batch_size=4, channels=(8, 8), prediction="v_prediction")
    assert summary["prediction"] == "v_prediction" and np.isfinite(summary["final_loss"])
    again = VolumePipeline.load(pipe.save(tmp_path / "v", metadata={"dataset": "test"}))
    assert again.scheduler_config["prediction_type"] == "v_prediction"
    v = again("normal", 1, seeds=[0], num_inference_steps=3).volumes
    again.scheduler_config["prediction_type"] = "epsilon"  # the same weights read as noise predictions
    assert not np.allclose(v, again("normal", 1, seeds=[0], num_inference_steps=3).volumes)
    with pytest.raises(ValueError, match="prediction must be one of"):
        VolumePipeline.new(["a"], prediction="x0")


def test_a_labelled_folder_of_real_ct_nifti_and_dicom_series_becomes_training_cubes(tmp_path):
    shutil.copy(VOLUMES / "example_ct_sm.nii.gz", tmp_path / "ct.nii.gz")
    shutil.copytree(VOLUMES / "example_ct_dicom", tmp_path / "series")
    (tmp_path / "labels.csv").write_text("path,label,split\nct.nii.gz,abdomen,train\nseries,chest,train\n"
                                         "ct.nii.gz,abdomen,val\n")
    src = open_volume_source(tmp_path, "train", 16)
    assert src.volumes.shape == (2, 1, 16, 16, 16) and src.findings == ["abdomen", "chest"]
    assert list(src.labels) == [0, 1]
    assert -1 <= float(src.volumes.min()) and float(src.volumes.max()) <= 1
    assert float(src.volumes.std()) > 0.05  # the HU window kept the anatomy (not a constant cube)
    extents = [np.array(v.array.shape[::-1]) * np.array(v.spacing)
               for v in (read_nifti(VOLUMES / "example_ct_sm.nii.gz"), read_dicom_series(VOLUMES / "example_ct_dicom"))]
    np.testing.assert_allclose(src.voxel_mm, np.median(extents, axis=0) / 16, rtol=1e-5)  # (x, y, z) mm per voxel
    assert len(open_volume_source(tmp_path, "val", 16).volumes) == 1
    (tmp_path / "labels.csv").write_text("path,label\n../outside.nii.gz,x\n")
    with pytest.raises(Exception, match="outside"):
        open_volume_source(tmp_path, "train", 16)


def test_the_medmnist3d_source_keeps_the_official_split_and_names():
    src = open_volume_source(ADRENAL, "train", 16)
    volumes, labels = read_medmnist3d(ADRENAL, "train")
    assert src.volumes.shape == (len(volumes), 1, 16, 16, 16) and list(src.labels) == list(labels)
    assert src.findings == ["normal", "hyperplasia"] and src.voxel_mm == [4.0, 4.0, 4.0]


def test_latent_diffusion_trains_on_real_volumes_samples_by_seed_and_reloads(tmp_path):
    from models.volumes.latent3d import LatentVolumePipeline, load_volume_pipeline, train_latent_volume_generator

    src = open_volume_source(ADRENAL, "train", 16)
    stages = []
    pipe, summary = train_latent_volume_generator(
        src.volumes, src.labels, src.findings, ae_channels=(8, 8), latent_channels=2, ae_steps=3, steps=3,
        batch_size=2, channels=(8, 16), bf16=False, progress=lambda stage, s, t, loss: stages.append(stage))
    assert summary["latent_shape"] == [2, 8, 8, 8]  # 16^3 voxels -> 8^3 x 2 latents
    assert stages.count("autoencoder") == 3 and stages.count("diffusion") == 3
    assert pipe.diffusion.scheduler_config["clip_sample"] is False
    a = pipe("hyperplasia", 2, seeds=[1, 2], num_inference_steps=3)
    b = pipe("hyperplasia", 2, seeds=[1, 2], num_inference_steps=3)
    np.testing.assert_array_equal(a.volumes, b.volumes)
    assert a.volumes.shape == (2, 16, 16, 16) and 0 <= a.volumes.min() and a.volumes.max() <= 1
    pipe.save(tmp_path / "latent", metadata={"voxel_mm": [4.0, 4.0, 4.0]})
    again = load_volume_pipeline(tmp_path / "latent")
    assert isinstance(again, LatentVolumePipeline) and again.size == 16
    c = again("hyperplasia", 1, seeds=[1], num_inference_steps=3)
    np.testing.assert_allclose(c.volumes[0], a.volumes[0], atol=5e-2)  # float16 weights on disk
    info = json.loads((tmp_path / "latent" / "radsynth.json").read_text())
    assert info["kind"] == "generator3d" and info["resolution"] == 16 and info["latent"]["latent_size"] == 8
