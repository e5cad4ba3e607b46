"""Explanations end to end on real images, IG completeness, bounded memory, randomisation check, de-id."""

from __future__ import annotations

import json

import numpy as np
import pydicom
import pytest
import torch
from PIL import Image

from models.classifier.ensemble import ClassifierEnsemble
from models.data.preprocess import SquareGeometry, load_image_file
from models.explain.attribution import attribute, explain, logit_fn, make_baseline, to_original_grid
from models.explain.report import write_explanation
from models.explain.sanity import localisation, randomisation_check
from models.io.deidentify import deidentify
from tests.conftest import NIH, NIH_UPLOAD, SIIM, SIIM_MONO1


@pytest.fixture(scope="module")
def ens(tiny_classifier_dir) -> ClassifierEnsemble:
    return ClassifierEnsemble.load(tiny_classifier_dir)


@pytest.mark.parametrize("path", [NIH_UPLOAD, SIIM, SIIM_MONO1], ids=["nih-png", "siim-jpeg", "siim-mono1"])
def test_explain_end_to_end_in_original_geometry(ens, tmp_path, path):
    image = load_image_file(path)
    expl = explain(ens, image.pixels, ["Effusion", "cardiomegaly"], n_steps=16)
    assert expl.findings == ["Effusion", "Cardiomegaly"]
    files = write_explanation(expl, image.pixels, tmp_path, source_format=image.source_format, model_name="tiny")
    attr = np.load(tmp_path / "attribution_effusion.npy")
    assert attr.dtype == np.float32 and attr.shape == image.pixels.shape
    overlay = Image.open(tmp_path / "overlay_effusion.png")
    assert overlay.mode == "RGB" and overlay.width == image.pixels.shape[1]
    assert overlay.text["derived_from"] == "the uploaded image" and overlay.text["finding"] == "Effusion"
    assert "not a diagnosis" in overlay.text["note"] and "derived_from" in Image.open(tmp_path / "original.png").text
    summary = json.loads((tmp_path / "explanation.json").read_text())
    p = summary["probabilities"]["Effusion"]
    assert len(p["members"]) == 3 and p["std"] == pytest.approx(np.std(p["members"]), abs=1e-6)
    assert len(summary["convergence_delta"]["Effusion"]) == 3
    assert set(summary["probabilities"]) == set(ens.findings)
    sc = pydicom.dcmread(tmp_path / "overlay_effusion.dcm")  # every upload's overlay comes as DICOM too
    assert sc.PhotometricInterpretation == "RGB" and sc.ConversionType == "WSD" and "SyntheticData" not in sc
    assert (sc.Rows, sc.Columns) == image.pixels.shape and "overlay_effusion.dcm" in files


def test_any_input_size_maps_back(ens):
    rng = np.random.default_rng(0)
    for shape in [(37, 91), (300, 200)]:
        expl = explain(ens, rng.random(shape).astype(np.float32), ["Mass"], n_steps=8)
        assert expl.attributions["Mass"].shape == shape


@pytest.mark.parametrize("shape", [(37, 91), (300, 200), (1024, 1024)])
def test_map_back_keeps_the_total_and_the_location(shape):
    geom = SquareGeometry.of(*shape, "pad")
    yy, xx = np.mgrid[0:32, 0:32]
    blob = np.exp(-((yy - 16) ** 2 + (xx - 16) ** 2) / 8.0).astype(np.float32)  # inside even the 37-px image
    back = to_original_grid(blob, geom)
    assert back.shape == shape
    assert back.sum() == pytest.approx(blob.sum(), rel=0.02)
    cy, cx = np.unravel_index(np.argmax(back), shape)
    assert abs(cy - shape[0] / 2) <= geom.side / 32 + 1 and abs(cx - shape[1] / 2) <= geom.side / 32 + 1


@pytest.mark.parametrize("baseline", ["black", "blur"])
def test_completeness_within_the_reported_delta(ens, baseline):
    x = torch.from_numpy(load_image_file(NIH / "images" / sorted((NIH / "images").iterdir())[0].name).pixels)
    x = torch.nn.functional.interpolate(x[None, None], size=32, mode="area")
    single = ClassifierEnsemble(ens.findings, 1, input_size=32, width=8)
    single.members[0].load_state_dict(ens.members[0].state_dict())
    single.eval()
    k = single.findings.index("Effusion")
    attr, deltas = attribute(single, x, k, n_steps=64, baseline=baseline)
    f = logit_fn(single, 0, k)
    with torch.no_grad():
        gap = float(f(x) - f(make_baseline(x, baseline)))
    assert abs(attr.sum() - gap) <= deltas[0] + 1e-4
    assert deltas[0] < 0.05 * max(abs(gap), 1e-3) + 1e-3


def test_internal_batch_bounds_memory_whatever_n_steps(ens):
    """Memory stays flat because no forward pass ever sees more than internal_batch_size inputs."""
    x = torch.rand(1, 1, 32, 32)
    seen = []
    hooks = [m.register_forward_pre_hook(lambda mod, inp: seen.append(inp[0].shape[0])) for m in ens.members]
    try:
        for n_steps in (16, 200):
            seen.clear()
            attribute(ens, x, 0, n_steps=n_steps, internal_batch_size=8)
            assert max(seen) <= 8 and sum(seen) >= n_steps * len(ens.members)
    finally:
        for h in hooks:
            h.remove()


def test_randomisation_check_separates_trained_from_random(ens):
    imgs = np.stack([load_image_file(p).pixels for p in sorted((NIH / "images").iterdir())[:3]])
    imgs = torch.nn.functional.interpolate(torch.from_numpy(imgs)[:, None], size=32, mode="area")[:, 0].numpy()
    vs_random = randomisation_check(ens, imgs, "Effusion", n_steps=16)
    # Reference: the same trained model explained twice with different integration resolutions.
    k = ens.finding_index("Effusion")
    from scipy.stats import spearmanr

    self_rho = []
    for img in imgs:
        x = torch.from_numpy(img)[None, None]
        a, _ = attribute(ens, x, k, n_steps=16)
        b, _ = attribute(ens, x, k, n_steps=48)
        self_rho.append(spearmanr(np.abs(a).ravel(), np.abs(b).ravel()).statistic)
    assert np.mean(self_rho) > 0.9
    assert vs_random["spearman_mean"] < np.mean(self_rho) - 0.3, vs_random


def test_localisation_scores():
    attr = np.zeros((10, 10))
    attr[2, 3] = 5.0
    attr[8, 8] = 1.0
    mask = np.zeros((10, 10), bool)
    mask[1:4, 2:5] = True
    loc = localisation(attr, mask)
    assert loc["pointing_hit"] and loc["share_inside"] == pytest.approx(5 / 6)


def test_no_identifier_from_the_uploaded_dicom_reaches_any_output(ens, tmp_path):
    original = pydicom.dcmread(SIIM)
    secrets = [str(original[k].value) for k in ("PatientName", "PatientID", "StudyInstanceUID", "SOPInstanceUID",
                                                  "SeriesInstanceUID", "AccessionNumber", "StudyDate")
               if k in original and str(original[k].value)]
    assert secrets
    image = load_image_file(SIIM)
    expl = explain(ens, image.pixels, ["Mass"], n_steps=8)
    write_explanation(expl, image.pixels, tmp_path, source_format="dicom", model_name="tiny")
    blob = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    for secret in secrets:
        assert secret.encode() not in blob, secret

    ds = deidentify(pydicom.dcmread(SIIM))
    assert ds.PatientIdentityRemoved == "YES" and "113100" in str(ds.DeidentificationMethodCodeSequence)
    for keyword in ("PatientBirthDate", "AccessionNumber"):
        assert not str(ds.get(keyword, ""))
    again = deidentify(pydicom.dcmread(SIIM))  # a pseudonym per upload: random, so two uploads never link
    assert ds.PatientID.startswith("RS-") and ds.PatientID != original.PatientID != again.PatientID != ds.PatientID
    assert str(ds.PatientName).startswith("ANONYMOUS^") and str(original.PatientName) not in str(ds.PatientName)
    for keyword in ("StudyInstanceUID", "SOPInstanceUID", "SeriesInstanceUID"):
        assert ds[keyword].value != original[keyword].value
